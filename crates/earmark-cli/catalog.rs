//! What to ingest: files and folders from the command line, rows from a manifest, each
//! under an id no other input of the run has.
//!
//! Ids: a manifest's are kept as written (two rows with one id refuse the manifest); a
//! file named on the command line is its name without the extension; a file found in a
//! folder is its path below that folder without the extension, folders joined by `:`
//! (`rock/song.flac` is `rock:song`), so a flat folder's ids are its file names. Other
//! characters become `-`. Since that can give two files one id (`a b.wav` and `a-b.wav`,
//! `song.wav` and `song.flac`), every file of a run whose derived id another input also
//! has gets `.` and 8 hex digits of the SHA-256 of its path as given, the same on every
//! run of the same command; a file whose id is still taken is refused, never stored over
//! another.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use earmark_index::{TrackId, TrackMeta};
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

/// Extensions picked up when walking a folder; files named explicitly are always tried
/// (the format is recognised by content).
const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "ogg", "oga", "flac", "wav", "wave", "m4a", "mp4", "aac", "alac", "opus", "aif", "aiff",
    "caf", "mka", "webm",
];

/// Separator of folder names in an id derived from a path below a folder.
const FOLDER_SEPARATOR: &str = ":";

/// Hex digits of the path hash that tells apart files deriving one id.
const SUFFIX_HEX_DIGITS: usize = 8;

/// One file to ingest, with its id and metadata.
pub struct Item {
    /// Where the audio is.
    pub path: PathBuf,
    /// The track id to store it under, unique within the run.
    pub id: TrackId,
    /// Metadata from the manifest.
    pub meta: TrackMeta,
    /// Whether the id was written by the user or derived from the path.
    naming: Naming,
}

/// Where an item's id comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// A manifest row: kept as it is.
    Manifest,
    /// Derived from the path: made unique when another input has it too.
    Path,
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
    let stem = path
        .file_stem()
        .map_or("track".into(), |s| s.to_string_lossy());
    TrackId::sanitized(&stem)
}

/// The id of a file found at `relative` below a folder: its path without the extension,
/// folder names joined by [`FOLDER_SEPARATOR`], made valid.
fn id_below_folder(relative: &Path) -> Result<TrackId, earmark_index::Error> {
    let without_extension = relative.with_extension("");
    let names: Vec<_> = without_extension
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy()),
            _ => None,
        })
        .collect();
    TrackId::sanitized(&names.join(FOLDER_SEPARATOR))
}

/// A file or folder as the file system knows it, whatever path leads to it: symbolic
/// links and repeated arguments lead to one file more than once.
#[derive(PartialEq, Eq, Hash)]
enum FileKey {
    #[cfg(unix)]
    Inode { device: u64, inode: u64 },
    #[cfg_attr(unix, allow(dead_code))]
    Canonical(PathBuf),
}

impl FileKey {
    #[cfg(unix)]
    fn of(_path: &Path, meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self::Inode {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }

    #[cfg(not(unix))]
    fn of(path: &Path, _meta: &Metadata) -> Self {
        Self::Canonical(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    }
}

/// Files below `paths` (folders recursively, sorted), as items with ids derived from
/// their paths. Symbolic links are followed, but every file and folder is taken once:
/// a link back to a folder being walked is skipped, as is a folder or file reached
/// again by another path. Returns notes for the user on what was skipped.
pub fn from_paths(
    paths: &[PathBuf],
    items: &mut Vec<Item>,
    rejected: &mut Vec<Rejected>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut notes = Vec::new();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".into()
                } else {
                    format!("cannot read: {e}")
                };
                rejected.push(Rejected {
                    what: path.display().to_string(),
                    reason,
                });
                continue;
            }
        };
        if meta.is_dir() {
            walk(path, &mut seen, items, rejected, &mut notes);
        } else if seen.insert(FileKey::of(path, &meta)) {
            push_file(path.clone(), default_id(path), items, rejected);
        }
    }
    notes
}

/// Adds the audio files below the folder `root`, each file and folder not in `seen`
/// once.
fn walk(
    root: &Path,
    seen: &mut HashSet<FileKey>,
    items: &mut Vec<Item>,
    rejected: &mut Vec<Rejected>,
    notes: &mut Vec<String>,
) {
    let mut entries = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let what = e.path().unwrap_or(root).display().to_string();
                match e.loop_ancestor() {
                    Some(ancestor) => notes.push(format!(
                        "skipped {what}: a link back to {}, which is walked already",
                        ancestor.display()
                    )),
                    None => rejected.push(Rejected {
                        what,
                        reason: format!("cannot read: {e}"),
                    }),
                }
                continue;
            }
        };
        let is_dir = entry.file_type().is_dir();
        let is_audio_file = entry.file_type().is_file() && is_audio(entry.path());
        if !(is_dir || is_audio_file) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                rejected.push(Rejected {
                    what: entry.path().display().to_string(),
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        // Links to a folder from two places (or a loop walkdir cannot see, through a
        // sibling) would walk it again, and its links again: each one is walked once.
        if !seen.insert(FileKey::of(entry.path(), &meta)) {
            if is_dir {
                entries.skip_current_dir();
            }
            continue;
        }
        if is_dir {
            continue;
        }
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let id = id_below_folder(relative);
        push_file(entry.into_path(), id, items, rejected);
    }
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn push_file(
    path: PathBuf,
    id: Result<TrackId, earmark_index::Error>,
    items: &mut Vec<Item>,
    rejected: &mut Vec<Rejected>,
) {
    match id {
        Ok(id) => items.push(Item {
            path,
            id,
            meta: TrackMeta::default(),
            naming: Naming::Path,
        }),
        Err(e) => rejected.push(Rejected {
            what: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Makes every item's id unique within the run, so that no input replaces another:
/// an id derived from a path that another item has too gets a suffix from its path
/// (see the module's documentation); a manifest's ids are kept. An item whose id is
/// still another's (a file named like a suffixed id) is rejected, the first keeping
/// it. Returns notes for the user on the ids changed.
pub fn unique_ids(items: &mut Vec<Item>, rejected: &mut Vec<Rejected>) -> Vec<String> {
    let mut count: HashMap<TrackId, usize> = HashMap::new();
    for item in items.iter() {
        *count.entry(item.id.clone()).or_default() += 1;
    }
    let mut notes = Vec::new();
    for item in items.iter_mut() {
        if item.naming == Naming::Path && count.get(&item.id).copied().unwrap_or(0) > 1 {
            let unique = with_path_suffix(&item.id, &item.path);
            notes.push(format!(
                "{} is ingested as {unique}: another input of this run is also {}",
                item.path.display(),
                item.id
            ));
            item.id = unique;
        }
    }
    // Manifest rows come first, so a manifest's id is never the one refused.
    let mut taken: HashMap<TrackId, PathBuf> = HashMap::new();
    items.retain(|item| match taken.get(&item.id) {
        Some(first) => {
            rejected.push(Rejected {
                what: item.path.display().to_string(),
                reason: format!(
                    "track id {} is also that of {} in this run: rename the file or give \
                     it an id in a manifest",
                    item.id,
                    first.display()
                ),
            });
            false
        }
        None => {
            taken.insert(item.id.clone(), item.path.clone());
            true
        }
    });
    notes
}

/// `id` with `.` and the first hex digits of the SHA-256 of `path`'s bytes, shortened
/// to stay within an id's 128 characters.
fn with_path_suffix(id: &TrackId, path: &Path) -> TrackId {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    let suffix = hex::encode(digest);
    let suffix = &suffix[..SUFFIX_HEX_DIGITS];
    // Ids are ASCII, so any byte length is a character boundary.
    let base = id.as_str();
    let base = &base[..base.len().min(128 - 1 - SUFFIX_HEX_DIGITS)];
    TrackId::new(format!("{base}.{suffix}")).unwrap_or_else(|_| id.clone())
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
/// Rows without a `track_id` take their file's name without the extension.
/// Returns notes for the user: the columns ignored, and any that look like a known
/// column misspelled.
///
/// # Errors
/// When the manifest cannot be read, has no `path` column, or gives one track id to
/// several rows (each named by its line).
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
    // Where each id was first seen: two rows with one id would store one over the other.
    let mut lines_of_ids: HashMap<TrackId, String> = HashMap::new();
    let mut duplicate_ids = Vec::new();
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
        match lines_of_ids.entry(id.clone()) {
            Entry::Occupied(first) => {
                duplicate_ids.push(format!("{id} on {} and {what}", first.get()));
            }
            Entry::Vacant(slot) => {
                slot.insert(what);
            }
        }
        items.push(Item {
            path,
            id,
            naming: Naming::Manifest,
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
    if !duplicate_ids.is_empty() {
        bail!(
            "manifest {} gives one track id to several rows (ids must be unique): {}",
            manifest.display(),
            duplicate_ids.join("; ")
        );
    }
    Ok(notes)
}
