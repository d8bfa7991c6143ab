//! The one error type of the index.

use crate::track::TrackId;

/// What can go wrong storing, finding or matching.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No track has this id.
    #[error("no track with id {0}")]
    NotFound(TrackId),
    /// A track id is empty, too long or has characters outside `[A-Za-z0-9._:-]`.
    #[error("invalid track id {id:?}: {reason}")]
    InvalidTrackId {
        /// The rejected id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// The index was built with another hash configuration than the one asked for.
    #[error(
        "index uses hash configuration {}, the query uses {}",
        earmark_core::HashConfig::name_of(*index),
        earmark_core::HashConfig::name_of(*query)
    )]
    ConfigMismatch {
        /// The index's hash configuration id.
        index: u16,
        /// The query's.
        query: u16,
    },
    /// The index was built with a hash configuration this build does not know.
    #[error("index uses hash configuration {0}, unknown to this build of Earmark")]
    UnknownHashConfig(u16),
    /// A track to put has a landmark hash wider than the index's hash configuration
    /// gives: its landmarks were hashed another way.
    #[error("landmark hash {hash:#x} is wider than hash configuration {config} gives")]
    HashTooWide {
        /// The hash.
        hash: u64,
        /// The index's hash configuration id.
        config: u16,
    },
    /// A fingerprint computed with an analysis the index's hash configuration does not use.
    #[error("fingerprint uses analysis {found}, the index expects {expected}")]
    AnalysisMismatch {
        /// The fingerprint's analysis id.
        found: u16,
        /// The index's.
        expected: u16,
    },
    /// A track to add has no landmarks: the audio is silent or too short to identify.
    #[error("no landmarks: the audio is silent or too short to identify")]
    NoLandmarks,
    /// A track longer than the ingest's limit.
    #[error("the track is {duration_s:.0} s long, more than the limit of {limit_s:.0} s")]
    TrackTooLong {
        /// The track's duration.
        duration_s: f64,
        /// The limit.
        limit_s: f64,
    },
    /// Adding the track would take its rights holder past its quota.
    #[error("rights holder {holder:?} would exceed its quota of {what}")]
    QuotaExceeded {
        /// The holder.
        holder: String,
        /// Which quota, and by how much.
        what: String,
    },
    /// Stored bytes do not decode: the index is damaged or not an Earmark index.
    #[error("corrupt index data: {0}")]
    Corrupt(String),
    /// The catalog is full (more than 2^32 tracks were ever ingested).
    #[error("track numbering exhausted")]
    Exhausted,
    /// A write on an index this process opened only to read (a read-only or secondary
    /// instance beside another process that writes).
    #[error("the index is open read-only in this process")]
    ReadOnly,
    /// The storage backend failed.
    #[error("storage backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
