//! The shared store suite, and lookups: order, the presence bitmap, the postings
//! cache, and lookups racing writes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use earmark_core::{HashConfig, Landmark};
use earmark_index::conformance::synthetic_track;
use earmark_index::{NewTrack, Store};

use super::{TEST_CACHE_BYTES, hashes_of, id, postings_found, tempdir};
use crate::{CatchUp, Follower, RocksStore};

#[test]
fn passes_the_conformance_suite() {
    let parent = tempdir();
    let n = AtomicUsize::new(0);
    for cache_bytes in [0, TEST_CACHE_BYTES] {
        earmark_index::conformance::run_all(&|| {
            let dir = parent
                .path()
                .join(n.fetch_add(1, Ordering::Relaxed).to_string());
            let store = RocksStore::create_or_open(dir, HashConfig::DEFAULT.id)
                .expect("opens")
                .with_postings_cache(cache_bytes);
            Box::new(store) as Box<dyn Store>
        });
    }
}

#[test]
fn cached_lookups_see_every_write() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let primary = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id)
        .expect("creates")
        .with_postings_cache(TEST_CACHE_BYTES);
    assert_eq!(primary.postings_cache_bytes(), TEST_CACHE_BYTES);
    let a = synthetic_track("a", 1, 300);
    let (_, ra) = primary.put_track(&a).expect("put");
    // Twice: the first fills the cache, the second answers from it.
    for _ in 0..2 {
        assert_eq!(postings_found(&primary, &a, ra.idx), ra.landmarks);
    }
    let follower =
        Follower::open_with_postings_cache(&path, dir.path().join("follower"), TEST_CACHE_BYTES)
            .expect("follows");
    assert_eq!(postings_found(&follower, &a, ra.idx), ra.landmarks);

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

    // A follower's cache holds until it catches up, then shows the primary's writes.
    assert_eq!(postings_found(&follower, &a, ra.idx), ra.landmarks);
    assert_eq!(follower.catch_up().expect("catches up"), CatchUp::Reopened);
    assert_eq!(postings_found(&follower, &a, ra.idx), 0);
    assert_eq!(
        postings_found(&follower, &b, replaced.idx),
        replaced.landmarks
    );
}

#[test]
fn lookups_answer_absent_repeated_and_unsorted_hashes_in_order() {
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
        .expect("creates");
    let track = synthetic_track("a", 5, 400);
    let (_, record) = store.put_track(&track).expect("put");
    let present = hashes_of(&track);
    let absent: Vec<u64> = (0..u64::MAX)
        .filter(|h| !store.presence.may_contain(*h))
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
    assert!(store.presence.may_contain(folded));
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
    let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)
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
                aux: 0,
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
