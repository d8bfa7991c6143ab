//! How lookup + alignment cost and index size grow with the catalog.
//!
//! Fills a RocksDB index with synthetic tracks to each size in `EARMARK_SCALE_TRACKS`
//! (default `1000,10000`), then times the matcher on 10 s excerpts of indexed tracks.
//! The tracks are made of real music's peaks, so their hashes have real statistics:
//! each synthetic track strings together 2 s blocks of peaks taken at random from real
//! recordings (the `make music` package, found through `$EARMARK_DATA`). So that tracks
//! do not share hashes more than real ones do, each block is moved by a random pitch
//! shift of up to two semitones and each peak by up to a quarter semitone more (the
//! hashes do not change with a shift of the whole block, but do with the intervals
//! between its peaks). The tracks are indexed from these fingerprints, which the
//! matcher verifies against. Each query is matched as two analyses, as `earmark query`
//! and the service do by default (see `shifted_analysis`). A track lasts `EARMARK_SCALE_TRACK_S` seconds (default
//! 210), hashed with the configuration named by `EARMARK_SCALE_HASH_CONFIG` (default
//! `default`).
//!
//! Besides criterion's timing of one query after another, it prints per size: tracks,
//! hours, postings, bytes on disk after compaction, bytes per hour, ingest rate, and
//! the median and p95 of lookup + alignment over 40 different queries, each asked once,
//! with how many found their track: first in the new process, then 40 others after
//! `EARMARK_SCALE_WARM_UP` (default 400) other queries, as a long-running service
//! would meet them (its table mappings and block cache filled by earlier queries).
//! `cargo bench -p earmark --bench index_scale`.
//!
//! With `EARMARK_SCALE_DIR` set, the index is kept in a folder of it named after the
//! hash configuration and track length, and a later run reuses it for every size it
//! already holds (no ingest rate is printed then): a 100k-track index takes most of an
//! hour to build here, and profiling or comparing matcher changes needs only queries.
//!
//! `EARMARK_SCALE_POSTINGS_CACHE_MIB` gives the store a postings cache of that size, as
//! the service has: the first-time queries then pay for filling it, and criterion's
//! repeated ones answer from it.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::data_dir;
use criterion::{BenchmarkId, Criterion};
use earmark_core::config::{PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};
use earmark_core::{Fingerprint, Fingerprinter, HashConfig, Peak};
use earmark_index::{MatchConfig, NewTrack, Store, TrackId, TrackMeta, identify};
use earmark_rocksdb::RocksStore;
use earmark_test_support::Lcg;
use rayon::prelude::*;

const BLOCK_FRAMES: u32 = 62; // ~2 s at 8 kHz, hop 256
const QUERY_S: f64 = 10.0;
const QUERIES: usize = 40;
/// Largest pitch shift of a block, in pitch steps (two semitones) ...
const SHIFT_STEPS: u64 = 2 * PITCH_STEPS_PER_SEMITONE as u64;
/// ... and of a peak within it (a quarter semitone).
const JITTER_STEPS: u64 = PITCH_STEPS_PER_SEMITONE as u64 / 4;

/// Peaks of up to 48 real recordings of the `make music` package. Its own list, not
/// `tracks.csv` (every extracted package), so that fetching more music does not change
/// the synthetic tracks and a kept index still holds the excerpts a later run asks for.
fn real_peaks() -> Vec<Vec<Peak>> {
    let list = data_dir().join("music/wesnoth-1.16-music.csv");
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make music` first", list.display()));
    let paths: Vec<PathBuf> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(PathBuf::from))
        .take(48)
        .collect();
    let fingerprinter = Fingerprinter::default();
    paths
        .par_iter()
        .filter_map(|p| fingerprinter.fingerprint_file(p).ok())
        .map(|fp| fp.peaks().to_vec())
        .filter(|p| p.len() > 1_000)
        .collect()
}

/// A synthetic track of `secs` seconds built from shifted blocks of real peaks.
fn synthetic_track(sources: &[Vec<Peak>], seed: u64, secs: f64) -> Fingerprint {
    let analysis = earmark_core::AnalysisConfig::default();
    let frames = analysis.secs_to_frames(secs);
    let pitch_steps = analysis.pitch_steps() as i32;
    let mut rng = Lcg(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
    let mut peaks = Vec::new();
    let mut start = 0u32;
    while start + BLOCK_FRAMES <= frames {
        let source = &sources[rng.below(sources.len() as u64) as usize];
        let last = source.last().map_or(0, Peak::frame);
        let from = rng.below(u64::from(last.saturating_sub(BLOCK_FRAMES))) as u32;
        let shift = rng.below(2 * SHIFT_STEPS + 1) as i32 - SHIFT_STEPS as i32;
        let first = source.partition_point(|p| p.frame() < from);
        let mut block: Vec<Peak> = source[first..]
            .iter()
            .take_while(|p| p.frame() < from + BLOCK_FRAMES)
            .filter_map(|p| {
                let jitter = rng.below(2 * JITTER_STEPS + 1) as i32 - JITTER_STEPS as i32;
                let pitch = i32::from(p.pitch) + shift + jitter;
                (0..pitch_steps).contains(&pitch).then(|| Peak {
                    tick: p.tick - from * TICKS_PER_FRAME + start * TICKS_PER_FRAME,
                    pitch: pitch as u16,
                    rank: p.rank,
                })
            })
            .collect();
        block.sort_unstable();
        block.dedup_by_key(|p| (p.tick, p.pitch));
        peaks.extend(block);
        start += BLOCK_FRAMES;
    }
    let duration_ms =
        (f64::from(start) * analysis.hop as f64 / analysis.sample_rate_hz as f64 * 1000.0) as u32;
    Fingerprint::new(analysis.id, duration_ms, peaks).expect("valid synthetic fingerprint")
}

fn track_id(n: usize) -> TrackId {
    TrackId::new(format!("synthetic-{n:06}")).expect("valid id")
}

/// `count` queries of `QUERY_S` seconds of indexed tracks, each from a random track
/// of the first `size` and a random offset, as the analyses a query is matched with.
fn excerpts(
    rng: &mut Lcg,
    count: usize,
    sources: &[Vec<Peak>],
    size: usize,
    track_s: f64,
) -> Vec<(usize, Vec<Fingerprint>)> {
    (0..count)
        .map(|_| {
            let n = rng.below(size as u64) as usize;
            let fp = synthetic_track(sources, n as u64, track_s);
            let at = rng.below((track_s - QUERY_S - 1.0) as u64) as f64;
            let excerpt = fp.excerpt(at, QUERY_S);
            let shifted = shifted_analysis(&excerpt, rng);
            (n, vec![excerpt, shifted])
        })
        .collect()
}

/// A stand-in for the second of the two sub-hop shifted analyses that `earmark query`
/// and the service match by default: each peak moved by up to a quarter frame and a
/// sixteenth of a semitone, which moves the cells of fields near a cell edge as a
/// shifted analysis does, so that the two analyses' lookups overlap only in part.
fn shifted_analysis(fp: &Fingerprint, rng: &mut Lcg) -> Fingerprint {
    let tick = u64::from(TICKS_PER_FRAME / 4);
    let pitch = PITCH_STEPS_PER_SEMITONE as u64 / 16;
    let top = earmark_core::AnalysisConfig::default().pitch_steps() as i32 - 1;
    let mut peaks: Vec<Peak> = fp
        .peaks()
        .iter()
        .map(|p| Peak {
            tick: (i64::from(p.tick) + rng.below(2 * tick + 1) as i64 - tick as i64).max(0) as u32,
            pitch: (i32::from(p.pitch) + rng.below(2 * pitch + 1) as i32 - pitch as i32)
                .clamp(0, top) as u16,
            rank: p.rank,
        })
        .collect();
    peaks.sort_unstable();
    peaks.dedup_by_key(|p| (p.tick, p.pitch));
    Fingerprint::new(fp.analysis_id(), fp.duration_ms(), peaks).expect("valid shifted analysis")
}

/// Lookup + alignment of each query once, in ms, sorted; and how many found their
/// track first.
fn time_each(
    store: &RocksStore,
    queries: &[(usize, Vec<Fingerprint>)],
    hash: &HashConfig,
    config: &MatchConfig,
) -> (Vec<f64>, usize) {
    let mut times = Vec::with_capacity(queries.len());
    let mut found = 0;
    for (n, q) in queries {
        let t = Instant::now();
        let matches = identify(store, q, hash, config).expect("identify");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(matches.first().is_some_and(|m| m.track.id == track_id(*n)));
    }
    times.sort_by(f64::total_cmp);
    (times, found)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("EARMARK_SCALE_TRACKS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("EARMARK_SCALE_TRACKS: comma-separated counts")
        })
        .collect();
    let track_s: f64 = std::env::var("EARMARK_SCALE_TRACK_S")
        .map(|s| s.parse().expect("EARMARK_SCALE_TRACK_S: seconds"))
        .unwrap_or(210.0);
    let hash = match std::env::var("EARMARK_SCALE_HASH_CONFIG") {
        Ok(name) => HashConfig::by_name(&name)
            .unwrap_or_else(|| panic!("EARMARK_SCALE_HASH_CONFIG: no hash configuration {name}"))
            .clone(),
        Err(_) => HashConfig::default(),
    };
    let sources = real_peaks();
    assert!(sources.len() >= 4, "too few real recordings to sample");

    // A temporary folder is removed when the bench ends; a kept one is not.
    let (index_path, _temporary) = match std::env::var_os("EARMARK_SCALE_DIR") {
        Some(root) => (
            PathBuf::from(root).join(format!("hc{}-{track_s}s", hash.id)),
            None,
        ),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("earmark-scale-")
                .tempdir_in(std::env::temp_dir())
                .expect("temp dir");
            (dir.path().join("index"), Some(dir))
        }
    };
    let warm_up_queries: usize = std::env::var("EARMARK_SCALE_WARM_UP")
        .map(|s| {
            s.parse()
                .expect("EARMARK_SCALE_WARM_UP: a count of queries")
        })
        .unwrap_or(400);
    let cache_mib: u64 = std::env::var("EARMARK_SCALE_POSTINGS_CACHE_MIB")
        .map(|s| s.parse().expect("EARMARK_SCALE_POSTINGS_CACHE_MIB: MiB"))
        .unwrap_or(0);
    let store = RocksStore::create_or_open(&index_path, hash.id)
        .expect("index")
        .with_postings_cache(cache_mib << 20);
    // Tracks are added in parallel, so an interrupted build holds some subset of its
    // size: a size counts as built only when the index holds exactly that many tracks,
    // and otherwise its tracks are all put again (each put replaces the track).
    let built = usize::try_from(store.stats().expect("stats").tracks).unwrap_or(usize::MAX);
    let mut criterion = Criterion::default().sample_size(20).configure_from_args();
    let mut rows = Vec::new();
    let mut filled = 0usize;
    let mut ingest_s = 0.0;
    let mut ingested_postings = 0u64;
    for &size in &sizes {
        assert!(
            size >= built,
            "{} holds {built} tracks, more than {size}: remove it or ask for larger sizes",
            index_path.display()
        );
        let reused = built == size;
        if !reused {
            let started = Instant::now();
            // Postings as each put stored them, so a resumed build's rate counts only
            // the work of this run.
            ingested_postings += (filled..size)
                .into_par_iter()
                .map(|n| {
                    let fp = synthetic_track(&sources, n as u64, track_s);
                    let track = NewTrack::from_fingerprint(
                        track_id(n),
                        TrackMeta::default(),
                        None,
                        fp,
                        &hash,
                    );
                    store.put_track(&track).expect("put").1.landmarks
                })
                .sum::<u64>();
            ingest_s += started.elapsed().as_secs_f64();
            store.compact().expect("compact");
        }
        filled = filled.max(size);
        let stats = store.stats().expect("stats");

        // Excerpts of indexed tracks, each from its own track and offset.
        let mut rng = Lcg(size as u64);
        let queries = excerpts(&mut rng, QUERIES, &sources, size, track_s);
        let config = MatchConfig::for_hash(&hash);
        let (times, found) = time_each(&store, &queries, &hash, &config);
        // A service answers for weeks: its mapping of the table files and its block
        // cache are those many earlier queries left, not a new process's. Other
        // excerpts first, untimed, then more never asked before.
        let mut rng = Lcg(size as u64 ^ 0x005e_41ce);
        let warm_up = excerpts(&mut rng, warm_up_queries, &sources, size, track_s);
        time_each(&store, &warm_up, &hash, &config);
        let later = excerpts(&mut rng, QUERIES, &sources, size, track_s);
        let (later_times, later_found) = time_each(&store, &later, &hash, &config);
        let mut next = 0usize;
        let mut group = criterion.benchmark_group("index_scale");
        group.bench_function(BenchmarkId::new("lookup_align_10s", size), |b| {
            b.iter(|| {
                next += 1;
                let q = &queries[next % queries.len()].1;
                identify(&store, q, &hash, &config).expect("identify")
            });
        });
        group.finish();
        let hours = stats.hours;
        let ingest = if reused {
            "reused".to_string()
        } else {
            format!("{:.0}k/s", ingested_postings as f64 / ingest_s / 1e3)
        };
        rows.push(format!(
            "| {} | {:.0} | {} | {:.1} MB | {:.2} MB | {ingest} | {:.1} | {:.1} | {}/{} | {:.1} | {:.1} | {}/{} |",
            stats.tracks,
            hours,
            stats.postings,
            stats.bytes as f64 / 1e6,
            stats.bytes as f64 / 1e6 / hours.max(1e-9),
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            found,
            queries.len(),
            percentile(&later_times, 0.5),
            percentile(&later_times, 0.95),
            later_found,
            later.len(),
        ));
    }
    println!();
    println!(
        "| tracks | hours | postings | bytes on disk | per hour | ingest (postings) | lookup+align median ms | p95 ms | found | after {warm_up_queries} others: median ms | p95 ms | found |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    criterion.final_summary();
}
