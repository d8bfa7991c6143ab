//! Earmark's index: postings in, matches out.
//!
//! [`Store`] is the narrow interface to storage (put a track's postings atomically,
//! look up many hashes at once, delete, read records, stats); [`MemoryStore`] holds an
//! index in memory and the `earmark-rocksdb` crate on disk. The [`matcher`] sees only
//! the trait: it looks up a query's landmarks, votes on time offsets per track,
//! verifies each candidate and reports matches with their offsets.
//!
//! ```
//! use earmark_core::{Fingerprinter, HashConfig};
//! use earmark_index::{identify, MatchConfig, MemoryStore, NewTrack, Store, TrackId, TrackMeta};
//!
//! // A "track": 20 s of a seeded chord sequence at 8 kHz.
//! let rate = 8_000;
//! let mut seed = 1u32;
//! let mut notes = Vec::new();
//! for _ in 0..80 {
//!     seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
//!     notes.push(300.0 + (seed >> 22) as f32);
//! }
//! let audio: Vec<f32> = (0..20 * rate)
//!     .map(|i| {
//!         let f = notes[i / 2_000];
//!         let t = (i % 2_000) as f32 / rate as f32;
//!         0.4 * (2.0 * std::f32::consts::PI * f * t).sin() + 0.2 * (3.1 * f * t).sin()
//!     })
//!     .collect();
//!
//! let fingerprinter = Fingerprinter::default();
//! let hash_config = HashConfig::default();
//! let store = MemoryStore::new(hash_config.id);
//! let fp = fingerprinter.fingerprint_samples(&audio, rate as u32, 1)?;
//! store.put_track(&NewTrack::from_fingerprint(
//!     TrackId::new("chords")?,
//!     TrackMeta::default(),
//!     None,
//!     fp,
//!     &hash_config,
//! ))?;
//!
//! // Query with 5 s from second 8 on.
//! let excerpt = fingerprinter.fingerprint_samples(&audio[8 * rate..13 * rate], rate as u32, 1)?;
//! let matches = identify(&store, &[excerpt], &hash_config, &MatchConfig::default())?;
//! assert_eq!(matches[0].track.id.as_str(), "chords");
//! assert!((matches[0].track_offset_s - 8.0).abs() < 0.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
pub mod ingest;
pub mod matcher;
mod memory;
pub mod posting;
mod store;
mod track;

pub use error::{Error, Result};
pub use ingest::{Added, HolderQuota, Ingest, Limits, OnDuplicate};
pub use matcher::{Match, MatchConfig, identify, identify_exact};
pub use memory::MemoryStore;
pub use posting::{Posting, PostingLists};
pub use store::{HolderUsage, NewTrack, PutOutcome, Store, StoreStats};
pub use track::{TrackId, TrackMeta, TrackRecord};

/// Occurrences of one hash kept per track: past a few, a repeating loop adds cost and
/// no information.
pub const MAX_FRAMES_PER_HASH: usize = 8;
