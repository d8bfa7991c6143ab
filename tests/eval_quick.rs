//! The quick evaluation set as an accuracy floor: a regression in matching fails here.
//!
//! Ingests the set's catalog (real music in FLAC, WAV, MP3 and Vorbis) with the real
//! binary, identifies every query (10 s MP3 excerpts, clean, in white noise at 0 dB,
//! 5 % faster, 10 % slower in tempo and two semitones lower, of catalog tracks and of
//! tracks never ingested) and checks the floors the evaluation promises: every clean
//! excerpt found with its offset, at least 95 % in each other condition, and no match
//! at all for audio that is not in the catalog. The set comes from
//! `datasets/build-eval.py --quick` (`make test` builds it).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use earmark_test_support::data_dir;
use serde_json::Value;

fn eval_dir() -> PathBuf {
    let dir = data_dir().join("eval");
    assert!(
        dir.join("truth.csv").exists(),
        "{} has no evaluation set: run `make test` (or datasets/build-eval.py --quick)",
        dir.display()
    );
    dir
}

struct Truth {
    query: String,
    condition: String,
    track_id: String,
    offset_s: f64,
}

#[derive(Default)]
struct Tally {
    positives: usize,
    found: usize,
    negatives: usize,
    false_positives: usize,
}

#[test]
fn the_quick_evaluation_set_meets_its_floors() {
    let eval = eval_dir();
    let truth: Vec<Truth> = std::fs::read_to_string(eval.join("truth.csv"))
        .expect("truth.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Truth {
                query: f[0].to_owned(),
                condition: f[1].to_owned(),
                track_id: f[3].to_owned(),
                offset_s: f[4].parse().unwrap_or(0.0),
            }
        })
        .collect();
    assert!(
        truth.len() >= 40,
        "the quick set has {} queries",
        truth.len()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = eval.join("catalog.csv");
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let mut args = vec!["query", "--db", s(&db), "--json"];
    args.extend(truth.iter().map(|t| t.query.as_str()));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let answers: HashMap<String, Value> = stdout(&o)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            (v["file"].as_str().expect("file").to_owned(), v)
        })
        .collect();

    let mut tallies: HashMap<&str, Tally> = HashMap::new();
    for t in &truth {
        let answer = &answers[&t.query];
        let matches = answer["matches"].as_array().expect("matches");
        let tally = tallies.entry(t.condition.as_str()).or_default();
        if t.track_id.is_empty() {
            tally.negatives += 1;
            tally.false_positives += usize::from(!matches.is_empty());
            continue;
        }
        tally.positives += 1;
        if let Some(best) = matches.first()
            && best["track_id"] == t.track_id.as_str()
        {
            // Query time q plays track time offset + factor * q.
            let expected = t.offset_s
                + time_factor(&t.condition) * best["query_offset_s"].as_f64().expect("offset");
            let reported = best["track_offset_s"].as_f64().expect("offset");
            tally.found += usize::from((reported - expected).abs() <= 0.5);
        }
    }
    let clean = &tallies["clean"];
    assert!(clean.positives > 0);
    assert_eq!(clean.found, clean.positives, "clean 10 s excerpts");
    for condition in ["white-noise-0dB", "speed+5", "tempo-10", "pitch-2"] {
        let tally = &tallies[condition];
        assert!(tally.positives > 0, "{condition}: no positives");
        assert!(
            tally.found * 100 >= tally.positives * 95,
            "{condition}: {}/{}",
            tally.found,
            tally.positives
        );
    }
    for (condition, tally) in &tallies {
        assert!(tally.negatives > 0, "{condition}: no negatives");
        assert_eq!(tally.false_positives, 0, "{condition}: false positives");
    }
}

/// Track seconds per query second in a condition of the set: `speed+5` and `tempo+5`
/// play 1.05 track seconds a second, `tempo-10` 0.9; 1 for the others.
fn time_factor(condition: &str) -> f64 {
    ["speed", "tempo"]
        .iter()
        .find_map(|kind| condition.strip_prefix(kind))
        .and_then(|change| change.parse::<f64>().ok())
        .map_or(1.0, |percent| 1.0 + percent / 100.0)
}
