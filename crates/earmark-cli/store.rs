//! Opening the index: the commands see only the `Store` trait.

use std::path::Path;

use anyhow::{Context, Result};
use earmark_core::HashConfig;
use earmark_rocksdb::RocksStore;

/// Opens the index for writing, creating it when the directory is new or empty.
pub fn open_for_writing(db: &Path) -> Result<RocksStore> {
    RocksStore::create_or_open(db, HashConfig::default().id)
        .with_context(|| format!("cannot open index {}", db.display()))
}

/// Opens an existing index for reading only; a missing index is an error, never created.
pub fn open_for_reading(db: &Path) -> Result<RocksStore> {
    RocksStore::open_read_only(db).with_context(|| format!("cannot open index {}", db.display()))
}
