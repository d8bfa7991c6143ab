//! End to end per format on the real 20 s fixture clip: decoding alone (the floor
//! set by symphonia) beside the whole fingerprint. The README reports the ratio.
//! Needs `datasets/make-fixtures.sh` (run by `make test`).

use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_core::Fingerprinter;
use earmark_core::decode::{Source, decode};

fn fixtures() -> PathBuf {
    std::env::var_os("EARMARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/earmark-data")
        })
        .join("fixtures")
}

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
        let bytes = std::fs::read(fixtures().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}: run datasets/make-fixtures.sh"));
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
