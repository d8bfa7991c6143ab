//! A real ingest process killed with SIGKILL mid-way leaves every track fully in or
//! fully out, and a re-run completes the catalog without duplicates.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn issue_4_kill_during_ingest_leaves_a_consistent_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    std::fs::create_dir(&music).expect("mkdir");
    let n = 48;
    for seed in 0..n {
        write_melody_wav(&music.join(format!("track-{seed:02}.wav")), seed, 30);
    }
    let db = dir.path().join("db");
    let mut child = earmark()
        .args(["ingest", "--db", s(&db), s(&music)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until some, not all, tracks are in, then kill without warning. Polling is
    // bounded; the test asserts on what it observed, not on timing.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if db.join("CURRENT").exists() {
            let o = run(&["stats", "--db", s(&db), "--json"]);
            if o.status.success() {
                let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
                seen = v["tracks"].as_u64().unwrap_or(0);
                if seen >= 3 {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill"); // SIGKILL on Unix
    child.wait().expect("reap");
    assert!(seen >= 3, "the ingest was not observed part-way");

    let after_kill = stats(&db);
    let tracks = after_kill["tracks"].as_u64().expect("tracks");
    assert!(
        tracks < u64::from(n),
        "the kill came too late to test anything"
    );
    assert_eq!(
        landmarks_of_tracks(&db),
        after_kill["postings"].as_u64().expect("postings"),
        "postings of a partial track are visible"
    );

    let o = run(&["ingest", "--db", s(&db), s(&music)]);
    assert!(o.status.success(), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("unchanged {tracks}")), "{out}");
    let done = stats(&db);
    assert_eq!(done["tracks"].as_u64(), Some(u64::from(n)));
    assert_eq!(
        landmarks_of_tracks(&db),
        done["postings"].as_u64().expect("postings")
    );
}
