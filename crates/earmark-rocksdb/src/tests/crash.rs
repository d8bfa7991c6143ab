//! A process killed mid-ingest leaves every track whole or absent, and loses no
//! acknowledged put.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use earmark_core::HashConfig;
use earmark_index::conformance::synthetic_track;
use earmark_index::{NewTrack, Store, posting};

use super::{check_consistent, id, tempdir};
use crate::RocksStore;

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
    let store =
        RocksStore::create_or_open(Path::new(&dir), HashConfig::DEFAULT.id).expect("creates");
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
            "tests::crash::crash_child",
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
        for ((_, entries), list) in groups.iter().zip(found.iter()) {
            let mine: Vec<(u32, u16)> = list
                .iter()
                .filter(|p| p.track == r.idx)
                .map(|p| (p.frame, p.aux))
                .collect();
            assert_eq!(&mine, entries, "postings of {id}");
        }
    }
}
