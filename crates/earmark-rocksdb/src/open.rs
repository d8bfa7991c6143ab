//! Opening an index directory: what is there, which layout and configuration, and the
//! three ways to hold it (primary, read-only, secondary).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use earmark_core::HashConfig;
use rocksdb::{Cache, DB, IteratorMode, WriteBatch};

use crate::error::{Error, Result};
use crate::layout::{
    self, CF_META, Counters, FORMAT_VERSION, META_FORMAT_VERSION, META_HASH_CONFIG_ID,
    META_PRESENCE,
};
use crate::options;
use crate::postings_cache::PostingsCache;
use crate::presence::Presence;
use crate::store::{Mode, RocksStore};

/// How long a writer waits for another process's creation of the index to end.
const CREATION_WAIT: Duration = Duration::from_secs(5);

/// How often it looks meanwhile.
const CREATION_POLL: Duration = Duration::from_millis(20);

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
    /// [`Error::OutdatedLayout`] or [`Error::NewerLayout`] for an index of another
    /// release's layout, [`Error::UnknownHashConfig`] for one of a hash configuration
    /// this release does not have (both to be rebuilt);
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
    /// another process: a view as of opening, as [`Follower`](crate::Follower) reopens
    /// to see later writes. `secondary_path` is a directory of this instance's own
    /// (RocksDB keeps its info log there), created if missing.
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

    fn open(path: &Path, access: Access<'_>) -> Result<Self> {
        // Another process creating the index shows it half made for a few milliseconds:
        // RocksDB's log and lock files are there, its column families or metadata not
        // yet. A
        // writer waits for that creation to end, then opens the index or is told it is
        // locked, instead of calling it something else or tripping over the files the
        // other is writing. A directory that stays half made (a creation killed midway,
        // a foreign database) is refused as before once the wait is over.
        let deadline = Instant::now() + CREATION_WAIT;
        loop {
            match Self::open_once(path, access) {
                Err(Error::NotAnIndex { .. } | Error::Rocks(_))
                    if matches!(access, Access::Primary { .. })
                        && rocksdb_files_at(path)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(CREATION_POLL);
                }
                opened => return opened,
            }
        }
    }

    fn open_once(path: &Path, access: Access<'_>) -> Result<Self> {
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
        if create.is_some() {
            std::fs::create_dir_all(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        } else {
            // Checked before opening, so that a foreign database is never opened for
            // writing (which alone may rewrite its manifest and logs).
            check_column_families(path)?;
        }

        let cache = match access {
            Access::Secondary {
                cache: Some(cache), ..
            } => cache.clone(),
            _ => options::block_cache(),
        };
        let cfs = options::descriptors(&cache);
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
            hash_config: &HashConfig::DEFAULT,
            key_width: 3,
            mode,
            writer: Mutex::new(()),
            presence: Presence::empty(),
            cache,
            postings_cache: None,
        };
        let unknown = |id| Error::UnknownHashConfig {
            path: path.to_path_buf(),
            id,
        };
        // A retired configuration is told before any mismatch with the one asked for.
        let stored = match store.read_header()? {
            Some(id) => Some(HashConfig::by_id(id).ok_or_else(|| unknown(id))?),
            None => None,
        };
        store.hash_config = match (stored, access) {
            (
                Some(config),
                Access::Primary {
                    create: Some(requested),
                },
            ) if config.id != requested => {
                return Err(Error::ConfigMismatch {
                    index: config.id,
                    requested,
                });
            }
            (Some(config), _) => {
                store.load_presence()?;
                config
            }
            // A new index, or one whose creation stopped between creating the column
            // families and writing the metadata (all of them still empty).
            (None, Access::Primary { create: Some(id) }) if store.is_blank()? => {
                let config = HashConfig::by_id(id).ok_or_else(|| unknown(id))?;
                store.init(id)?;
                config
            }
            (None, _) => {
                return Err(Error::NotAnIndex {
                    path: store.path,
                    reason: "a RocksDB database without Earmark metadata".into(),
                });
            }
        };
        store.key_width = layout::bucket_key_width(store.hash_config.hash_bits());
        Ok(store)
    }

    /// The hash configuration id after checking the layout version; `None` without
    /// metadata.
    fn read_header(&self) -> Result<Option<u16>> {
        let meta = self.cf(CF_META)?;
        let Some(version) = self.db.get_cf(meta, META_FORMAT_VERSION)? else {
            return Ok(None);
        };
        check_version(
            &self.path,
            u32::from_be_bytes(layout::fixed(Some(&version), "format_version")?),
        )?;
        let id = self.db.get_cf(meta, META_HASH_CONFIG_ID)?;
        Ok(Some(u16::from_be_bytes(layout::fixed(
            id.as_deref(),
            "hash_config_id",
        )?)))
    }

    /// Reads the stored presence bitmap into memory.
    fn load_presence(&self) -> Result<()> {
        let stored = self
            .db
            .get_cf(self.cf(CF_META)?, META_PRESENCE)?
            .ok_or_else(|| Error::Corrupt("presence bitmap missing".into()))?;
        self.presence.merge_stored(&stored)
    }

    fn is_blank(&self) -> Result<bool> {
        for name in layout::ALL_CFS {
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

    /// Writes the metadata of a new index in one batch.
    fn init(&self, hash_config_id: u16) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, META_FORMAT_VERSION, FORMAT_VERSION.to_be_bytes());
        batch.put_cf(meta, META_HASH_CONFIG_ID, hash_config_id.to_be_bytes());
        batch.put_cf(meta, META_PRESENCE, Presence::empty().encode_bitmap());
        for (key, value) in Counters::default().encode() {
            batch.put_cf(meta, key, value);
        }
        self.db.write(batch)?;
        Ok(())
    }
}

/// Refuses a layout version other than this release's.
fn check_version(path: &Path, found: u32) -> Result<()> {
    let path = path.to_path_buf();
    match found.cmp(&FORMAT_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(Error::OutdatedLayout {
            path,
            found,
            expected: FORMAT_VERSION,
        }),
        std::cmp::Ordering::Greater => Err(Error::NewerLayout {
            path,
            found,
            expected: FORMAT_VERSION,
        }),
    }
}

/// Refuses a database whose column families are not exactly an index's: an index of
/// an earlier layout (told by its postings family) as outdated, anything else as not
/// an index.
fn check_column_families(path: &Path) -> Result<()> {
    let names = DB::list_cf(&rocksdb::Options::default(), path)?;
    let has = |name: &str| names.iter().any(|n| n == name);
    if layout::OUTDATED_POSTINGS_CFS.iter().any(|name| has(name)) {
        return Err(outdated(path, &names));
    }
    if let Some(missing) = layout::ALL_CFS.iter().find(|n| !has(n)) {
        return Err(Error::NotAnIndex {
            path: path.to_path_buf(),
            reason: format!("a RocksDB database without the {missing:?} column family"),
        });
    }
    if let Some(extra) = names.iter().find(|n| {
        *n != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !layout::ALL_CFS.contains(&n.as_str())
    }) {
        return Err(Error::NotAnIndex {
            path: path.to_path_buf(),
            reason: format!("unexpected column family {extra:?}"),
        });
    }
    Ok(())
}

/// The error for a database with an earlier layout's postings family: the version its
/// metadata states, read without its merge operators (no merge is needed to read it).
fn outdated(path: &Path, names: &[String]) -> Error {
    let version = DB::open_cf_for_read_only(&rocksdb::Options::default(), path, names, false)
        .ok()
        .and_then(|db| {
            let value = db
                .get_cf(db.cf_handle(CF_META)?, META_FORMAT_VERSION)
                .ok()??;
            Some(u32::from_be_bytes(value.as_slice().try_into().ok()?))
        });
    match version {
        Some(found) => check_version(path, found)
            .err()
            .unwrap_or_else(|| Error::NotAnIndex {
                path: path.to_path_buf(),
                reason: format!("layout {found} with the column families of another"),
            }),
        None => Error::NotAnIndex {
            path: path.to_path_buf(),
            reason: "the column families of an earlier layout, without its metadata".into(),
        },
    }
}

/// Whether RocksDB has begun a database at `path`: its info log comes first, then its
/// lock file.
fn rocksdb_files_at(path: &Path) -> bool {
    ["LOG", "LOCK"].iter().any(|name| path.join(name).exists())
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
