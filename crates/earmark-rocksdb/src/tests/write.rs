//! Writes: replacing, deleting (through stored fingerprints or hash lists), merged
//! and compacted values, buckets and key widths, refused tracks.

use earmark_core::{HashConfig, Landmark};
use earmark_index::conformance::synthetic_track;
use earmark_index::{NewTrack, PutOutcome, Store};
use rocksdb::IteratorMode;

use super::{
    check_consistent, fingerprinted_track, hashes_of, id, postings_found, postings_of, sorted,
    stored_hash_list, tempdir,
};
use crate::RocksStore;
use crate::layout::{self, CF_META, CF_POSTINGS, CF_TRACK_HASHES};

#[test]
fn replacing_keeps_the_counts_of_the_new_track() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    let other = synthetic_track("other", 9, 300);
    let (_, r_other) = store.put_track(&other).expect("put");
    let first = synthetic_track("a", 1, 600);
    store.put_track(&first).expect("put");
    // Same id, other audio: a shorter track sharing a few hashes with the first.
    let mut second = synthetic_track("a", 2, 200);
    second.landmarks.extend_from_slice(&first.landmarks[..50]);
    second.duration_s = 42.0;
    second.content_hash = Some("ab".repeat(32));
    let (outcome, r_second) = store.put_track(&second).expect("replace");
    assert_eq!(outcome, PutOutcome::Replaced);

    let stats = store.stats().expect("stats");
    assert_eq!(stats.tracks, 2);
    assert_eq!(stats.postings, r_other.landmarks + r_second.landmarks);
    assert!((stats.hours - (other.duration_s + 42.0) / 3600.0).abs() < 1e-12);
    // The old content hash no longer leads anywhere; the new one does.
    let old_content = first.content_hash.clone().expect("set");
    assert_eq!(store.tracks_by_content(&old_content).expect("read"), []);
    assert_eq!(
        store
            .tracks_by_content(&"ab".repeat(32))
            .expect("read")
            .iter()
            .map(|r| r.idx)
            .collect::<Vec<_>>(),
        [r_second.idx]
    );
    let mut distinct = hashes_of(&other);
    distinct.extend(hashes_of(&second));
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(store.count_hashes().expect("scan"), distinct.len() as u64);
    check_consistent(&store);

    store.delete_track(&id("a")).expect("delete");
    store.delete_track(&id("other")).expect("delete");
    let stats = store.stats().expect("stats");
    assert_eq!((stats.tracks, stats.postings), (0, 0));
    assert_eq!(stats.hours, 0.0);
    assert_eq!(store.count_hashes().expect("scan"), 0);
}

#[test]
fn merged_postings_read_the_same_after_compaction() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    merged_postings_read_the_same_after_compaction_in(store);
}

fn merged_postings_read_the_same_after_compaction_in(store: RocksStore) {
    let path = store.path().to_path_buf();
    let mut all_hashes = Vec::new();
    for i in 0..30u32 {
        let mut t = synthetic_track(&format!("t{i:02}"), i, 200);
        // A hash every track shares, at a frame of its own.
        t.landmarks.push(Landmark {
            hash: 0x42,
            frame: 1000 + i,
            aux: i as u16,
        });
        all_hashes.extend(hashes_of(&t));
        store.put_track(&t).expect("put");
    }
    all_hashes.sort_unstable();
    all_hashes.dedup();
    let before = sorted(store.lookup(&all_hashes, usize::MAX).expect("lookup"));
    let shared = &before[all_hashes.binary_search(&0x42).expect("present")];
    assert_eq!(shared.len(), 30);

    store.compact().expect("compacts");
    let after = sorted(store.lookup(&all_hashes, usize::MAX).expect("lookup"));
    assert_eq!(after, before);
    let stats = store.stats().expect("stats");
    let buckets: std::collections::HashSet<u64> = all_hashes.iter().map(|h| h >> 16).collect();
    assert_eq!(
        stats.keys,
        buckets.len() as u64,
        "estimate after compaction"
    );
    assert_eq!(store.count_hashes().expect("scan"), all_hashes.len() as u64);

    // Rewriting compacted values: delete one track, then merge onto them again.
    store.delete_track(&id("t07")).expect("delete");
    store
        .put_track(&synthetic_track("t07", 7, 200))
        .expect("put");
    check_consistent(&store);
    drop(store);
    let store = RocksStore::open_existing(&path).expect("reopens");
    let shared = store.lookup(&[0x42], usize::MAX).expect("lookup");
    assert_eq!(shared[0].len(), 29);
    assert!(store.lookup(&[0x42], 28).expect("lookup")[0].is_empty());
    check_consistent(&store);
}

#[test]
fn deletes_find_a_tracks_hashes_from_its_stored_fingerprint() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("fp{i}"), i, 2_000, HashConfig::DEFAULT.id))
        .collect();
    let mut idx = Vec::new();
    for t in &tracks {
        idx.push(store.put_track(t).expect("put").1.idx);
    }
    // Kept as a fingerprint, and smaller than the hash list it stands for.
    let packed = layout::pack_hashes(hashes_of(&tracks[0])).len();
    let (tag, len) = stored_hash_list(&store, idx[0]);
    assert_eq!(tag, layout::TRACK_HASHES_FINGERPRINT);
    assert!(len * 2 < packed, "{len} bytes against {packed}");
    check_consistent(&store);

    // Landmarks that are not the fingerprint's: the hashes are kept instead.
    let mut altered = fingerprinted_track("altered", 9, 2_000, HashConfig::DEFAULT.id);
    altered.landmarks.push(Landmark {
        hash: 0x7f_fff0,
        frame: 3,
        aux: 0,
    });
    let (_, altered_record) = store.put_track(&altered).expect("put");
    assert_eq!(
        stored_hash_list(&store, altered_record.idx).0,
        layout::TRACK_HASHES_PACKED
    );

    // Deleting and replacing find every posting of each kind.
    assert!(store.delete_track(&tracks[1].id).expect("delete"));
    assert!(store.delete_track(&altered.id).expect("delete"));
    store.put_track(&tracks[2]).expect("replace");
    store.compact().expect("compacts");
    assert!(store.delete_track(&tracks[3].id).expect("delete"));
    check_consistent(&store);
    assert_eq!(postings_found(&store, &tracks[1], idx[1]), 0);
    assert_eq!(postings_found(&store, &tracks[3], idx[3]), 0);
    assert_eq!(
        postings_found(&store, &tracks[0], idx[0]),
        postings_of(&tracks[0])
    );

    // A damaged fingerprint, or hashes that no longer come out as they did at ingest
    // (the checksum of the list stands in for a changed hash configuration), are
    // errors, and the track stays.
    let hashes_cf = store.cf(CF_TRACK_HASHES).expect("cf");
    let stored = store
        .db()
        .get_cf(hashes_cf, layout::idx_key(idx[0]))
        .expect("read")
        .expect("present");
    for flipped in [stored.len() - 1, 1] {
        let mut damaged = stored.clone();
        damaged[flipped] ^= 0xff;
        store
            .db()
            .put_cf(hashes_cf, layout::idx_key(idx[0]), damaged)
            .expect("put");
        let err = store.delete_track(&tracks[0].id).expect_err("damaged");
        assert!(
            flipped != 1 || err.to_string().contains("recomputed"),
            "{err}"
        );
        assert!(store.track(&tracks[0].id).expect("read").is_some());
    }
}

/// Track numbers far apart in one value (a track ingested long after the others, or
/// a replaced one, which takes a new number): the difference is escaped from the Rice
/// code, and the value must read back, merge, compact and lose a track like any other.
#[test]
fn far_apart_track_numbers_share_a_value() {
    let dir = tempdir();
    {
        let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
            .expect("creates");
        let shared = |name: &str, seed: u32| {
            let mut t = synthetic_track(name, seed, 100);
            t.landmarks.push(Landmark {
                hash: 0x42,
                frame: 500 + seed,
                aux: 7,
            });
            t
        };
        for i in 0..40 {
            store
                .put_track(&shared(&format!("near{i}"), i))
                .expect("put");
        }
        store.compact().expect("compacts");
        for (i, jump) in [(40, 1_000_000u32), (41, 400_000_000)] {
            store
                .db()
                .put_cf(
                    store.cf(CF_META).expect("cf"),
                    layout::META_NEXT_IDX,
                    jump.to_be_bytes(),
                )
                .expect("writes");
            store
                .put_track(&shared(&format!("far{i}"), i))
                .expect("put");
        }
        let tracks = |store: &RocksStore| -> Vec<u32> {
            let lists = store.lookup(&[0x42], usize::MAX).expect("lookup");
            lists[0].iter().map(|p| p.track).collect()
        };
        let expected: Vec<u32> = (0..40).chain([1_000_000, 400_000_000]).collect();
        assert_eq!(tracks(&store), expected);
        store.compact().expect("compacts");
        assert_eq!(tracks(&store), expected);
        store.delete_track(&id("near3")).expect("delete");
        store.delete_track(&id("far40")).expect("delete");
        let left: Vec<u32> = expected
            .iter()
            .copied()
            .filter(|&t| t != 3 && t != 1_000_000)
            .collect();
        assert_eq!(tracks(&store), left);
        check_consistent(&store);
    }
}

/// Hashes of one bucket share its value, each with its own postings: a lookup gets
/// its hash's alone, and a delete or a replace takes out all of a track's postings in
/// the bucket and no other track's, before and after compaction.
#[test]
fn hashes_of_one_bucket_keep_their_own_postings() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    let bucket = 0x12_3456u64 << 16;
    let in_bucket = |name: &str, seed: u32, residuals: &[u64]| {
        let mut t = synthetic_track(name, seed, 50);
        for (i, &r) in residuals.iter().enumerate() {
            t.landmarks.push(Landmark {
                hash: bucket | r,
                frame: 100 * seed + i as u32,
                aux: 9,
            });
        }
        t
    };
    let a = in_bucket("a", 1, &[0, 7, 7, 0xffff]);
    let b = in_bucket("b", 2, &[7, 300]);
    let idx_a = store.put_track(&a).expect("put").1.idx;
    let idx_b = store.put_track(&b).expect("put").1.idx;
    let asked: Vec<u64> = [0, 7, 300, 0xffff, 8].iter().map(|r| bucket | r).collect();
    let tracks = |store: &RocksStore| -> Vec<Vec<u32>> {
        let lists = store.lookup(&asked, usize::MAX).expect("lookup");
        lists
            .iter()
            .map(|l| l.iter().map(|p| p.track).collect())
            .collect()
    };
    let both = vec![
        vec![idx_a],
        vec![idx_a, idx_a, idx_b],
        vec![idx_b],
        vec![idx_a],
        vec![],
    ];
    assert_eq!(tracks(&store), both);
    store.compact().expect("compacts");
    assert_eq!(tracks(&store), both);
    check_consistent(&store);

    assert!(store.delete_track(&a.id).expect("delete"));
    let b_alone = vec![vec![], vec![idx_b], vec![idx_b], vec![], vec![]];
    assert_eq!(tracks(&store), b_alone);
    // Replacing b with a version outside the bucket empties the bucket.
    store.put_track(&in_bucket("b", 2, &[])).expect("replace");
    assert_eq!(tracks(&store), vec![Vec::<u32>::new(); 5]);
    store.compact().expect("compacts");
    assert_eq!(tracks(&store), vec![Vec::<u32>::new(); 5]);
    check_consistent(&store);
}

/// The default configuration's hashes have 40 bits: their buckets' keys take 3
/// bytes, and every path that turns a hash into a key and residual or back (put,
/// lookup, the stored hash lists, deletes, the bitmap) must keep all of them.
#[test]
fn forty_bit_hashes_keep_every_bit_in_three_byte_bucket_keys() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let store = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("w{i}"), i, 1_500, HashConfig::DEFAULT.id))
        .collect();
    assert!(
        tracks[0]
            .landmarks
            .iter()
            .any(|l| l.hash > u64::from(u32::MAX)),
        "no hash above 32 bits"
    );
    let idx: Vec<u32> = tracks
        .iter()
        .map(|t| store.put_track(t).expect("put").1.idx)
        .collect();
    let keys = store
        .db()
        .iterator_cf(store.cf(CF_POSTINGS).expect("cf"), IteratorMode::Start)
        .map(|item| item.expect("scan").0.len())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(keys, [3].into());
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&store, t, i), postings_of(t));
    }
    // A hash that shares the residual of a stored one is in another bucket, and one
    // that shares its bucket has another residual.
    let stored = hashes_of(&tracks[0])[0];
    let found = store
        .lookup(&[stored ^ (1 << 36), stored ^ 1, stored], usize::MAX)
        .expect("lookup");
    assert!(found[0].is_empty());
    assert!(found[1].is_empty());
    assert!(!found[2].is_empty());
    check_consistent(&store);

    // Deleted through the stored fingerprint, then reopened.
    assert!(store.delete_track(&tracks[1].id).expect("delete"));
    store.compact().expect("compacts");
    check_consistent(&store);
    drop(store);
    let store = RocksStore::open_existing(&path).expect("reopens");
    assert_eq!(store.hash_config_id(), HashConfig::DEFAULT.id);
    assert_eq!(postings_found(&store, &tracks[1], idx[1]), 0);
    assert_eq!(
        postings_found(&store, &tracks[2], idx[2]),
        postings_of(&tracks[2])
    );
    check_consistent(&store);
}

/// A hash wider than an index's keys is never stored, and never found.
#[test]
fn hashes_wider_than_the_keys_are_refused_and_never_found() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    let a = synthetic_track("a", 1, 300);
    store.put_track(&a).expect("put");
    let before = store.stats().expect("stats");
    let mut wide = synthetic_track("wide", 2, 300);
    wide.landmarks[7].hash = 1 << 40;
    let err = store.put_track(&wide).expect_err("too wide");
    assert!(err.to_string().contains("wider"), "{err}");
    assert!(store.track(&wide.id).expect("read").is_none());
    assert_eq!(store.stats().expect("stats").postings, before.postings);
    // Its low 40 bits are a stored hash: the wide one still finds nothing.
    let stored = hashes_of(&a)[0];
    let found = store
        .lookup(&[stored | (1 << 40), stored], usize::MAX)
        .expect("lookup");
    assert!(found[0].is_empty());
    assert!(!found[1].is_empty());
    check_consistent(&store);
}

#[test]
fn invalid_durations_are_refused() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    for d in [f64::NAN, f64::INFINITY, -1.0] {
        let mut t = synthetic_track("a", 1, 10);
        t.duration_s = d;
        assert!(store.put_track(&t).is_err());
    }
    assert_eq!(store.stats().expect("stats").tracks, 0);
}
