//! The decision log: every check decision, appended, never rewritten; and the reports
//! a rights holder reads from it.
//!
//! [`FileLog`] keeps one JSON object per line in a file beside the index. A crash in
//! the middle of a line leaves a partial last line, which readers skip. Reports scan the
//! whole log: fine for the volumes of a single node, and the place to add rollups when
//! it is not.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use earmark_rights::{Decision, Rule, timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// How the content was given: `audio`, `fingerprint` or `content_hash`.
    pub input: String,
}

/// Where decisions go.
pub trait DecisionLog: Send + Sync {
    /// Appends one record.
    ///
    /// # Errors
    /// I/O failures.
    fn append(&self, record: &DecisionRecord) -> std::io::Result<()>;

    /// Calls `visit` for every record, oldest first.
    ///
    /// # Errors
    /// I/O failures.
    fn scan(&self, visit: &mut dyn FnMut(DecisionRecord)) -> std::io::Result<()>;
}

/// A log in memory (tests, embedding).
#[derive(Debug, Default)]
pub struct MemoryLog {
    records: Mutex<Vec<DecisionRecord>>,
}

impl DecisionLog for MemoryLog {
    fn append(&self, record: &DecisionRecord) -> std::io::Result<()> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record.clone());
        Ok(())
    }

    fn scan(&self, visit: &mut dyn FnMut(DecisionRecord)) -> std::io::Result<()> {
        let records = self
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        records.into_iter().for_each(visit);
        Ok(())
    }
}

/// A JSON-lines file opened for appending.
#[derive(Debug)]
pub struct FileLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileLog {
    /// Opens or creates the log.
    ///
    /// # Errors
    /// I/O failures.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        // A crash mid-write leaves a last line without its newline: end it, so the next
        // record starts on a line of its own instead of joining the torn one.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl DecisionLog for FileLog {
    fn append(&self, record: &DecisionRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        // One write per record on an append-mode file: lines never interleave.
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(&line)
    }

    fn scan(&self, visit: &mut dyn FnMut(DecisionRecord)) -> std::io::Result<()> {
        let reader = BufReader::new(File::open(&self.path)?);
        for line in reader.split(b'\n') {
            // A line cut short by a crash does not parse and is skipped.
            if let Ok(record) = serde_json::from_slice::<DecisionRecord>(&line?) {
                visit(record);
            }
        }
        Ok(())
    }
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
    fn add(&mut self, d: Decision) {
        match d {
            Decision::Allow => self.allow += 1,
            Decision::Block => self.block += 1,
            Decision::Review => self.review += 1,
        }
        self.total += 1;
    }
}

/// What [`build_report`] is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    /// Only decisions about this holder's tracks; `None`: all decisions (admins).
    pub rights_holder: Option<String>,
    /// Only decisions at or after, unix seconds.
    pub since_unix_s: Option<i64>,
    /// Only decisions before, unix seconds.
    pub until_unix_s: Option<i64>,
    /// How many of the newest decisions to list.
    pub recent: usize,
}

/// A rights holder's view of the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Report {
    /// The holder reported on; `None`: everyone.
    pub rights_holder: Option<String>,
    /// Over all the decisions reported on.
    pub totals: Counts,
    /// Per track, most decisions first.
    pub per_track: Vec<Counts>,
    /// Per network, most decisions first.
    pub per_network: Vec<Counts>,
    /// Per UTC day, oldest first.
    pub per_day: Vec<Counts>,
    /// The newest decisions, newest first.
    pub recent: Vec<DecisionRecord>,
}

/// Aggregates the log for `query`.
///
/// # Errors
/// I/O failures of the log.
pub fn build_report(log: &dyn DecisionLog, query: &ReportQuery) -> std::io::Result<Report> {
    let mut totals = Counts {
        key: "all".into(),
        ..Counts::default()
    };
    let mut per_track: BTreeMap<String, Counts> = BTreeMap::new();
    let mut per_network: BTreeMap<String, Counts> = BTreeMap::new();
    let mut per_day: BTreeMap<String, Counts> = BTreeMap::new();
    let mut recent = std::collections::VecDeque::with_capacity(query.recent + 1);
    log.scan(&mut |r| {
        if let Some(holder) = &query.rights_holder
            && r.rights_holder.as_ref() != Some(holder)
        {
            return;
        }
        if query.since_unix_s.is_some_and(|s| r.at_unix_s < s)
            || query.until_unix_s.is_some_and(|u| r.at_unix_s >= u)
        {
            return;
        }
        totals.add(r.decision);
        let track = r.track_id.clone().unwrap_or_else(|| "(no match)".into());
        count(&mut per_track, track, r.decision);
        count(&mut per_network, r.network.clone(), r.decision);
        count(
            &mut per_day,
            timestamp::format_date(r.at_unix_s),
            r.decision,
        );
        if query.recent > 0 {
            if recent.len() == query.recent {
                recent.pop_front();
            }
            recent.push_back(r);
        }
    })?;
    let by_total = |m: BTreeMap<String, Counts>| {
        let mut v: Vec<Counts> = m.into_values().collect();
        v.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
        v
    };
    Ok(Report {
        rights_holder: query.rights_holder.clone(),
        totals,
        per_track: by_total(per_track),
        per_network: by_total(per_network),
        per_day: per_day.into_values().collect(),
        recent: recent.into_iter().rev().collect(),
    })
}

fn count(map: &mut BTreeMap<String, Counts>, key: String, d: Decision) {
    map.entry(key.clone())
        .or_insert_with(|| Counts {
            key,
            ..Counts::default()
        })
        .add(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        at: i64,
        network: &str,
        track: Option<&str>,
        holder: Option<&str>,
        d: Decision,
    ) -> DecisionRecord {
        DecisionRecord {
            at_unix_s: at,
            request_id: format!("r{at}"),
            network: network.into(),
            territory: None,
            decision: d,
            rule: Rule::Policy,
            track_id: track.map(str::to_owned),
            rights_holder: holder.map(str::to_owned),
            confidence: Some(0.9),
            input: "fingerprint".into(),
        }
    }

    #[test]
    fn file_log_appends_skips_torn_lines_and_reports_per_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.jsonl");
        let log = FileLog::open(&path).expect("open");
        let day = 86_400;
        log.append(&record(10, "net-a", Some("a1"), Some("A"), Decision::Block))
            .expect("append");
        log.append(&record(20, "net-b", Some("a1"), Some("A"), Decision::Allow))
            .expect("append");
        log.append(&record(
            day + 5,
            "net-a",
            Some("a2"),
            Some("A"),
            Decision::Block,
        ))
        .expect("append");
        log.append(&record(
            day + 6,
            "net-a",
            Some("b1"),
            Some("B"),
            Decision::Block,
        ))
        .expect("append");
        log.append(&record(day + 7, "net-a", None, None, Decision::Allow))
            .expect("append");
        // A torn line from a crash mid-write, then a reopen and more appends.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"at_unix_s\":9"))
            .expect("torn");
        drop(log);
        let log = FileLog::open(&path).expect("reopen");
        log.append(&record(
            day + 8,
            "net-b",
            Some("a2"),
            Some("A"),
            Decision::Review,
        ))
        .expect("append");

        let report = build_report(
            &log,
            &ReportQuery {
                rights_holder: Some("A".into()),
                recent: 2,
                ..ReportQuery::default()
            },
        )
        .expect("report");
        assert_eq!((report.totals.total, report.totals.block), (4, 2));
        assert_eq!(report.per_track.len(), 2);
        assert_eq!(report.per_network[0].key, "net-a");
        assert_eq!(report.per_network[0].total, 2);
        assert_eq!(
            report
                .per_day
                .iter()
                .map(|c| (c.key.as_str(), c.total))
                .collect::<Vec<_>>(),
            [("1970-01-01", 2), ("1970-01-02", 2)]
        );
        assert_eq!(report.recent.len(), 2);
        assert_eq!(report.recent[0].at_unix_s, day + 8);
        assert_eq!(report.recent[1].at_unix_s, day + 5);
        assert!(
            report
                .recent
                .iter()
                .all(|r| r.rights_holder.as_deref() == Some("A"))
        );

        let all = build_report(&log, &ReportQuery::default()).expect("report");
        assert_eq!(all.totals.total, 6);
        let windowed = build_report(
            &log,
            &ReportQuery {
                since_unix_s: Some(day),
                until_unix_s: Some(day + 7),
                ..ReportQuery::default()
            },
        )
        .expect("report");
        assert_eq!(windowed.totals.total, 2);
    }
}
