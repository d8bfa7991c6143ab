//! [`RocksStore`]: opening an index directory and the [`Store`] operations.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use earmark_core::{Fingerprint, HashConfig};
use earmark_index::posting::{self, BlockFormat};
use earmark_index::{
    MAX_FRAMES_PER_HASH, NewTrack, PostingLists, PutOutcome, Store, StoreStats, TrackId, TrackMeta,
    TrackRecord,
};
use rocksdb::{
    BottommostLevelCompaction, Cache, ColumnFamily, CompactOptions, DB, Direction, IteratorMode,
    WriteBatch,
};

use crate::error::{Error, Result};
use crate::layout::{
    self, CF_CONTENT, CF_META, CF_PACKED_POSTINGS, CF_POSTINGS, CF_SORTED_POSTINGS,
    CF_TRACK_HASHES, CF_TRACK_IDX, CF_TRACKS, Counters, FORMAT_VERSION,
    FORMAT_VERSION_COUNTED_BLOCKS, FORMAT_VERSION_NO_PRESENCE, META_FORMAT_VERSION,
    META_HASH_CONFIG_ID, META_PRESENCE,
};
use crate::options;
use crate::postings_cache::{Cached, PostingsCache};
use crate::presence::{self, Presence};

/// How a [`RocksStore`] holds its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The one writer: holds the directory's lock.
    Primary,
    /// A fixed view of the index as it was when opened; writes are refused.
    ReadOnly,
    /// Follows a primary in another process through [`RocksStore::catch_up`]; writes
    /// are refused.
    Secondary,
}

/// An Earmark index in a RocksDB database directory.
///
/// All methods take `&self`: readers run concurrently, and writers (track puts,
/// deletes, metadata updates) are serialised by a lock inside the store, because each
/// one reads what it rewrites.
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    hash_config_id: u16,
    /// Bytes of a postings key, from the hash configuration's width: 4 for every
    /// configuration up to 32 bits, so indexes made before wider ones read as they were.
    key_width: usize,
    /// How this index's postings blocks are written; its layout version decides.
    block_format: BlockFormat,
    /// The column family of the postings, which goes with `block_format`.
    postings_cf: &'static str,
    /// The layout version.
    version: u32,
    mode: Mode,
    writer: Mutex<()>,
    /// The hash values with postings; `None` for a read-only view of a layout-1 index.
    presence: Option<Presence>,
    /// Whether `presence` covers what reads see; off while a secondary catches up.
    presence_current: AtomicBool,
    /// Kept to hand on to a replacing instance ([`Follower`](crate::Follower)).
    cache: Cache,
    /// Hot postings values in memory; see [`with_postings_cache`](Self::with_postings_cache).
    postings_cache: Option<PostingsCache>,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("hash_config_id", &self.hash_config_id)
            .field("mode", &self.mode)
            .field("presence", &self.presence)
            .finish_non_exhaustive()
    }
}

/// How to open.
#[derive(Clone, Copy)]
enum Access<'a> {
    Primary {
        create: Option<u16>,
    },
    ReadOnly,
    Secondary {
        secondary_path: &'a Path,
        /// The block cache of an instance this one replaces, so that it starts warm.
        cache: Option<&'a Cache>,
    },
}

/// What is at the path before RocksDB sees it.
enum Found {
    Nothing,
    EmptyDir,
    Database,
}

impl RocksStore {
    /// Opens the index at `path` for writing, creating it (and missing parent
    /// directories) when `path` does not exist or is an empty directory.
    ///
    /// # Errors
    /// [`Error::NotAnIndex`] for a file, a non-empty directory that is not a RocksDB
    /// database, or a database without Earmark's column families and metadata;
    /// [`Error::VersionMismatch`] for another layout version;
    /// [`Error::ConfigMismatch`] when the index uses another hash configuration;
    /// [`Error::Locked`] when another process has it open for writing.
    pub fn create_or_open(path: impl AsRef<Path>, hash_config_id: u16) -> Result<Self> {
        Self::open(
            path.as_ref(),
            Access::Primary {
                create: Some(hash_config_id),
            },
        )
    }

    /// Opens an existing index for writing; never creates one.
    ///
    /// # Errors
    /// [`Error::NoIndex`] when nothing (or an empty directory) is at `path`, otherwise
    /// as [`create_or_open`](Self::create_or_open).
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path.as_ref(), Access::Primary { create: None })
    }

    /// Opens an existing index read-only, as it is at this moment. Any number of
    /// read-only instances may run beside a primary; none sees later writes.
    ///
    /// # Errors
    /// As [`open_existing`](Self::open_existing), without [`Error::Locked`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path.as_ref(), Access::ReadOnly)
    }

    /// Opens an existing index as a secondary of the primary that may be writing it in
    /// another process; [`catch_up`](Self::catch_up) makes its writes visible.
    /// `secondary_path` is a directory of this instance's own (RocksDB keeps its info
    /// log there), created if missing.
    ///
    /// # Errors
    /// As [`open_read_only`](Self::open_read_only), or [`Error::Io`] when
    /// `secondary_path` cannot be created.
    pub fn open_secondary(
        path: impl AsRef<Path>,
        secondary_path: impl AsRef<Path>,
    ) -> Result<Self> {
        let secondary_path = secondary_path.as_ref();
        std::fs::create_dir_all(secondary_path).map_err(|source| Error::Io {
            path: secondary_path.to_path_buf(),
            source,
        })?;
        Self::open(
            path.as_ref(),
            Access::Secondary {
                secondary_path,
                cache: None,
            },
        )
    }

    /// A new secondary instance of the same index sharing this instance's block cache:
    /// RocksDB names cached blocks by table file, so blocks of files both instances
    /// read stay cached across the swap, and the two together stay within one cache's
    /// budget. The new instance starts with an empty postings cache of the same
    /// budget.
    pub(crate) fn reopen_secondary(&self, secondary_path: &Path) -> Result<Self> {
        let fresh = Self::open(
            &self.path,
            Access::Secondary {
                secondary_path,
                cache: Some(&self.cache),
            },
        )?;
        Ok(fresh.with_postings_cache(self.postings_cache_bytes()))
    }

    /// Keeps up to about `bytes` of stored postings values in memory, by hash, so that
    /// a hash asked for often costs a hash-map probe instead of RocksDB's search of
    /// its blocks; 0 keeps none (the default). Lookups stay consistent with writes:
    /// each sees a track whole or not at all, as without the cache. Worth it where
    /// queries repeat hashes (a service checking what a network shares); a one-off
    /// batch of queries gains little.
    #[must_use]
    pub fn with_postings_cache(mut self, bytes: u64) -> Self {
        self.postings_cache = (bytes > 0).then(|| PostingsCache::new(bytes));
        self
    }

    /// The postings cache's budget in bytes; 0 without one.
    pub fn postings_cache_bytes(&self) -> u64 {
        self.postings_cache
            .as_ref()
            .map_or(0, PostingsCache::capacity_bytes)
    }

    /// Makes a secondary see what the primary has written since it opened or last
    /// caught up; each track appears whole, as the primary wrote it in one batch. A
    /// no-op for a primary (which sees its own writes) and for a read-only instance
    /// (reopen it instead).
    ///
    /// Reliable only while the primary merely appends to its log: after a flush or a
    /// compaction in between, RocksDB's replay can fail on deleted table files or see
    /// merged postings twice. [`Follower`](crate::Follower) reopens instead.
    ///
    /// # Errors
    /// RocksDB failures reading the primary's manifest and logs.
    pub fn catch_up(&self) -> Result<()> {
        if self.mode == Mode::Secondary {
            // Until the bits of what the catch-up brings are merged in, lookups ask
            // RocksDB for every hash; after a failure they go on doing so.
            self.presence_current.store(false, Ordering::SeqCst);
            let _cache_write = self.postings_cache.as_ref().map(PostingsCache::write);
            self.db.try_catch_up_with_primary()?;
            // Bits only ever get set, so the union with the stored bitmap is current.
            if let (Some(presence), Some(stored)) = (
                &self.presence,
                self.db.get_cf(self.cf(CF_META)?, META_PRESENCE)?,
            ) {
                presence.merge_stored(&stored)?;
                self.presence_current.store(true, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    /// The index's layout version: [`FORMAT_VERSION`] for an index made by this
    /// release, lower for an older one that is read and written as it is (its postings
    /// take more bytes; ingesting the catalog into a new index gives the current
    /// layout).
    pub fn layout_version(&self) -> u32 {
        self.version
    }

    /// The directory of the index.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the index is held.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Compacts every column family down to its last level: merge operands are folded
    /// into single values, deleted postings dropped, and the WAL flushed into tables,
    /// so that [`stats`](Store::stats) measures the index as it settles. Takes time
    /// proportional to the index size; reads and writes may go on meanwhile.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only or secondary instance. RocksDB reports no
    /// failure of a manual compaction to the caller: it logs it and leaves the files
    /// as they were.
    pub fn compact(&self) -> Result<()> {
        self.ensure_writable()?;
        let mut opts = CompactOptions::default();
        // Rewrite the last level too, so its values and key counts are final; files
        // this compaction just wrote are not rewritten again.
        opts.set_bottommost_level_compaction(BottommostLevelCompaction::ForceOptimized);
        for name in layout::all_cfs(self.postings_cf) {
            self.db
                .compact_range_cf_opt(self.cf(name)?, None::<&[u8]>, None::<&[u8]>, &opts);
        }
        Ok(())
    }

    /// The exact number of distinct hashes, by scanning every postings key. Costs a
    /// full read of the postings; [`stats`](Store::stats) gives RocksDB's estimate.
    ///
    /// # Errors
    /// RocksDB failures.
    pub fn count_hashes(&self) -> Result<u64> {
        let mut n = 0;
        for item in self
            .db
            .iterator_cf(self.cf(self.postings_cf)?, IteratorMode::Start)
        {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// A new index of an earlier layout `version`, for tests of how those are read
    /// and written.
    #[cfg(test)]
    pub(crate) fn create_with_layout(
        path: &Path,
        hash_config_id: u16,
        version: u32,
    ) -> Result<Self> {
        Self::open_as(
            path,
            Access::Primary {
                create: Some(hash_config_id),
            },
            version,
        )
    }

    fn open(path: &Path, access: Access<'_>) -> Result<Self> {
        Self::open_as(path, access, FORMAT_VERSION)
    }

    /// Opens as [`open`](Self::open); a new index gets layout `new_version`.
    fn open_as(path: &Path, access: Access<'_>, new_version: u32) -> Result<Self> {
        let found = inspect(path)?;
        let create = match (access, found) {
            (Access::Primary { create: Some(id) }, Found::Nothing | Found::EmptyDir) => Some(id),
            (_, Found::Nothing | Found::EmptyDir) => {
                return Err(Error::NoIndex {
                    path: path.to_path_buf(),
                });
            }
            (_, Found::Database) => None,
        };
        let postings_cf = if create.is_some() {
            std::fs::create_dir_all(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let format = layout::block_format(new_version).ok_or(Error::VersionMismatch {
                found: new_version,
                expected: FORMAT_VERSION,
            })?;
            layout::postings_cf(format)
        } else {
            // Checked before opening, so that a foreign database is never opened for
            // writing (which alone may rewrite its manifest and logs).
            let names = DB::list_cf(&rocksdb::Options::default(), path)?;
            let has = |name: &str| names.iter().any(|n| n == name);
            // A database of none is refused below, as lacking the oldest.
            let postings_cf = match layout::POSTINGS_CFS.map(has) {
                [true, false, false] => CF_PACKED_POSTINGS,
                [false, true, false] => CF_SORTED_POSTINGS,
                [false, false, _] => CF_POSTINGS,
                _ => {
                    return Err(Error::NotAnIndex {
                        path: path.to_path_buf(),
                        reason: "postings column families of more than one layout".into(),
                    });
                }
            };
            let cfs = layout::all_cfs(postings_cf);
            if let Some(missing) = cfs.iter().find(|n| !has(n)) {
                return Err(Error::NotAnIndex {
                    path: path.to_path_buf(),
                    reason: format!("a RocksDB database without the {missing:?} column family"),
                });
            }
            if let Some(extra) = names
                .iter()
                .find(|n| *n != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !cfs.contains(&n.as_str()))
            {
                return Err(Error::NotAnIndex {
                    path: path.to_path_buf(),
                    reason: format!("unexpected column family {extra:?}"),
                });
            }
            postings_cf
        };

        let cache = match access {
            Access::Secondary {
                cache: Some(cache), ..
            } => cache.clone(),
            _ => options::block_cache(),
        };
        let cfs = options::descriptors(&cache, postings_cf);
        let db = match access {
            Access::Primary { .. } => {
                let opts = options::db_options(create.is_some());
                DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| locked_or(e, path))?
            }
            Access::ReadOnly => {
                let opts = options::db_options(false);
                DB::open_cf_descriptors_read_only(&opts, path, cfs, false)?
            }
            Access::Secondary { secondary_path, .. } => {
                let mut opts = options::db_options(false);
                // A secondary must keep every table file open: the primary may delete
                // files it would otherwise reopen later.
                opts.set_max_open_files(-1);
                DB::open_cf_descriptors_as_secondary(&opts, path, secondary_path, cfs)?
            }
        };
        let mode = match access {
            Access::Primary { .. } => Mode::Primary,
            Access::ReadOnly => Mode::ReadOnly,
            Access::Secondary { .. } => Mode::Secondary,
        };
        let mut store = Self {
            db,
            path: path.to_path_buf(),
            hash_config_id: 0,
            key_width: 4,
            block_format: BlockFormat::Packed,
            postings_cf,
            version: FORMAT_VERSION,
            mode,
            writer: Mutex::new(()),
            presence: None,
            presence_current: AtomicBool::new(true),
            cache,
            postings_cache: None,
        };
        store.hash_config_id = match (store.read_header()?, access) {
            (
                Some((id, ..)),
                Access::Primary {
                    create: Some(requested),
                },
            ) if id != requested => {
                return Err(Error::ConfigMismatch {
                    index: id,
                    requested,
                });
            }
            (Some((id, version, block_format)), _) => {
                if layout::postings_cf(block_format) != postings_cf {
                    return Err(Error::Corrupt(format!(
                        "layout {version} with its postings in {postings_cf:?}"
                    )));
                }
                store.presence = store.load_presence(version)?;
                store.block_format = block_format;
                // After the upgrade `load_presence` may have made.
                store.version = version.max(FORMAT_VERSION_COUNTED_BLOCKS);
                id
            }
            // A new index, or one whose creation stopped between creating the column
            // families and writing the metadata (all of them still empty).
            (None, Access::Primary { create: Some(id) }) if store.is_blank()? => {
                // A blank database left by an earlier release keeps its postings
                // family, so it gets the newest layout that uses it.
                let version = if layout::block_format(new_version).map(layout::postings_cf)
                    == Some(postings_cf)
                {
                    new_version
                } else {
                    layout::newest_version_in(postings_cf).ok_or_else(|| {
                        Error::Corrupt(format!("no layout keeps postings in {postings_cf:?}"))
                    })?
                };
                store.block_format =
                    layout::block_format(version).ok_or(Error::VersionMismatch {
                        found: version,
                        expected: FORMAT_VERSION,
                    })?;
                store.version = version;
                store.init(id, version)?;
                store.presence = Some(Presence::empty());
                id
            }
            (None, _) => {
                return Err(Error::NotAnIndex {
                    path: store.path,
                    reason: "a RocksDB database without Earmark metadata".into(),
                });
            }
        };
        // An id this release does not know cannot be hashed for, so its width matters
        // to no lookup or put; 4 bytes reads its keys as releases before wider hashes did.
        let config = HashConfig::by_id(store.hash_config_id);
        store.key_width = config.map_or(4, |config| layout::hash_key_width(config.hash_bits()));
        // Only a primary writes tables. Tables an older release wrote keep their LZ4
        // until a compaction rewrites them; each block records how it is stored.
        if let (Mode::Primary, Some(settings)) =
            (store.mode, config.and_then(options::postings_compression))
        {
            store
                .db
                .set_options_cf(store.cf(store.postings_cf)?, &settings)?;
        }
        Ok(store)
    }

    /// The hash configuration id, the layout version and its block format, after
    /// checking the version; `None` without metadata.
    fn read_header(&self) -> Result<Option<(u16, u32, BlockFormat)>> {
        let meta = self.cf(CF_META)?;
        let Some(version) = self.db.get_cf(meta, META_FORMAT_VERSION)? else {
            return Ok(None);
        };
        let found = u32::from_be_bytes(layout::fixed(Some(&version), "format_version")?);
        let block_format = layout::block_format(found).ok_or(Error::VersionMismatch {
            found,
            expected: FORMAT_VERSION,
        })?;
        let id = self.db.get_cf(meta, META_HASH_CONFIG_ID)?;
        let id = u16::from_be_bytes(layout::fixed(id.as_deref(), "hash_config_id")?);
        Ok(Some((id, found, block_format)))
    }

    /// The stored presence bitmap. A layout-1 index has none: a primary builds it from
    /// every track's hash list and upgrades the index to layout 2 in one batch; other
    /// modes read without one.
    fn load_presence(&self, version: u32) -> Result<Option<Presence>> {
        let stored = version != FORMAT_VERSION_NO_PRESENCE;
        if !stored && self.mode != Mode::Primary {
            return Ok(None);
        }
        let meta = self.cf(CF_META)?;
        let presence = Presence::empty();
        if stored {
            let stored = self
                .db
                .get_cf(meta, META_PRESENCE)?
                .ok_or_else(|| Error::Corrupt("presence bitmap missing".into()))?;
            presence.merge_stored(&stored)?;
            return Ok(Some(presence));
        }
        for item in self
            .db
            .iterator_cf(self.cf(CF_TRACK_HASHES)?, IteratorMode::Start)
        {
            let (_, packed) = item?;
            presence.insert_hashes(&layout::unpack_hashes(&packed)?);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, META_PRESENCE, presence.encode_bitmap());
        // Its blocks keep their counts.
        batch.put_cf(
            meta,
            META_FORMAT_VERSION,
            FORMAT_VERSION_COUNTED_BLOCKS.to_be_bytes(),
        );
        self.db.write(batch)?;
        Ok(Some(presence))
    }

    fn is_blank(&self) -> Result<bool> {
        for name in layout::all_cfs(self.postings_cf) {
            if let Some(item) = self
                .db
                .iterator_cf(self.cf(name)?, IteratorMode::Start)
                .next()
            {
                item?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the metadata of a new index of layout `version` in one batch.
    fn init(&self, hash_config_id: u16, version: u32) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, META_FORMAT_VERSION, version.to_be_bytes());
        batch.put_cf(meta, META_HASH_CONFIG_ID, hash_config_id.to_be_bytes());
        batch.put_cf(meta, META_PRESENCE, Presence::empty().encode_bitmap());
        for (key, value) in Counters::default().encode() {
            batch.put_cf(meta, key, value);
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// The database, for tests that damage or inspect it.
    #[cfg(test)]
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    /// The in-memory presence bitmap, for tests that check it against the postings.
    #[cfg(test)]
    pub(crate) fn presence(&self) -> Option<&Presence> {
        self.presence.as_ref()
    }

    /// The column family of this index's postings.
    #[cfg(test)]
    pub(crate) fn postings_cf(&self) -> &'static str {
        self.postings_cf
    }

    /// How this index writes its postings blocks.
    #[cfg(test)]
    pub(crate) fn block_format(&self) -> BlockFormat {
        self.block_format
    }

    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Corrupt(format!("column family {name:?} missing")))
    }

    fn ensure_writable(&self) -> Result<()> {
        if self.mode == Mode::Primary {
            Ok(())
        } else {
            Err(Error::ReadOnly)
        }
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        // The lock guards no data: a writer that panicked wrote nothing, as its batch
        // is applied whole or not at all.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_counters(&self) -> Result<Counters> {
        let meta = self.cf(CF_META)?;
        let mut values: [Option<Vec<u8>>; 4] = Default::default();
        let results = self
            .db
            .multi_get_cf(Counters::KEYS.iter().map(|k| (meta, *k)));
        for (slot, value) in values.iter_mut().zip(results) {
            *slot = value?;
        }
        Counters::decode(&values)
    }

    fn read_record(&self, id: &TrackId) -> Result<Option<TrackRecord>> {
        self.db
            .get_cf(self.cf(CF_TRACKS)?, id.as_str().as_bytes())?
            .map(|bytes| layout::decode_record(&bytes))
            .transpose()
    }

    /// Adds to `batch` everything that removes `record`'s track: its block in each of
    /// its hashes' values, its records and its content entry; updates `counters`.
    fn remove_into(
        &self,
        batch: &mut WriteBatch,
        record: &TrackRecord,
        counters: &mut Counters,
    ) -> Result<()> {
        let postings = self.cf(self.postings_cf)?;
        let hashes_cf = self.cf(CF_TRACK_HASHES)?;
        let idx_key = layout::idx_key(record.idx);
        let stored = self
            .db
            .get_cf(hashes_cf, idx_key)?
            .ok_or_else(|| Error::Corrupt(format!("hash list of track {} missing", record.id)))?;
        let keys = self
            .stored_hashes(&stored)?
            .into_iter()
            .map(|hash| self.hash_key(hash))
            .collect::<Result<Vec<_>>>()?;
        // Keys ascend, as the hashes were packed in order.
        let values = self.db.batched_multi_get_cf(postings, &keys, true);
        for (key, value) in keys.iter().zip(values) {
            let Some(value) = value? else { continue };
            match posting::remove_track(&value, self.block_format, record.idx)? {
                Some(rest) => batch.put_cf(postings, key, rest),
                None => batch.delete_cf(postings, key),
            }
        }
        batch.delete_cf(self.cf(CF_TRACKS)?, record.id.as_str().as_bytes());
        batch.delete_cf(self.cf(CF_TRACK_IDX)?, idx_key);
        batch.delete_cf(hashes_cf, idx_key);
        if let Some(content) = &record.content_hash {
            // Another track with the same file may own the entry since.
            let content_cf = self.cf(CF_CONTENT)?;
            if self.db.get_cf(content_cf, content.as_bytes())?.as_deref()
                == Some(record.id.as_str().as_bytes())
            {
                batch.delete_cf(content_cf, content.as_bytes());
            }
        }
        counters.tracks = counters.tracks.saturating_sub(1);
        counters.postings = counters.postings.saturating_sub(record.landmarks);
        counters.duration_us = if counters.tracks == 0 {
            0
        } else {
            counters
                .duration_us
                .saturating_sub(layout::duration_us(record.duration_s))
        };
        Ok(())
    }

    /// What `track_hashes` keeps for `track`, whose landmarks grouped by hash are
    /// `groups`: its fingerprint when the landmarks are that fingerprint's under this
    /// index's configuration, so that a delete recomputes exactly them; otherwise its
    /// hashes.
    fn track_hashes_value(&self, track: &NewTrack, groups: &[(u64, Vec<u32>)]) -> Vec<u8> {
        let packed = layout::pack_hashes(groups.iter().map(|(h, _)| *h));
        if !layout::tags_track_hashes(self.version) {
            return packed;
        }
        let wire = track
            .fingerprint
            .as_ref()
            .zip(HashConfig::by_id(self.hash_config_id))
            .filter(|(fp, config)| fp.catalog_landmarks(config) == track.landmarks)
            .map(|(fp, _)| fp.to_bytes())
            // One a delete could not read back (beyond the wire form's limit, which
            // only a fingerprint no audio yields reaches) is not kept.
            .filter(|wire| wire.len() <= earmark_core::wire::MAX_WIRE_BYTES);
        match wire {
            Some(wire) => {
                let mut value = Vec::with_capacity(wire.len() + 5);
                value.push(layout::TRACK_HASHES_FINGERPRINT);
                value.extend_from_slice(&crc32fast::hash(&packed).to_le_bytes());
                value.extend_from_slice(&wire);
                value
            }
            None => {
                let mut value = Vec::with_capacity(packed.len() + 1);
                value.push(layout::TRACK_HASHES_PACKED);
                value.extend_from_slice(&packed);
                value
            }
        }
    }

    /// The distinct hashes, ascending, of a track whose `track_hashes` value is
    /// `stored`.
    fn stored_hashes(&self, stored: &[u8]) -> Result<Vec<u64>> {
        if !layout::tags_track_hashes(self.version) {
            return layout::unpack_hashes(stored);
        }
        match stored.split_first() {
            Some((&layout::TRACK_HASHES_PACKED, packed)) => layout::unpack_hashes(packed),
            Some((&layout::TRACK_HASHES_FINGERPRINT, rest)) if rest.len() >= 4 => {
                let (crc, wire) = rest.split_at(4);
                let fp = Fingerprint::from_bytes(wire)
                    .map_err(|e| Error::Corrupt(format!("stored fingerprint: {e}")))?;
                let config = HashConfig::by_id(self.hash_config_id).ok_or(Error::Index(
                    earmark_index::Error::UnknownHashConfig(self.hash_config_id),
                ))?;
                // Grouped as the put grouped them, so the hashes are the ones it packed.
                let hashes: Vec<u64> =
                    posting::group_by_hash(&fp.catalog_landmarks(config), MAX_FRAMES_PER_HASH)
                        .into_iter()
                        .map(|(hash, _)| hash)
                        .collect();
                // Hashing must give what it gave at ingest, or the delete would leave
                // postings behind; a changed configuration is refused, not guessed.
                let recomputed = crc32fast::hash(&layout::pack_hashes(hashes.iter().copied()));
                if crc != recomputed.to_le_bytes() {
                    return Err(Error::Corrupt(
                        "the hashes recomputed from the stored fingerprint are not those \
                         indexed (the hash configuration's code changed)"
                            .into(),
                    ));
                }
                Ok(hashes)
            }
            _ => Err(Error::Corrupt("track hash list of an unknown kind".into())),
        }
    }

    fn write_counters(&self, batch: &mut WriteBatch, counters: &Counters) -> Result<()> {
        let meta = self.cf(CF_META)?;
        for (key, value) in counters.encode() {
            batch.put_cf(meta, key, value);
        }
        Ok(())
    }

    fn put(&self, track: &NewTrack) -> Result<(PutOutcome, TrackRecord)> {
        self.ensure_writable()?;
        if !(track.duration_s.is_finite() && track.duration_s >= 0.0) {
            return Err(Error::InvalidDuration {
                duration_s: track.duration_s,
            });
        }
        let groups = posting::group_by_hash(&track.landmarks, MAX_FRAMES_PER_HASH);
        let postings = self.cf(self.postings_cf)?;
        // Outside the writer lock: it hashes the fingerprint again.
        let hashes_value = self.track_hashes_value(track, &groups);

        let _writer = self.lock_writer();
        let mut counters = self.read_counters()?;
        let mut batch = WriteBatch::default();
        // Removal goes first in the batch: a value rewritten (or deleted) here and then
        // merged below ends up as the other tracks' blocks plus the new one.
        let outcome = match self.read_record(&track.id)? {
            Some(old) => {
                self.remove_into(&mut batch, &old, &mut counters)?;
                PutOutcome::Replaced
            }
            None => PutOutcome::Inserted,
        };
        let idx = counters.next_idx;
        counters.next_idx = idx
            .checked_add(1)
            .ok_or(Error::Index(earmark_index::Error::Exhausted))?;

        let mut landmarks = 0u64;
        let mut block = Vec::new();
        for (hash, frames) in &groups {
            landmarks += frames.len() as u64;
            block.clear();
            posting::encode_block(&mut block, self.block_format.operand_format(), idx, frames)?;
            batch.merge_cf(postings, self.hash_key(*hash)?, &block);
        }
        let record = track.record(idx, self.hash_config_id, landmarks);
        let id_bytes = track.id.as_str().as_bytes();
        batch.put_cf(
            self.cf(CF_TRACKS)?,
            id_bytes,
            layout::encode_record(&record)?,
        );
        batch.put_cf(self.cf(CF_TRACK_IDX)?, layout::idx_key(idx), id_bytes);
        batch.put_cf(
            self.cf(CF_TRACK_HASHES)?,
            layout::idx_key(idx),
            hashes_value,
        );
        if let Some(content) = &track.content_hash {
            batch.put_cf(self.cf(CF_CONTENT)?, content.as_bytes(), id_bytes);
        }
        // Only bits not set yet: once a catalog uses most hash values, a track adds
        // next to nothing here.
        let presence = self
            .presence
            .as_ref()
            .ok_or_else(|| Error::Corrupt("writable index without a presence bitmap".into()))?;
        // Computed and set under the writer lock, so these are exactly the bits this
        // write adds. Set before the write: a reader whose snapshot holds the track
        // then sees all of its bits (see `lookup_postings`).
        let new_bits = presence.new_bits(groups.iter().map(|(h, _)| *h));
        presence.set_bits(&new_bits);
        if !new_bits.is_empty() {
            batch.merge_cf(
                self.cf(CF_META)?,
                META_PRESENCE,
                presence::encode_bits(&new_bits),
            );
        }
        counters.tracks += 1;
        counters.postings += landmarks;
        counters.duration_us += layout::duration_us(track.duration_s);
        self.write_counters(&mut batch, &counters)?;
        // One batch, through the WAL: after a crash the track is all there or absent.
        let cache_write = self.postings_cache.as_ref().map(PostingsCache::write);
        let written = self.db.write(batch);
        drop(cache_write);
        if let Err(e) = written {
            // A bit left set for a failed write would keep a later track with the same
            // hash from storing it.
            presence.clear_bits(&new_bits);
            return Err(e.into());
        }
        Ok((outcome, record))
    }

    fn delete(&self, id: &TrackId) -> Result<bool> {
        self.ensure_writable()?;
        let _writer = self.lock_writer();
        let Some(record) = self.read_record(id)? else {
            return Ok(false);
        };
        let mut counters = self.read_counters()?;
        let mut batch = WriteBatch::default();
        self.remove_into(&mut batch, &record, &mut counters)?;
        self.write_counters(&mut batch, &counters)?;
        let _cache_write = self.postings_cache.as_ref().map(PostingsCache::write);
        self.db.write(batch)?;
        Ok(true)
    }

    fn set_meta(&self, id: &TrackId, meta: &TrackMeta) -> Result<TrackRecord> {
        self.ensure_writable()?;
        let _writer = self.lock_writer();
        let mut record = self
            .read_record(id)?
            .ok_or_else(|| Error::Index(earmark_index::Error::NotFound(id.clone())))?;
        record.meta = meta.clone();
        self.db.put_cf(
            self.cf(CF_TRACKS)?,
            id.as_str().as_bytes(),
            layout::encode_record(&record)?,
        )?;
        Ok(record)
    }

    /// The postings key of `hash`; an error for a hash wider than this index's keys,
    /// which its hash configuration never yields.
    fn hash_key(&self, hash: u64) -> Result<layout::HashKey> {
        layout::hash_key(hash, self.key_width).ok_or(Error::Index(
            earmark_index::Error::HashTooWide {
                hash,
                config: self.hash_config_id,
            },
        ))
    }

    fn lookup_postings(&self, hashes: &[u64], cap: usize, out: &mut PostingLists) -> Result<()> {
        // RocksDB counts per-thread perf statistics on every key by default; nothing
        // reads them, and a query probes thousands of keys (about 1 % of a check's CPU).
        rocksdb::perf::set_perf_stats(rocksdb::perf::PerfStatsLevel::Disable);
        let cache = self.postings_cache.as_ref();
        let generation = cache.and_then(PostingsCache::begin_read);
        // The snapshot comes first: a writer sets a track's bits before writing it, so
        // every bit of a track this snapshot holds is already set, and the lookup sees
        // each track whole or not at all.
        let snapshot = self.db.snapshot();
        let mut read = rocksdb::ReadOptions::default();
        read.set_snapshot(&snapshot);
        // Cached entries of this generation show what the snapshot shows (see
        // `postings_cache`); after a write in between, the snapshot alone answers.
        let cached = match (cache, generation) {
            (Some(cache), Some(g)) if cache.still(g) => Some((cache, g)),
            _ => None,
        };
        // Tested once per hash: a writer may set bits meanwhile, and the second pass
        // below must pair each asked hash with its answer.
        let presence = match &self.presence {
            Some(presence) if self.presence_current.load(Ordering::SeqCst) => Some(presence),
            _ => None,
        };
        let mut known: Vec<Cached> = Vec::with_capacity(hashes.len());
        let mut asked: Vec<u64> = Vec::new();
        let mut keys: Vec<layout::HashKey> = Vec::new();
        for &h in hashes {
            // A hash too wide for the keys is stored under none.
            let Some(key) = layout::hash_key(h, self.key_width) else {
                known.push(Cached::Absent);
                continue;
            };
            let answer = match (presence, cached) {
                (Some(presence), _) if !presence.may_contain(h) => Cached::Absent,
                (_, Some((cache, g))) => cache.get(h, g),
                _ => Cached::Unknown,
            };
            if matches!(answer, Cached::Unknown) {
                asked.push(h);
                keys.push(key);
            }
            known.push(answer);
        }
        // Big-endian keys sort like the hashes: sorted input spares RocksDB its own sort.
        let sorted = hashes.is_sorted();
        let mut values = self
            .db
            .batched_multi_get_cf_opt(self.cf(self.postings_cf)?, &keys, sorted, &read)
            .into_iter()
            .zip(asked);
        for known in known {
            match known {
                Cached::Absent => out.push([]),
                Cached::Value(value) => out.push_decoded(&value, self.block_format, cap)?,
                Cached::Unknown => {
                    let (value, hash) = values
                        .next()
                        .ok_or_else(|| Error::Corrupt("RocksDB answered fewer keys".into()))?;
                    let value = value?;
                    if let Some((cache, g)) = cached {
                        cache.insert(hash, g, value.as_deref());
                    }
                    match value {
                        Some(value) => out.push_decoded(&value, self.block_format, cap)?,
                        None => out.push([]),
                    }
                }
            }
        }
        Ok(())
    }

    /// Records by id, in order; ids that are `None` or have no record give `None`.
    fn records(&self, ids: &[Option<TrackId>]) -> Result<Vec<Option<TrackRecord>>> {
        let tracks = self.cf(CF_TRACKS)?;
        let present: Vec<&[u8]> = ids
            .iter()
            .flatten()
            .map(|id| id.as_str().as_bytes())
            .collect();
        let mut found = self
            .db
            .batched_multi_get_cf(tracks, &present, false)
            .into_iter();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let value = match id {
                Some(_) => found.next().transpose()?.flatten(),
                None => None,
            };
            out.push(
                value
                    .map(|bytes| layout::decode_record(&bytes))
                    .transpose()?,
            );
        }
        Ok(out)
    }

    fn by_idx(&self, idx: &[u32]) -> Result<Vec<Option<TrackRecord>>> {
        let keys: Vec<[u8; 4]> = idx.iter().map(|&i| layout::idx_key(i)).collect();
        let ids = self
            .db
            .batched_multi_get_cf(self.cf(CF_TRACK_IDX)?, &keys, false)
            .into_iter()
            .map(|v| v?.map(|bytes| layout::decode_id(&bytes)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let mut records = self.records(&ids)?;
        // The two reads are not one snapshot: a track replaced in between has a new
        // idx, and the answer for the old one is then no track.
        for (record, &i) in records.iter_mut().zip(idx) {
            if record.as_ref().is_some_and(|r| r.idx != i) {
                *record = None;
            }
        }
        Ok(records)
    }

    fn by_content(&self, content_hash: &str) -> Result<Option<TrackRecord>> {
        let Some(id) = self
            .db
            .get_cf(self.cf(CF_CONTENT)?, content_hash.as_bytes())?
        else {
            return Ok(None);
        };
        let record = self.read_record(&layout::decode_id(&id)?)?;
        Ok(record.filter(|r| r.content_hash.as_deref() == Some(content_hash)))
    }

    fn list(&self, after: Option<&TrackId>, limit: usize) -> Result<Vec<TrackRecord>> {
        let mode = match after {
            Some(a) => IteratorMode::From(a.as_str().as_bytes(), Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Ids are ASCII, so RocksDB's bytewise key order is the ids' order.
        for item in self.db.iterator_cf(self.cf(CF_TRACKS)?, mode) {
            let (key, value) = item?;
            if after.is_some_and(|a| *key == *a.as_str().as_bytes()) {
                continue;
            }
            out.push(layout::decode_record(&value)?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn counts(&self) -> Result<StoreStats> {
        let counters = self.read_counters()?;
        // RocksDB's estimate: unmerged operands and deletions in memtables and upper
        // levels count as keys, so it runs high after ingest and is exact after
        // `compact`. An exact count would need a read per hash at ingest or a scan
        // (`count_hashes`).
        let hashes = self
            .db
            .property_int_value_cf(
                self.cf(self.postings_cf)?,
                rocksdb::properties::ESTIMATE_NUM_KEYS,
            )?
            .unwrap_or(0);
        Ok(StoreStats {
            tracks: counters.tracks,
            postings: counters.postings,
            hashes,
            hours: counters.duration_us as f64 / 3.6e9,
            bytes: dir_bytes(&self.path)?,
        })
    }
}

/// Classifies `path` before RocksDB opens it, so that it never writes into a
/// directory that is not an index.
fn inspect(path: &Path) -> Result<Found> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(io(e)),
    };
    let not_an_index = |reason: &str| Error::NotAnIndex {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if !meta.is_dir() {
        return Err(not_an_index("not a directory"));
    }
    if std::fs::read_dir(path).map_err(io)?.next().is_none() {
        return Ok(Found::EmptyDir);
    }
    if !path.join("CURRENT").is_file() {
        return Err(not_an_index("a directory without a RocksDB database"));
    }
    Ok(Found::Database)
}

/// A failure to open for writing because another process holds the lock, or `e`.
fn locked_or(e: rocksdb::Error, path: &Path) -> Error {
    // RocksDB reports the held lock file only in the message.
    if e.kind() == rocksdb::ErrorKind::IOError && e.to_string().contains("LOCK") {
        Error::Locked {
            path: path.to_path_buf(),
            source: e,
        }
    } else {
        Error::Rocks(e)
    }
}

/// Bytes of every file under `dir`: tables, WAL, manifest, options and RocksDB's
/// own log, as `du` would count them (apparent sizes).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if kind.is_file() {
            match entry.metadata() {
                Ok(meta) => total += meta.len(),
                // A file compaction or a WAL switch removed since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
    Ok(total)
}

impl Store for RocksStore {
    fn hash_config_id(&self) -> u16 {
        self.hash_config_id
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

    fn track_by_content(&self, content_hash: &str) -> earmark_index::Result<Option<TrackRecord>> {
        Ok(self.by_content(content_hash)?)
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
