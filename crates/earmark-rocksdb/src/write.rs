//! Writes: a track put, delete or metadata change is one `WriteBatch`; compaction.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use earmark_core::Fingerprint;
use earmark_index::posting;
use earmark_index::{MAX_FRAMES_PER_HASH, NewTrack, PutOutcome, TrackId, TrackMeta, TrackRecord};
use rocksdb::{BottommostLevelCompaction, CompactOptions, WriteBatch};

use crate::error::{Error, Result};
use crate::layout::{
    self, CF_CONTENT, CF_META, CF_POSTINGS, CF_TRACK_HASHES, CF_TRACK_IDX, CF_TRACKS, Counters,
    HolderCounts, META_PRESENCE,
};
use crate::postings_cache::PostingsCache;
use crate::presence;
use crate::store::RocksStore;

/// The rights holders' usage one write changes, read once under the writer lock and
/// written back in its batch.
#[derive(Default)]
pub(crate) struct HolderChanges(HashMap<String, HolderCounts>);

impl HolderChanges {
    fn entry(&mut self, store: &RocksStore, holder: &str) -> Result<&mut HolderCounts> {
        Ok(match self.0.entry(holder.to_owned()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(first) => first.insert(store.holder_counts(holder)?),
        })
    }

    /// Counts `record`'s track in (`sign` 1) or out (-1) of its holder's usage.
    fn count(&mut self, store: &RocksStore, record: &TrackRecord, sign: i8) -> Result<()> {
        let Some(holder) = &record.meta.rights_holder else {
            return Ok(());
        };
        let counts = self.entry(store, holder)?;
        let duration_us = layout::duration_us(record.duration_s);
        if sign > 0 {
            counts.tracks += 1;
            counts.postings += record.landmarks;
            counts.duration_us += duration_us;
        } else {
            counts.tracks = counts.tracks.saturating_sub(1);
            counts.postings = counts.postings.saturating_sub(record.landmarks);
            counts.duration_us = counts.duration_us.saturating_sub(duration_us);
        }
        Ok(())
    }

    /// Puts the changed usages into `batch` (a holder left with nothing is removed).
    fn write_into(self, store: &RocksStore, batch: &mut WriteBatch) -> Result<()> {
        let meta = store.cf(CF_META)?;
        for (holder, counts) in self.0 {
            let key = layout::holder_key(&holder);
            if counts.tracks == 0 {
                batch.delete_cf(meta, key);
            } else {
                batch.put_cf(meta, key, counts.encode());
            }
        }
        Ok(())
    }
}

impl RocksStore {
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
        for name in layout::ALL_CFS {
            self.db
                .compact_range_cf_opt(self.cf(name)?, None::<&[u8]>, None::<&[u8]>, &opts);
        }
        Ok(())
    }

    /// Adds to `batch` everything that removes `record`'s track: its block in each of
    /// its hashes' values, its records and its content entry; updates `counters` and
    /// its holder's usage.
    pub(crate) fn remove_into(
        &self,
        batch: &mut WriteBatch,
        record: &TrackRecord,
        counters: &mut Counters,
        holders: &mut HolderChanges,
    ) -> Result<()> {
        let postings = self.cf(CF_POSTINGS)?;
        let hashes_cf = self.cf(CF_TRACK_HASHES)?;
        let idx_key = layout::idx_key(record.idx);
        let stored = self
            .db
            .get_cf(hashes_cf, idx_key)?
            .ok_or_else(|| Error::Corrupt(format!("hash list of track {} missing", record.id)))?;
        let mut keys = self
            .stored_hashes(&stored)?
            .into_iter()
            .map(|hash| Ok(self.bucket_key(hash)?.0))
            .collect::<Result<Vec<_>>>()?;
        // Keys ascend, as the hashes were packed in order; each bucket is rewritten
        // once, without all of the track's postings in it.
        keys.dedup();
        let values = self.db.batched_multi_get_cf(postings, &keys, true);
        for (key, value) in keys.iter().zip(values) {
            let Some(value) = value? else { continue };
            match posting::remove_track(&value, record.idx)? {
                Some(rest) => batch.put_cf(postings, key, rest),
                None => batch.delete_cf(postings, key),
            }
        }
        batch.delete_cf(self.cf(CF_TRACKS)?, record.id.as_str().as_bytes());
        batch.delete_cf(self.cf(CF_TRACK_IDX)?, idx_key);
        batch.delete_cf(hashes_cf, idx_key);
        if let Some(content) = &record.content_hash {
            // Its own entry only: other tracks of the same file keep theirs.
            batch.delete_cf(
                self.cf(CF_CONTENT)?,
                layout::content_key(content, record.idx),
            );
        }
        holders.count(self, record, -1)?;
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
    pub(crate) fn track_hashes_value(
        &self,
        track: &NewTrack,
        groups: &[(u64, posting::HashEntries)],
    ) -> Vec<u8> {
        let packed = layout::pack_hashes(groups.iter().map(|(h, _)| *h));
        let wire = track
            .fingerprint
            .as_ref()
            .filter(|fp| fp.catalog_landmarks(self.hash_config) == track.landmarks)
            .map(Fingerprint::to_bytes)
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
    pub(crate) fn stored_hashes(&self, stored: &[u8]) -> Result<Vec<u64>> {
        match stored.split_first() {
            Some((&layout::TRACK_HASHES_PACKED, packed)) => layout::unpack_hashes(packed),
            Some((&layout::TRACK_HASHES_FINGERPRINT, rest)) if rest.len() >= 4 => {
                let (crc, wire) = rest.split_at(4);
                let fp = Fingerprint::from_bytes(wire)
                    .map_err(|e| Error::Corrupt(format!("stored fingerprint: {e}")))?;
                let config = self.hash_config;
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

    pub(crate) fn write_counters(&self, batch: &mut WriteBatch, counters: &Counters) -> Result<()> {
        let meta = self.cf(CF_META)?;
        for (key, value) in counters.encode() {
            batch.put_cf(meta, key, value);
        }
        Ok(())
    }

    pub(crate) fn put(&self, track: &NewTrack) -> Result<(PutOutcome, TrackRecord)> {
        self.ensure_writable()?;
        if !(track.duration_s.is_finite() && track.duration_s >= 0.0) {
            return Err(Error::InvalidDuration {
                duration_s: track.duration_s,
            });
        }
        let groups = posting::group_by_hash(&track.landmarks, MAX_FRAMES_PER_HASH);
        let postings = self.cf(CF_POSTINGS)?;
        // Outside the writer lock: it hashes the fingerprint again.
        let hashes_value = self.track_hashes_value(track, &groups);

        let _writer = self.lock_writer();
        let mut counters = self.read_counters()?;
        let mut holders = HolderChanges::default();
        let mut batch = WriteBatch::default();
        // Removal goes first in the batch: a value rewritten (or deleted) here and then
        // merged below ends up as the other tracks' blocks plus the new one.
        let outcome = match self.read_record(&track.id)? {
            Some(old) => {
                self.remove_into(&mut batch, &old, &mut counters, &mut holders)?;
                PutOutcome::Replaced
            }
            None => PutOutcome::Inserted,
        };
        let idx = counters.next_idx;
        counters.next_idx = idx
            .checked_add(1)
            .ok_or(Error::Index(earmark_index::Error::Exhausted))?;

        let mut landmarks = 0u64;
        let mut operand = Vec::new();
        let mut bucket: Option<layout::BucketKey> = None;
        // Hashes ascend, so those of one bucket are adjacent: one operand each.
        for (hash, frames) in &groups {
            landmarks += frames.len() as u64;
            let (key, residual) = self.bucket_key(*hash)?;
            if let Some(previous) = bucket.filter(|&b| b != key) {
                batch.merge_cf(postings, previous, &operand);
                operand.clear();
            }
            bucket = Some(key);
            posting::encode_operand(&mut operand, residual, idx, frames)?;
        }
        if let Some(key) = bucket {
            batch.merge_cf(postings, key, &operand);
        }
        let record = track.record(idx, self.hash_config.id, landmarks);
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
            batch.put_cf(
                self.cf(CF_CONTENT)?,
                layout::content_key(content, idx),
                id_bytes,
            );
        }
        holders.count(self, &record, 1)?;
        holders.write_into(self, &mut batch)?;
        // Only bits not set yet: once a catalog uses most hash values, a track adds
        // next to nothing here.
        let presence = &self.presence;
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

    pub(crate) fn delete(&self, id: &TrackId) -> Result<bool> {
        self.ensure_writable()?;
        let _writer = self.lock_writer();
        let Some(record) = self.read_record(id)? else {
            return Ok(false);
        };
        let mut counters = self.read_counters()?;
        let mut holders = HolderChanges::default();
        let mut batch = WriteBatch::default();
        self.remove_into(&mut batch, &record, &mut counters, &mut holders)?;
        holders.write_into(self, &mut batch)?;
        self.write_counters(&mut batch, &counters)?;
        let _cache_write = self.postings_cache.as_ref().map(PostingsCache::write);
        self.db.write(batch)?;
        Ok(true)
    }

    pub(crate) fn set_meta(&self, id: &TrackId, meta: &TrackMeta) -> Result<TrackRecord> {
        self.ensure_writable()?;
        let _writer = self.lock_writer();
        let mut record = self
            .read_record(id)?
            .ok_or_else(|| Error::Index(earmark_index::Error::NotFound(id.clone())))?;
        let mut holders = HolderChanges::default();
        let mut batch = WriteBatch::default();
        if record.meta.rights_holder != meta.rights_holder {
            // The track's share moves to its new holder.
            holders.count(self, &record, -1)?;
            record.meta = meta.clone();
            holders.count(self, &record, 1)?;
            holders.write_into(self, &mut batch)?;
        }
        record.meta = meta.clone();
        batch.put_cf(
            self.cf(CF_TRACKS)?,
            id.as_str().as_bytes(),
            layout::encode_record(&record)?,
        );
        self.db.write(batch)?;
        Ok(record)
    }

    /// The postings key of `hash`'s bucket and its residual there; an error for a
    /// hash wider than this index's keys, which its hash configuration never yields.
    pub(crate) fn bucket_key(&self, hash: u64) -> Result<(layout::BucketKey, u16)> {
        layout::bucket_key(hash, self.key_width).ok_or(Error::Index(
            earmark_index::Error::HashTooWide {
                hash,
                config: self.hash_config.id,
            },
        ))
    }
}
