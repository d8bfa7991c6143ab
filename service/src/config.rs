//! The service's configuration: defaults, then an optional JSON file, then `EARMARK_*`
//! environment variables; the command line applies its flags last.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use earmark_rights::{Decision, RightsConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything the service can be told. Every field has a default, so an index
/// directory is all a local trial needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The index directory (`EARMARK_INDEX`, default `earmark.db`).
    pub index: PathBuf,
    /// Address to listen on (`EARMARK_LISTEN`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// The hashed API keys (`EARMARK_KEYS`, default `<index>.keys.json` beside the index).
    pub keys_file: Option<PathBuf>,
    /// The decision log behind the reports, a RocksDB database of its own
    /// (`EARMARK_DECISIONS`, default `<index>.decisions` beside the index). One
    /// service process holds it; each instance serving the same index needs its own.
    pub decisions_db: Option<PathBuf>,
    /// Days the decision log keeps decisions and their counts, 0 for ever
    /// (`EARMARK_DECISION_RETENTION_DAYS`, default 90). Older ones are forgotten once
    /// an hour.
    pub decision_retention_days: u32,
    /// Largest audio upload in bytes (`EARMARK_MAX_AUDIO_BYTES`, default 64 MiB).
    pub max_audio_bytes: u64,
    /// Largest JSON or binary fingerprint body in bytes (`EARMARK_MAX_BODY_BYTES`,
    /// default 4 MiB).
    pub max_body_bytes: u64,
    /// Longest audio a request may carry, seconds, decoded or as a fingerprint
    /// (`EARMARK_MAX_AUDIO_SECONDS`, default 3600: a one-hour mix). Decoding stops
    /// there, so no upload costs more than this much audio's work.
    pub max_audio_s: f64,
    /// Most tracks a rights holder may have in the catalog through the service, 0 for
    /// no limit (`EARMARK_QUOTA_TRACKS`, default 100,000).
    pub quota_tracks: u64,
    /// Most hours of audio a rights holder may have, 0 for no limit
    /// (`EARMARK_QUOTA_HOURS`, default 10,000).
    pub quota_hours: f64,
    /// Most postings a rights holder's tracks may add to the index, 0 for no limit
    /// (`EARMARK_QUOTA_POSTINGS`, default 4,000,000,000: about 8,000 hours of
    /// music). Postings are what a track costs every query sharing its hashes.
    pub quota_postings: u64,
    /// Longest a request may take, seconds (`EARMARK_REQUEST_TIMEOUT_S`, default 60).
    pub request_timeout_s: f64,
    /// Longest a client may take to send a request's head, seconds, counted from when
    /// the service starts reading it, including on an idle kept-alive connection
    /// (`EARMARK_HEADER_READ_TIMEOUT_S`, default 10); the connection is closed after.
    pub header_read_timeout_s: f64,
    /// Longest a client may take to send a whole body, seconds, counted from when the
    /// service starts reading it (`EARMARK_BODY_READ_TIMEOUT_S`, default 30); 408 after.
    pub body_read_timeout_s: f64,
    /// Connections open at once (`EARMARK_MAX_CONNECTIONS`, default 1024). At the cap the
    /// service accepts no more until one closes; slow clients are cut by the timeouts.
    pub max_connections: usize,
    /// API requests handled at once; more wait (`EARMARK_MAX_CONCURRENT`, default 256).
    pub max_concurrent: usize,
    /// API requests one key may have handled at once, taken before the global limit
    /// (`EARMARK_MAX_CONCURRENT_PER_KEY`, default a quarter of `max_concurrent`), so
    /// that one key's slow uploads cannot hold every slot.
    pub max_concurrent_per_key: Option<usize>,
    /// Matching and store tasks run at once; more wait their turn in order
    /// (`EARMARK_CPU_WORKERS`, default four per core). Few enough that a task, once
    /// started, runs to its end without sharing a core with dozens of others, which
    /// keeps the latency tail short under load; enough that the cores stay busy while
    /// tasks are handed to and from the blocking pool (at two per core they idled
    /// about 3 % of the time under load).
    pub cpu_workers: usize,
    /// Turns of the worker pool one key may hold at once (`EARMARK_CPU_WORKERS_PER_KEY`,
    /// default half of `cpu_workers`, at least 1), so that other keys always get turns.
    pub cpu_workers_per_key: Option<usize>,
    /// Requests per second per key, 0 for no limit (`EARMARK_RATE_LIMIT_PER_S`,
    /// default 100).
    pub rate_limit_per_s: f64,
    /// Requests a key may send at once before the rate applies
    /// (`EARMARK_RATE_LIMIT_BURST`, default 200).
    pub rate_limit_burst: f64,
    /// Sub-hop shifted analyses per audio query (`EARMARK_QUERY_SHIFTS`, default 2).
    pub query_shifts: usize,
    /// Memory for the postings of hashes that checks ask for often, in MiB
    /// (`EARMARK_POSTINGS_CACHE_MIB`, default 256; 0 reads every posting from
    /// RocksDB). The hot part of a catalog answers from a hash map instead of
    /// RocksDB's block search, about half of a check's CPU.
    pub postings_cache_mib: u64,
    /// Thresholds and catalog defaults of the rights decision
    /// (`EARMARK_REVIEW_CONFIDENCE`, `EARMARK_MATCH_CONFIDENCE`,
    /// `EARMARK_DEFAULT_DECISION`).
    pub rights: RightsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            index: PathBuf::from("earmark.db"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            keys_file: None,
            decisions_db: None,
            decision_retention_days: 90,
            max_audio_bytes: 64 << 20,
            max_body_bytes: 4 << 20,
            max_audio_s: 3600.0,
            quota_tracks: 100_000,
            quota_hours: 10_000.0,
            quota_postings: 4_000_000_000,
            request_timeout_s: 60.0,
            header_read_timeout_s: 10.0,
            body_read_timeout_s: 30.0,
            max_connections: 1024,
            max_concurrent: 256,
            max_concurrent_per_key: None,
            cpu_workers: 4 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu_workers_per_key: None,
            rate_limit_per_s: 100.0,
            rate_limit_burst: 200.0,
            query_shifts: 2,
            postings_cache_mib: 256,
            rights: RightsConfig::default(),
        }
    }
}

/// The rates a key may be limited to (0 is no limit), a second. Bounded so that the
/// limiter's period, and the period times the burst, stay representable: at most
/// 1,000 s a request.
pub(crate) const RATE_LIMIT_PER_S: std::ops::RangeInclusive<f64> = 0.001..=1e6;
/// The bursts a key may be allowed: at most 1,000,000 requests at once.
pub(crate) const RATE_LIMIT_BURST: std::ops::RangeInclusive<f64> = 1.0..=1e6;
/// The longest any timeout may be, seconds: a day. Far below where a `Duration` overflows.
const MAX_TIMEOUT_S: f64 = 86_400.0;
/// The most connections, requests or workers a limit may allow at once; far below
/// where a semaphore would refuse the count.
const MAX_PERMITS: usize = 1_000_000;

impl Config {
    /// Defaults, then `file` (JSON, any subset of the fields) if given, then the
    /// process's `EARMARK_*` environment variables.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Config`] when it or a
    /// variable does not parse.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
                serde_json::from_str(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
            }
            None => Config::default(),
        };
        config.apply_env(std::env::vars())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `EARMARK_*` variables from `vars`; others are ignored.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that does not parse.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
            value
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("{name}={value:?} does not parse")))
        }
        for (name, value) in vars {
            match name.as_str() {
                "EARMARK_INDEX" => self.index = PathBuf::from(value),
                "EARMARK_LISTEN" => self.listen = parse(&name, &value)?,
                "EARMARK_KEYS" => self.keys_file = Some(PathBuf::from(value)),
                "EARMARK_DECISIONS" => self.decisions_db = Some(PathBuf::from(value)),
                "EARMARK_DECISION_RETENTION_DAYS" => {
                    self.decision_retention_days = parse(&name, &value)?;
                }
                "EARMARK_MAX_AUDIO_BYTES" => self.max_audio_bytes = parse(&name, &value)?,
                "EARMARK_MAX_BODY_BYTES" => self.max_body_bytes = parse(&name, &value)?,
                "EARMARK_MAX_AUDIO_SECONDS" => self.max_audio_s = parse(&name, &value)?,
                "EARMARK_QUOTA_TRACKS" => self.quota_tracks = parse(&name, &value)?,
                "EARMARK_QUOTA_HOURS" => self.quota_hours = parse(&name, &value)?,
                "EARMARK_QUOTA_POSTINGS" => self.quota_postings = parse(&name, &value)?,
                "EARMARK_REQUEST_TIMEOUT_S" => self.request_timeout_s = parse(&name, &value)?,
                "EARMARK_HEADER_READ_TIMEOUT_S" => {
                    self.header_read_timeout_s = parse(&name, &value)?;
                }
                "EARMARK_BODY_READ_TIMEOUT_S" => self.body_read_timeout_s = parse(&name, &value)?,
                "EARMARK_MAX_CONNECTIONS" => self.max_connections = parse(&name, &value)?,
                "EARMARK_MAX_CONCURRENT" => self.max_concurrent = parse(&name, &value)?,
                "EARMARK_MAX_CONCURRENT_PER_KEY" => {
                    self.max_concurrent_per_key = Some(parse(&name, &value)?);
                }
                "EARMARK_CPU_WORKERS" => self.cpu_workers = parse(&name, &value)?,
                "EARMARK_CPU_WORKERS_PER_KEY" => {
                    self.cpu_workers_per_key = Some(parse(&name, &value)?);
                }
                "EARMARK_RATE_LIMIT_PER_S" => self.rate_limit_per_s = parse(&name, &value)?,
                "EARMARK_RATE_LIMIT_BURST" => self.rate_limit_burst = parse(&name, &value)?,
                "EARMARK_QUERY_SHIFTS" => self.query_shifts = parse(&name, &value)?,
                "EARMARK_POSTINGS_CACHE_MIB" => self.postings_cache_mib = parse(&name, &value)?,
                "EARMARK_REVIEW_CONFIDENCE" => {
                    self.rights.review_confidence = parse(&name, &value)?;
                }
                "EARMARK_MATCH_CONFIDENCE" => self.rights.match_confidence = parse(&name, &value)?,
                "EARMARK_DEFAULT_DECISION" => {
                    self.rights.default_decision = match value.trim() {
                        "allow" => Decision::Allow,
                        "block" => Decision::Block,
                        "review" => Decision::Review,
                        _ => {
                            return Err(Error::Config(format!(
                                "{name}={value:?}: expected allow, block or review"
                            )));
                        }
                    };
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks that the values make sense together.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad value.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        for (name, seconds) in [
            ("request_timeout_s", self.request_timeout_s),
            ("header_read_timeout_s", self.header_read_timeout_s),
            ("body_read_timeout_s", self.body_read_timeout_s),
        ] {
            // Also refuses NaN, which every comparison fails.
            if !(seconds > 0.0 && seconds <= MAX_TIMEOUT_S) {
                return Err(Error::Config(format!(
                    "{name} must be more than 0 and at most {MAX_TIMEOUT_S} (a day)"
                )));
            }
        }
        if !(1.0..=6.0 * 3600.0).contains(&self.max_audio_s) {
            return bad("max_audio_s must be 1 to 21600 (six hours)");
        }
        if !(self.quota_hours >= 0.0 && self.quota_hours.is_finite()) {
            return bad("quota_hours must be 0 (no limit) or a positive number");
        }
        for (name, count) in [
            ("max_connections", self.max_connections),
            ("max_concurrent", self.max_concurrent),
            ("cpu_workers", self.cpu_workers),
        ] {
            if !(1..=MAX_PERMITS).contains(&count) {
                return Err(Error::Config(format!("{name} must be 1 to {MAX_PERMITS}")));
            }
        }
        if self
            .max_concurrent_per_key
            .is_some_and(|n| !(1..=self.max_concurrent).contains(&n))
        {
            return bad("max_concurrent_per_key must be 1 to max_concurrent");
        }
        if self
            .cpu_workers_per_key
            .is_some_and(|n| !(1..=self.cpu_workers).contains(&n))
        {
            return bad("cpu_workers_per_key must be 1 to cpu_workers");
        }
        if !(1..=16).contains(&self.query_shifts) {
            return bad("query_shifts must be 1 to 16");
        }
        if self.postings_cache_mib > MAX_POSTINGS_CACHE_MIB {
            return bad("postings_cache_mib must be at most 1048576 (1 TiB)");
        }
        let per_s = self.rate_limit_per_s;
        if !(per_s == 0.0 || RATE_LIMIT_PER_S.contains(&per_s))
            || !RATE_LIMIT_BURST.contains(&self.rate_limit_burst)
        {
            return bad(
                "rate_limit_per_s must be 0 (no limit) or 0.001 to 1000000, \
                 and rate_limit_burst 1 to 1000000",
            );
        }
        let r = &self.rights;
        if !(0.0..=1.0).contains(&r.review_confidence)
            || !(0.0..=1.0).contains(&r.match_confidence)
            || r.review_confidence > r.match_confidence
        {
            return bad("confidences must be in [0, 1] with review <= match");
        }
        Ok(())
    }

    /// The keys file in use.
    pub fn keys_path(&self) -> PathBuf {
        self.keys_file
            .clone()
            .unwrap_or_else(|| beside(&self.index, "keys.json"))
    }

    /// The decision log in use.
    pub fn decisions_path(&self) -> PathBuf {
        self.decisions_db
            .clone()
            .unwrap_or_else(|| beside(&self.index, "decisions"))
    }

    /// The postings cache's budget in bytes.
    pub fn postings_cache_bytes(&self) -> u64 {
        self.postings_cache_mib.min(MAX_POSTINGS_CACHE_MIB) << 20
    }

    /// The quota every rights holder's uploads are held to.
    pub fn holder_quota(&self) -> earmark_index::HolderQuota {
        earmark_index::HolderQuota {
            tracks: (self.quota_tracks > 0).then_some(self.quota_tracks),
            hours: (self.quota_hours > 0.0).then_some(self.quota_hours),
            postings: (self.quota_postings > 0).then_some(self.quota_postings),
        }
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        seconds(self.request_timeout_s)
    }

    /// The timeout for a request's head.
    pub fn header_read_timeout(&self) -> Duration {
        seconds(self.header_read_timeout_s)
    }

    /// The timeout for a whole request body.
    pub fn body_read_timeout(&self) -> Duration {
        seconds(self.body_read_timeout_s)
    }

    /// API requests one key may have handled at once.
    pub fn per_key_requests(&self) -> usize {
        self.max_concurrent_per_key
            .unwrap_or(self.max_concurrent / 4)
            .clamp(1, self.max_concurrent.max(1))
    }

    /// Turns of the worker pool one key may hold at once.
    pub fn per_key_cpu_workers(&self) -> usize {
        self.cpu_workers_per_key
            .unwrap_or(self.cpu_workers / 2)
            .clamp(1, self.cpu_workers.max(1))
    }
}

/// A duration of `s` seconds, held within what [`Config::validate`] accepts so that a
/// configuration built in code and never checked cannot make it panic.
fn seconds(s: f64) -> Duration {
    let s = if s.is_nan() { MAX_TIMEOUT_S } else { s };
    Duration::from_secs_f64(s.clamp(0.0, MAX_TIMEOUT_S))
}

/// A bound that keeps the budget in bytes far from overflow.
const MAX_POSTINGS_CACHE_MIB: u64 = 1 << 20;

/// `<index>.<suffix>` in the index's parent directory.
fn beside(index: &Path, suffix: &str) -> PathBuf {
    let mut name = index
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "earmark".into());
    name.push(".");
    name.push(suffix);
    index.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_files_sit_beside_the_index() {
        let c = Config {
            index: PathBuf::from("/srv/catalog.db"),
            ..Config::default()
        };
        c.validate().expect("valid");
        assert_eq!(c.keys_path(), PathBuf::from("/srv/catalog.db.keys.json"));
        assert_eq!(
            c.decisions_path(),
            PathBuf::from("/srv/catalog.db.decisions")
        );
    }

    #[test]
    fn env_overrides() {
        let mut c = Config::default();
        c.apply_env([
            ("EARMARK_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            ("EARMARK_MAX_AUDIO_BYTES".to_owned(), "1000".to_owned()),
            ("EARMARK_DEFAULT_DECISION".to_owned(), "review".to_owned()),
            ("EARMARK_CPU_WORKERS".to_owned(), "3".to_owned()),
            ("EARMARK_POSTINGS_CACHE_MIB".to_owned(), "0".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ])
        .expect("parses");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.max_audio_bytes, 1000);
        assert_eq!(c.cpu_workers, 3);
        assert_eq!(c.postings_cache_bytes(), 0);
        assert_eq!(c.rights.default_decision, Decision::Review);
        let err = c.apply_env([("EARMARK_QUERY_SHIFTS".to_owned(), "many".to_owned())]);
        assert!(matches!(err, Err(Error::Config(m)) if m.contains("EARMARK_QUERY_SHIFTS")));
    }

    #[test]
    fn file_form_is_partial_json() {
        let c: Config =
            serde_json::from_str(r#"{"max_concurrent": 8, "rights": {"match_confidence": 0.6}}"#)
                .expect("parses");
        assert_eq!(c.max_concurrent, 8);
        assert_eq!(c.rights.match_confidence, 0.6);
        assert_eq!(c.rights.review_confidence, 0.35);
        assert!(serde_json::from_str::<Config>(r#"{"max_concurent": 8}"#).is_err());
    }

    #[test]
    fn cpu_workers_default_to_four_per_core_and_never_zero() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(Config::default().cpu_workers, 4 * cores);
        let none = Config {
            cpu_workers: 0,
            ..Config::default()
        };
        assert!(matches!(none.validate(), Err(Error::Config(m)) if m.contains("cpu_workers")));
    }

    /// Every duration and float from the environment that is not a number, infinite,
    /// out of its range or would overflow a `Duration` is refused at start-up, naming
    /// the field, instead of panicking later.
    #[test]
    fn bad_numbers_are_refused_by_name() {
        let fields = [
            ("EARMARK_REQUEST_TIMEOUT_S", "request_timeout_s"),
            ("EARMARK_HEADER_READ_TIMEOUT_S", "header_read_timeout_s"),
            ("EARMARK_BODY_READ_TIMEOUT_S", "body_read_timeout_s"),
            ("EARMARK_RATE_LIMIT_PER_S", "rate_limit_per_s"),
            ("EARMARK_RATE_LIMIT_BURST", "rate_limit_burst"),
            ("EARMARK_REVIEW_CONFIDENCE", "confidences"),
            ("EARMARK_MATCH_CONFIDENCE", "confidences"),
        ];
        for (variable, field) in fields {
            for value in ["1e300", "NaN", "inf", "-inf", "-1"] {
                let mut c = Config::default();
                c.apply_env([(variable.to_owned(), value.to_owned())])
                    .expect("parses as a float");
                let refused = c.validate();
                assert!(
                    matches!(&refused, Err(Error::Config(m)) if m.contains(field)),
                    "{variable}={value}: {refused:?}"
                );
            }
        }
        for variable in [
            "EARMARK_REQUEST_TIMEOUT_S",
            "EARMARK_HEADER_READ_TIMEOUT_S",
            "EARMARK_BODY_READ_TIMEOUT_S",
        ] {
            for value in ["0", "86401"] {
                let mut c = Config::default();
                c.apply_env([(variable.to_owned(), value.to_owned())])
                    .expect("parses");
                assert!(c.validate().is_err(), "{variable}={value}");
            }
            let mut c = Config::default();
            c.apply_env([(variable.to_owned(), "86400".to_owned())])
                .expect("parses");
            c.validate().expect("a day is allowed");
        }
        // A file can say 1e300 too.
        let c: Config = serde_json::from_str(r#"{"request_timeout_s": 1e300}"#).expect("parses");
        assert!(c.validate().is_err());
        // An unchecked configuration still gives durations rather than panicking.
        let unchecked = Config {
            request_timeout_s: 1e300,
            header_read_timeout_s: f64::NAN,
            body_read_timeout_s: f64::INFINITY,
            ..Config::default()
        };
        assert_eq!(unchecked.request_timeout(), Duration::from_secs(86_400));
        assert_eq!(unchecked.header_read_timeout(), Duration::from_secs(86_400));
        assert_eq!(unchecked.body_read_timeout(), Duration::from_secs(86_400));
    }

    #[test]
    fn limits_are_bounded_and_per_key_shares_default_to_fractions() {
        let c = Config {
            max_concurrent: 256,
            cpu_workers: 8,
            ..Config::default()
        };
        assert_eq!((c.per_key_requests(), c.per_key_cpu_workers()), (64, 4));
        let one = Config {
            max_concurrent: 1,
            cpu_workers: 1,
            ..Config::default()
        };
        assert_eq!((one.per_key_requests(), one.per_key_cpu_workers()), (1, 1));
        for (variable, value, field) in [
            ("EARMARK_MAX_CONNECTIONS", "0", "max_connections"),
            (
                "EARMARK_MAX_CONNECTIONS",
                "18446744073709551615",
                "max_connections",
            ),
            (
                "EARMARK_MAX_CONCURRENT",
                "18446744073709551615",
                "max_concurrent",
            ),
            ("EARMARK_CPU_WORKERS", "18446744073709551615", "cpu_workers"),
            (
                "EARMARK_MAX_CONCURRENT_PER_KEY",
                "0",
                "max_concurrent_per_key",
            ),
            (
                "EARMARK_MAX_CONCURRENT_PER_KEY",
                "257",
                "max_concurrent_per_key",
            ),
            ("EARMARK_CPU_WORKERS_PER_KEY", "0", "cpu_workers_per_key"),
        ] {
            let mut c = Config {
                max_concurrent: 256,
                ..Config::default()
            };
            c.apply_env([(variable.to_owned(), value.to_owned())])
                .expect("parses");
            let refused = c.validate();
            assert!(
                matches!(&refused, Err(Error::Config(m)) if m.contains(field)),
                "{variable}={value}: {refused:?}"
            );
        }
        let mut c = Config::default();
        c.apply_env([
            ("EARMARK_MAX_CONCURRENT_PER_KEY".to_owned(), "3".to_owned()),
            ("EARMARK_CPU_WORKERS_PER_KEY".to_owned(), "1".to_owned()),
        ])
        .expect("parses");
        c.validate().expect("valid");
        assert_eq!((c.per_key_requests(), c.per_key_cpu_workers()), (3, 1));
    }
}
