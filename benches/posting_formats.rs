//! Decoding and merging one hash's postings in the layouts' value formats: `Sorted`
//! (layout 4, varint bytes) against `Packed` (layout 5, bits). Lists of 141 and 1,410
//! postings, the mean per hash value of configuration 1 at 10,000 and 100,000 tracks
//! in the scale bench, with track differences and frames spread as there (about 70
//! tracks apart, frames of 3.5-minute tracks, one block in 30 with two postings). The
//! README reports the ratios.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_index::posting::{self, BlockFormat};

/// A deterministic stream of pseudo-random numbers (a 64-bit LCG's high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % u64::from(below)) as u32
    }
}

/// One `Flagged` operand per block of a list of `n` postings.
fn operands(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Lcg(seed);
    let mut track = 0u32;
    let mut out = Vec::new();
    let mut postings = 0;
    while postings < n {
        track += 1 + rng.next(140);
        let mut frames = vec![rng.next(6_600)];
        if rng.next(30) == 0 {
            frames.push(frames[0] + 1 + rng.next(3_000));
        }
        postings += frames.len();
        let mut block = Vec::new();
        posting::encode_block(&mut block, BlockFormat::Flagged, track, &frames)
            .expect("track in range");
        out.push(block);
    }
    out
}

fn merged(format: BlockFormat, existing: Option<&[u8]>, operands: &[Vec<u8>]) -> Vec<u8> {
    let operands = operands.iter().map(Vec::as_slice);
    match format {
        BlockFormat::Packed => posting::merge_packed(existing, operands),
        _ => posting::merge_sorted(existing, operands),
    }
    .expect("valid operands")
}

fn posting_formats(c: &mut Criterion) {
    for n in [141, 1_410] {
        let blocks = operands(n, 7);
        // Eight new tracks after the stored ones, as a compaction folds them in.
        let new: Vec<Vec<u8>> = (0..8)
            .map(|i| {
                let mut block = Vec::new();
                posting::encode_block(&mut block, BlockFormat::Flagged, 2_000_000 + i, &[i])
                    .expect("track in range");
                block
            })
            .collect();
        let mut decode = c.benchmark_group(format!("postings_decode/{n}"));
        decode.throughput(Throughput::Elements(n as u64));
        let mut merge = Vec::new();
        for (name, format) in [
            ("sorted", BlockFormat::Sorted),
            ("packed", BlockFormat::Packed),
        ] {
            let value = merged(format, None, &blocks);
            println!("{name}: {n} postings in {} bytes", value.len());
            decode.bench_with_input(BenchmarkId::from_parameter(name), &value, |b, value| {
                b.iter(|| {
                    let mut sum = 0u64;
                    posting::decode_blocks(value, format, |t, f| sum += u64::from(t ^ f))
                        .expect("valid");
                    sum
                });
            });
            merge.push((name, format, value));
        }
        decode.finish();
        let mut group = c.benchmark_group(format!("postings_merge_8/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        for (name, format, value) in &merge {
            group.bench_function(*name, |b| b.iter(|| merged(*format, Some(value), &new)));
        }
        group.finish();
    }
}

criterion_group!(benches, posting_formats);
criterion_main!(benches);
