//! Reads: batched postings lookups (presence bitmap, postings cache, snapshot),
//! track records and counts.

use std::path::Path;

use earmark_core::Fingerprint;
use earmark_index::{PostingLists, StoreStats, TrackId, TrackRecord};
use rocksdb::{Direction, IteratorMode};

use crate::error::{Error, Result};
use crate::layout::{self, CF_CONTENT, CF_META, CF_POSTINGS, CF_TRACK_IDX, CF_TRACKS, Counters};
use crate::postings_cache::{Cached, PostingsCache};
use crate::store::RocksStore;

impl RocksStore {
    /// The exact number of distinct hashes, by reading every postings value. Costs a
    /// full read of the postings; [`stats`](Store::stats) gives RocksDB's estimate of
    /// the buckets.
    ///
    /// # Errors
    /// RocksDB failures, and damaged values.
    pub fn count_hashes(&self) -> Result<u64> {
        let mut n = 0;
        for item in self
            .db
            .iterator_cf(self.cf(CF_POSTINGS)?, IteratorMode::Start)
        {
            let (_, value) = item?;
            let mut last = None;
            earmark_index::posting::decode(&value, |residual, _| {
                if last != Some(residual) {
                    n += 1;
                    last = Some(residual);
                }
            })?;
        }
        Ok(n)
    }

    pub(crate) fn read_counters(&self) -> Result<Counters> {
        let meta = self.cf(CF_META)?;
        let mut values: [Option<Vec<u8>>; 4] = Default::default();
        let results = self
            .db
            .multi_get_cf(Counters::KEYS.iter().map(|k| (meta, *k)));
        for (slot, value) in values.iter_mut().zip(results) {
            *slot = value?;
        }
        Counters::decode(&values)
    }

    pub(crate) fn read_record(&self, id: &TrackId) -> Result<Option<TrackRecord>> {
        self.db
            .get_cf(self.cf(CF_TRACKS)?, id.as_str().as_bytes())?
            .map(|bytes| layout::decode_record(&bytes))
            .transpose()
    }

    pub(crate) fn lookup_postings(
        &self,
        hashes: &[u64],
        cap: usize,
        out: &mut PostingLists,
    ) -> Result<()> {
        // RocksDB counts per-thread perf statistics on every key by default; nothing
        // reads them, and a query probes thousands of keys (about 1 % of a check's CPU).
        rocksdb::perf::set_perf_stats(rocksdb::perf::PerfStatsLevel::Disable);
        let cache = self.postings_cache.as_ref();
        let generation = cache.and_then(PostingsCache::begin_read);
        // The snapshot comes first: a writer sets a track's bits before writing it, so
        // every bit of a track this snapshot holds is already set, and the lookup sees
        // each track whole or not at all.
        let snapshot = self.db.snapshot();
        let mut read = rocksdb::ReadOptions::default();
        read.set_snapshot(&snapshot);
        // Cached entries of this generation show what the snapshot shows (see
        // `postings_cache`); after a write in between, the snapshot alone answers.
        let cached = match (cache, generation) {
            (Some(cache), Some(g)) if cache.still(g) => Some((cache, g)),
            _ => None,
        };
        // Tested once per hash: a writer may set bits meanwhile, and the second pass
        // below must pair each asked hash with its answer.
        let mut known: Vec<(Cached, u16)> = Vec::with_capacity(hashes.len());
        let mut asked: Vec<u64> = Vec::new();
        let mut keys: Vec<layout::BucketKey> = Vec::new();
        for &h in hashes {
            // A hash too wide for the keys is stored under none.
            let Some((key, residual)) = layout::bucket_key(h, self.key_width) else {
                known.push((Cached::Absent, 0));
                continue;
            };
            let bucket = key.number();
            let answer = match cached {
                _ if !self.presence.may_contain(h) => Cached::Absent,
                Some((cache, g)) => cache.get(bucket, g),
                None => Cached::Unknown,
            };
            if matches!(answer, Cached::Unknown) {
                asked.push(bucket);
                keys.push(key);
            }
            known.push((answer, residual));
        }
        // Big-endian keys sort like the hashes: sorted input spares RocksDB its own sort.
        let sorted = hashes.is_sorted();
        let mut values = self
            .db
            .batched_multi_get_cf_opt(self.cf(CF_POSTINGS)?, &keys, sorted, &read)
            .into_iter()
            .zip(asked);
        for (known, residual) in known {
            match known {
                Cached::Absent => out.push([]),
                Cached::Value(value) => out.push_decoded(&value, residual, cap)?,
                Cached::Unknown => {
                    let (value, bucket) = values
                        .next()
                        .ok_or_else(|| Error::Corrupt("RocksDB answered fewer keys".into()))?;
                    let value = value?;
                    if let Some((cache, g)) = cached {
                        cache.insert(bucket, g, value.as_deref());
                    }
                    match value {
                        Some(value) => out.push_decoded(&value, residual, cap)?,
                        None => out.push([]),
                    }
                }
            }
        }
        Ok(())
    }

    /// Records by id, in order; ids that are `None` or have no record give `None`.
    pub(crate) fn records(&self, ids: &[Option<TrackId>]) -> Result<Vec<Option<TrackRecord>>> {
        let tracks = self.cf(CF_TRACKS)?;
        let present: Vec<&[u8]> = ids
            .iter()
            .flatten()
            .map(|id| id.as_str().as_bytes())
            .collect();
        let mut found = self
            .db
            .batched_multi_get_cf(tracks, &present, false)
            .into_iter();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let value = match id {
                Some(_) => found.next().transpose()?.flatten(),
                None => None,
            };
            out.push(
                value
                    .map(|bytes| layout::decode_record(&bytes))
                    .transpose()?,
            );
        }
        Ok(out)
    }

    pub(crate) fn by_idx(&self, idx: &[u32]) -> Result<Vec<Option<TrackRecord>>> {
        let keys: Vec<[u8; 4]> = idx.iter().map(|&i| layout::idx_key(i)).collect();
        let ids = self
            .db
            .batched_multi_get_cf(self.cf(CF_TRACK_IDX)?, &keys, false)
            .into_iter()
            .map(|v| v?.map(|bytes| layout::decode_id(&bytes)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let mut records = self.records(&ids)?;
        // The two reads are not one snapshot: a track replaced in between has a new
        // idx, and the answer for the old one is then no track.
        for (record, &i) in records.iter_mut().zip(idx) {
            if record.as_ref().is_some_and(|r| r.idx != i) {
                *record = None;
            }
        }
        Ok(records)
    }

    /// The fingerprints stored with tracks, by idx; `None` for a track gone or kept
    /// as its hashes alone.
    pub(crate) fn fingerprints(&self, idx: &[u32]) -> Result<Vec<Option<Fingerprint>>> {
        let keys: Vec<[u8; 4]> = idx.iter().map(|&i| layout::idx_key(i)).collect();
        self.db
            .batched_multi_get_cf(self.cf(layout::CF_TRACK_HASHES)?, &keys, false)
            .into_iter()
            .map(
                |value| match value?.as_deref().and_then(|v| v.split_first()) {
                    Some((&layout::TRACK_HASHES_FINGERPRINT, rest)) if rest.len() >= 4 => {
                        Fingerprint::from_bytes(&rest[4..])
                            .map(Some)
                            .map_err(|e| Error::Corrupt(format!("stored fingerprint: {e}")))
                    }
                    _ => Ok(None),
                },
            )
            .collect()
    }

    pub(crate) fn by_content(&self, content_hash: &str) -> Result<Vec<TrackRecord>> {
        let prefix = content_hash.as_bytes();
        let mut ids = Vec::new();
        // Keys are the hash then the idx: the entries of one hash are adjacent, the
        // first ingested first.
        let mode = IteratorMode::From(prefix, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_CONTENT)?, mode) {
            let (key, value) = item?;
            if key.len() != prefix.len() + 4 || !key.starts_with(prefix) {
                break;
            }
            ids.push(Some(layout::decode_id(&value)?));
        }
        Ok(self
            .records(&ids)?
            .into_iter()
            .flatten()
            .filter(|r| r.content_hash.as_deref() == Some(content_hash))
            .collect())
    }

    pub(crate) fn holder_counts(&self, holder: &str) -> Result<layout::HolderCounts> {
        self.db
            .get_cf(self.cf(CF_META)?, layout::holder_key(holder))?
            .map_or(Ok(layout::HolderCounts::default()), |v| {
                layout::HolderCounts::decode(&v)
            })
    }

    pub(crate) fn list(&self, after: Option<&TrackId>, limit: usize) -> Result<Vec<TrackRecord>> {
        let mode = match after {
            Some(a) => IteratorMode::From(a.as_str().as_bytes(), Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Ids are ASCII, so RocksDB's bytewise key order is the ids' order.
        for item in self.db.iterator_cf(self.cf(CF_TRACKS)?, mode) {
            let (key, value) = item?;
            if after.is_some_and(|a| *key == *a.as_str().as_bytes()) {
                continue;
            }
            out.push(layout::decode_record(&value)?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) fn counts(&self) -> Result<StoreStats> {
        let counters = self.read_counters()?;
        // RocksDB's estimate: unmerged operands and deletions in memtables and upper
        // levels count as keys, so it runs high after ingest and is exact after
        // `compact`. An exact count would need a read per hash at ingest or a scan
        // (`count_hashes`).
        let keys = self
            .db
            .property_int_value_cf(
                self.cf(CF_POSTINGS)?,
                rocksdb::properties::ESTIMATE_NUM_KEYS,
            )?
            .unwrap_or(0);
        Ok(StoreStats {
            tracks: counters.tracks,
            postings: counters.postings,
            keys,
            hours: counters.duration_us as f64 / 3.6e9,
            bytes: dir_bytes(&self.path)?,
        })
    }
}

/// Bytes of every file under `dir`: tables, WAL, manifest, options and RocksDB's
/// own log, as `du` would count them (apparent sizes).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if kind.is_file() {
            match entry.metadata() {
                Ok(meta) => total += meta.len(),
                // A file compaction or a WAL switch removed since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
    Ok(total)
}
