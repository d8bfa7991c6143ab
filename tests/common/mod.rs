//! Helpers for the end-to-end tests: the real binary, temp dirs, fixtures.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn earmark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_earmark"))
}

pub fn run(args: &[&str]) -> Output {
    earmark().args(args).output().expect("earmark runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A 16-bit mono WAV file of seeded music: distinct audio per seed.
pub fn write_melody_wav(path: &Path, seed: u32, secs: u32) {
    let rate = 22_050;
    earmark_test_support::write_wav(
        path,
        &earmark_test_support::melody(u64::from(seed), rate, secs as f32),
        rate,
    );
}

pub fn stats(db: &Path) -> serde_json::Value {
    let o = run(&["stats", "--db", s(db), "--json"]);
    assert!(o.status.success(), "stats: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("stats json")
}

/// Every track of an index as `earmark tracks list --json` prints it, in id order.
pub fn track_records(db: &Path) -> Vec<serde_json::Value> {
    let o = run(&["tracks", "--db", s(db), "list", "--json"]);
    assert!(o.status.success(), "tracks list: {}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("track json"))
        .collect()
}

/// Sum of the landmark counts of all tracks: equals the postings of a consistent index.
pub fn landmarks_of_tracks(db: &Path) -> u64 {
    track_records(db)
        .iter()
        .map(|v| v["landmarks"].as_u64().expect("landmarks"))
        .sum()
}
