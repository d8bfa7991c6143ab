//! [`RocksStore`]: the index handle, and the [`Store`] operations over it. Opening is
//! in `open.rs`, writes in `write.rs`, reads in `read.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use earmark_core::{Fingerprint, HashConfig};
use earmark_index::{
    HolderUsage, NewTrack, PostingLists, PutOutcome, Store, StoreStats, TrackId, TrackMeta,
    TrackRecord,
};
use rocksdb::{Cache, ColumnFamily, DB};

use crate::error::{Error, Result};
use crate::postings_cache::PostingsCache;
use crate::presence::Presence;

/// How a [`RocksStore`] holds its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The one writer: holds the directory's lock.
    Primary,
    /// A fixed view of the index as it was when opened; writes are refused.
    ReadOnly,
    /// Reads beside a primary in another process, as of opening (a
    /// [`Follower`](crate::Follower) reopens one to see later writes); writes are
    /// refused.
    Secondary,
}

/// An Earmark index in a RocksDB database directory.
///
/// All methods take `&self`: readers run concurrently, and writers (track puts,
/// deletes, metadata updates) are serialised by a lock inside the store, because each
/// one reads what it rewrites.
pub struct RocksStore {
    pub(crate) db: DB,
    pub(crate) path: PathBuf,
    pub(crate) hash_config: &'static HashConfig,
    /// Bytes of a postings (bucket) key, from the hash configuration's width.
    pub(crate) key_width: usize,
    pub(crate) mode: Mode,
    pub(crate) writer: Mutex<()>,
    /// The hash values with postings.
    pub(crate) presence: Presence,
    /// Kept to hand on to a replacing instance ([`Follower`](crate::Follower)).
    pub(crate) cache: Cache,
    /// Hot postings values in memory; see [`with_postings_cache`](Self::with_postings_cache).
    pub(crate) postings_cache: Option<PostingsCache>,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("hash_config", &self.hash_config.id)
            .field("mode", &self.mode)
            .field("presence", &self.presence)
            .finish_non_exhaustive()
    }
}

impl RocksStore {
    /// The directory of the index.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the index is held.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The database, for tests that damage or inspect it.
    #[cfg(test)]
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Corrupt(format!("column family {name:?} missing")))
    }

    pub(crate) fn ensure_writable(&self) -> Result<()> {
        if self.mode == Mode::Primary {
            Ok(())
        } else {
            Err(Error::ReadOnly)
        }
    }

    pub(crate) fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        // The lock guards no data: a writer that panicked wrote nothing, as its batch
        // is applied whole or not at all.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for RocksStore {
    fn hash_config_id(&self) -> u16 {
        self.hash_config.id
    }

    fn hash_config(&self) -> earmark_index::Result<&'static HashConfig> {
        Ok(self.hash_config)
    }

    fn put_track(&self, track: &NewTrack) -> earmark_index::Result<(PutOutcome, TrackRecord)> {
        Ok(self.put(track)?)
    }

    fn lookup_into(
        &self,
        hashes: &[u64],
        cap: usize,
        out: &mut PostingLists,
    ) -> earmark_index::Result<()> {
        Ok(self.lookup_postings(hashes, cap, out)?)
    }

    fn delete_track(&self, id: &TrackId) -> earmark_index::Result<bool> {
        Ok(self.delete(id)?)
    }

    fn track(&self, id: &TrackId) -> earmark_index::Result<Option<TrackRecord>> {
        Ok(self.read_record(id)?)
    }

    fn tracks_by_idx(&self, idx: &[u32]) -> earmark_index::Result<Vec<Option<TrackRecord>>> {
        Ok(self.by_idx(idx)?)
    }

    fn fingerprints_by_idx(&self, idx: &[u32]) -> earmark_index::Result<Vec<Option<Fingerprint>>> {
        Ok(self.fingerprints(idx)?)
    }

    fn tracks_by_content(&self, content_hash: &str) -> earmark_index::Result<Vec<TrackRecord>> {
        Ok(self.by_content(content_hash)?)
    }

    fn holder_usage(&self, holder: &str) -> earmark_index::Result<HolderUsage> {
        let counts = self.holder_counts(holder)?;
        Ok(HolderUsage {
            tracks: counts.tracks,
            postings: counts.postings,
            hours: counts.duration_us as f64 / 3.6e9,
        })
    }

    fn list_tracks(
        &self,
        after: Option<&TrackId>,
        limit: usize,
    ) -> earmark_index::Result<Vec<TrackRecord>> {
        Ok(self.list(after, limit)?)
    }

    fn update_meta(&self, id: &TrackId, meta: &TrackMeta) -> earmark_index::Result<TrackRecord> {
        Ok(self.set_meta(id, meta)?)
    }

    fn stats(&self) -> earmark_index::Result<StoreStats> {
        Ok(self.counts()?)
    }
}
