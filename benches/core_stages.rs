//! Per-stage cost of the fingerprint core on ten seconds of seeded music-like audio.
//! Throughput is in seconds of audio per second: "elem/s" reads as times real time.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_core::peaks::PeakPicker;
use earmark_core::resample::{MonoResampler, downmix_into};
use earmark_core::spectrogram::Stft;
use earmark_core::{AnalysisConfig, Fingerprint, Fingerprinter, HashConfig, Kernel};
use earmark_test_support::melody;

const SECONDS: u64 = 10;

fn stages(c: &mut Criterion) {
    let analysis = AnalysisConfig::default();
    let stereo: Vec<f32> = melody(12_345, 44_100, SECONDS as f32)
        .iter()
        .flat_map(|&s| [s, s])
        .collect();
    let at_rate = melody(12_345, analysis.sample_rate_hz, SECONDS as f32);

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
    group.bench_function("hash query", |b| {
        b.iter(|| fp.query_probes(&hash).probes.len())
    });
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
