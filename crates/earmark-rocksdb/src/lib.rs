//! An Earmark index on disk: [`RocksStore`] implements [`earmark_index::Store`] over an
//! embedded RocksDB database in one directory.
//!
//! ```
//! use earmark_core::{HashConfig, Landmark};
//! use earmark_index::{NewTrack, Store, TrackId, TrackMeta};
//! use earmark_rocksdb::RocksStore;
//!
//! let dir = tempfile::tempdir()?;
//! let store = RocksStore::create_or_open(dir.path().join("index"), HashConfig::DEFAULT.id)?;
//! // Usually from a fingerprint (`NewTrack::from_fingerprint`), which identifying
//! // audio needs: the matcher verifies against it. Any landmarks will do for lookups.
//! let track = NewTrack {
//!     id: TrackId::new("song-1")?,
//!     meta: TrackMeta::default(),
//!     duration_s: 5.0,
//!     content_hash: None,
//!     landmarks: (0..500)
//!         .map(|i| Landmark { hash: i * 7_919 % (1 << 23), frame: i as u32, aux: 0 })
//!         .collect(),
//!     fingerprint: None,
//! };
//! let (_, record) = store.put_track(&track)?;
//! let found = store.lookup(&[track.landmarks[0].hash], 100)?;
//! assert!(found[0].iter().any(|p| p.track == record.idx));
//! drop(store);
//!
//! // Query commands open without ever creating an index.
//! let store = RocksStore::open_existing(dir.path().join("index"))?;
//! assert_eq!(store.stats()?.tracks, 1);
//! assert!(RocksStore::open_existing(dir.path().join("elsewhere")).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! One column family per kind of record (layout version [`FORMAT_VERSION`]; an index
//! of another version is refused, and one of an earlier release is rebuilt with
//! `earmark ingest`, never migrated). A golden test pins every stored byte of a small
//! index, so a change to any of this is deliberate and versioned:
//!
//! | column family | key | value |
//! |---|---|---|
//! | `meta` | `format_version`, `hash_config_id`, `next_idx`, `tracks`, `postings`, `duration_us` | big-endian integers |
//! | `meta` | `presence` | a bitmap of the hash values with postings (see below) |
//! | `packed_postings` | a hash's bucket (its top 24 bits), big-endian, 3 bytes | the postings of the bucket's hashes as [`earmark_index::posting`] codes them: each with its hash's low 16 bits, ascending by those and by track, in bits |
//! | `tracks` | track id | [`TrackRecord`](earmark_index::TrackRecord) as JSON |
//! | `track_idx` | track idx, u32 big-endian | track id |
//! | `track_hashes` | track idx, u32 big-endian | a tag, then the track's fingerprint in its wire form (when its landmarks are that fingerprint's) or its distinct hashes, ascending, varint deltas |
//! | `content` | SHA-256 of the source file, hex | track id |
//!
//! The postings live in RocksDB's plain tables: a hash index of the keys built in
//! memory when a table opens, values read in place from the memory map (decision
//! 0022); the other column families are block-based tables behind a block cache.
//!
//! Adding a track adds one operand per bucket (its postings there, in a simple byte
//! form) as a RocksDB merge, so ingest never reads postings. Operands concatenate;
//! RocksDB folds them into the bucket's value as it compacts (or when a read needs the
//! value), decoding the stored value and coding it again with the new tracks' postings
//! sorted in. Replacing or deleting a track reads the values of its buckets (from
//! `track_hashes`: its hashes listed there, or recomputed from the fingerprint kept
//! there) and rewrites them without it.
//!
//! # Presence bitmap
//! A lookup first tests each hash against a bitmap of the hash values that have
//! postings (1 MiB, one bit per 23-bit value, wider hashes folded in) and asks RocksDB
//! only for the rest. In a catalog that uses a small part of the hash space most of a
//! query's hashes are absent, and the bit test is far cheaper than RocksDB's batched
//! get; once the catalog uses most values, nearly every test passes and it costs
//! nothing. Each track's write batch carries the bits it sets, so the stored bitmap
//! always covers the stored tracks. Bits are never cleared.
//!
//! # Postings cache
//! [`RocksStore::with_postings_cache`] keeps the stored values of buckets looked up
//! before in a concurrent hash map, so that a hot bucket costs a probe instead of a
//! RocksDB read (the service turns it on; it is off by default). Entries
//! are tagged with the write generation they were read at and used only by lookups
//! whose snapshot shows that same generation, so a lookup still sees each track whole
//! or not at all; each write empties the cache, and a [`Follower`]'s reopened instance
//! starts with an empty one.
//!
//! # Consistency
//! Every track write (put, replace, delete) is one `WriteBatch` holding the postings,
//! the records, the content entry and the counters in `meta`, written through the
//! write-ahead log: a process killed mid-ingest leaves each track fully in or fully
//! out. Batches are not synced to disk one by one, so a power loss can drop the last
//! tracks written (each still whole or absent). Writers are serialised inside the
//! store, since each reads what it rewrites.
//!
//! # Reading while another process writes
//! RocksDB lets one process open a directory for writing. While the CLI ingests into
//! an index as the primary ([`RocksStore::create_or_open`]), a service follows it with
//! a [`Follower`]: a secondary instance, reopened whenever the primary's files changed
//! (each track appears whole), rather than RocksDB's incremental catch-up, which
//! failed or double-counted merged postings here when the primary compacted between
//! two calls. [`Follower::spawn_catch_up`] runs that on a timer.
//! [`RocksStore::open_read_only`] gives a fixed view as of opening, for tools that
//! read once.
//!
//! # Stats
//! Tracks, postings and hours are exact counters kept in `meta`. Postings keys (the
//! buckets) are RocksDB's `estimate-num-keys`, which counts unmerged operands and so runs high after
//! an ingest until [`RocksStore::compact`]; [`RocksStore::count_hashes`] scans for the
//! exact number of distinct hashes. Bytes are the apparent sizes of all files in the directory (tables,
//! write-ahead log, manifest, RocksDB's own log), what the index costs on disk now.
//!
//! # Left out
//! Replication and sharding (one directory, one machine), backups and checkpoints,
//! migrating indexes of other layouts (refused: rebuild them), and tuning knobs: the
//! block cache size and compression are fixed in `options.rs` (only the postings
//! cache's budget is chosen at open).

mod error;
mod follower;
mod layout;
mod open;
mod options;
mod postings_cache;
mod presence;
mod read;
mod store;
#[cfg(test)]
mod tests;
mod write;

pub use error::{Error, Result};
pub use follower::{CatchUp, CatchUpTask, Follower};
pub use layout::FORMAT_VERSION;
pub use store::{Mode, RocksStore};
