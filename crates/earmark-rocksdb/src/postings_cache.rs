//! [`PostingsCache`]: stored postings values held in memory by bucket, in front of
//! RocksDB's batched get.
//!
//! RocksDB answered a present key from its block cache in about 0.7 us (the searches of
//! the index and data blocks, and its per-key bookkeeping; decision 0016, before the
//! postings moved to plain tables), and a query asks for thousands. A hash map answers
//! a hit in a small fraction of that. What is asked often (the buckets of the tracks
//! being shared most) stays here; the rest is read from RocksDB as before and offered
//! to the cache, whose admission policy (S3-FIFO-like, `quick_cache`) keeps one-off
//! keys from pushing out the hot ones.
//!
//! # Staying consistent with writes
//! A lookup must see each track whole or not at all, as a snapshot does. Entries are
//! tagged with the write generation they were read at: even while no write is under
//! way, raised by one as a write starts and again as it ends ([`WriteGuard`]). A
//! lookup reads the generation before its snapshot and again after; only when both
//! readings are the same even number did no write start or finish in between, and
//! then entries of that generation and the snapshot show the same tracks. Otherwise
//! the lookup reads everything from the snapshot and caches nothing. Entries of
//! older generations are never served; each write also empties the cache to give
//! their memory back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Bytes an entry costs besides its value: the key, the tag, the `Arc`'s counts and
/// the cache's own slot, roughly.
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// A guess at the mean value size, for sizing the cache's tables up front.
const TYPICAL_VALUE_BYTES: u64 = 64;

/// Stored postings values by bucket; `None` caches that a bucket has no postings.
pub(crate) struct PostingsCache {
    entries: Cache<u64, Entry, ByteWeight>,
    generation: AtomicU64,
    capacity_bytes: u64,
}

#[derive(Clone)]
struct Entry {
    generation: u64,
    value: Option<Arc<[u8]>>,
}

#[derive(Clone)]
struct ByteWeight;

impl Weighter<u64, Entry> for ByteWeight {
    fn weight(&self, _: &u64, entry: &Entry) -> u64 {
        ENTRY_OVERHEAD_BYTES + entry.value.as_ref().map_or(0, |v| v.len() as u64)
    }
}

/// What the cache knows of one bucket for a lookup.
pub(crate) enum Cached {
    /// Not in the cache for this generation: read it from RocksDB.
    Unknown,
    /// No postings.
    Absent,
    /// The stored value.
    Value(Arc<[u8]>),
}

impl PostingsCache {
    /// A cache holding about `capacity_bytes` of values and bookkeeping.
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        let items = (capacity_bytes / (ENTRY_OVERHEAD_BYTES + TYPICAL_VALUE_BYTES)).max(1);
        Self {
            entries: Cache::with_weighter(
                usize::try_from(items).unwrap_or(usize::MAX),
                capacity_bytes,
                ByteWeight,
            ),
            generation: AtomicU64::new(0),
            capacity_bytes,
        }
    }

    /// The budget it was made with.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// The generation to read at, read before the lookup's snapshot; `None` while a
    /// write is under way.
    pub(crate) fn begin_read(&self) -> Option<u64> {
        let generation = self.generation.load(Ordering::SeqCst);
        generation.is_multiple_of(2).then_some(generation)
    }

    /// Whether `generation` (from [`begin_read`](Self::begin_read)) still holds,
    /// checked after the snapshot was taken: the snapshot then shows what entries of
    /// that generation show.
    pub(crate) fn still(&self, generation: u64) -> bool {
        self.generation.load(Ordering::SeqCst) == generation
    }

    /// What is cached for `bucket` at `generation`.
    pub(crate) fn get(&self, bucket: u64, generation: u64) -> Cached {
        match self.entries.get(&bucket) {
            Some(entry) if entry.generation == generation => match entry.value {
                Some(value) => Cached::Value(value),
                None => Cached::Absent,
            },
            _ => Cached::Unknown,
        }
    }

    /// Offers the value read for `bucket` from a snapshot of `generation`.
    pub(crate) fn insert(&self, bucket: u64, generation: u64, value: Option<&[u8]>) {
        let entry = Entry {
            generation,
            value: value.map(Arc::from),
        };
        self.entries.insert(bucket, entry);
    }

    /// Marks a write under way until the guard drops. Writers must be serialised (the
    /// store's writer lock) and hold the guard from before the write is applied until
    /// after.
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        WriteGuard { cache: self }
    }

    /// Values and bookkeeping held now, in bytes.
    #[cfg(test)]
    pub(crate) fn weight(&self) -> u64 {
        self.entries.weight()
    }
}

impl std::fmt::Debug for PostingsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostingsCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Ends a write of [`PostingsCache::write`] when dropped, whether the write succeeded
/// or not.
pub(crate) struct WriteGuard<'a> {
    cache: &'a PostingsCache,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.cache.generation.fetch_add(1, Ordering::SeqCst);
        // Emptying costs a pass over the tables; ingest without lookups skips it.
        if !self.cache.entries.is_empty() {
            self.cache.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_an_earlier_generation_are_not_served() {
        let cache = PostingsCache::new(1 << 20);
        let before = cache.begin_read().expect("no write under way");
        cache.insert(7, before, Some(&[1, 2, 3]));
        cache.insert(8, before, None);
        assert!(matches!(cache.get(7, before), Cached::Value(v) if *v == [1, 2, 3]));
        assert!(matches!(cache.get(8, before), Cached::Absent));
        assert!(matches!(cache.get(9, before), Cached::Unknown));

        let write = cache.write();
        assert_eq!(
            cache.begin_read(),
            None,
            "no reads from the cache mid-write"
        );
        assert!(!cache.still(before));
        // A reader that validated `before` and inserts late must not be served later.
        cache.insert(7, before, Some(&[1, 2, 3]));
        drop(write);

        let after = cache.begin_read().expect("the write ended");
        assert_ne!(after, before);
        assert!(matches!(cache.get(7, after), Cached::Unknown));
        assert!(matches!(cache.get(8, after), Cached::Unknown));
    }

    #[test]
    fn stays_within_its_budget() {
        let cache = PostingsCache::new(64 << 10);
        let generation = cache.begin_read().expect("no write under way");
        let value = [0u8; 200];
        for hash in 0..10_000 {
            cache.insert(hash, generation, Some(&value));
        }
        assert!(cache.weight() <= 64 << 10, "{} bytes", cache.weight());
        assert!(cache.weight() > 0);
    }
}
