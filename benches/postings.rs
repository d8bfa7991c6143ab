//! Decoding and merging one hash's stored postings: what a lookup pays per value read
//! and a compaction per value rewritten. Lists of 141 and 1,410 postings, the mean per
//! hash value of the robust configuration at 10,000 and 100,000 tracks in the scale
//! bench, with track differences and frames spread as there (about 70 tracks apart,
//! frames of 3.5-minute tracks, one track in 30 with two postings).
//! `cargo bench -p earmark-index --bench postings`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_index::posting;

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

/// One operand per track of a list of `n` postings.
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
        let mut operand = Vec::new();
        posting::encode_operand(&mut operand, track, &frames).expect("track in range");
        out.push(operand);
    }
    out
}

fn merged(existing: Option<&[u8]>, operands: &[Vec<u8>]) -> Vec<u8> {
    posting::merge(existing, operands.iter().map(Vec::as_slice)).expect("valid operands")
}

fn postings(c: &mut Criterion) {
    let mut decode = c.benchmark_group("postings_decode");
    let mut values = Vec::new();
    for n in [141, 1_410] {
        let value = merged(None, &operands(n, 7));
        println!("{n} postings in {} bytes", value.len());
        decode.throughput(Throughput::Elements(n as u64));
        decode.bench_with_input(BenchmarkId::from_parameter(n), &value, |b, value| {
            b.iter(|| {
                let mut sum = 0u64;
                posting::decode(value, |t, f| sum += u64::from(t ^ f)).expect("valid");
                sum
            });
        });
        values.push((n, value));
    }
    decode.finish();
    // Eight new tracks after the stored ones, as a compaction folds them in.
    let new: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let mut operand = Vec::new();
            posting::encode_operand(&mut operand, 2_000_000 + i, &[i]).expect("track in range");
            operand
        })
        .collect();
    let mut merge = c.benchmark_group("postings_merge_8");
    for (n, value) in &values {
        merge.throughput(Throughput::Elements(*n as u64));
        merge.bench_with_input(BenchmarkId::from_parameter(n), value, |b, value| {
            b.iter(|| merged(Some(value), &new));
        });
    }
    merge.finish();
}

criterion_group!(benches, postings);
criterion_main!(benches);
