//! The conformance suite on disk, plus what only a disk index has: opening and
//! refusing directories, the pinned layout, writes and compaction, followers, table
//! options and crashes. Shared helpers are here; each concern has a module.

mod conformance;
mod crash;
mod follow;
mod golden;
mod open;
mod tables;
mod write;

use std::collections::HashMap;
use std::path::Path;

use earmark_index::{NewTrack, Posting, PostingLists, Store, TrackId, TrackMeta, posting};
use rocksdb::{DB, IteratorMode};

use crate::RocksStore;
use crate::layout::{self, CF_META, CF_POSTINGS, CF_TRACK_HASHES, CF_TRACK_IDX};
use crate::presence::Presence;

/// A postings cache small enough that the tests' tracks also exercise eviction.
pub(super) const TEST_CACHE_BYTES: u64 = 256 << 10;

pub(super) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub(super) fn id(text: &str) -> TrackId {
    TrackId::new(text).expect("valid id")
}

pub(super) fn sorted(lists: PostingLists) -> Vec<Vec<Posting>> {
    lists
        .iter()
        .map(|list| {
            let mut list = list.to_vec();
            list.sort_unstable();
            list
        })
        .collect()
}

pub(super) fn hashes_of(track: &NewTrack) -> Vec<u64> {
    let mut h: Vec<u64> = track.landmarks.iter().map(|l| l.hash).collect();
    h.sort_unstable();
    h.dedup();
    h
}

/// How many postings `track` puts in an index: its landmarks without repeats (one
/// track's groups can repeat a hash at one frame) and at most
/// [`MAX_FRAMES_PER_HASH`](earmark_index::MAX_FRAMES_PER_HASH) per hash.
pub(super) fn postings_of(track: &NewTrack) -> u64 {
    posting::group_by_hash(&track.landmarks, earmark_index::MAX_FRAMES_PER_HASH)
        .iter()
        .map(|(_, entries)| entries.len() as u64)
        .sum()
}

/// How many of `track`'s postings a lookup of its hashes finds under `idx`.
pub(super) fn postings_found(store: &dyn Store, track: &NewTrack, idx: u32) -> u64 {
    let found = store.lookup(&hashes_of(track), usize::MAX).expect("lookup");
    found
        .iter()
        .map(|list| list.iter().filter(|p| p.track == idx).count() as u64)
        .sum()
}

/// Checks that records, postings and counters agree: every posting belongs to a
/// stored track, every track has exactly its landmark count of postings, and the
/// counters match the records.
pub(super) fn check_consistent(store: &RocksStore) {
    let records = store.list_tracks(None, usize::MAX).expect("list");
    let live: HashMap<u32, &earmark_index::TrackRecord> =
        records.iter().map(|r| (r.idx, r)).collect();
    assert_eq!(live.len(), records.len(), "two tracks share an idx");
    let mut per_track: HashMap<u32, u64> = HashMap::new();
    let db = store.db();
    let postings = store.cf(CF_POSTINGS).expect("cf");
    // The bitmap in memory and the one stored must both cover every stored hash.
    let in_memory = &store.presence;
    let stored = Presence::empty();
    stored
        .merge_stored(
            &db.get_cf(store.cf(CF_META).expect("cf"), layout::META_PRESENCE)
                .expect("read")
                .expect("stored bitmap"),
        )
        .expect("decodes");
    for item in db.iterator_cf(postings, IteratorMode::Start) {
        let (key, value) = item.expect("scan");
        assert!(!value.is_empty(), "empty value kept for a bucket");
        let bucket = layout::bucket_of_key(&key).expect("a bucket key");
        posting::decode(&value, |residual, p| {
            let hash = (bucket << posting::RESIDUAL_BITS) | u64::from(residual);
            assert!(in_memory.may_contain(hash), "hash {hash} not in the bitmap");
            assert!(
                stored.may_contain(hash),
                "hash {hash} not in the stored bitmap"
            );
            assert!(
                live.contains_key(&p.track),
                "posting of absent track {}",
                p.track
            );
            *per_track.entry(p.track).or_default() += 1;
        })
        .expect("decodes");
    }
    for r in &records {
        assert_eq!(
            per_track.get(&r.idx).copied().unwrap_or(0),
            r.landmarks,
            "postings of {}",
            r.id
        );
    }
    let count = |cf: &str| {
        db.iterator_cf(store.cf(cf).expect("cf"), IteratorMode::Start)
            .count()
    };
    assert_eq!(count(CF_TRACK_IDX), records.len());
    assert_eq!(count(CF_TRACK_HASHES), records.len());
    let stats = store.stats().expect("stats");
    assert_eq!(stats.tracks, records.len() as u64);
    assert_eq!(
        stats.postings,
        records.iter().map(|r| r.landmarks).sum::<u64>()
    );
}

/// A bare RocksDB database at `path` with the column families `names` and nothing
/// in them, as an interrupted creation leaves it.
pub(super) fn create_blank_database(path: &Path, names: &[&str]) {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    DB::open_cf(&opts, path, names).expect("creates");
}

/// A track indexed from a synthetic fingerprint under hash configuration `config`:
/// `frames` frames of peaks at ticks and pitches a seeded generator picks, about as
/// many per frame as real music gives.
pub(super) fn fingerprinted_track(text: &str, seed: u32, frames: u32, config: u16) -> NewTrack {
    use earmark_core::{AnalysisConfig, Fingerprint, HashConfig};
    let analysis = AnalysisConfig::default();
    let peaks = earmark_core::synthetic::frame_peaks(seed, frames, 3, analysis.pitch_steps());
    let duration_ms = (f64::from(frames) * analysis.frame_duration_s() * 1000.0) as u32 + 1;
    let fp = Fingerprint::new(analysis.id, duration_ms, peaks).expect("valid peaks");
    NewTrack::from_fingerprint(
        id(text),
        TrackMeta::default(),
        None,
        fp,
        HashConfig::by_id(config).expect("a known configuration"),
    )
}

/// The tag of a track's `track_hashes` value, and its length.
pub(super) fn stored_hash_list(store: &RocksStore, idx: u32) -> (u8, usize) {
    let value = store
        .db()
        .get_cf(store.cf(CF_TRACK_HASHES).expect("cf"), layout::idx_key(idx))
        .expect("read")
        .expect("present");
    (value[0], value.len())
}
