//! What the RocksDB store itself costs, without audio or the matcher: putting tracks
//! (each one `WriteBatch` of merge operands, records and counters) and looking up a
//! query's worth of hashes in a compacted index.
//!
//! The catalog is synthetic: 1,000 tracks of 3,000 landmarks each over 2^18 hash
//! values, so that many tracks share each hash as in a real catalog; a query asks for
//! 300 of those values, present or not. Throughput is in landmarks (postings) per
//! second for puts and hashes per second for lookups.
//! `cargo bench -p earmark-rocksdb --bench store_ops`.

use criterion::{BatchSize, Criterion, Throughput};
use earmark_core::{HashConfig, Landmark};
use earmark_index::{NewTrack, Store, TrackId, TrackMeta};
use earmark_rocksdb::RocksStore;

const TRACKS: u32 = 1_000;
const LANDMARKS_PER_TRACK: u32 = 3_000;
const HASH_VALUES: u64 = 1 << 18;
const QUERY_HASHES: usize = 300;

/// A small deterministic generator: the bench must give the same catalog every run.
struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

fn track(number: u32, random: &mut XorShift) -> NewTrack {
    let landmarks = (0..LANDMARKS_PER_TRACK)
        .map(|i| Landmark {
            hash: u64::from(random.next()) % HASH_VALUES,
            frame: i * 3,
            aux: random.next() as u16,
        })
        .collect();
    NewTrack {
        id: TrackId::new(format!("track-{number:05}")).expect("valid id"),
        meta: TrackMeta::default(),
        duration_s: 180.0,
        content_hash: None,
        landmarks,
        fingerprint: None,
    }
}

fn store_ops(c: &mut Criterion) {
    let mut random = XorShift(0x9e37_79b9);
    let tracks: Vec<NewTrack> = (0..TRACKS).map(|n| track(n, &mut random)).collect();

    let mut group = c.benchmark_group("rocksdb_store");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(100 * LANDMARKS_PER_TRACK)));
    group.bench_function("put 100 tracks", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let store =
                    RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
                        .expect("creates");
                (dir, store)
            },
            |(dir, store)| {
                for t in &tracks[..100] {
                    store.put_track(t).expect("put");
                }
                (dir, store)
            },
            BatchSize::PerIteration,
        );
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    for t in &tracks {
        store.put_track(t).expect("put");
    }
    store.compact().expect("compacts");
    let queries: Vec<Vec<u64>> = (0..64)
        .map(|_| {
            (0..QUERY_HASHES)
                .map(|_| u64::from(random.next()) % HASH_VALUES)
                .collect()
        })
        .collect();
    group.throughput(Throughput::Elements(QUERY_HASHES as u64));
    group.sample_size(50);
    let mut next = queries.iter().cycle();
    group.bench_function("lookup 300 hashes, 1,000 tracks", |b| {
        b.iter(|| {
            let hashes = next.next().expect("cycles");
            let found = store.lookup(hashes, usize::MAX).expect("lookup");
            assert_eq!(found.len(), QUERY_HASHES);
            found
        });
    });
    group.finish();
}

criterion::criterion_group!(benches, store_ops);
criterion::criterion_main!(benches);
