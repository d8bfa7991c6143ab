//! The conformance suite on disk, plus what only a disk index has: reopening,
//! refusing foreign directories, compaction, secondaries and crashes.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use earmark_core::Landmark;
use earmark_index::conformance::synthetic_track;
use earmark_index::{
    NewTrack, Posting, PostingLists, PutOutcome, Store, TrackId, TrackMeta, posting,
};
use rocksdb::{DB, IteratorMode};

use crate::layout::{
    self, CF_META, CF_PACKED_POSTINGS, CF_POSTINGS, CF_SORTED_POSTINGS, CF_TRACK_HASHES,
    CF_TRACK_IDX,
};
use crate::presence::Presence;
use crate::{CatchUp, Error, Follower, Mode, RocksStore};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn id(text: &str) -> TrackId {
    TrackId::new(text).expect("valid id")
}

fn sorted(lists: PostingLists) -> Vec<Vec<Posting>> {
    lists
        .iter()
        .map(|list| {
            let mut list = list.to_vec();
            list.sort_unstable();
            list
        })
        .collect()
}

fn hashes_of(track: &NewTrack) -> Vec<u64> {
    let mut h: Vec<u64> = track.landmarks.iter().map(|l| l.hash).collect();
    h.sort_unstable();
    h.dedup();
    h
}

/// How many of `track`'s postings a lookup of its hashes finds under `idx`.
fn postings_found(store: &dyn Store, track: &NewTrack, idx: u32) -> u64 {
    let found = store.lookup(&hashes_of(track), usize::MAX).expect("lookup");
    found
        .iter()
        .map(|list| list.iter().filter(|p| p.track == idx).count() as u64)
        .sum()
}

/// Checks that records, postings and counters agree: every posting belongs to a
/// stored track, every track has exactly its landmark count of postings, and the
/// counters match the records.
fn check_consistent(store: &RocksStore) {
    let records = store.list_tracks(None, usize::MAX).expect("list");
    let live: HashMap<u32, &earmark_index::TrackRecord> =
        records.iter().map(|r| (r.idx, r)).collect();
    assert_eq!(live.len(), records.len(), "two tracks share an idx");
    let mut per_track: HashMap<u32, u64> = HashMap::new();
    let db = store.db();
    let postings = store.cf(store.postings_cf()).expect("cf");
    // The bitmap in memory and the one stored must both cover every stored hash.
    let in_memory = store.presence().expect("a writable index has a bitmap");
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
        assert!(!value.is_empty(), "empty value kept for a hash");
        let hash = layout::hash_of_key(&key).expect("a hash key");
        assert!(in_memory.may_contain(hash), "hash {hash} not in the bitmap");
        assert!(
            stored.may_contain(hash),
            "hash {hash} not in the stored bitmap"
        );
        posting::decode_blocks(&value, store.block_format(), |track, _| {
            assert!(live.contains_key(&track), "posting of absent track {track}");
            *per_track.entry(track).or_default() += 1;
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

/// The earlier layouts this code still writes, newest first, with the block format
/// and postings family each must open with: layout 4's sorted blocks, layout 3's
/// flagged blocks (concatenated) and layout 2's blocks that state their counts.
const OLDER_LAYOUTS: [(u32, posting::BlockFormat, &str); 3] = [
    (4, posting::BlockFormat::Sorted, CF_SORTED_POSTINGS),
    (3, posting::BlockFormat::Flagged, CF_POSTINGS),
    (2, posting::BlockFormat::Counted, CF_POSTINGS),
];

/// A new, empty index of the earlier layout `version` (one of [`OLDER_LAYOUTS`]), as
/// the releases before the current layout made them.
fn create_layout(path: &Path, version: u32) -> RocksStore {
    let (_, format, family) = OLDER_LAYOUTS
        .into_iter()
        .find(|&(v, ..)| v == version)
        .expect("a layout this code writes");
    drop(RocksStore::create_with_layout(path, 1, version).expect("creates"));
    let store = RocksStore::open_existing(path).expect("opens the older layout");
    assert_eq!(store.block_format(), format, "layout {version}");
    assert_eq!(store.postings_cf(), family, "layout {version}");
    store
}

/// A new index of each layout this code writes: the current one, then 4, 3 and 2.
fn create_each_layout(path: &Path) -> [RocksStore; 4] {
    let current = RocksStore::create_or_open(path.join("5"), 1).expect("creates");
    assert_eq!(current.block_format(), posting::BlockFormat::Packed);
    assert_eq!(current.postings_cf(), CF_PACKED_POSTINGS);
    let [four, three, two] =
        OLDER_LAYOUTS.map(|(version, ..)| create_layout(&path.join(version.to_string()), version));
    [current, four, three, two]
}

/// A postings cache small enough that the tests' tracks also exercise eviction.
const TEST_CACHE_BYTES: u64 = 256 << 10;

#[test]
fn passes_the_conformance_suite() {
    let parent = tempdir();
    let n = AtomicUsize::new(0);
    for cache_bytes in [0, TEST_CACHE_BYTES] {
        earmark_index::conformance::run_all(&|| {
            let dir = parent
                .path()
                .join(n.fetch_add(1, Ordering::Relaxed).to_string());
            let store = RocksStore::create_or_open(dir, 1)
                .expect("opens")
                .with_postings_cache(cache_bytes);
            assert_eq!(store.block_format(), posting::BlockFormat::Packed);
            Box::new(store) as Box<dyn Store>
        });
    }
    // Indexes of the previous layouts keep working, their blocks as they were.
    for (version, ..) in OLDER_LAYOUTS {
        earmark_index::conformance::run_all(&|| {
            let dir = parent
                .path()
                .join(n.fetch_add(1, Ordering::Relaxed).to_string());
            Box::new(create_layout(&dir, version)) as Box<dyn Store>
        });
    }
}

#[test]
fn cached_lookups_see_every_write() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let primary = RocksStore::create_or_open(&path, 1)
        .expect("creates")
        .with_postings_cache(TEST_CACHE_BYTES);
    assert_eq!(primary.postings_cache_bytes(), TEST_CACHE_BYTES);
    let a = synthetic_track("a", 1, 300);
    let (_, ra) = primary.put_track(&a).expect("put");
    // Twice: the first fills the cache, the second answers from it.
    for _ in 0..2 {
        assert_eq!(postings_found(&primary, &a, ra.idx), ra.landmarks);
    }
    let secondary = RocksStore::open_secondary(&path, dir.path().join("secondary"))
        .expect("secondary")
        .with_postings_cache(TEST_CACHE_BYTES);
    assert_eq!(postings_found(&secondary, &a, ra.idx), ra.landmarks);

    // The same audio under another id: every hash of `a` gains a posting.
    let mut b = a.clone();
    b.id = id("b");
    let (_, rb) = primary.put_track(&b).expect("put");
    assert_eq!(postings_found(&primary, &a, rb.idx), rb.landmarks);
    primary.delete_track(&a.id).expect("delete");
    assert_eq!(postings_found(&primary, &a, ra.idx), 0);
    assert_eq!(postings_found(&primary, &b, rb.idx), rb.landmarks);
    let (_, replaced) = primary.put_track(&b).expect("replace");
    assert_eq!(postings_found(&primary, &b, rb.idx), 0);
    assert_eq!(
        postings_found(&primary, &b, replaced.idx),
        replaced.landmarks
    );

    // A secondary's cache holds until it catches up, then shows the primary's writes.
    assert_eq!(postings_found(&secondary, &a, ra.idx), ra.landmarks);
    secondary.catch_up().expect("catches up");
    assert_eq!(postings_found(&secondary, &a, ra.idx), 0);
    assert_eq!(
        postings_found(&secondary, &b, replaced.idx),
        replaced.landmarks
    );
}

#[test]
fn tracks_survive_reopening() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let a = synthetic_track("a", 1, 400);
    let b = synthetic_track("b", 2, 400);
    let (ra, rb, before) = {
        let store = RocksStore::create_or_open(&path, 3).expect("creates");
        let (_, ra) = store.put_track(&a).expect("put");
        let (_, rb) = store.put_track(&b).expect("put");
        let before = sorted(store.lookup(&hashes_of(&a), usize::MAX).expect("lookup"));
        (ra, rb, before)
    };
    let store = RocksStore::open_existing(&path).expect("reopens");
    assert_eq!(store.hash_config_id(), 3);
    assert_eq!(store.mode(), Mode::Primary);
    assert_eq!(store.track(&a.id).expect("read"), Some(ra.clone()));
    assert_eq!(
        store.tracks_by_idx(&[rb.idx, ra.idx]).expect("read"),
        vec![Some(rb.clone()), Some(ra.clone())]
    );
    let after = sorted(store.lookup(&hashes_of(&a), usize::MAX).expect("lookup"));
    assert_eq!(after, before);
    // Numbering goes on where it stopped.
    let (_, rc) = store.put_track(&synthetic_track("c", 3, 10)).expect("put");
    assert_eq!(rc.idx, rb.idx + 1);
    check_consistent(&store);
    drop(store);
    // Reopening with the same configuration is not a new index.
    let store = RocksStore::create_or_open(&path, 3).expect("reopens");
    assert_eq!(store.stats().expect("stats").tracks, 3);
}

#[test]
fn query_opens_never_create() {
    let dir = tempdir();
    let missing = dir.path().join("missing");
    assert!(matches!(
        RocksStore::open_existing(&missing),
        Err(Error::NoIndex { .. })
    ));
    assert!(matches!(
        RocksStore::open_read_only(&missing),
        Err(Error::NoIndex { .. })
    ));
    assert!(!missing.exists());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert!(matches!(
        RocksStore::open_existing(&empty),
        Err(Error::NoIndex { .. })
    ));
    assert_eq!(std::fs::read_dir(&empty).expect("list").count(), 0);
}

#[test]
fn foreign_directories_are_refused() {
    let dir = tempdir();

    let file = dir.path().join("file");
    std::fs::write(&file, b"not an index").expect("write");
    let err = RocksStore::create_or_open(&file, 1).expect_err("a file");
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");

    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("notes.txt"), b"keep me").expect("write");
    let err = RocksStore::create_or_open(&docs, 1).expect_err("not a database");
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(&docs).expect("list").count(),
        1,
        "wrote into it"
    );

    let other = dir.path().join("other-db");
    {
        let db = DB::open_default(&other).expect("plain database");
        db.put(b"k", b"v").expect("put");
    }
    let err = RocksStore::create_or_open(&other, 1).expect_err("foreign database");
    assert!(
        matches!(&err, Error::NotAnIndex { reason, .. } if reason.contains("column family")),
        "{err}"
    );
    // The refusal happened before opening: no column family was added.
    let names = DB::list_cf(&rocksdb::Options::default(), &other).expect("list");
    assert_eq!(names, ["default"]);
}

/// A bare RocksDB database at `path` with the column families `names` and nothing
/// in them, as an interrupted creation leaves it.
fn create_blank_database(path: &Path, names: &[&str]) {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    DB::open_cf(&opts, path, names).expect("creates");
}

#[test]
fn a_database_with_our_column_families_but_no_metadata() {
    let dir = tempdir();
    let path = dir.path().join("half");
    create_blank_database(&path, &layout::all_cfs(CF_PACKED_POSTINGS));
    let err = RocksStore::open_existing(&path).expect_err("no metadata");
    assert!(
        matches!(&err, Error::NotAnIndex { reason, .. } if reason.contains("metadata")),
        "{err}"
    );
    // Creation that stopped before writing metadata is finished on the next create.
    let store = RocksStore::create_or_open(&path, 5).expect("adopts the blank index");
    assert_eq!(store.hash_config_id(), 5);
    assert_eq!(store.block_format(), posting::BlockFormat::Packed);
    store.put_track(&synthetic_track("a", 1, 10)).expect("put");
    check_consistent(&store);

    // One left by a release before layout 5 keeps its postings family and gets the
    // newest layout that goes with it.
    for (family, format) in [
        (CF_SORTED_POSTINGS, posting::BlockFormat::Sorted),
        (CF_POSTINGS, posting::BlockFormat::Flagged),
    ] {
        let path = dir.path().join(format!("half-{family}"));
        create_blank_database(&path, &layout::all_cfs(family));
        let store = RocksStore::create_or_open(&path, 1).expect("adopts the blank index");
        assert_eq!(store.block_format(), format);
        store.put_track(&synthetic_track("a", 1, 10)).expect("put");
        check_consistent(&store);
    }

    // Two postings families: not a layout of ours.
    for (one, other) in [
        (CF_POSTINGS, CF_SORTED_POSTINGS),
        (CF_SORTED_POSTINGS, CF_PACKED_POSTINGS),
        (CF_PACKED_POSTINGS, CF_POSTINGS),
    ] {
        let path = dir.path().join(format!("both-{one}-{other}"));
        let mut names = layout::all_cfs(one).to_vec();
        names.push(other);
        create_blank_database(&path, &names);
        let err = RocksStore::open_existing(&path).expect_err("two postings families");
        assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
    }
}

#[test]
fn another_hash_configuration_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("index");
    drop(RocksStore::create_or_open(&path, 1).expect("creates"));
    let err = RocksStore::create_or_open(&path, 2).expect_err("other config");
    assert!(
        matches!(
            err,
            Error::ConfigMismatch {
                index: 1,
                requested: 2
            }
        ),
        "{err}"
    );
    assert!(matches!(
        earmark_index::Error::from(err),
        earmark_index::Error::ConfigMismatch { index: 1, query: 2 }
    ));
    assert_eq!(
        RocksStore::open_existing(&path)
            .expect("opens")
            .hash_config_id(),
        1
    );
}

#[test]
fn another_layout_version_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("index");
    {
        let store = RocksStore::create_or_open(&path, 1).expect("creates");
        let meta = store.cf(layout::CF_META).expect("cf");
        store
            .db()
            .put_cf(meta, layout::META_FORMAT_VERSION, 99u32.to_be_bytes())
            .expect("put");
    }
    let err = RocksStore::open_existing(&path).expect_err("version 99");
    assert!(
        matches!(
            err,
            Error::VersionMismatch {
                found: 99,
                expected: crate::FORMAT_VERSION
            }
        ),
        "{err}"
    );
}

#[test]
fn an_index_of_layout_1_is_read_as_is_and_upgraded_by_a_writer() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let tracks: Vec<NewTrack> = (0..3)
        .map(|i| synthetic_track(&format!("t{i}"), i, 800))
        .collect();
    let mut idx = Vec::new();
    {
        let store = create_layout(&path, 2);
        for t in &tracks {
            idx.push(store.put_track(t).expect("put").1.idx);
        }
        // What layout 1 wrote: no bitmap.
        let meta = store.cf(CF_META).expect("cf");
        store
            .db()
            .delete_cf(meta, layout::META_PRESENCE)
            .expect("delete");
        store
            .db()
            .put_cf(meta, layout::META_FORMAT_VERSION, 1u32.to_be_bytes())
            .expect("put");
    }
    {
        let view = RocksStore::open_read_only(&path).expect("opens layout 1");
        assert!(view.presence().is_none());
        for (t, &i) in tracks.iter().zip(&idx) {
            assert_eq!(postings_found(&view, t, i), t.landmarks.len() as u64);
        }
    }
    let store = RocksStore::open_existing(&path).expect("upgrades");
    let version = store
        .db()
        .get_cf(store.cf(CF_META).expect("cf"), layout::META_FORMAT_VERSION)
        .expect("read")
        .expect("present");
    assert_eq!(version, 2u32.to_be_bytes(), "upgraded to layout 2 only");
    assert_eq!(store.block_format(), posting::BlockFormat::Counted);
    check_consistent(&store);
    let added = synthetic_track("t3", 3, 800);
    let (_, record) = store.put_track(&added).expect("put after the upgrade");
    check_consistent(&store);
    drop(store);
    let view = RocksStore::open_read_only(&path).expect("opens");
    assert!(view.presence().is_some());
    for (t, &i) in tracks.iter().zip(&idx).chain([(&added, &record.idx)]) {
        assert_eq!(postings_found(&view, t, i), t.landmarks.len() as u64);
    }
}

#[test]
fn lookups_answer_absent_repeated_and_unsorted_hashes_in_order() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1).expect("creates");
    let track = synthetic_track("a", 5, 400);
    let (_, record) = store.put_track(&track).expect("put");
    let present = hashes_of(&track);
    let absent: Vec<u64> = (0..u64::MAX)
        .filter(|h| !store.presence().expect("bitmap").may_contain(*h))
        .take(3)
        .collect();
    // Unsorted, repeated, absent and present interleaved.
    let asked = [
        present[7], absent[0], present[2], present[7], absent[1], absent[2],
    ];
    let found = store.lookup(&asked, usize::MAX).expect("lookup");
    assert_eq!(found.len(), asked.len());
    for (h, list) in asked.iter().zip(found.iter()) {
        let expected = track.landmarks.iter().filter(|l| l.hash == *h).count();
        assert_eq!(list.len(), expected, "hash {h}");
        assert!(list.iter().all(|p| p.track == record.idx));
    }
    // A 32-bit hash folds onto a bit of a 23-bit one: it is asked, and found absent.
    let folded = (1 << 23) | (present[0] ^ 1);
    assert!(store.presence().expect("bitmap").may_contain(folded));
    let found = store.lookup(&[folded], usize::MAX).expect("lookup");
    assert!(found.iter().all(<[earmark_index::Posting]>::is_empty));
}

#[test]
fn a_lookup_racing_a_put_sees_the_track_whole_or_not_at_all() {
    lookup_racing_a_put(0);
}

#[test]
fn a_cached_lookup_racing_a_put_sees_the_track_whole_or_not_at_all() {
    // The shared half of the hashes is cached by earlier lookups: a lookup that served
    // them from an entry older than its snapshot would find only the other half.
    lookup_racing_a_put(TEST_CACHE_BYTES);
}

fn lookup_racing_a_put(cache_bytes: u64) {
    // Half of each track's hashes are already in the index (their bits set), half are
    // new: a lookup that tested the bits before the put and read after it would find
    // only the first half. The window is microseconds wide, so this checks the rule
    // under real concurrency rather than forcing the interleaving.
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1)
        .expect("creates")
        .with_postings_cache(cache_bytes);
    let with_hashes = |name: &str, hashes: Vec<u64>| {
        let mut t = synthetic_track(name, 0, 0);
        t.landmarks = hashes
            .into_iter()
            .enumerate()
            .map(|(i, hash)| Landmark {
                hash,
                frame: i as u32,
            })
            .collect();
        t
    };
    let shared: Vec<u64> = (0..400).map(|i| i * 7).collect();
    let (_, seed) = store
        .put_track(&with_hashes("seed", shared.clone()))
        .expect("put");
    let tracks: Vec<NewTrack> = (0..150u32)
        .map(|k| {
            let fresh = (0..400).map(|i| 0x10_0000 + u64::from(k) * 1000 + i);
            with_hashes(
                &format!("t{k}"),
                shared.iter().copied().chain(fresh).collect(),
            )
        })
        .collect();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for t in &tracks {
                store.put_track(t).expect("put");
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut k = 0;
        while k < tracks.len() {
            // Read before the lookup: once every put returned, every track is found.
            let all_written = done.load(Ordering::SeqCst);
            let hashes = hashes_of(&tracks[k]);
            let found = store.lookup(&hashes, usize::MAX).expect("lookup");
            // Tracks get consecutive idx after the seed's.
            let idx = seed.idx + 1 + k as u32;
            let mine = found.iter().flatten().filter(|p| p.track == idx).count();
            assert!(
                mine == 0 || mine == 800,
                "track {k}: {mine} of 800 postings"
            );
            assert!(mine == 800 || !all_written, "track {k} missing");
            if mine == 800 {
                k += 1;
            }
        }
    });
}

#[test]
fn replacing_keeps_the_counts_of_the_new_track() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1).expect("creates");
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
    assert_eq!(store.track_by_content(&old_content).expect("read"), None);
    assert_eq!(
        store
            .track_by_content(&"ab".repeat(32))
            .expect("read")
            .map(|r| r.idx),
        Some(r_second.idx)
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
    for store in create_each_layout(dir.path()) {
        merged_postings_read_the_same_after_compaction_in(store);
    }
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
    assert_eq!(
        stats.hashes,
        all_hashes.len() as u64,
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
fn secondary_and_read_only_instances_follow_a_writer() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let primary = RocksStore::create_or_open(&path, 1).expect("creates");
    let a = synthetic_track("a", 1, 300);
    primary.put_track(&a).expect("put");

    let secondary =
        RocksStore::open_secondary(&path, dir.path().join("secondary")).expect("secondary");
    assert_eq!(secondary.mode(), Mode::Secondary);
    assert_eq!(secondary.hash_config_id(), 1);
    assert!(secondary.track(&a.id).expect("read").is_some());
    let read_only = RocksStore::open_read_only(&path).expect("read-only");

    let b = synthetic_track("b", 2, 300);
    let (_, rb) = primary.put_track(&b).expect("put");
    primary.delete_track(&a.id).expect("delete");
    secondary.catch_up().expect("catches up");
    assert!(secondary.track(&a.id).expect("read").is_none());
    assert_eq!(postings_found(&secondary, &b, rb.idx), rb.landmarks);
    assert_eq!(secondary.stats().expect("stats").tracks, 1);

    // The read-only view stays as it was opened.
    read_only.catch_up().expect("no-op");
    assert!(read_only.track(&a.id).expect("read").is_some());
    assert!(read_only.track(&b.id).expect("read").is_none());

    for store in [&secondary, &read_only] {
        let err = store.put_track(&b).expect_err("read-only");
        assert!(matches!(err, earmark_index::Error::ReadOnly), "{err}");
        assert!(matches!(
            store.delete_track(&b.id),
            Err(earmark_index::Error::ReadOnly)
        ));
        assert!(matches!(
            store.update_meta(&b.id, &TrackMeta::default()),
            Err(earmark_index::Error::ReadOnly)
        ));
        assert!(matches!(store.compact(), Err(Error::ReadOnly)));
    }
}

#[test]
fn a_second_writer_is_told_the_index_is_busy() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let _first = RocksStore::create_or_open(&path, 1).expect("creates");
    let err = RocksStore::open_existing(&path).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
}

#[test]
fn invalid_durations_are_refused() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1).expect("creates");
    for d in [f64::NAN, f64::INFINITY, -1.0] {
        let mut t = synthetic_track("a", 1, 10);
        t.duration_s = d;
        assert!(store.put_track(&t).is_err());
    }
    assert_eq!(store.stats().expect("stats").tracks, 0);
}

/// Environment variable naming the index the crash child writes into.
const CRASH_DIR_VAR: &str = "EARMARK_ROCKSDB_CRASH_DIR";
/// Tracks the child cycles through, so that it replaces as well as inserts.
const CRASH_IDS: u32 = 25;

fn crash_track(i: u32) -> NewTrack {
    synthetic_track(&format!("t{}", i % CRASH_IDS), i, 1500)
}

/// The child process of `a_kill_mid_ingest_leaves_whole_tracks`: ingests until killed,
/// printing each finished put.
#[test]
#[ignore = "run as a child process by a_kill_mid_ingest_leaves_whole_tracks"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_VAR) else {
        return;
    };
    let store = RocksStore::create_or_open(Path::new(&dir), 1).expect("creates");
    let mut out = std::io::stdout().lock();
    // Bounded, in case the parent never kills it.
    for i in 0..100_000 {
        store.put_track(&crash_track(i)).expect("put");
        if i % 11 == 5 {
            store
                .delete_track(&id(&format!("t{}", (i + 3) % CRASH_IDS)))
                .expect("delete");
        }
        writeln!(out, "put {i}").expect("stdout");
        out.flush().expect("stdout");
    }
}

#[test]
fn a_kill_mid_ingest_leaves_whole_tracks() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "tests::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR_VAR, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    // The pipe stays open until the child is dead: a child writing into a closed pipe
    // would fail and exit on its own.
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut last = None;
    for line in &mut lines {
        let line = line.expect("reads");
        if let Some(i) = line.strip_prefix("put ") {
            last = Some(i.parse::<u32>().expect("number"));
            // Past a full round of ids, so that replaces are in flight too.
            if last >= Some(3 * CRASH_IDS) {
                break;
            }
        }
    }
    // SIGKILL while the child goes on writing.
    child.kill().expect("kills");
    child.wait().expect("reaped");
    drop(lines);
    let last = last.expect("the child wrote tracks");

    let store = RocksStore::open_existing(&path).expect("reopens");
    check_consistent(&store);
    let records: BTreeMap<String, u32> = store
        .list_tracks(None, usize::MAX)
        .expect("list")
        .into_iter()
        .map(|r| {
            let seed =
                u32::from_str_radix(r.content_hash.as_deref().expect("set"), 16).expect("hex seed");
            (r.id.as_str().to_owned(), seed)
        })
        .collect();
    // Every acknowledged put survives: an id's record, if any, is from its last put
    // up to `last` or a later one (a later delete may have removed it).
    assert!(!records.is_empty());
    for (id, &seed) in &records {
        let k: u32 = id[1..].parse().expect("numbered id");
        let acknowledged = (0..=last).rev().find(|j| j % CRASH_IDS == k);
        assert!(
            acknowledged.is_some_and(|j| seed >= j),
            "{id} lost put {acknowledged:?}"
        );
    }
    // Each record's postings are exactly those of the put that wrote it.
    for (id, &seed) in &records {
        let t = crash_track(seed);
        assert_eq!(t.id.as_str(), id.as_str());
        let r = store.track(&t.id).expect("read").expect("present");
        let groups = posting::group_by_hash(&t.landmarks, earmark_index::MAX_FRAMES_PER_HASH);
        let hashes: Vec<u64> = groups.iter().map(|(h, _)| *h).collect();
        let found = store.lookup(&hashes, usize::MAX).expect("lookup");
        for ((_, frames), list) in groups.iter().zip(found.iter()) {
            let mine: Vec<u32> = list
                .iter()
                .filter(|p| p.track == r.idx)
                .map(|p| p.frame)
                .collect();
            assert_eq!(&mine, frames, "postings of {id}");
        }
    }
}

/// A synthetic catalog load: 1,000 tracks of 3,000 landmarks over 2^18 hashes, then
/// queries of 300 hashes. Prints figures; asserts nothing about time.
#[test]
#[ignore = "a measurement: cargo test -p earmark-rocksdb --release -- --ignored --nocapture measure"]
fn measure_ingest_and_lookup() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1).expect("creates");
    let mut state = 0x9e37_79b9_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let tracks = 1_000u32;
    let per_track = 3_000u32;
    let start = std::time::Instant::now();
    let mut postings = 0u64;
    for t in 0..tracks {
        let landmarks = (0..per_track)
            .map(|i| Landmark {
                hash: u64::from(next() & 0x3_ffff),
                frame: i * 3,
            })
            .collect();
        let (_, r) = store
            .put_track(&NewTrack {
                id: id(&format!("track-{t:05}")),
                meta: TrackMeta::default(),
                duration_s: 180.0,
                content_hash: None,
                landmarks,
                fingerprint: None,
            })
            .expect("put");
        postings += r.landmarks;
    }
    let ingest = start.elapsed().as_secs_f64();
    let raw = store.stats().expect("stats");
    let start = std::time::Instant::now();
    store.compact().expect("compacts");
    let compact = start.elapsed().as_secs_f64();
    let stats = store.stats().expect("stats");

    let mut times = Vec::new();
    for _ in 0..200 {
        let hashes: Vec<u64> = (0..300).map(|_| u64::from(next() & 0x3_ffff)).collect();
        let start = std::time::Instant::now();
        let found = store.lookup(&hashes, usize::MAX).expect("lookup");
        times.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(found.len(), 300);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "ingest: {postings} postings in {ingest:.2} s = {:.0} postings/s ({:.1} ms/track)",
        postings as f64 / ingest,
        ingest * 1e3 / f64::from(tracks)
    );
    println!(
        "before compaction: {} bytes ({:.1} B/posting), hashes estimate {}",
        raw.bytes,
        raw.bytes as f64 / postings as f64,
        raw.hashes
    );
    println!(
        "compaction {compact:.2} s; after: {} bytes ({:.2} B/posting), hashes estimate {}, exact {}",
        stats.bytes,
        stats.bytes as f64 / postings as f64,
        stats.hashes,
        store.count_hashes().expect("scan")
    );
    println!(
        "lookup of 300 hashes: p50 {:.2} ms, p99 {:.2} ms",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}

/// The primary reopens, writes and compacts while the follower catches up in a tight
/// loop: RocksDB's own catch-up failed here on table files the compaction deleted, or
/// counted a track's postings twice.
#[test]
fn a_follower_keeps_up_with_a_writer_that_reopens_and_compacts() {
    let dir = tempdir();
    let path = dir.path().join("index");
    drop(RocksStore::create_or_open(&path, 1).expect("creates"));
    let scratch = dir.path().join("follower");
    let follower = Arc::new(
        Follower::open_with_postings_cache(&path, &scratch, TEST_CACHE_BYTES).expect("follows"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicUsize::new(0));
    let tailing = {
        let (follower, stop, reopened) = (follower.clone(), stop.clone(), reopened.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // A failed reopen (files deleted while opening) is retried next round.
                if let Ok(CatchUp::Reopened) = follower.catch_up() {
                    reopened.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    for i in 0..20 {
        let primary = RocksStore::open_existing(&path).expect("primary");
        let track = synthetic_track(&format!("t{i}"), i, 3000);
        let (_, record) = primary.put_track(&track).expect("put");
        primary.compact().expect("compact");
        drop(primary);
        let caught_up = (0..50).any(|_| follower.catch_up().is_ok());
        assert!(caught_up, "track {i}: every catch-up failed");
        let seen = follower.track(&track.id).expect("read");
        assert_eq!(seen.map(|r| r.idx), Some(record.idx), "track {i}");
        // Twice: the second answers from the postings cache.
        for _ in 0..2 {
            let found = postings_found(follower.as_ref(), &track, record.idx);
            assert_eq!(found, record.landmarks, "track {i}");
        }
        assert_eq!(follower.store().postings_cache_bytes(), TEST_CACHE_BYTES);
    }
    stop.store(true, Ordering::Relaxed);
    tailing.join().expect("tailing thread");
    assert_eq!(follower.stats().expect("stats").tracks, 20);
    assert!(matches!(
        follower.put_track(&synthetic_track("x", 99, 10)),
        Err(earmark_index::Error::ReadOnly)
    ));
    eprintln!("reopened {} times", reopened.load(Ordering::Relaxed));
    drop(follower);
    assert!(
        !scratch.exists(),
        "the scratch directory outlives the follower"
    );
}

/// A track indexed from a synthetic fingerprint: `frames` frames of peaks at bins a
/// seeded generator picks, as many per frame as real music gives about.
/// A track whose landmarks are those of a fingerprint of random peaks under hash
/// configuration `config`.
fn fingerprinted_track(text: &str, seed: u32, frames: u32, config: u16) -> NewTrack {
    use earmark_core::{AnalysisConfig, Fingerprint, HashConfig, Peak};
    let analysis = AnalysisConfig::default();
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    let mut peaks = Vec::new();
    for frame in 0..frames {
        let mut bins: Vec<u16> = (0..3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                analysis.min_bin + (state % u32::from(analysis.max_bin - analysis.min_bin)) as u16
            })
            .collect();
        bins.sort_unstable();
        bins.dedup();
        peaks.extend(bins.into_iter().map(|bin| Peak { frame, bin }));
    }
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
fn stored_hash_list(store: &RocksStore, idx: u32) -> (u8, usize) {
    let value = store
        .db()
        .get_cf(store.cf(CF_TRACK_HASHES).expect("cf"), layout::idx_key(idx))
        .expect("read")
        .expect("present");
    (value[0], value.len())
}

#[test]
fn deletes_find_a_tracks_hashes_from_its_stored_fingerprint() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1).expect("creates");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("fp{i}"), i, 2_000, 1))
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
    let mut altered = fingerprinted_track("altered", 9, 2_000, 1);
    altered.landmarks.push(Landmark {
        hash: 0x7f_fff0,
        frame: 3,
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
        tracks[0].landmarks.len() as u64
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

    // An index of layout 3 keeps the hashes themselves, untagged.
    let old = create_layout(&dir.path().join("layout-3"), 3);
    let (_, record) = old.put_track(&tracks[0]).expect("put");
    let value = old
        .db()
        .get_cf(
            old.cf(CF_TRACK_HASHES).expect("cf"),
            layout::idx_key(record.idx),
        )
        .expect("read")
        .expect("present");
    assert_eq!(value, layout::pack_hashes(hashes_of(&tracks[0])));
    assert!(old.delete_track(&tracks[0].id).expect("delete"));
    check_consistent(&old);
}

/// Track numbers far apart in one value (a track ingested long after the others, or
/// a replaced one, which takes a new number): in layout 5 the difference is escaped
/// from the Rice code, and the value must read back, merge, compact and lose a track
/// like any other, in every layout.
#[test]
fn far_apart_track_numbers_share_a_value() {
    let dir = tempdir();
    for store in create_each_layout(dir.path()) {
        let shared = |name: &str, seed: u32| {
            let mut t = synthetic_track(name, seed, 100);
            t.landmarks.push(Landmark {
                hash: 0x42,
                frame: 500 + seed,
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
        assert_eq!(
            tracks(&store),
            expected,
            "layout {}",
            store.layout_version()
        );
        store.compact().expect("compacts");
        assert_eq!(
            tracks(&store),
            expected,
            "layout {}",
            store.layout_version()
        );
        store.delete_track(&id("near3")).expect("delete");
        store.delete_track(&id("far40")).expect("delete");
        let left: Vec<u32> = expected
            .iter()
            .copied()
            .filter(|&t| t != 3 && t != 1_000_000)
            .collect();
        assert_eq!(tracks(&store), left, "layout {}", store.layout_version());
        check_consistent(&store);
    }
}

/// Configuration 4's hashes have 40 bits: its keys take 5 bytes, and every path that
/// turns a hash into a key or back (put, lookup, the stored hash lists, deletes, the
/// bitmap) must keep all of them.
#[test]
fn forty_bit_hashes_keep_every_bit_in_five_byte_keys() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let store = RocksStore::create_or_open(&path, 4).expect("creates");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("w{i}"), i, 1_500, 4))
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
        .iterator_cf(
            store.cf(store.postings_cf()).expect("cf"),
            IteratorMode::Start,
        )
        .map(|item| item.expect("scan").0.len())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(keys, [5].into());
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&store, t, i), t.landmarks.len() as u64);
    }
    // A hash that shares the low 32 bits of a stored one is another key.
    let stored = hashes_of(&tracks[0])[0];
    let found = store
        .lookup(&[stored ^ (1 << 36), stored], usize::MAX)
        .expect("lookup");
    assert!(found[0].is_empty());
    assert!(!found[1].is_empty());
    check_consistent(&store);

    // Deleted through the stored fingerprint, then reopened.
    assert!(store.delete_track(&tracks[1].id).expect("delete"));
    store.compact().expect("compacts");
    check_consistent(&store);
    drop(store);
    let store = RocksStore::open_existing(&path).expect("reopens");
    assert_eq!(store.hash_config_id(), 4);
    assert_eq!(postings_found(&store, &tracks[1], idx[1]), 0);
    assert_eq!(
        postings_found(&store, &tracks[2], idx[2]),
        tracks[2].landmarks.len() as u64
    );
    check_consistent(&store);
}

/// A hash wider than an index's keys is never stored, and never found.
#[test]
fn hashes_wider_than_the_keys_are_refused_and_never_found() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), 1).expect("creates");
    let a = synthetic_track("a", 1, 300);
    store.put_track(&a).expect("put");
    let before = store.stats().expect("stats");
    let mut wide = synthetic_track("wide", 2, 300);
    wide.landmarks[7].hash = 1 << 40;
    let err = store.put_track(&wide).expect_err("too wide");
    assert!(err.to_string().contains("wider"), "{err}");
    assert!(store.track(&wide.id).expect("read").is_none());
    assert_eq!(store.stats().expect("stats").postings, before.postings);
    // Its low 32 bits are a stored hash: the wide one still finds nothing.
    let stored = hashes_of(&a)[0];
    let found = store
        .lookup(&[stored | (1 << 40), stored], usize::MAX)
        .expect("lookup");
    assert!(found[0].is_empty());
    assert!(!found[1].is_empty());
    check_consistent(&store);
}

/// Data blocks of the postings table files, and how many of them were stored without
/// compression because none was configured, per RocksDB's table properties.
fn postings_blocks_and_uncompressed(store: &RocksStore) -> (u64, u64) {
    let cf = store.cf(store.postings_cf()).expect("cf");
    let props = store
        .db()
        .property_value_cf(cf, "rocksdb.aggregated-table-properties")
        .expect("property")
        .expect("present");
    let count = |name: &str| -> u64 {
        props
            .split("; ")
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name:?} in {props}"))
    };
    (
        count("# data blocks"),
        count("# data blocks compression bypassed"),
    )
}

#[test]
fn triplet_indexes_store_postings_uncompressed() {
    for config in [1, 2, 3, 4] {
        let dir = tempdir();
        let store = RocksStore::create_or_open(dir.path().join("index"), config).expect("creates");
        for i in 0..4 {
            let track = fingerprinted_track(&format!("c{i}"), i, 1_500, config);
            store.put_track(&track).expect("put");
        }
        store.compact().expect("compacts");
        let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
        assert!(blocks > 10, "configuration {config}: {blocks} blocks");
        let expected = if config >= 3 { blocks } else { 0 };
        assert_eq!(uncompressed, expected, "configuration {config}");
    }
}

/// An index whose tables an older release compressed reads as it is, and a writer's
/// compaction rewrites them uncompressed.
#[test]
fn compressed_triplet_tables_are_read_and_rewritten_uncompressed() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let store = RocksStore::create_or_open(&path, 4).expect("creates");
    let postings = store.cf(store.postings_cf()).expect("cf");
    store
        .db()
        .set_options_cf(
            postings,
            &[
                ("compression", "kLZ4Compression"),
                ("bottommost_compression", "kLZ4Compression"),
            ],
        )
        .expect("sets LZ4");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("z{i}"), i, 1_500, 4))
        .collect();
    let idx: Vec<u32> = tracks
        .iter()
        .map(|t| store.put_track(t).expect("put").1.idx)
        .collect();
    store.compact().expect("compacts");
    assert_eq!(postings_blocks_and_uncompressed(&store).1, 0);
    drop(store);

    let reader = RocksStore::open_read_only(&path).expect("opens");
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&reader, t, i), t.landmarks.len() as u64);
    }
    drop(reader);
    let store = RocksStore::open_existing(&path).expect("reopens");
    store.compact().expect("compacts");
    let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
    assert!(blocks > 10);
    assert_eq!(uncompressed, blocks);
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&store, t, i), t.landmarks.len() as u64);
    }
    check_consistent(&store);
}
