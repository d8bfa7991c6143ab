//! Adding a track to a catalog by the rules every front end follows, so that the
//! CLI's `ingest` and the service's uploads agree: the same bytes under the same id
//! are left as they are (their metadata kept current), and the same recording under
//! another id (the same bytes, or another encoding of it) is a duplicate, reported
//! and skipped unless the caller asks to add it anyway.

use std::sync::{Mutex, MutexGuard, PoisonError};

use earmark_core::{Fingerprint, HashConfig};

use crate::error::{Error, Result};
use crate::matcher::{MatchConfig, identify};
use crate::store::{NewTrack, PutOutcome, Store};
use crate::track::{TrackId, TrackMeta, TrackRecord};

/// What to do with audio that is already in the catalog under another id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDuplicate {
    /// Report it and leave the catalog as it is.
    #[default]
    Skip,
    /// Add it under the new id as well.
    Add,
}

/// What [`Ingest::add`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    /// A new track.
    Inserted(TrackRecord),
    /// The id's track was replaced by other audio.
    Replaced(TrackRecord),
    /// The id already held these very bytes: nothing was indexed again (its metadata
    /// was replaced when it differed).
    Unchanged(TrackRecord),
    /// The recording is already in the catalog under another id: this track.
    Duplicate(TrackRecord),
}

impl Added {
    /// The track stored, or for a duplicate the one already there.
    pub fn record(&self) -> &TrackRecord {
        match self {
            Self::Inserted(r) | Self::Replaced(r) | Self::Unchanged(r) | Self::Duplicate(r) => r,
        }
    }
}

/// Adds tracks to one store. Share one `Ingest` between threads adding at once (or
/// one lock, see [`sharing`](Self::sharing)): checking the catalog and writing are one
/// step under it, so two copies of one file added together are one track and a
/// duplicate, never two tracks.
pub struct Ingest<'a> {
    store: &'a dyn Store,
    hash_config: &'static HashConfig,
    on_duplicate: OnDuplicate,
    own_lock: Mutex<()>,
    shared_lock: Option<&'a Mutex<()>>,
}

impl<'a> Ingest<'a> {
    /// Adds to `store`, following `on_duplicate`.
    ///
    /// # Errors
    /// [`Error::UnknownHashConfig`] for an index of a configuration this build lacks.
    pub fn new(store: &'a dyn Store, on_duplicate: OnDuplicate) -> Result<Self> {
        Ok(Self {
            store,
            hash_config: store.hash_config()?,
            on_duplicate,
            own_lock: Mutex::new(()),
            shared_lock: None,
        })
    }

    /// Serialises this `Ingest`'s writes with every other one sharing `lock` (a
    /// service makes one `Ingest` per request, and keeps one lock).
    #[must_use]
    pub fn sharing(mut self, lock: &'a Mutex<()>) -> Self {
        self.shared_lock = Some(lock);
        self
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data: a writer that panicked left the store consistent.
        self.shared_lock
            .unwrap_or(&self.own_lock)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The track `id` holds, when it was made from a file whose SHA-256 is known:
    /// worth hashing a file first (instead of while decoding it) only then, since an
    /// unchanged file is then skipped without decoding.
    ///
    /// # Errors
    /// Store failures.
    pub fn existing_content_hash(&self, id: &TrackId) -> Result<Option<String>> {
        Ok(self.store.track(id)?.and_then(|r| r.content_hash))
    }

    /// The outcome for a file known by its SHA-256 alone, when that settles it: the
    /// same bytes under the same id are [`Added::Unchanged`] (metadata brought up to
    /// date), under another id a [`Added::Duplicate`] when duplicates are skipped.
    ///
    /// # Errors
    /// Store failures.
    pub fn by_content(
        &self,
        id: &TrackId,
        meta: &TrackMeta,
        content_hash: &str,
    ) -> Result<Option<Added>> {
        let Some(existing) = self.store.track_by_content(content_hash)? else {
            return Ok(None);
        };
        if existing.id == *id {
            let record = if existing.meta == *meta {
                existing
            } else {
                self.store.update_meta(id, meta)?
            };
            return Ok(Some(Added::Unchanged(record)));
        }
        Ok((self.on_duplicate == OnDuplicate::Skip).then_some(Added::Duplicate(existing)))
    }

    /// Adds the track `id` fingerprinted as `fingerprint` from a file whose SHA-256 is
    /// `content_hash` (when known), unless [`by_content`](Self::by_content) settles
    /// it or, when duplicates are skipped, another track is the same recording.
    ///
    /// # Errors
    /// [`Error::NoLandmarks`] for a fingerprint with nothing to index (silence, or
    /// audio too short); store failures.
    pub fn add(
        &self,
        id: TrackId,
        meta: TrackMeta,
        content_hash: Option<String>,
        fingerprint: Fingerprint,
    ) -> Result<Added> {
        let (probe, duration_s) = (self.probe(&fingerprint), fingerprint.duration_s());
        let track =
            NewTrack::from_fingerprint(id, meta, content_hash, fingerprint, self.hash_config);
        // A peak or two can make a fingerprint without a single landmark.
        if track.landmarks.is_empty() {
            return Err(Error::NoLandmarks);
        }
        // The same recording in other bytes is looked for outside the lock (it costs a
        // query); the same bytes, and the write, under it.
        let other = match self.on_duplicate {
            OnDuplicate::Skip => self.same_recording(probe, duration_s, &track.id)?,
            OnDuplicate::Add => None,
        };
        let _writes = self.lock();
        if let Some(hash) = &track.content_hash
            && let Some(settled) = self.by_content(&track.id, &track.meta, hash)?
        {
            return Ok(settled);
        }
        if let Some(existing) = other {
            return Ok(Added::Duplicate(existing));
        }
        let (outcome, record) = self.store.put_track(&track)?;
        Ok(match outcome {
            PutOutcome::Inserted => Added::Inserted(record),
            PutOutcome::Replaced => Added::Replaced(record),
        })
    }

    /// The 20 s from the middle of a track that [`same_recording`](Self::same_recording)
    /// looks up, and where they start.
    fn probe(&self, fp: &Fingerprint) -> (Fingerprint, f64) {
        let start = (fp.duration_s() / 2.0 - 10.0).max(0.0);
        (fp.excerpt(start, 20.0), start)
    }

    /// Another track that is the same recording (another encoding of it): the probe's
    /// 20 s match it at the same place with full confidence, and the durations agree
    /// within a second. Excerpts, remixes and medleys are not duplicates.
    fn same_recording(
        &self,
        (probe, start): (Fingerprint, f64),
        duration_s: f64,
        id: &TrackId,
    ) -> Result<Option<TrackRecord>> {
        let config = MatchConfig::for_hash(self.hash_config);
        let matches = identify(self.store, &[probe], self.hash_config, &config)?;
        Ok(matches
            .into_iter()
            .find(|m| {
                &m.track.id != id
                    && m.confidence > 0.99
                    && (m.track.duration_s - duration_s).abs() < 1.0
                    && (m.track_offset_s - m.query_offset_s - start).abs() < 1.0
            })
            .map(|m| m.track))
    }
}

#[cfg(test)]
mod tests {
    use earmark_core::{AnalysisConfig, Peak};

    use super::*;
    use crate::MemoryStore;

    /// A fingerprint of `frames` frames of seeded peaks.
    fn print(seed: u32, frames: u32) -> Fingerprint {
        let analysis = AnalysisConfig::default();
        let mut state = seed.wrapping_mul(2_654_435_761) | 1;
        let mut peaks = Vec::new();
        for frame in 0..frames {
            let mut bins: Vec<u16> = (0..4)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    analysis.min_bin
                        + (state % u32::from(analysis.max_bin - analysis.min_bin)) as u16
                })
                .collect();
            bins.sort_unstable();
            bins.dedup();
            peaks.extend(bins.into_iter().map(|bin| Peak { frame, bin }));
        }
        let duration_ms = (f64::from(frames) * analysis.frame_duration_s() * 1000.0) as u32;
        Fingerprint::new(analysis.id, duration_ms, peaks).expect("valid peaks")
    }

    fn id(text: &str) -> TrackId {
        TrackId::new(text).expect("valid id")
    }

    #[test]
    fn the_rules_every_front_end_follows() {
        let store = MemoryStore::new(HashConfig::default().id);
        let skip = Ingest::new(&store, OnDuplicate::Skip).expect("known configuration");
        let song = print(1, 1_500);
        let hash = Some("aa".repeat(32));
        let meta = TrackMeta {
            title: Some("Song".into()),
            ..TrackMeta::default()
        };

        let added = skip
            .add(id("song"), meta.clone(), hash.clone(), song.clone())
            .expect("adds");
        assert!(matches!(added, Added::Inserted(_)), "{added:?}");
        assert_eq!(
            skip.existing_content_hash(&id("song")).expect("reads"),
            hash
        );

        // The same bytes under the same id: unchanged, metadata kept current.
        let renamed = TrackMeta {
            title: Some("Song (remaster)".into()),
            ..TrackMeta::default()
        };
        let again = skip
            .add(id("song"), renamed.clone(), hash.clone(), song.clone())
            .expect("adds");
        assert!(
            matches!(&again, Added::Unchanged(r) if r.meta == renamed),
            "{again:?}"
        );

        // The same bytes under another id, and the same recording from other bytes:
        // duplicates of "song".
        let copy = skip
            .add(id("copy"), meta.clone(), hash.clone(), song.clone())
            .expect("adds");
        assert!(
            matches!(&copy, Added::Duplicate(r) if r.id == id("song")),
            "{copy:?}"
        );
        let reencoded = skip
            .add(
                id("copy"),
                meta.clone(),
                Some("bb".repeat(32)),
                song.clone(),
            )
            .expect("adds");
        assert!(
            matches!(&reencoded, Added::Duplicate(r) if r.id == id("song")),
            "{reencoded:?}"
        );
        assert_eq!(store.stats().expect("stats").tracks, 1);

        // Other audio under the id: replaced.
        let other = skip
            .add(
                id("song"),
                meta.clone(),
                Some("cc".repeat(32)),
                print(2, 1_500),
            )
            .expect("adds");
        assert!(matches!(other, Added::Replaced(_)), "{other:?}");

        // Asked to, duplicates are added.
        let add = Ingest::new(&store, OnDuplicate::Add).expect("known configuration");
        let added = add
            .add(id("copy"), meta.clone(), hash.clone(), print(2, 1_500))
            .expect("adds");
        assert!(matches!(added, Added::Inserted(_)), "{added:?}");
        assert_eq!(store.stats().expect("stats").tracks, 2);

        // Nothing to index.
        let empty =
            Fingerprint::new(AnalysisConfig::default().id, 1_000, Vec::new()).expect("valid");
        assert!(matches!(
            skip.add(id("silence"), meta, None, empty),
            Err(Error::NoLandmarks)
        ));
    }
}
