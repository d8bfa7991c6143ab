//! Per-stage cost of the fingerprint core on ten seconds of seeded music-like audio.
//! Throughput is in seconds of audio per second: "elem/s" reads as times real time.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_core::peaks::PeakPicker;
use earmark_core::resample::{MonoResampler, downmix_into};
use earmark_core::spectrogram::Stft;
use earmark_core::{AnalysisConfig, Fingerprint, Fingerprinter, HashConfig, Kernel};

const SECONDS: u64 = 10;

/// Chords of three partials with decaying envelopes, a new one every ~200 ms.
fn melody(rate: u32, secs: u64) -> Vec<f32> {
    let n = (rate as u64 * secs) as usize;
    let mut state = 12_345u32;
    let mut next = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut out = vec![0.0f32; n];
    let note = rate as usize / 5;
    for start in (0..n).step_by(note) {
        let base = 200.0 * 2f32.powf(next() * 4.0);
        for (i, s) in out[start..(start + 2 * note).min(n)].iter_mut().enumerate() {
            let t = i as f32 / rate as f32;
            let env = (-t * 6.0).exp();
            for (k, a) in [(1.0, 0.3), (1.5, 0.2), (2.0, 0.1)] {
                *s += a * env * (2.0 * std::f32::consts::PI * base * k * t).sin();
            }
        }
    }
    out
}

fn stages(c: &mut Criterion) {
    let analysis = AnalysisConfig::default();
    let stereo: Vec<f32> = melody(44_100, SECONDS)
        .iter()
        .flat_map(|&s| [s, s])
        .collect();
    let at_rate = melody(analysis.sample_rate_hz, SECONDS);

    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(SECONDS));

    group.bench_function("downmix+resample 44.1k stereo", |b| {
        let mut mono = Vec::new();
        b.iter(|| {
            let mut r = MonoResampler::new(44_100, analysis.sample_rate_hz).expect("rates");
            downmix_into(&stereo, 2, &mut mono);
            let mut n = 0;
            r.push(&mono, &mut |s| n += s.len());
            r.finish(&mut |s| n += s.len());
            n
        })
    });

    for kernel in [Kernel::Scalar, Kernel::Fast] {
        group.bench_with_input(
            BenchmarkId::new("stft", format!("{kernel:?}")),
            &kernel,
            |b, &k| {
                b.iter(|| {
                    let mut stft = Stft::new(&analysis, k);
                    let mut rows = 0;
                    stft.push(&at_rate, &mut |_| rows += 1);
                    stft.finish(&mut |_| rows += 1);
                    rows
                })
            },
        );
    }

    let mut rows = Vec::new();
    let mut stft = Stft::new(&analysis, Kernel::Fast);
    stft.push(&at_rate, &mut |r| rows.push(r.to_vec()));
    stft.finish(&mut |r| rows.push(r.to_vec()));
    group.bench_function("peaks", |b| {
        b.iter(|| {
            let mut picker = PeakPicker::new(&analysis, rows[0].len());
            for r in &rows {
                picker.push_row(r);
            }
            picker.finish().len()
        })
    });

    let fp = Fingerprinter::default()
        .fingerprint_samples(&at_rate, analysis.sample_rate_hz, 1)
        .expect("fingerprint");
    let hash = HashConfig::default();
    group.bench_function("hash catalog", |b| {
        b.iter(|| fp.catalog_landmarks(&hash).len())
    });
    group.bench_function("hash query", |b| b.iter(|| fp.query_landmarks(&hash).len()));
    let bytes = fp.to_bytes();
    group.bench_function("wire encode", |b| b.iter(|| fp.to_bytes().len()));
    group.bench_function("wire decode", |b| {
        b.iter(|| {
            Fingerprint::from_bytes(&bytes)
                .expect("valid")
                .peaks()
                .len()
        })
    });
    group.bench_function("pcm end to end 44.1k stereo", |b| {
        let f = Fingerprinter::default();
        b.iter(|| {
            f.fingerprint_samples(&stereo, 44_100, 2)
                .expect("fp")
                .peaks()
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
