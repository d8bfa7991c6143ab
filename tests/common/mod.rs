//! Helpers for the end-to-end tests: the real binary, temp dirs, fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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

/// The data directory the dataset scripts fill: `$EARMARK_DATA`, else `target/earmark-data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("EARMARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/earmark-data"))
}

pub fn fixture(name: &str) -> PathBuf {
    let path = data_dir().join("fixtures").join(name);
    assert!(
        path.exists(),
        "{} missing: run datasets/make-fixtures.sh",
        path.display()
    );
    path
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A 16-bit mono WAV file of a seeded chord sequence: distinct audio per seed.
pub fn write_melody_wav(path: &Path, seed: u32, secs: u32) {
    let rate = 22_050u32;
    let n = (rate * secs) as usize;
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(7);
    let mut next = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut samples = vec![0.0f32; n];
    let note = rate as usize / 4;
    for start in (0..n).step_by(note) {
        let base = 180.0 * 2f32.powf(next() * 4.0);
        let second = 1.2 + next();
        for (i, s) in samples[start..(start + 2 * note).min(n)]
            .iter_mut()
            .enumerate()
        {
            let t = i as f32 / rate as f32;
            let env = (-t * 5.0).exp();
            *s += 0.3 * env * (2.0 * std::f32::consts::PI * base * t).sin();
            *s += 0.15 * env * (2.0 * std::f32::consts::PI * base * second * t).sin();
        }
    }
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 30_000.0) as i16).to_le_bytes())
        .collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).expect("write wav");
}

pub fn stats(db: &Path) -> serde_json::Value {
    let o = run(&["stats", "--db", s(db), "--json"]);
    assert!(o.status.success(), "stats: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("stats json")
}

/// Sum of the landmark counts of all tracks: equals the postings of a consistent index.
pub fn landmarks_of_tracks(db: &Path) -> u64 {
    let o = run(&["tracks", "--db", s(db), "list", "--json"]);
    assert!(o.status.success(), "tracks list: {}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("track json");
            v["landmarks"].as_u64().expect("landmarks")
        })
        .sum()
}
