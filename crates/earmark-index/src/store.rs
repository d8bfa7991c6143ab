//! The storage interface the matcher, the CLI and the service call.

use earmark_core::{Fingerprint, HashConfig, Landmark};

use crate::error::{Error, Result};
use crate::posting::PostingLists;
use crate::track::{TrackId, TrackMeta, TrackRecord};

/// What to store for one track: its metadata and its landmarks.
#[derive(Debug, Clone)]
pub struct NewTrack {
    /// The external id; an existing track with this id is replaced.
    pub id: TrackId,
    /// Label-supplied metadata.
    pub meta: TrackMeta,
    /// Duration of the audio in seconds.
    pub duration_s: f64,
    /// SHA-256 of the source file's bytes, hex.
    pub content_hash: Option<String>,
    /// The track's catalog landmarks under the store's hash configuration.
    pub landmarks: Vec<Landmark>,
    /// The fingerprint `landmarks` were computed from, when there is one. A store may
    /// keep it instead of the list of the track's hashes that a delete needs (it is
    /// about a third of the size) and recompute them from it; when `landmarks` are
    /// not its catalog landmarks under the store's configuration, the store keeps the
    /// list.
    pub fingerprint: Option<Fingerprint>,
}

impl NewTrack {
    /// A track indexed from its fingerprint under `config`, the store's hash
    /// configuration.
    pub fn from_fingerprint(
        id: TrackId,
        meta: TrackMeta,
        content_hash: Option<String>,
        fingerprint: Fingerprint,
        config: &HashConfig,
    ) -> Self {
        Self {
            id,
            meta,
            duration_s: fingerprint.duration_s(),
            content_hash,
            landmarks: fingerprint.catalog_landmarks(config),
            fingerprint: Some(fingerprint),
        }
    }

    /// The record a store keeps for this track once it has its internal number and
    /// has stored `landmarks` postings (after the per-hash cap).
    pub fn record(&self, idx: u32, hash_config_id: u16, landmarks: u64) -> TrackRecord {
        TrackRecord {
            id: self.id.clone(),
            idx,
            meta: self.meta.clone(),
            duration_s: self.duration_s,
            hash_config_id,
            landmarks,
            content_hash: self.content_hash.clone(),
        }
    }
}

/// What [`Store::put_track`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new track.
    Inserted,
    /// An existing track with the same id was replaced.
    Replaced,
}

/// What one rights holder's tracks take in an index: what a per-holder quota is
/// measured against.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct HolderUsage {
    /// The holder's tracks.
    pub tracks: u64,
    /// Their postings.
    pub postings: u64,
    /// Their total duration in hours.
    pub hours: f64,
}

/// Counts over the whole index.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    /// Tracks in the index.
    pub tracks: u64,
    /// Postings (hash occurrences) in the index.
    pub postings: u64,
    /// Keys the postings are stored under: the distinct hashes in memory, their
    /// buckets in RocksDB (its estimate, exact after a compaction).
    pub keys: u64,
    /// Total duration of the tracks in hours.
    pub hours: f64,
    /// Bytes the index takes on disk or in memory.
    pub bytes: u64,
}

impl StoreStats {
    /// Index bytes per hour of audio.
    pub fn bytes_per_hour(&self) -> f64 {
        if self.hours > 0.0 {
            self.bytes as f64 / self.hours
        } else {
            0.0
        }
    }
}

/// A fingerprint index. Calls are synchronous and batched: a backend over the network
/// answers [`lookup`](Store::lookup) for many hashes in one round trip.
///
/// Invariants every backend keeps (the `conformance` suite, behind the feature of that
/// name, checks them):
/// - a track is visible (record and postings) all at once or not at all;
/// - [`delete_track`](Store::delete_track) leaves no posting of the track behind;
/// - the store refuses to mix hash configurations;
/// - each track has its own exact-content entry and its share of its holder's usage.
pub trait Store: Send + Sync {
    /// The hash configuration id this index was created with.
    fn hash_config_id(&self) -> u16;

    /// The hash configuration this index was created with: queries and new tracks
    /// must be hashed with it.
    ///
    /// # Errors
    /// [`Error::UnknownHashConfig`] for an id this build does not know (an index
    /// written by a newer release).
    fn hash_config(&self) -> Result<&'static HashConfig> {
        let id = self.hash_config_id();
        HashConfig::by_id(id).ok_or(Error::UnknownHashConfig(id))
    }

    /// Stores a track atomically, replacing any track with the same id.
    ///
    /// # Errors
    /// Backend failures; the index is left as it was.
    fn put_track(&self, track: &NewTrack) -> Result<(PutOutcome, TrackRecord)>;

    /// Appends to `out` the postings of each hash in `hashes`, one list per hash in
    /// the same order. Hashes with more than `cap` postings get an empty list: such
    /// common hashes tell tracks apart poorly and cost the most to fetch and vote on.
    ///
    /// # Errors
    /// Backend failures or corrupt stored bytes; `out` may then hold some of the lists.
    fn lookup_into(&self, hashes: &[u64], cap: usize, out: &mut PostingLists) -> Result<()>;

    /// The postings of each hash in `hashes`, as [`lookup_into`](Store::lookup_into).
    ///
    /// # Errors
    /// As [`lookup_into`](Store::lookup_into).
    fn lookup(&self, hashes: &[u64], cap: usize) -> Result<PostingLists> {
        let mut out = PostingLists::new();
        self.lookup_into(hashes, cap, &mut out)?;
        Ok(out)
    }

    /// Removes a track and all of its postings; `false` when there was no such track.
    ///
    /// # Errors
    /// Backend failures; the index is left as it was.
    fn delete_track(&self, id: &TrackId) -> Result<bool>;

    /// The record of a track by id.
    ///
    /// # Errors
    /// Backend failures.
    fn track(&self, id: &TrackId) -> Result<Option<TrackRecord>>;

    /// The records of tracks by internal number, in the same order.
    ///
    /// # Errors
    /// Backend failures.
    fn tracks_by_idx(&self, idx: &[u32]) -> Result<Vec<Option<TrackRecord>>>;

    /// The fingerprints tracks were indexed from, by internal number, in the same
    /// order: what verification maps into a query. `None` for a track gone or
    /// indexed from landmarks alone.
    ///
    /// # Errors
    /// Backend failures or a corrupt stored fingerprint.
    fn fingerprints_by_idx(&self, idx: &[u32]) -> Result<Vec<Option<Fingerprint>>>;

    /// Every track whose source file had this SHA-256 (hex), first ingested first.
    /// Each track keeps its own entry: adding or deleting one never hides another.
    ///
    /// # Errors
    /// Backend failures.
    fn tracks_by_content(&self, content_hash: &str) -> Result<Vec<TrackRecord>>;

    /// What the tracks whose rights holder is `holder` take in the index.
    ///
    /// # Errors
    /// Backend failures.
    fn holder_usage(&self, holder: &str) -> Result<HolderUsage>;

    /// Up to `limit` tracks in id order, starting after `after`.
    ///
    /// # Errors
    /// Backend failures.
    fn list_tracks(&self, after: Option<&TrackId>, limit: usize) -> Result<Vec<TrackRecord>>;

    /// Replaces the metadata of an existing track.
    ///
    /// # Errors
    /// [`Error::NotFound`](crate::Error::NotFound) or backend failures.
    fn update_meta(&self, id: &TrackId, meta: &TrackMeta) -> Result<TrackRecord>;

    /// Counts over the whole index.
    ///
    /// # Errors
    /// Backend failures.
    fn stats(&self) -> Result<StoreStats>;
}
