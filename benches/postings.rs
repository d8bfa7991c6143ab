//! Decoding and merging one bucket's stored postings: what a lookup pays per value
//! read and a compaction per value rewritten. Buckets of 15 and 150 postings, the mean
//! of the default configuration's 40-bit hashes at 10,000 and 100,000 tracks of 3.5
//! minutes (about 125 postings a second of audio over 2^24 buckets), each posting with
//! a seeded residual, a track among that many, a frame of a 3.5-minute track and a
//! seeded aux; one hash in 30 has a second posting.
//! `cargo bench -p earmark-index --bench postings`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use earmark_index::posting;
use earmark_test_support::Lcg;

/// One operand per hash of a bucket of `n` postings among `tracks` tracks.
fn operands(n: usize, tracks: u64, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    let mut postings = 0;
    while postings < n {
        let residual = rng.below(1 << 16) as u16;
        let track = rng.below(tracks) as u32;
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
        posting::encode_operand(&mut operand, residual, track, &entries).expect("track in range");
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
    for (n, tracks) in [(15, 10_000), (150, 100_000)] {
        let value = merged(None, &operands(n, tracks, 7));
        println!("{n} postings in {} bytes", value.len());
        decode.throughput(Throughput::Elements(n as u64));
        decode.bench_with_input(BenchmarkId::from_parameter(n), &value, |b, value| {
            b.iter(|| {
                let mut sum = 0u64;
                posting::decode(value, |r, p| {
                    sum += u64::from(p.track ^ p.frame ^ u32::from(p.aux ^ r))
                })
                .expect("valid");
                sum
            });
        });
        values.push((n, value));
    }
    decode.finish();
    // Eight new tracks' postings, as a compaction folds them in.
    let new: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let mut operand = Vec::new();
            posting::encode_operand(
                &mut operand,
                7_919 * i as u16,
                200_000 + i,
                &[(i, i as u16)],
            )
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
