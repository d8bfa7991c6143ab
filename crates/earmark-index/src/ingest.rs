//! Adding a track to a catalog by the rules every front end follows, so that the
//! CLI's `ingest` and the service's uploads agree: the same bytes under the same id
//! are left as they are (their metadata kept current), and the same recording under
//! another id (the same bytes, or another encoding of it) is a duplicate, reported
//! and skipped unless the caller asks to add it anyway. The same bytes under another
//! rights holder are never added: one holder's upload must not stand in for another's
//! file. Limits on a track's length and a quota per holder are checked in the same
//! step as the write.

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
    /// These very bytes are in the catalog under another rights holder: this track.
    /// Never added, whatever [`OnDuplicate`] says.
    OtherHolder(TrackRecord),
}

/// What a rights holder may keep in a catalog; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HolderQuota {
    /// Most tracks.
    pub tracks: Option<u64>,
    /// Most hours of audio.
    pub hours: Option<f64>,
    /// Most postings (what a track costs every query that shares its hashes).
    pub postings: Option<u64>,
}

/// Limits on what one [`Ingest::add`] may store.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Longest track, seconds; `None` is the analysis's own limit.
    pub max_track_s: Option<f64>,
    /// The quota of the added track's rights holder (tracks without a holder have
    /// none).
    pub quota: HolderQuota,
}

impl Added {
    /// The track stored, or for a duplicate the one already there.
    pub fn record(&self) -> &TrackRecord {
        match self {
            Self::Inserted(r)
            | Self::Replaced(r)
            | Self::Unchanged(r)
            | Self::Duplicate(r)
            | Self::OtherHolder(r) => r,
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
    limits: Limits,
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
            limits: Limits::default(),
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

    /// Applies `limits` to every track added.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
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
    /// date); under another id a [`Added::Duplicate`] when duplicates are skipped,
    /// and when they are added, [`Added::OtherHolder`] if another rights holder has
    /// them.
    ///
    /// # Errors
    /// Store failures.
    pub fn by_content(
        &self,
        id: &TrackId,
        meta: &TrackMeta,
        content_hash: &str,
    ) -> Result<Option<Added>> {
        let existing = self.store.tracks_by_content(content_hash)?;
        if let Some(same) = existing.iter().find(|r| r.id == *id) {
            let record = if same.meta == *meta {
                same.clone()
            } else {
                self.store.update_meta(id, meta)?
            };
            return Ok(Some(Added::Unchanged(record)));
        }
        if self.on_duplicate == OnDuplicate::Skip {
            return Ok(existing.into_iter().next().map(Added::Duplicate));
        }
        Ok(existing
            .into_iter()
            .find(|r| r.meta.rights_holder != meta.rights_holder)
            .map(Added::OtherHolder))
    }

    /// Adds the track `id` fingerprinted as `fingerprint` from a file whose SHA-256 is
    /// `content_hash` (when known), unless [`by_content`](Self::by_content) settles
    /// it or, when duplicates are skipped, another track is the same recording.
    ///
    /// # Errors
    /// [`Error::NoLandmarks`] for a fingerprint with nothing to index (silence, or
    /// audio too short), [`Error::TrackTooLong`] and [`Error::QuotaExceeded`] past the
    /// [`Limits`]; store failures.
    pub fn add(
        &self,
        id: TrackId,
        meta: TrackMeta,
        content_hash: Option<String>,
        fingerprint: Fingerprint,
    ) -> Result<Added> {
        let duration_s = fingerprint.duration_s();
        if let Some(limit_s) = self.limits.max_track_s
            && duration_s > limit_s
        {
            return Err(Error::TrackTooLong {
                duration_s,
                limit_s,
            });
        }
        let probe = self.probe(&fingerprint);
        let track =
            NewTrack::from_fingerprint(id, meta, content_hash, fingerprint, self.hash_config);
        // A peak or two can make a fingerprint without a single landmark.
        if track.landmarks.is_empty() {
            return Err(Error::NoLandmarks);
        }
        // Every check and the write are one step: two copies added at once are one
        // track and a duplicate, and a quota holds however many uploads race.
        let _writes = self.lock();
        if let Some(hash) = &track.content_hash
            && let Some(settled) = self.by_content(&track.id, &track.meta, hash)?
        {
            return Ok(settled);
        }
        if self.on_duplicate == OnDuplicate::Skip
            && let Some(existing) = self.same_recording(probe, duration_s, &track.id)?
        {
            return Ok(Added::Duplicate(existing));
        }
        self.check_quota(&track)?;
        let (outcome, record) = self.store.put_track(&track)?;
        Ok(match outcome {
            PutOutcome::Inserted => Added::Inserted(record),
            PutOutcome::Replaced => Added::Replaced(record),
        })
    }

    /// Refuses `track` when its holder's usage with it (less the track it replaces)
    /// would pass the quota.
    fn check_quota(&self, track: &NewTrack) -> Result<()> {
        let quota = self.limits.quota;
        let Some(holder) = &track.meta.rights_holder else {
            return Ok(());
        };
        if quota == HolderQuota::default() {
            return Ok(());
        }
        let mut usage = self.store.holder_usage(holder)?;
        if let Some(old) = self.store.track(&track.id)?
            && old.meta.rights_holder.as_ref() == Some(holder)
        {
            usage.tracks = usage.tracks.saturating_sub(1);
            usage.postings = usage.postings.saturating_sub(old.landmarks);
            usage.hours -= old.duration_s / 3600.0;
        }
        let exceeded = |what: &str, used: String, limit: String| {
            Err(Error::QuotaExceeded {
                holder: holder.clone(),
                what: format!("{what}: {used} with this track, the quota is {limit}"),
            })
        };
        let tracks = usage.tracks + 1;
        if let Some(limit) = quota.tracks
            && tracks > limit
        {
            return exceeded("tracks", tracks.to_string(), limit.to_string());
        }
        let hours = usage.hours + track.duration_s / 3600.0;
        if let Some(limit) = quota.hours
            && hours > limit
        {
            return exceeded("hours", format!("{hours:.2}"), format!("{limit}"));
        }
        // At most this many: the store may keep fewer (a cap per hash).
        let postings = usage.postings + track.landmarks.len() as u64;
        if let Some(limit) = quota.postings
            && postings > limit
        {
            return exceeded("postings", postings.to_string(), limit.to_string());
        }
        Ok(())
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
    use earmark_core::AnalysisConfig;

    use super::*;
    use crate::MemoryStore;

    /// A fingerprint of `frames` frames of seeded peaks: two a frame at most, at
    /// seeded ticks and pitches across the analysis band.
    fn print(seed: u32, frames: u32) -> Fingerprint {
        let analysis = AnalysisConfig::default();
        let peaks = earmark_core::synthetic::frame_peaks(seed, frames, 2, analysis.pitch_steps());
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

    #[test]
    fn another_holders_bytes_are_never_added() {
        let store = MemoryStore::new(HashConfig::default().id);
        let add = Ingest::new(&store, OnDuplicate::Add).expect("known configuration");
        let holder = |h: &str| TrackMeta {
            rights_holder: Some(h.into()),
            ..TrackMeta::default()
        };
        let hash = Some("aa".repeat(32));
        let original = add
            .add(id("a:song"), holder("a"), hash.clone(), print(1, 1_500))
            .expect("adds");
        assert!(matches!(original, Added::Inserted(_)));
        // The same bytes from holder b, even asked to add duplicates: refused.
        let taken = add
            .add(id("b:song"), holder("b"), hash.clone(), print(1, 1_500))
            .expect("answers");
        assert!(
            matches!(&taken, Added::OtherHolder(r) if r.id == id("a:song")),
            "{taken:?}"
        );
        // Holder a may keep a second copy of its own file.
        let own = add
            .add(id("a:copy"), holder("a"), hash.clone(), print(1, 1_500))
            .expect("adds");
        assert!(matches!(own, Added::Inserted(_)), "{own:?}");
        let ids: Vec<TrackId> = store
            .tracks_by_content(&"aa".repeat(32))
            .expect("reads")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, [id("a:song"), id("a:copy")]);
    }

    #[test]
    fn limits_and_quotas_are_checked_with_the_write() {
        let store = MemoryStore::new(HashConfig::default().id);
        let meta = TrackMeta {
            rights_holder: Some("a".into()),
            ..TrackMeta::default()
        };
        let limited = |quota: HolderQuota| {
            Ingest::new(&store, OnDuplicate::Add)
                .expect("known configuration")
                .with_limits(Limits {
                    max_track_s: Some(60.0),
                    quota,
                })
        };
        // 2,000 frames are 64 s: over a 60 s limit.
        let long =
            limited(HolderQuota::default()).add(id("long"), meta.clone(), None, print(9, 2_000));
        assert!(matches!(long, Err(Error::TrackTooLong { .. })), "{long:?}");

        let two_tracks = limited(HolderQuota {
            tracks: Some(2),
            ..HolderQuota::default()
        });
        for n in 0..2 {
            two_tracks
                .add(id(&format!("t{n}")), meta.clone(), None, print(10 + n, 500))
                .expect("within the quota");
        }
        let third = two_tracks.add(id("t2"), meta.clone(), None, print(20, 500));
        assert!(
            matches!(&third, Err(Error::QuotaExceeded { holder, what }) if holder == "a" && what.starts_with("tracks")),
            "{third:?}"
        );
        // Replacing one of its tracks keeps the count: allowed.
        two_tracks
            .add(id("t0"), meta.clone(), None, print(21, 500))
            .expect("a replace is within the quota");
        // Another holder has its own quota.
        let other = TrackMeta {
            rights_holder: Some("b".into()),
            ..TrackMeta::default()
        };
        two_tracks
            .add(id("b0"), other, None, print(22, 500))
            .expect("b's first track");
        let usage = store.holder_usage("a").expect("reads");
        assert_eq!(usage.tracks, 2);

        let few_postings = limited(HolderQuota {
            postings: Some(usage.postings + 10),
            ..HolderQuota::default()
        });
        let over = few_postings.add(id("t3"), meta, None, print(23, 500));
        assert!(
            matches!(&over, Err(Error::QuotaExceeded { what, .. }) if what.starts_with("postings")),
            "{over:?}"
        );
    }
}
