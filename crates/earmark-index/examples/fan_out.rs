//! How the catalog and query fan-outs (targets paired with each anchor peak) trade index
//! size and lookup work against the margin between true matches and chance, on an
//! evaluation set: the measurement behind each hash configuration's thresholds.
//!
//! ```text
//! cargo run --release -p earmark-index --example fan_out -- EVAL_DIR [6x12 3x8 t3x6 ...]
//! ```
//!
//! `EVAL_DIR` is a `datasets/build-eval.py` output folder; each `CxQ` argument is a
//! catalog fan-out `C` and a query fan-out `Q` over the `robust` pair layout, and
//! `tCxQ` the same over the `large-catalog` triplets, `tCxQbB` with `B`-bit triplet
//! hashes (default: `6x12 4x10 3x12 3x8`). For each, it indexes the catalog in memory,
//! identifies every query (four shifted analyses, as `earmark query` does) with the
//! score thresholds off, and prints:
//! - postings per hour of audio and the index size they mean at the RocksDB store's
//!   ~7.3 bytes per compacted posting of pairs (triplets, nearly one key per posting,
//!   take about twice that), and the postings a query touches (median);
//! - the strongest chance alignments (any match of a negative, a wrong top track);
//! - for a grid of `min_score` x `min_score_per_s`, the share of positives whose top
//!   answer is the right track and the negatives that would match;
//! - the right-track rate per condition at the thresholds given by `--pick T,R`.
//!
//! The verification rules are each configuration's own (`MatchConfig::for_hash`);
//! `FAN_OUT_HALF_SHARE=0.0` overrides the least share of the score in each half of the
//! span (how the triplets' halves rule was weighed).
//!
//! The offset is not checked here (`datasets/score.py` does that on the real runs).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use earmark_core::{Fingerprint, Fingerprinter, HashConfig, HashScheme, Source};
use earmark_index::{MatchConfig, MemoryStore, NewTrack, Store, TrackId, TrackMeta, identify};

/// Compacted RocksDB bytes per posting of pairs, as `earmark stats` reports on the
/// demo index.
const BYTES_PER_POSTING: f64 = 7.3;

const MIN_SCORES: [u32; 11] = [6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 60];
const MIN_SCORES_PER_S: [f64; 5] = [1.5, 2.0, 2.5, 3.0, 4.0];

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

struct Query {
    condition: String,
    /// The true track, empty for a negative.
    truth: String,
    prints: Vec<Fingerprint>,
}

/// What a thresholded matcher would keep of a raw answer: `(track, score, span)`.
type Raw = Vec<(String, u32, f64)>;

/// The first raw match passing `min_score` and `min_score_per_s`, as the matcher
/// reports best first.
fn answer(raw: &Raw, min_score: u32, per_s: f64) -> Option<&str> {
    raw.iter()
        .find(|(_, score, span)| *score >= min_score && f64::from(*score) >= per_s * span)
        .map(|(track, _, _)| track.as_str())
}

/// Runs `f` over `items` on every core, keeping the order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let eval = args
        .next()
        .ok_or("usage: fan_out EVAL_DIR [CxQ ...] [--pick T,R]")?;
    let eval = Path::new(&eval);
    let mut fan_outs: Vec<(HashConfig, usize, usize)> = Vec::new();
    let mut pick: Option<(u32, f64)> = None;
    while let Some(arg) = args.next() {
        if arg == "--pick" {
            let v = args.next().ok_or("--pick needs T,R")?;
            let (t, r) = v.split_once(',').ok_or("--pick needs T,R")?;
            pick = Some((t.parse()?, r.parse()?));
        } else {
            let (mut layout, arg) = match arg.strip_prefix('t') {
                Some(rest) => (HashConfig::LARGE_CATALOG, rest),
                None => (HashConfig::ROBUST, arg.as_str()),
            };
            let (arg, bits) = arg.split_once('b').unwrap_or((arg, ""));
            if !bits.is_empty() {
                layout.scheme = HashScheme::TripletV1 {
                    bits: bits.parse()?,
                };
            }
            let (c, q) = arg.split_once('x').ok_or("a fan-out is CxQ, e.g. 3x8")?;
            fan_outs.push((layout, c.parse()?, q.parse()?));
        }
    }
    if fan_outs.is_empty() {
        fan_outs = vec![
            (HashConfig::ROBUST, 6, 12),
            (HashConfig::ROBUST, 4, 10),
            (HashConfig::ROBUST, 3, 12),
            (HashConfig::ROBUST, 3, 8),
        ];
    }

    let half_share: Option<f64> = match std::env::var("FAN_OUT_HALF_SHARE") {
        Ok(v) => Some(
            v.parse()
                .map_err(|e| format!("FAN_OUT_HALF_SHARE {v:?}: {e}"))?,
        ),
        Err(_) => None,
    };

    let started = Instant::now();
    let fingerprinter = Fingerprinter::default();
    let catalog_rows = csv_rows(&eval.join("catalog.csv"));
    let catalog: Vec<(String, Fingerprint)> = parallel(&catalog_rows, |row| {
        let fp = fingerprinter.fingerprint_file(&row[0]);
        (row[1].clone(), fp)
    })
    .into_iter()
    .map(|(id, fp)| fp.map(|fp| (id, fp)))
    .collect::<Result<_, _>>()?;
    let truth_rows = csv_rows(&eval.join("truth.csv"));
    let queries: Vec<Query> = parallel(&truth_rows, |row| {
        let extension = Path::new(&row[0]).extension().and_then(|e| e.to_str());
        let file = std::fs::File::open(&row[0]).map_err(|e| e.to_string())?;
        let (prints, _) = fingerprinter
            .decode_source_shifted(Source::file(file), extension, 4)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(Query {
            condition: format!("{} {}", row[1], row[2]),
            truth: row[3].clone(),
            prints,
        })
    })
    .into_iter()
    .collect::<Result<_, _>>()?;
    let hours = catalog.iter().map(|(_, f)| f.duration_s()).sum::<f64>() / 3600.0;
    let negatives = queries.iter().filter(|q| q.truth.is_empty()).count();
    println!(
        "{} catalog tracks ({hours:.2} h), {} queries ({negatives} negatives), analysed in {:.0} s",
        catalog.len(),
        queries.len(),
        started.elapsed().as_secs_f64()
    );

    for (layout, fan_out, query_fan_out) in fan_outs {
        let hash = HashConfig {
            fan_out,
            query_fan_out,
            ..layout
        };
        let store = MemoryStore::new(hash.id);
        for (id, fp) in &catalog {
            store.put_track(&NewTrack {
                id: TrackId::new(id.clone())?,
                meta: TrackMeta::default(),
                duration_s: fp.duration_s(),
                content_hash: None,
                landmarks: fp.catalog_landmarks(&hash),
                fingerprint: None,
            })?;
        }
        let postings_per_hour = store.stats()?.postings as f64 / hours;
        // Score thresholds off; the span, spread and halves rules as configured.
        let calibrated = MatchConfig::for_hash(&hash);
        let raw_config = MatchConfig {
            min_score: 5,
            min_score_per_s: 0.0,
            min_half_share: half_share.unwrap_or(calibrated.min_half_share),
            ..calibrated
        };
        let started = Instant::now();
        let answers: Vec<(Raw, usize)> = parallel(&queries, |q| {
            let mut touched = 0;
            let mut hashes: Vec<u64> = q
                .prints
                .iter()
                .flat_map(|p| p.query_landmarks(&hash))
                .map(|l| l.hash)
                .collect();
            hashes.sort_unstable();
            hashes.dedup();
            if let Ok(lists) = store.lookup(&hashes, raw_config.max_postings_per_hash) {
                touched = lists.total_postings();
            }
            let raw = identify(&store, &q.prints, &hash, &raw_config)
                .map(|ms| {
                    ms.into_iter()
                        .map(|m| {
                            (
                                m.track.id.as_str().to_owned(),
                                m.score,
                                m.matched_duration_s,
                            )
                        })
                        .collect()
                })
                .unwrap_or_else(|e| {
                    eprintln!("{}: {e}", q.condition);
                    Vec::new()
                });
            (raw, touched)
        });
        let elapsed = started.elapsed().as_secs_f64();
        let mut touched: Vec<usize> = answers.iter().map(|a| a.1).collect();
        touched.sort_unstable();

        // Chance: every match of a negative, and wrong tracks above a positive's truth.
        let mut chance: Vec<(u32, f64, String)> = Vec::new();
        for (q, (raw, _)) in queries.iter().zip(&answers) {
            for (track, score, span) in raw {
                if *track != q.truth {
                    chance.push((*score, *span, q.condition.clone()));
                }
            }
        }
        chance.sort_by_key(|c| std::cmp::Reverse(c.0));
        println!(
            "\n## {:?}, fan-out {fan_out} x {query_fan_out}: {postings_per_hour:.0} postings/h, \
             {:.2} MB/h at pairs' bytes per posting, median {} postings touched per query, {elapsed:.0} s for all queries",
            hash.scheme,
            postings_per_hour * BYTES_PER_POSTING / 1e6,
            touched[touched.len() / 2],
        );
        let shown: Vec<String> = chance
            .iter()
            .take(8)
            .map(|(s, span, c)| format!("{s} over {span:.1} s ({c})"))
            .collect();
        println!("strongest chance matches: {}", shown.join("; "));
        let mut densest: Vec<&(u32, f64, String)> = chance.iter().collect();
        densest.sort_by(|a, b| (f64::from(b.0) / b.1).total_cmp(&(f64::from(a.0) / a.1)));
        let shown: Vec<String> = densest
            .iter()
            .filter(|c| c.0 >= 15)
            .take(5)
            .map(|(s, span, c)| {
                format!("{:.1}/s ({s} over {span:.1} s, {c})", f64::from(*s) / span)
            })
            .collect();
        println!("densest chance matches of 15 or more: {}", shown.join("; "));

        println!(
            "\n| min_score \\ per s | {} |",
            MIN_SCORES_PER_S.map(|r| r.to_string()).join(" | ")
        );
        println!("|---|{}", "---|".repeat(MIN_SCORES_PER_S.len()));
        let positives = queries.len() - negatives;
        for t in MIN_SCORES {
            let cells: Vec<String> = MIN_SCORES_PER_S
                .iter()
                .map(|&r| {
                    let (mut right, mut fp) = (0, 0);
                    for (q, (raw, _)) in queries.iter().zip(&answers) {
                        match answer(raw, t, r) {
                            Some(_) if q.truth.is_empty() => fp += 1,
                            Some(track) => right += usize::from(track == q.truth),
                            None => {}
                        }
                    }
                    format!(
                        "{:.1} % / {fp} FP",
                        100.0 * right as f64 / positives.max(1) as f64
                    )
                })
                .collect();
            println!("| {t} | {} |", cells.join(" | "));
        }

        if let Some((t, r)) = pick {
            let mut by_condition: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            for (q, (raw, _)) in queries.iter().zip(&answers) {
                if q.truth.is_empty() {
                    continue;
                }
                let cell = by_condition.entry(&q.condition).or_default();
                cell.0 += 1;
                cell.1 += usize::from(answer(raw, t, r) == Some(q.truth.as_str()));
            }
            let cells: Vec<String> = by_condition
                .iter()
                .map(|(c, (n, right))| format!("{c} {:.1}", 100.0 * *right as f64 / *n as f64))
                .collect();
            println!("\nright track at {t}, {r}/s: {}", cells.join("; "));
        }
    }
    Ok(())
}
