//! An index in memory: for tests, small catalogs and embedding in a client.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use earmark_core::Fingerprint;

use crate::MAX_FRAMES_PER_HASH;
use crate::error::{Error, Result};
use crate::posting::{Posting, PostingLists, group_by_hash};
use crate::store::{HolderUsage, NewTrack, PutOutcome, Store, StoreStats};
use crate::track::{TrackId, TrackMeta, TrackRecord};

#[derive(Default)]
struct Inner {
    postings: HashMap<u64, Vec<Posting>>,
    tracks: BTreeMap<TrackId, TrackRecord>,
    by_idx: HashMap<u32, TrackId>,
    hashes_of: HashMap<u32, Vec<u64>>,
    fingerprints: HashMap<u32, Fingerprint>,
    next_idx: u32,
}

/// A [`Store`] held in memory behind one lock.
pub struct MemoryStore {
    hash_config_id: u16,
    inner: RwLock<Inner>,
}

impl MemoryStore {
    /// An empty index for hash configuration `hash_config_id`.
    pub fn new(hash_config_id: u16) -> Self {
        Self {
            hash_config_id,
            inner: RwLock::new(Inner::default()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied track (every
        // mutation is prepared before it is applied), so a poisoned lock is usable.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, id: &TrackId) -> Option<TrackRecord> {
        let record = self.tracks.remove(id)?;
        self.by_idx.remove(&record.idx);
        self.fingerprints.remove(&record.idx);
        for hash in self.hashes_of.remove(&record.idx).unwrap_or_default() {
            if let Some(list) = self.postings.get_mut(&hash) {
                list.retain(|p| p.track != record.idx);
                if list.is_empty() {
                    self.postings.remove(&hash);
                }
            }
        }
        Some(record)
    }
}

impl Store for MemoryStore {
    fn hash_config_id(&self) -> u16 {
        self.hash_config_id
    }

    fn put_track(&self, track: &NewTrack) -> Result<(PutOutcome, TrackRecord)> {
        let groups = group_by_hash(&track.landmarks, MAX_FRAMES_PER_HASH);
        let mut inner = self.write();
        let outcome = if inner.remove(&track.id).is_some() {
            PutOutcome::Replaced
        } else {
            PutOutcome::Inserted
        };
        let idx = inner.next_idx;
        inner.next_idx = idx.checked_add(1).ok_or(Error::Exhausted)?;
        let mut landmarks = 0u64;
        let mut hashes = Vec::with_capacity(groups.len());
        for (hash, frames) in groups {
            landmarks += frames.len() as u64;
            let list = inner.postings.entry(hash).or_default();
            list.extend(frames.iter().map(|&(frame, aux)| Posting {
                track: idx,
                frame,
                aux,
            }));
            hashes.push(hash);
        }
        let record = track.record(idx, self.hash_config_id, landmarks);
        inner.hashes_of.insert(idx, hashes);
        if let Some(fingerprint) = &track.fingerprint {
            inner.fingerprints.insert(idx, fingerprint.clone());
        }
        inner.by_idx.insert(idx, track.id.clone());
        inner.tracks.insert(track.id.clone(), record.clone());
        Ok((outcome, record))
    }

    fn lookup_into(&self, hashes: &[u64], cap: usize, out: &mut PostingLists) -> Result<()> {
        let inner = self.read();
        for h in hashes {
            match inner.postings.get(h) {
                Some(list) if list.len() <= cap => out.push(list.iter().copied()),
                _ => out.push([]),
            }
        }
        Ok(())
    }

    fn delete_track(&self, id: &TrackId) -> Result<bool> {
        Ok(self.write().remove(id).is_some())
    }

    fn track(&self, id: &TrackId) -> Result<Option<TrackRecord>> {
        Ok(self.read().tracks.get(id).cloned())
    }

    fn fingerprints_by_idx(&self, idx: &[u32]) -> Result<Vec<Option<Fingerprint>>> {
        let inner = self.read();
        Ok(idx
            .iter()
            .map(|i| inner.fingerprints.get(i).cloned())
            .collect())
    }

    fn tracks_by_idx(&self, idx: &[u32]) -> Result<Vec<Option<TrackRecord>>> {
        let inner = self.read();
        Ok(idx
            .iter()
            .map(|i| {
                inner
                    .by_idx
                    .get(i)
                    .and_then(|id| inner.tracks.get(id))
                    .cloned()
            })
            .collect())
    }

    fn tracks_by_content(&self, content_hash: &str) -> Result<Vec<TrackRecord>> {
        // A scan: this store serves tests and small catalogs.
        let mut found: Vec<TrackRecord> = self
            .read()
            .tracks
            .values()
            .filter(|r| r.content_hash.as_deref() == Some(content_hash))
            .cloned()
            .collect();
        found.sort_by_key(|r| r.idx);
        Ok(found)
    }

    fn holder_usage(&self, holder: &str) -> Result<HolderUsage> {
        let inner = self.read();
        let mut usage = HolderUsage::default();
        for r in inner
            .tracks
            .values()
            .filter(|r| r.meta.rights_holder.as_deref() == Some(holder))
        {
            usage.tracks += 1;
            usage.postings += r.landmarks;
            usage.hours += r.duration_s / 3600.0;
        }
        Ok(usage)
    }

    fn list_tracks(&self, after: Option<&TrackId>, limit: usize) -> Result<Vec<TrackRecord>> {
        let inner = self.read();
        let iter: Box<dyn Iterator<Item = &TrackRecord>> = match after {
            Some(a) => Box::new(
                inner
                    .tracks
                    .range::<TrackId, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
                    .map(|(_, r)| r),
            ),
            None => Box::new(inner.tracks.values()),
        };
        Ok(iter.take(limit).cloned().collect())
    }

    fn update_meta(&self, id: &TrackId, meta: &TrackMeta) -> Result<TrackRecord> {
        let mut inner = self.write();
        let record = inner
            .tracks
            .get_mut(id)
            .ok_or_else(|| Error::NotFound(id.clone()))?;
        record.meta = meta.clone();
        Ok(record.clone())
    }

    fn stats(&self) -> Result<StoreStats> {
        let inner = self.read();
        let postings: u64 = inner.postings.values().map(|l| l.len() as u64).sum();
        Ok(StoreStats {
            tracks: inner.tracks.len() as u64,
            postings,
            keys: inner.postings.len() as u64,
            hours: inner.tracks.values().map(|t| t.duration_s).sum::<f64>() / 3600.0,
            // Hash key, track and frame per posting, as held.
            bytes: postings * 8 + inner.postings.len() as u64 * 4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::Store;

    #[test]
    fn passes_the_conformance_suite() {
        let id = earmark_core::HashConfig::DEFAULT.id;
        crate::conformance::run_all(&|| Box::new(MemoryStore::new(id)) as Box<dyn Store>);
    }
}
