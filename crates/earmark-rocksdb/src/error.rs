//! The error type of the RocksDB backend.

use std::path::PathBuf;

/// What can go wrong opening or using an index on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing is at the path: query commands never create an index.
    #[error("no index at {path}")]
    NoIndex {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The path holds something else than an Earmark index. Nothing was written to it,
    /// except to a RocksDB database with Earmark's column families and no metadata,
    /// which RocksDB opens (and may recover) before the metadata can be read.
    #[error("{path} is not an Earmark index: {reason}")]
    NotAnIndex {
        /// The path that was opened.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The index was made by an earlier release, in a layout this one no longer reads.
    /// There is no migration: ingesting the catalog into a new index rebuilds it.
    #[error(
        "{path} is an index of layout {found}, made by an earlier release; this release \
         reads layout {expected} only: rebuild it by ingesting the catalog into a new \
         index (`earmark ingest --db NEW ...`)"
    )]
    OutdatedLayout {
        /// The path that was opened.
        path: PathBuf,
        /// The index's layout version.
        found: u32,
        /// The one this release reads and writes.
        expected: u32,
    },
    /// The index was made by a newer release.
    #[error(
        "{path} is an index of layout {found}, made by a newer release (this one reads layout {expected})"
    )]
    NewerLayout {
        /// The path that was opened.
        path: PathBuf,
        /// The index's layout version.
        found: u32,
        /// The one this release reads and writes.
        expected: u32,
    },
    /// The index was built with a hash configuration this release does not have (one
    /// retired since, or one of a newer release).
    #[error(
        "{path} was built with hash configuration {id}, which this release does not have: \
         rebuild it by ingesting the catalog into a new index (`earmark ingest --db NEW ...`)"
    )]
    UnknownHashConfig {
        /// The path that was opened.
        path: PathBuf,
        /// The index's hash configuration id.
        id: u16,
    },
    /// The index was built with another hash configuration than the one asked for.
    #[error(
        "index uses hash configuration {}, {} was asked for (an index keeps the configuration it was built with)",
        earmark_core::HashConfig::name_of(*index),
        earmark_core::HashConfig::name_of(*requested)
    )]
    ConfigMismatch {
        /// The index's hash configuration id.
        index: u16,
        /// The one the caller asked for.
        requested: u16,
    },
    /// Another process holds the index open for writing.
    #[error("index at {path} is open for writing elsewhere; open it read-only or as a secondary")]
    Locked {
        /// The path that was opened.
        path: PathBuf,
        /// RocksDB's report.
        #[source]
        source: rocksdb::Error,
    },
    /// A write on an index opened read-only or as a secondary.
    #[error("index is open read-only")]
    ReadOnly,
    /// A track's duration is negative, infinite or not a number.
    #[error("invalid track duration {duration_s} s")]
    InvalidDuration {
        /// The rejected duration.
        duration_s: f64,
    },
    /// Stored bytes do not decode.
    #[error("corrupt index data: {0}")]
    Corrupt(String),
    /// A track record could not be encoded.
    #[error("encoding a track record")]
    Encode(#[source] serde_json::Error),
    /// Reading the index directory failed.
    #[error("reading {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// RocksDB failed.
    #[error("rocksdb error")]
    Rocks(#[from] rocksdb::Error),
    /// An error of the index layer (damaged postings, exhausted numbering, unknown id).
    #[error(transparent)]
    Index(#[from] earmark_index::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The [`Store`](earmark_index::Store) methods report errors in the index's type: its
/// own variants where one fits, [`Backend`](earmark_index::Error::Backend) otherwise.
impl From<Error> for earmark_index::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Index(e) => e,
            Error::Corrupt(msg) => earmark_index::Error::Corrupt(msg),
            Error::ReadOnly => earmark_index::Error::ReadOnly,
            Error::ConfigMismatch { index, requested } => earmark_index::Error::ConfigMismatch {
                index,
                query: requested,
            },
            other => earmark_index::Error::Backend(Box::new(other)),
        }
    }
}
