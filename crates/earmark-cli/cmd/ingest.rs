//! `earmark ingest`: fingerprint files in parallel, store each track atomically.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use earmark_core::Fingerprinter;
use earmark_index::{Added, Ingest, OnDuplicate};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::DbArg;
use crate::catalog::{self, Item, Rejected};
use crate::output::outln;

/// What to do with audio that is already in the index under another id.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DuplicateArg {
    /// Report it and leave the index as it is.
    Skip,
    /// Add it under the new id as well.
    Add,
}

/// Arguments of `earmark ingest`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// CSV with header path,track_id,title,artist,album,isrc,rights_holder,policy
    /// (only path required; other columns are ignored; relative paths are relative to
    /// the manifest).
    #[arg(long, value_name = "CSV")]
    manifest: Option<PathBuf>,
    /// Audio already in the index under another id (same file bytes, or the same
    /// recording re-encoded): skip it or add it.
    #[arg(long, value_enum, default_value = "skip")]
    on_duplicate: DuplicateArg,
    /// Leave the index as written instead of compacting it at the end. Compaction
    /// merges each hash's postings into one value, which makes lookups several times
    /// cheaper and gives the index its settled size; skip it only between batches of a
    /// larger ingest.
    #[arg(long)]
    no_compact: bool,
    /// Audio files and folders (searched recursively for audio extensions). A file's
    /// track id is its name without extension; in a folder, its path below the folder
    /// with folders joined by `:` (`rock:song`); ids two files would share get a suffix.
    paths: Vec<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut items: Vec<Item> = Vec::new();
    let mut rejected: Vec<Rejected> = Vec::new();
    if let Some(manifest) = &args.manifest {
        for note in catalog::from_manifest(manifest, &mut items, &mut rejected)? {
            eprintln!("{note}");
        }
    }
    for note in catalog::from_paths(&args.paths, &mut items, &mut rejected) {
        eprintln!("{note}");
    }
    for note in catalog::unique_ids(&mut items, &mut rejected) {
        eprintln!("{note}");
    }
    if items.is_empty() && rejected.is_empty() {
        anyhow::bail!("nothing to ingest: give audio files, folders or --manifest");
    }
    // Nothing could be read: the index is not even opened, so a mistyped path never
    // leaves an empty index behind.
    if items.is_empty() {
        for r in &rejected {
            outln!("failed: {}: {}", r.what, r.reason)?;
        }
        anyhow::bail!("nothing to ingest: every input failed; the index was not opened");
    }

    let store = crate::store::open_for_writing(&args.db.db)?;
    let fingerprinter = Fingerprinter::default();
    let on_duplicate = match args.on_duplicate {
        DuplicateArg::Skip => OnDuplicate::Skip,
        DuplicateArg::Add => OnDuplicate::Add,
    };
    // One `Ingest` for every worker: under its lock, looking for the same bytes and
    // writing are one step, so copies of one file in a batch are one track.
    let ingest = Ingest::new(&store, on_duplicate)?;

    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let audio_ms = AtomicU64::new(0);
    let results: Vec<(usize, Result<Added>)> = items
        .par_iter()
        .enumerate()
        .map(|(i, item)| {
            let result = ingest_one(&ingest, &fingerprinter, item, &audio_ms);
            bar.inc(1);
            bar.set_message(format!(
                "{:.2} h of audio",
                audio_ms.load(Ordering::Relaxed) as f64 / 3_600_000.0
            ));
            (i, result)
        })
        .collect();
    bar.finish_and_clear();
    let changed = results
        .iter()
        .any(|(_, r)| matches!(r, Ok(Added::Inserted(_) | Added::Replaced(_))));
    if changed && !args.no_compact {
        let started = std::time::Instant::now();
        store.compact().context("cannot compact the index")?;
        eprintln!(
            "compacted the index in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let (mut inserted, mut replaced, mut unchanged) = (0, 0, 0);
    let mut duplicates = Vec::new();
    let mut failed: Vec<(String, String)> =
        rejected.into_iter().map(|r| (r.what, r.reason)).collect();
    for (i, result) in results {
        let item = &items[i];
        match result {
            Ok(Added::Inserted(_)) => inserted += 1,
            Ok(Added::Replaced(_)) => replaced += 1,
            Ok(Added::Unchanged(_)) => unchanged += 1,
            Ok(Added::Duplicate(of)) => duplicates.push((item.path.display().to_string(), of.id)),
            Ok(Added::OtherHolder(of)) => failed.push((
                item.path.display().to_string(),
                format!(
                    "the same file is in the index as {} under another rights holder ({})",
                    of.id,
                    of.meta.rights_holder.as_deref().unwrap_or("none")
                ),
            )),
            Err(e) => failed.push((item.path.display().to_string(), format!("{e:#}"))),
        }
    }
    outln!(
        "ingested {inserted}, replaced {replaced}, unchanged {unchanged}, duplicates {}, failed {} ({:.2} h of audio fingerprinted)",
        duplicates.len(),
        failed.len(),
        audio_ms.load(Ordering::Relaxed) as f64 / 3_600_000.0
    )?;
    // Only skipped duplicates are reported: with `--on-duplicate add` they are added.
    for (path, of) in &duplicates {
        outln!("duplicate: {path} is already in the index as {of} (skipped)")?;
    }
    for (what, why) in &failed {
        outln!("failed: {what}: {why}")?;
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Adds one file by the library's rules ([`Ingest`]), reading it once: a file whose id
/// already holds a track made from a file is hashed first, so that an unchanged one is
/// skipped without decoding; any other is hashed as it is decoded.
fn ingest_one(
    ingest: &Ingest<'_>,
    fingerprinter: &Fingerprinter,
    item: &Item,
    audio_ms: &AtomicU64,
) -> Result<Added> {
    let mut known_hash = None;
    if ingest.existing_content_hash(&item.id)?.is_some() {
        let content_hash = super::content_hash(&item.path)?;
        if let Some(settled) = ingest.by_content(&item.id, &item.meta, &content_hash)? {
            return Ok(settled);
        }
        known_hash = Some(content_hash);
    }
    // A changed file's hash is known already: it is decoded without hashing it again.
    let (fingerprint, content_hash) = match known_hash {
        Some(hash) => fingerprinter
            .fingerprint_file(&item.path)
            .map(|fingerprint| (fingerprint, Some(hash))),
        None => fingerprinter
            .decode_file(&item.path)
            .map(|decoded| (decoded.fingerprint, decoded.content_hash)),
    }
    .with_context(|| format!("cannot fingerprint {}", item.path.display()))?;
    audio_ms.fetch_add(u64::from(fingerprint.duration_ms()), Ordering::Relaxed);
    Ok(ingest.add(
        item.id.clone(),
        item.meta.clone(),
        content_hash,
        fingerprint,
    )?)
}
