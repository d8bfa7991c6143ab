//! `earmark query`: identify files, or fingerprints made by `earmark fingerprint`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use earmark_core::{Fingerprint, Fingerprinter, HashConfig, Source};
use earmark_index::{Match, MatchConfig, Store, identify, identify_exact};
use rayon::prelude::*;
use serde::Serialize;

use crate::DbArg;
use crate::output::outln;

/// Arguments of `earmark query`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// One JSON object per input file per line.
    #[arg(long)]
    json: bool,
    /// The inputs are fingerprints (binary or JSON) rather than audio.
    #[arg(long)]
    fingerprint: bool,
    /// Sub-hop shifted analyses per audio query (more: more robust, slower).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    shifts: u16,
    /// Audio files (or fingerprint files with --fingerprint).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Serialize)]
struct JsonMatch<'a> {
    track_id: &'a str,
    title: Option<&'a str>,
    score: u32,
    confidence: f64,
    query_offset_s: f64,
    track_offset_s: f64,
    matched_duration_s: f64,
    time_scale: f64,
    pitch_shift_semitones: f64,
}

#[derive(Serialize)]
struct JsonAnswer<'a> {
    file: String,
    matches: Vec<JsonMatch<'a>>,
    elapsed_ms: f64,
}

#[derive(Serialize)]
struct JsonError {
    file: String,
    error: String,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let store = crate::store::open_for_reading(&args.db.db)?;
    let fingerprinter = Fingerprinter::default();
    let hash_config = store.hash_config()?;
    let config = MatchConfig::for_hash(hash_config);
    let mut failures = 0;
    // Chunks keep output flowing for long lists while files within a chunk run in parallel.
    for chunk in args.files.chunks(4 * rayon::current_num_threads()) {
        let answers: Vec<(Result<Vec<Match>>, f64)> = chunk
            .par_iter()
            .map(|file| {
                let started = Instant::now();
                let result = if args.fingerprint {
                    query_fingerprint(&store, hash_config, &config, file)
                } else {
                    query_audio(
                        &store,
                        &fingerprinter,
                        hash_config,
                        &config,
                        file,
                        args.shifts,
                    )
                };
                (result, started.elapsed().as_secs_f64() * 1000.0)
            })
            .collect();
        for (file, (result, elapsed_ms)) in chunk.iter().zip(answers) {
            if result.is_err() {
                failures += 1;
            }
            print_answer(file, result, elapsed_ms, args.json)?;
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_answer(
    file: &Path,
    result: Result<Vec<Match>>,
    elapsed_ms: f64,
    json: bool,
) -> Result<()> {
    let name = file.display().to_string();
    match (result, json) {
        (Ok(matches), true) => {
            let answer = JsonAnswer {
                file: name,
                matches: matches
                    .iter()
                    .map(|m| JsonMatch {
                        track_id: m.track.id.as_str(),
                        title: m.track.meta.title.as_deref(),
                        score: m.score,
                        confidence: round3(m.confidence),
                        query_offset_s: round3(m.query_offset_s),
                        track_offset_s: round3(m.track_offset_s),
                        matched_duration_s: round3(m.matched_duration_s),
                        time_scale: (m.time_scale * 1e5).round() / 1e5,
                        pitch_shift_semitones: round3(m.pitch_shift_semitones),
                    })
                    .collect(),
                elapsed_ms: round3(elapsed_ms),
            };
            outln!("{}", serde_json::to_string(&answer).unwrap_or_default())?;
        }
        (Err(e), true) => {
            let answer = JsonError {
                file: name,
                error: format!("{e:#}"),
            };
            outln!("{}", serde_json::to_string(&answer).unwrap_or_default())?;
        }
        (Ok(matches), false) if matches.is_empty() => outln!("{name}: no match")?,
        (Ok(matches), false) => {
            for m in matches {
                outln!(
                    "{name}: {} {}- confidence {:.3}, score {}, query {:.2} s = track {:.2} s, {:.1} s matched, time scale {:.4}, pitch {:+.2} semitones",
                    m.track.id,
                    m.track
                        .meta
                        .title
                        .as_deref()
                        .map(|t| format!("\"{t}\" "))
                        .unwrap_or_default(),
                    m.confidence,
                    m.score,
                    m.query_offset_s,
                    m.track_offset_s,
                    m.matched_duration_s,
                    m.time_scale,
                    m.pitch_shift_semitones
                )?;
            }
        }
        (Err(e), false) => outln!("{name}: error: {e:#}")?,
    }
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn query_audio(
    store: &dyn Store,
    fingerprinter: &Fingerprinter,
    hash_config: &HashConfig,
    config: &MatchConfig,
    file: &Path,
    shifts: u16,
) -> Result<Vec<Match>> {
    let content_hash = super::content_hash(file)?;
    let exact = identify_exact(store, &content_hash)?;
    if !exact.is_empty() {
        return Ok(exact);
    }
    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let ext = file.extension().and_then(|e| e.to_str());
    let (prints, _) = fingerprinter
        .decode_source_shifted(Source::file(opened), ext, usize::from(shifts))
        .with_context(|| format!("cannot fingerprint {}", file.display()))?;
    Ok(identify(store, &prints, hash_config, config)?)
}

fn query_fingerprint(
    store: &dyn Store,
    hash_config: &HashConfig,
    config: &MatchConfig,
    file: &Path,
) -> Result<Vec<Match>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let fp = read_fingerprint(&bytes)?;
    Ok(identify(store, &[fp], hash_config, config)?)
}

/// A fingerprint in either wire form: binary (starts with the magic) or JSON.
pub fn read_fingerprint(bytes: &[u8]) -> Result<Fingerprint> {
    if bytes.first() == Some(&b'{') {
        let text = std::str::from_utf8(bytes).context("fingerprint JSON is not UTF-8")?;
        Ok(Fingerprint::from_json(text)?)
    } else {
        Ok(Fingerprint::from_bytes(bytes)?)
    }
}
