//! How the catalog fan-out (targets paired with each anchor peak) trades index size
//! against the margin between true matches and chance, on an evaluation set.
//!
//! ```text
//! cargo run --release -p earmark-index --example fan_out -- target/earmark-data/eval
//! ```
//!
//! For each fan-out it indexes the set's catalog in memory, identifies every query cut to
//! 10, 5 and 3 s (four shifted analyses, as `earmark query` does) with no thresholds,
//! and prints postings per hour of audio, the index size this means at the RocksDB
//! store's ~7.3 bytes per compacted posting, the lowest and median score of the true
//! tracks and the highest score any negative reached.

use std::path::Path;

use earmark_core::{Fingerprint, Fingerprinter, HashConfig, Source};
use earmark_index::{MatchConfig, MemoryStore, NewTrack, Store, TrackId, TrackMeta, identify};

/// Compacted RocksDB bytes per posting, as `earmark stats` reports on the demo index.
const BYTES_PER_POSTING: f64 = 7.3;

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let eval = std::env::args()
        .nth(1)
        .ok_or("usage: fan_out EVAL_DIR (a build-eval.py output folder)")?;
    let eval = Path::new(&eval);
    let fingerprinter = Fingerprinter::default();
    let mut catalog: Vec<(String, Fingerprint)> = Vec::new();
    for row in csv_rows(&eval.join("catalog.csv")) {
        catalog.push((row[1].clone(), fingerprinter.fingerprint_file(&row[0])?));
    }
    let mut queries: Vec<(String, Vec<Fingerprint>)> = Vec::new(); // true track ("" = none)
    for row in csv_rows(&eval.join("truth.csv")) {
        let extension = Path::new(&row[0]).extension().and_then(|e| e.to_str());
        let source = Source::file(std::fs::File::open(&row[0])?);
        let (prints, _) = fingerprinter.decode_source_shifted(source, extension, 4)?;
        queries.push((row[3].clone(), prints));
    }
    let hours = catalog.iter().map(|(_, f)| f.duration_s()).sum::<f64>() / 3600.0;
    println!(
        "{} catalog tracks ({hours:.2} h), {} queries",
        catalog.len(),
        queries.len()
    );
    println!(
        "| fan-out | postings per hour | MB per hour | length | true: lowest | true: median | negatives: highest |"
    );
    println!("|---|---|---|---|---|---|---|");
    for fan_out in [2, 3, 4, 6] {
        let hash = HashConfig {
            fan_out,
            ..HashConfig::V1
        };
        let store = MemoryStore::new(hash.id);
        for (id, fp) in &catalog {
            store.put_track(&NewTrack {
                id: TrackId::new(id.clone())?,
                meta: TrackMeta::default(),
                duration_s: fp.duration_s(),
                content_hash: None,
                landmarks: fp.catalog_landmarks(&hash),
            })?;
        }
        let postings_per_hour = store.stats()?.postings as f64 / hours;
        // No thresholds: the raw scores of the best alignment.
        let everything = MatchConfig {
            min_score: 1,
            min_score_per_s: 0.0,
            min_span_share: 0.0,
            ..MatchConfig::default()
        };
        for length_s in [10.0, 5.0, 3.0] {
            let mut true_scores = Vec::new();
            let mut chance = 0;
            for (truth, prints) in &queries {
                let cut: Vec<Fingerprint> =
                    prints.iter().map(|p| p.excerpt(0.0, length_s)).collect();
                let matches = identify(&store, &cut, &hash, &everything)?;
                let best = matches.first();
                if truth.is_empty() {
                    chance = chance.max(best.map_or(0, |m| m.score));
                } else {
                    // A wrong or missing top answer counts as score 0 for the true track.
                    true_scores.push(
                        best.filter(|m| m.track.id.as_str() == truth)
                            .map_or(0, |m| m.score),
                    );
                }
            }
            true_scores.sort_unstable();
            println!(
                "| {fan_out} | {postings_per_hour:.0} | {:.2} | {length_s} s | {} | {} | {chance} |",
                postings_per_hour * BYTES_PER_POSTING / 1e6,
                true_scores.first().copied().unwrap_or(0),
                true_scores.get(true_scores.len() / 2).copied().unwrap_or(0),
            );
        }
    }
    Ok(())
}
