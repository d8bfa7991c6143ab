//! Opening the index: the commands see only the `Store` trait.

use std::path::Path;

use anyhow::{Result, anyhow};
use earmark_core::HashConfig;
use earmark_rocksdb::RocksStore;

/// Opens the index for writing, creating it with the hash configuration when the
/// directory is new or empty.
pub fn open_for_writing(db: &Path) -> Result<RocksStore> {
    RocksStore::create_or_open(db, HashConfig::default().id).map_err(|e| cannot_open(db, e))
}

/// Opens an existing index for writing (to change what is in it); a missing index is
/// an error, never created.
pub fn open_existing_for_writing(db: &Path) -> Result<RocksStore> {
    RocksStore::open_existing(db).map_err(|e| cannot_open(db, e))
}

/// Opens an existing index for reading only; a missing index is an error, never created.
pub fn open_for_reading(db: &Path) -> Result<RocksStore> {
    RocksStore::open_read_only(db).map_err(|e| cannot_open(db, e))
}

/// The error of opening `db`, told in the command line's terms when another process
/// writes the index.
fn cannot_open(db: &Path, e: earmark_rocksdb::Error) -> anyhow::Error {
    match e {
        earmark_rocksdb::Error::Locked { .. } => anyhow!(
            "cannot open index {}: it is in use by another process writing it (an \
             `earmark ingest`, `tracks rm` or `serve`); try again when that has finished",
            db.display()
        ),
        e => anyhow::Error::new(e).context(format!("cannot open index {}", db.display())),
    }
}
