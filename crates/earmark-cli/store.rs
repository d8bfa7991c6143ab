//! Opening the index: the commands see only the `Store` trait.

use std::path::Path;

use anyhow::{Context, Result};
use earmark_core::HashConfig;
use earmark_rocksdb::RocksStore;

/// Opens the index for writing, creating it when the directory is new or empty: with
/// hash configuration `hash_config`, else the default. An existing index keeps the
/// configuration it was built with; naming another one is an error.
pub fn open_for_writing(db: &Path, hash_config: Option<&HashConfig>) -> Result<RocksStore> {
    let opened = match hash_config {
        Some(config) => RocksStore::create_or_open(db, config.id),
        None => match RocksStore::open_existing(db) {
            Err(earmark_rocksdb::Error::NoIndex { .. }) => {
                RocksStore::create_or_open(db, HashConfig::default().id)
            }
            other => other,
        },
    };
    opened.with_context(|| format!("cannot open index {}", db.display()))
}

/// Opens an existing index for reading only; a missing index is an error, never created.
pub fn open_for_reading(db: &Path) -> Result<RocksStore> {
    RocksStore::open_read_only(db).with_context(|| format!("cannot open index {}", db.display()))
}
