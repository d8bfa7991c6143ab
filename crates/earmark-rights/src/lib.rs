//! Earmark's rights layer: per-track sharing policies and the decision they lead to.
//!
//! A [`Policy`] (`allow`, `block` or `monitor`, optionally limited to territories and
//! to a validity window) lives as text in a track's `TrackMeta::policy`: a plain word,
//! or a compact JSON object when limited ([`Policy::parse`], [`Policy::encode`]).
//! [`decide`] is a pure function from the matcher's matches and the request's
//! [`Context`] to a [`DecisionOutcome`]: which [`Decision`], which [`Rule`] made it,
//! the deciding track, its rights holder and the confidence.
//!
//! This crate does no I/O: no storage, clock, HTTP or logging. The caller reads the
//! clock into [`Context::at_unix_s`] and records the outcome.
//!
//! ```
//! use earmark_index::{Match, TrackId, TrackMeta, TrackRecord};
//! use earmark_rights::{decide, Context, Decision, Policy, RightsConfig, Rule};
//!
//! let policy = Policy::parse(r#"{"action":"block","territories":["DE"]}"#)?;
//! let track = TrackRecord {
//!     id: TrackId::new("song")?,
//!     idx: 0,
//!     meta: TrackMeta { policy: Some(policy.encode()), ..TrackMeta::default() },
//!     duration_s: 180.0,
//!     hash_config_id: 1,
//!     landmarks: 5_000,
//!     content_hash: None,
//! };
//! let matches = [Match::exact(track)];
//! let config = RightsConfig::default();
//!
//! let in_germany = Context { territory: Some("DE".into()), at_unix_s: 1_700_000_000 };
//! assert_eq!(decide(&matches, &in_germany, &config).decision, Decision::Block);
//!
//! let in_france = Context { territory: Some("FR".into()), at_unix_s: 1_700_000_000 };
//! let outcome = decide(&matches, &in_france, &config);
//! assert_eq!((outcome.decision, outcome.rule), (Decision::Allow, Rule::OutsideTerritory));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decision;
mod error;
mod policy;
pub mod timestamp;

pub use decision::{Context, Decision, DecisionOutcome, RightsConfig, Rule, decide, min_score_for};
pub use error::{Error, Result};
pub use policy::{Action, Applicability, Policy, normalize_territory};
