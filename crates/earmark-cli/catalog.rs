//! What to ingest: files and folders from the command line, rows from a manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use earmark_index::{TrackId, TrackMeta};
use walkdir::WalkDir;

/// Extensions picked up when walking a folder; files named explicitly are always tried
/// (the format is recognised by content).
const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "ogg", "oga", "flac", "wav", "wave", "m4a", "mp4", "aac", "alac", "opus", "aif", "aiff",
    "caf", "mka", "webm",
];

/// One file to ingest, with its id and metadata.
pub struct Item {
    /// Where the audio is.
    pub path: PathBuf,
    /// The track id to store it under.
    pub id: TrackId,
    /// Metadata from the manifest.
    pub meta: TrackMeta,
}

/// An input that could not become an [`Item`].
pub struct Rejected {
    /// What to call it in the summary (a path or `manifest.csv:LINE`).
    pub what: String,
    /// Why.
    pub reason: String,
}

/// The default id of a file: its name without the extension, made valid.
pub fn default_id(path: &Path) -> Result<TrackId, earmark_index::Error> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("track");
    TrackId::sanitized(stem)
}

/// Files below `paths` (folders recursively, sorted; symbolic links followed, loops
/// refused), as items with default ids.
pub fn from_paths(paths: &[PathBuf], items: &mut Vec<Item>, rejected: &mut Vec<Rejected>) {
    for path in paths {
        if path.is_dir() {
            let walk = WalkDir::new(path).follow_links(true).sort_by_file_name();
            for entry in walk {
                match entry {
                    Ok(entry) if entry.file_type().is_file() && is_audio(entry.path()) => {
                        push_file(entry.into_path(), items, rejected);
                    }
                    Ok(_) => {}
                    Err(e) => rejected.push(Rejected {
                        what: e.path().unwrap_or(path).display().to_string(),
                        reason: format!("cannot read: {e}"),
                    }),
                }
            }
        } else if path.exists() {
            push_file(path.clone(), items, rejected);
        } else {
            rejected.push(Rejected {
                what: path.display().to_string(),
                reason: "no such file or directory".into(),
            });
        }
    }
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn push_file(path: PathBuf, items: &mut Vec<Item>, rejected: &mut Vec<Rejected>) {
    match default_id(&path) {
        Ok(id) => items.push(Item {
            path,
            id,
            meta: TrackMeta::default(),
        }),
        Err(e) => rejected.push(Rejected {
            what: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// The columns a manifest may have; only `path` is required.
const COLUMNS: [&str; 8] = [
    "path",
    "track_id",
    "title",
    "artist",
    "album",
    "isrc",
    "rights_holder",
    "policy",
];

/// A header name as compared with [`COLUMNS`]: lower case, without spaces, hyphens or
/// underscores, so that a spreadsheet's "Track ID" or "Rights-Holder" is the column.
fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The known column a header names, if any.
fn known_column(header: &str) -> Option<&'static str> {
    let name = normalized(header);
    COLUMNS.into_iter().find(|c| normalized(c) == name)
}

/// The known column a header is probably a misspelling of.
fn near_column(header: &str) -> Option<&'static str> {
    let name = normalized(header);
    COLUMNS
        .into_iter()
        .find(|c| strsim::damerau_levenshtein(&name, &normalized(c)) <= 2 && name.len() > 3)
}

/// Rows of a manifest CSV with header `path,track_id,title,artist,album,isrc,rights_holder,policy`
/// (only `path` required, columns in any order, names compared without case, spaces,
/// hyphens or underscores; other columns ignored). Relative paths are relative to the
/// manifest. A bad row is rejected with its line number; the others still load.
/// Returns notes for the user: the columns ignored, and any that look like a known
/// column misspelled.
///
/// # Errors
/// When the manifest cannot be read or has no `path` column.
pub fn from_manifest(
    manifest: &Path,
    items: &mut Vec<Item>,
    rejected: &mut Vec<Rejected>,
) -> Result<Vec<String>> {
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_path(manifest)
        .with_context(|| format!("cannot read manifest {}", manifest.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("cannot read the header of {}", manifest.display()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| known_column(h) == Some(name));
    let path_col = column("path").with_context(|| {
        format!(
            "manifest {} has no `path` column in its header",
            manifest.display()
        )
    })?;
    // Columns Earmark does not use (a label's own codes, a year) are ignored; one that
    // is probably a known column misspelled is pointed out.
    let mut notes = Vec::new();
    let ignored: Vec<&str> = headers
        .iter()
        .filter(|h| known_column(h).is_none())
        .collect();
    for header in &ignored {
        if let Some(near) = near_column(header) {
            notes.push(format!(
                "manifest {}: column `{header}` is ignored; did you mean `{near}`?",
                manifest.display()
            ));
        }
    }
    if !ignored.is_empty() {
        notes.push(format!(
            "manifest {}: ignored columns it does not use: {}",
            manifest.display(),
            ignored.join(", ")
        ));
    }
    let name = manifest
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("manifest");
    for (i, row) in reader.records().enumerate() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = row
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i as u64 + 2, |p| p.line());
        let what = format!("{name}:{line}");
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                rejected.push(Rejected {
                    what,
                    reason: format!("malformed row: {e}"),
                });
                continue;
            }
        };
        let field = |col: Option<usize>| {
            col.and_then(|c| row.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some(path) = field(Some(path_col)) else {
            rejected.push(Rejected {
                what,
                reason: "empty `path`".into(),
            });
            continue;
        };
        let path = base.join(path);
        let id = match field(column("track_id")) {
            Some(id) => TrackId::new(id),
            None => default_id(&path),
        };
        let id = match id {
            Ok(id) => id,
            Err(e) => {
                rejected.push(Rejected {
                    what,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let policy = field(column("policy"));
        if let Some(p) = &policy
            && !["allow", "block", "monitor"].contains(&p.as_str())
        {
            rejected.push(Rejected {
                what,
                reason: format!("unknown policy `{p}` (allow, block or monitor)"),
            });
            continue;
        }
        items.push(Item {
            path,
            id,
            meta: TrackMeta {
                title: field(column("title")),
                artist: field(column("artist")),
                album: field(column("album")),
                isrc: field(column("isrc")),
                rights_holder: field(column("rights_holder")),
                policy,
            },
        });
    }
    Ok(notes)
}
