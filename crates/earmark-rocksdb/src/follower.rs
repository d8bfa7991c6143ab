//! [`Follower`]: a secondary instance that keeps up with a writer in another process,
//! reopening itself when RocksDB's catch-up cannot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use earmark_index::{
    NewTrack, PostingLists, PutOutcome, Store, StoreStats, TrackId, TrackMeta, TrackRecord,
};

use crate::error::{Error, Result};
use crate::store::RocksStore;

/// What [`Follower::catch_up`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// The primary's files were as before: nothing to do.
    Unchanged,
    /// The primary wrote: the follower opened the index afresh and now reads through
    /// the new instance.
    Reopened,
}

/// Reads an index that a primary in another process may be writing, and sees its
/// writes after each [`catch_up`](Self::catch_up).
///
/// RocksDB's own secondary catch-up ([`RocksStore::catch_up`]) was not reliable here
/// when the primary flushes and compacts between two calls: it failed for good on
/// table files a compaction had deleted, and it counted merged postings twice (once
/// from the log it had replayed, once from the compacted table). So the follower
/// watches the primary's manifest, logs and tables, and when any of them changed it
/// opens a new secondary instance and swaps it in; readers in flight finish on the
/// old one. Each instance is thus a fresh, consistent view, at the cost of an open
/// per change.
#[derive(Debug)]
pub struct Follower {
    primary: PathBuf,
    scratch: PathBuf,
    current: RwLock<Arc<RocksStore>>,
    /// The primary's files as they were just before `current` was opened.
    seen: Mutex<Vec<(String, u64)>>,
}

impl Follower {
    /// Opens the index at `primary` as a secondary. `scratch` is a directory of this
    /// follower's own (RocksDB keeps its info log there); it is created if missing and
    /// removed when the follower is dropped.
    ///
    /// # Errors
    /// As [`RocksStore::open_secondary`], or [`Error::Io`] when `primary` cannot be
    /// listed.
    pub fn open(primary: impl AsRef<Path>, scratch: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_postings_cache(primary, scratch, 0)
    }

    /// As [`open`](Self::open), each instance with a postings cache of about
    /// `cache_bytes` (see [`RocksStore::with_postings_cache`]); a reopened instance
    /// starts with an empty one.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_postings_cache(
        primary: impl AsRef<Path>,
        scratch: impl AsRef<Path>,
        cache_bytes: u64,
    ) -> Result<Self> {
        let (primary, scratch) = (primary.as_ref(), scratch.as_ref());
        let seen = database_files(primary)?;
        let store = RocksStore::open_secondary(primary, scratch)?.with_postings_cache(cache_bytes);
        Ok(Self {
            primary: primary.to_path_buf(),
            scratch: scratch.to_path_buf(),
            current: RwLock::new(Arc::new(store)),
            seen: Mutex::new(seen),
        })
    }

    /// Makes the primary's writes since the last call visible, each track whole.
    /// Calls are serialised; readers are never blocked for longer than a swap.
    ///
    /// # Errors
    /// When the primary cannot be listed or the new instance cannot be opened (for
    /// example because the primary deleted a file during the open); the follower then
    /// keeps serving what it saw last, and the next call tries again.
    pub fn catch_up(&self) -> Result<CatchUp> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = database_files(&self.primary)?;
        if now == *seen {
            return Ok(CatchUp::Unchanged);
        }
        let current = self.store();
        let fresh = current.reopen_secondary(&self.scratch)?;
        let expected = current.hash_config_id();
        if fresh.hash_config_id() != expected {
            return Err(Error::ConfigMismatch {
                index: fresh.hash_config_id(),
                requested: expected,
            });
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        // Listed before the open: a write during the open shows as a change next time.
        *seen = now;
        Ok(CatchUp::Reopened)
    }

    /// Catches up every `every` on a thread of its own until the returned task is
    /// dropped, calling `report` with each outcome and how long it took (a failed
    /// attempt is retried at the next tick; the follower serves what it saw last).
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn spawn_catch_up(
        self: &Arc<Self>,
        every: Duration,
        report: impl Fn(Result<CatchUp>, Duration) + Send + 'static,
    ) -> std::io::Result<CatchUpTask> {
        let stop = Arc::new(AtomicBool::new(false));
        let follower = Arc::clone(self);
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("earmark-follower".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::park_timeout(every);
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let started = Instant::now();
                    let outcome = follower.catch_up();
                    report(outcome, started.elapsed());
                }
            })?;
        Ok(CatchUpTask {
            stop,
            thread: Some(thread),
        })
    }

    /// The instance reads go to now.
    pub fn store(&self) -> Arc<RocksStore> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The thread of [`Follower::spawn_catch_up`]; dropping it stops the thread and waits
/// for it.
#[derive(Debug)]
pub struct CatchUpTask {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for CatchUpTask {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The names and sizes of the files a secondary reads: the manifest and what names it,
/// write-ahead logs and tables, sorted. The primary's info log and options files are
/// left out, since they change without any write to the index.
fn database_files(primary: &Path) -> Result<Vec<(String, u64)>> {
    let io = |source| Error::Io {
        path: primary.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(primary).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let watched = name == "CURRENT"
            || name.starts_with("MANIFEST-")
            || name.ends_with(".log")
            || name.ends_with(".sst");
        if !watched {
            continue;
        }
        // A file deleted since the listing (a finished compaction) is left out.
        if let Ok(meta) = entry.metadata() {
            files.push((name, meta.len()));
        }
    }
    files.sort_unstable();
    Ok(files)
}

impl Drop for Follower {
    fn drop(&mut self) {
        // Only RocksDB's info log is there; an open instance keeps writing to its
        // unlinked file until it closes.
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Store for Follower {
    fn hash_config_id(&self) -> u16 {
        self.store().hash_config_id()
    }

    fn put_track(&self, track: &NewTrack) -> earmark_index::Result<(PutOutcome, TrackRecord)> {
        self.store().put_track(track)
    }

    fn lookup_into(
        &self,
        hashes: &[u64],
        cap: usize,
        out: &mut PostingLists,
    ) -> earmark_index::Result<()> {
        self.store().lookup_into(hashes, cap, out)
    }

    fn delete_track(&self, id: &TrackId) -> earmark_index::Result<bool> {
        self.store().delete_track(id)
    }

    fn track(&self, id: &TrackId) -> earmark_index::Result<Option<TrackRecord>> {
        self.store().track(id)
    }

    fn tracks_by_idx(&self, idx: &[u32]) -> earmark_index::Result<Vec<Option<TrackRecord>>> {
        self.store().tracks_by_idx(idx)
    }

    fn fingerprints_by_idx(
        &self,
        idx: &[u32],
    ) -> earmark_index::Result<Vec<Option<earmark_core::Fingerprint>>> {
        self.store().fingerprints_by_idx(idx)
    }

    fn tracks_by_content(&self, content_hash: &str) -> earmark_index::Result<Vec<TrackRecord>> {
        self.store().tracks_by_content(content_hash)
    }

    fn holder_usage(&self, holder: &str) -> earmark_index::Result<earmark_index::HolderUsage> {
        self.store().holder_usage(holder)
    }

    fn list_tracks(
        &self,
        after: Option<&TrackId>,
        limit: usize,
    ) -> earmark_index::Result<Vec<TrackRecord>> {
        self.store().list_tracks(after, limit)
    }

    fn update_meta(&self, id: &TrackId, meta: &TrackMeta) -> earmark_index::Result<TrackRecord> {
        self.store().update_meta(id, meta)
    }

    fn stats(&self) -> earmark_index::Result<StoreStats> {
        self.store().stats()
    }
}
