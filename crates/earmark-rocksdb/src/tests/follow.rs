//! Reading beside a writer in another process: followers and read-only views.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use earmark_core::HashConfig;
use earmark_index::conformance::synthetic_track;
use earmark_index::{Store, TrackMeta};

use super::{TEST_CACHE_BYTES, postings_found, tempdir};
use crate::{CatchUp, Error, Follower, Mode, RocksStore};

#[test]
fn followers_see_a_writer_and_read_only_views_do_not() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let primary = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates");
    let a = synthetic_track("a", 1, 300);
    primary.put_track(&a).expect("put");

    let follower = Follower::open(&path, dir.path().join("follower")).expect("follows");
    assert_eq!(follower.store().mode(), Mode::Secondary);
    assert_eq!(follower.hash_config_id(), HashConfig::DEFAULT.id);
    assert!(follower.track(&a.id).expect("read").is_some());
    let read_only = RocksStore::open_read_only(&path).expect("read-only");
    assert_eq!(read_only.mode(), Mode::ReadOnly);

    let b = synthetic_track("b", 2, 300);
    let (_, rb) = primary.put_track(&b).expect("put");
    primary.delete_track(&a.id).expect("delete");
    assert_eq!(follower.catch_up().expect("catches up"), CatchUp::Reopened);
    assert_eq!(
        follower.catch_up().expect("nothing new"),
        CatchUp::Unchanged
    );
    assert!(follower.track(&a.id).expect("read").is_none());
    assert_eq!(postings_found(&follower, &b, rb.idx), rb.landmarks);
    assert_eq!(follower.stats().expect("stats").tracks, 1);

    // The read-only view stays as it was opened.
    assert!(read_only.track(&a.id).expect("read").is_some());
    assert!(read_only.track(&b.id).expect("read").is_none());

    let stores: [&dyn Store; 2] = [&follower, &read_only];
    for store in stores {
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
    }
    assert!(matches!(read_only.compact(), Err(Error::ReadOnly)));
    assert!(matches!(follower.store().compact(), Err(Error::ReadOnly)));
}

/// The primary reopens, writes and compacts while the follower catches up in a tight
/// loop: RocksDB's own catch-up failed here on table files the compaction deleted, or
/// counted a track's postings twice.
#[test]
fn a_follower_keeps_up_with_a_writer_that_reopens_and_compacts() {
    let dir = tempdir();
    let path = dir.path().join("index");
    drop(RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates"));
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

#[test]
fn a_catch_up_task_follows_on_its_own_until_dropped() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let primary = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates");
    let follower = Arc::new(Follower::open(&path, dir.path().join("follower")).expect("follows"));
    let (outcomes, seen) = std::sync::mpsc::channel();
    let task = follower
        .spawn_catch_up(std::time::Duration::from_millis(5), move |outcome, _| {
            let _ = outcomes.send(outcome.map_err(|e| e.to_string()));
        })
        .expect("starts");
    let track = synthetic_track("a", 1, 300);
    let (_, record) = primary.put_track(&track).expect("put");
    // Outcomes until a reopen shows the write (a reopen that began before the put
    // returned may not); bounded, never timed.
    let caught_up = seen.iter().take(10_000).any(|outcome| {
        outcome == Ok(CatchUp::Reopened) && follower.track(&track.id).expect("reads").is_some()
    });
    assert!(caught_up, "the task never caught up");
    assert_eq!(
        postings_found(follower.as_ref(), &track, record.idx),
        record.landmarks
    );
    drop(task);
    // Stopped and joined: the thread's handle on the follower and its sender are gone.
    assert_eq!(
        Arc::strong_count(&follower),
        1,
        "the task outlives its handle"
    );
}
