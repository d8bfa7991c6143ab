//! Decoding and merging one hash's stored postings: what a lookup pays per value read
//! and a compaction per value rewritten. Lists of 141 and 1,410 postings, the mean per
//! hash value of the retired `robust` configuration at 10,000 and 100,000 tracks in
//! the scale bench (not yet measured again for the default one), with track differences and frames spread as there (about 70 tracks apart,
//! frames of 3.5-minute tracks, one track in 30 with two postings), each posting with
//! a seeded aux (the group's span and anchor pitch).
//! `cargo bench -p earmark-index --bench postings`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_index::posting;
use earmark_test_support::Lcg;

/// One operand per track of a list of `n` postings.
fn operands(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Lcg(seed);
    let mut track = 0u32;
    let mut out = Vec::new();
    let mut postings = 0;
    while postings < n {
        track += 1 + rng.below(140) as u32;
        let first = rng.below(6_600) as u32;
        let mut entries = vec![(first, rng.below(1 << 16) as u16)];
        if rng.below(30) == 0 {
            entries.push((
                first + 1 + rng.below(3_000) as u32,
                rng.below(1 << 16) as u16,
            ));
        }
        postings += entries.len();
        let mut operand = Vec::new();
        posting::encode_operand(&mut operand, track, &entries).expect("track in range");
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
                posting::decode(value, |p| {
                    sum += u64::from(p.track ^ p.frame ^ u32::from(p.aux))
                })
                .expect("valid");
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
            posting::encode_operand(&mut operand, 2_000_000 + i, &[(i, i as u16)])
                .expect("track in range");
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
