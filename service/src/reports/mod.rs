//! The decision log: every check decision, recorded; and the reports a rights holder
//! reads from it.
//!
//! [`DecisionLog`] is what the service needs of a log: append a decision, build a
//! report, forget what is older than the retention. [`DecisionDb`] keeps it in a
//! RocksDB database of its own beside the index, laid out so that a report reads only
//! what it returns: decisions keyed by holder and time (the newest page is a short
//! scan back from the end), and counts rolled up per holder, UTC day, track and
//! network as decisions arrive (a report over months reads one small value per day and
//! track or network, never the decisions themselves).

mod db;

use earmark_rights::{Decision, Rule};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use db::DecisionDb;

/// One recorded check decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DecisionRecord {
    /// When, unix seconds.
    pub at_unix_s: i64,
    /// The request's id.
    pub request_id: String,
    /// The network that asked.
    pub network: String,
    /// The territory it named.
    pub territory: Option<String>,
    /// The decision.
    pub decision: Decision,
    /// The rule that decided.
    pub rule: Rule,
    /// The deciding track.
    pub track_id: Option<String>,
    /// Its rights holder.
    pub rights_holder: Option<String>,
    /// The deciding match's confidence.
    pub confidence: Option<f64>,
    /// The deciding match's time scale: content seconds per track second (1.0 for an
    /// unaltered copy).
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// The deciding match's pitch shift, content above track, in semitones.
    #[serde(default)]
    pub pitch_shift_semitones: Option<f64>,
    /// How the content was given: `audio`, `fingerprint` or `content_hash`.
    pub input: String,
}

/// Where decisions go, and where reports come from.
pub trait DecisionLog: Send + Sync {
    /// Records one decision.
    ///
    /// # Errors
    /// Storage failures.
    fn append(&self, record: &DecisionRecord) -> std::io::Result<()>;

    /// The report `query` asks for.
    ///
    /// # Errors
    /// Storage failures, or a malformed paging cursor
    /// ([`std::io::ErrorKind::InvalidInput`]).
    fn report(&self, query: &ReportQuery) -> std::io::Result<Report>;

    /// Forgets every decision before `cutoff_unix_s`, and the counts of the UTC days
    /// wholly before it.
    ///
    /// # Errors
    /// Storage failures.
    fn prune(&self, cutoff_unix_s: i64) -> std::io::Result<()>;
}

/// Counts of one key (a track, a network or a day).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    /// The track id, network name or day (`YYYY-MM-DD`, UTC).
    pub key: String,
    /// Allowed.
    pub allow: u64,
    /// Blocked.
    pub block: u64,
    /// Sent to review.
    pub review: u64,
    /// All three.
    pub total: u64,
}

impl Counts {
    fn add(&mut self, [allow, block, review]: [u64; 3]) {
        self.allow += allow;
        self.block += block;
        self.review += review;
        self.total += allow + block + review;
    }
}

/// What a report is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    /// Only decisions about this holder's tracks; `None`: all decisions (admins).
    pub rights_holder: Option<String>,
    /// Only decisions at or after, unix seconds. Counts are kept per UTC day: they
    /// cover the days from this one's.
    pub since_unix_s: Option<i64>,
    /// Only decisions before, unix seconds; counts cover the days up to the one of the
    /// last second before it.
    pub until_unix_s: Option<i64>,
    /// How many of the newest decisions to list.
    pub recent: usize,
    /// Continue the list of decisions after this cursor (a report's `next`).
    pub before: Option<String>,
}

/// A rights holder's view of the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Report {
    /// The holder reported on; `None`: everyone.
    pub rights_holder: Option<String>,
    /// Over all the days counted.
    pub totals: Counts,
    /// Per track, most decisions first.
    pub per_track: Vec<Counts>,
    /// Per network, most decisions first.
    pub per_network: Vec<Counts>,
    /// Per UTC day, oldest first.
    pub per_day: Vec<Counts>,
    /// The newest decisions, newest first (after `before`, when given).
    pub recent: Vec<DecisionRecord>,
    /// When more decisions follow `recent`: pass it as `before` for the next page.
    pub next: Option<String>,
}
