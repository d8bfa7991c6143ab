//! End to end per format on the real 20 s fixture clip: decoding alone (the floor
//! set by symphonia) beside the whole fingerprint; docs/performance.md reports the ratio.
//! Needs `datasets/make-fixtures.sh` (run by `make test`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_core::Fingerprinter;
use earmark_core::decode::{Source, decode};
use earmark_test_support::fixture;

fn formats(c: &mut Criterion) {
    let mut group = c.benchmark_group("format");
    group.throughput(Throughput::Elements(20));
    group.sample_size(20);
    for name in [
        "clip.wav",
        "clip.flac",
        "clip-320k.mp3",
        "clip-128k.mp3",
        "clip.ogg",
        "clip-aac.m4a",
        "clip-alac.m4a",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        group.bench_with_input(BenchmarkId::new("decode only", name), &bytes, |b, bytes| {
            b.iter(|| {
                let mut n = 0usize;
                decode(Source::bytes(bytes.clone()), None, &mut |_, s| {
                    n += s.len();
                    Ok(())
                })
                .expect("decodes");
                n
            })
        });
        let f = Fingerprinter::default();
        group.bench_with_input(BenchmarkId::new("fingerprint", name), &bytes, |b, bytes| {
            b.iter(|| {
                f.decode_source(Source::bytes(bytes.clone()), None)
                    .expect("fingerprints")
                    .fingerprint
                    .peaks()
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, formats);
criterion_main!(benches);
