//! [`DecisionDb`]: the decision log in a RocksDB database of its own.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `default` | `format_version` | u32 big-endian |
//! | `log` | time, sequence | the [`DecisionRecord`] as JSON |
//! | `by_holder` | holder scope, time, sequence | nothing: the holder's decisions, in time order |
//! | `counts` | scope, UTC day, `n` or `t`, network name or track id | allow, block, review: three u64 little-endian, added up by a merge |
//! | `scopes` | scope | nothing: the scopes there are, for pruning |
//!
//! A scope is everyone (`*`, what admins read) or one rights holder (`h`, its name's
//! length as u16 big-endian, its name), so that a holder's report reads its own keys
//! only. Times and days are i64 with the sign bit flipped, big-endian, so that they
//! sort as numbers; the sequence (u64 big-endian, from the clock at opening and counted
//! up) keeps decisions of the same second apart. A record is stored once; a holder's
//! page walks its `by_holder` keys and fetches those records. Each decision is one
//! write batch: the record, its holder's key, and a merge into each counter.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use earmark_rights::Decision;
use earmark_rights::timestamp::format_date;
use rocksdb::{
    ColumnFamilyDescriptor, DB, DBCompressionType, IteratorMode, MergeOperands, Options,
    ReadOptions, WriteBatch,
};

use super::{Counts, DecisionLog, DecisionRecord, Report, ReportQuery};

/// The layout above; a database of another version is refused.
const FORMAT_VERSION: u32 = 1;
const META_FORMAT_VERSION: &[u8] = b"format_version";
const CF_LOG: &str = "log";
const CF_BY_HOLDER: &str = "by_holder";
const CF_COUNTS: &str = "counts";
const CF_SCOPES: &str = "scopes";
const KIND_NETWORK: u8 = b'n';
const KIND_TRACK: u8 = b't';
/// The track key of decisions no track decided.
const NO_MATCH: &str = "(no match)";
const SECONDS_PER_DAY: i64 = 86_400;
/// A stored record's bytes.
type Record = Box<[u8]>;

/// Memtable size per column family.
const WRITE_BUFFER_BYTES: usize = 4 << 20;

/// The decision log on disk.
pub struct DecisionDb {
    db: DB,
    /// Sequence numbers of this process's decisions.
    next_seq: AtomicU64,
    /// The scopes already written to `scopes`.
    scopes: Mutex<HashSet<Vec<u8>>>,
}

impl std::fmt::Debug for DecisionDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionDb")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn rocks(e: rocksdb::Error) -> io::Error {
    io::Error::other(e)
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("decision log: {what}"))
}

/// i64 with the sign bit flipped, big-endian: byte order is numeric order.
fn ordered(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered(bytes: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// The key prefix of everyone's decisions, or of one holder's.
fn scope(holder: Option<&str>) -> Vec<u8> {
    match holder {
        None => vec![b'*'],
        Some(name) => {
            // Holder names come from track metadata; longer ones are cut, not refused.
            let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
            let mut out = Vec::with_capacity(3 + name.len());
            out.push(b'h');
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name);
            out
        }
    }
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The first key after every key that starts with `prefix` (which never ends in
/// 0xff bytes only: scopes start with `*` or `h`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            break;
        }
    }
    end
}

fn day_of(unix_s: i64) -> i64 {
    unix_s.div_euclid(SECONDS_PER_DAY)
}

fn tally(decision: Decision) -> [u8; 24] {
    let mut counts = [0u64; 3];
    counts[match decision {
        Decision::Allow => 0,
        Decision::Block => 1,
        Decision::Review => 2,
    }] = 1;
    encode_counts(counts)
}

fn encode_counts(counts: [u64; 3]) -> [u8; 24] {
    let mut out = [0u8; 24];
    for (slot, n) in out.chunks_exact_mut(8).zip(counts) {
        slot.copy_from_slice(&n.to_le_bytes());
    }
    out
}

fn decode_counts(bytes: &[u8]) -> Option<[u64; 3]> {
    if bytes.len() != 24 {
        return None;
    }
    let mut out = [0u64; 3];
    for (n, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *n = u64::from_le_bytes(chunk.try_into().ok()?);
    }
    Some(out)
}

/// The counters' merge: operands and the stored value add up. A damaged operand
/// fails the merge rather than count wrong.
fn add_counts(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut sum = existing.map_or(Some([0; 3]), decode_counts)?;
    for operand in operands {
        let add = decode_counts(operand)?;
        for (total, n) in sum.iter_mut().zip(add) {
            *total = total.saturating_add(n);
        }
    }
    Some(encode_counts(sum).to_vec())
}

/// A paging cursor: the time and sequence of a listed decision, in hex.
fn cursor(suffix: &[u8]) -> String {
    hex::encode(suffix)
}

fn parse_cursor(text: &str) -> io::Result<Vec<u8>> {
    hex::decode(text)
        .ok()
        .filter(|bytes| bytes.len() == 16)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "`before` must be the `next` of an earlier report",
            )
        })
}

impl DecisionDb {
    /// Opens the log at `path`, creating it when missing.
    ///
    /// # Errors
    /// A database of another layout ([`io::ErrorKind::InvalidData`]), one another
    /// process holds open, or other RocksDB failures.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(2);
        opts.set_max_log_file_size(4 << 20);
        // Decisions arrive at a few hundred KB per second under full load: small
        // memtables flush every few seconds and keep the service's memory flat (the
        // defaults grow it by over 100 MB before the first flush).
        opts.set_db_write_buffer_size(WRITE_BUFFER_BYTES * 2);
        let family = |name: &str| {
            let mut cf = Options::default();
            cf.set_write_buffer_size(WRITE_BUFFER_BYTES);
            cf.set_compression_type(DBCompressionType::Lz4);
            if name == CF_COUNTS {
                cf.set_merge_operator_associative("earmark.add_counts", add_counts);
            }
            ColumnFamilyDescriptor::new(name, cf)
        };
        let db = DB::open_cf_descriptors(
            &opts,
            path,
            [CF_LOG, CF_BY_HOLDER, CF_COUNTS, CF_SCOPES]
                .into_iter()
                .map(family),
        )
        .map_err(|e| {
            let busy = e.to_string().contains("LOCK");
            let what = if busy {
                "is open in another process; give this one a decision log of its own \
                 (`decisions_db`, EARMARK_DECISIONS)"
            } else {
                "cannot be opened"
            };
            io::Error::other(format!("decision log {} {what}: {e}", path.display()))
        })?;
        match db.get(META_FORMAT_VERSION).map_err(rocks)? {
            None => db
                .put(META_FORMAT_VERSION, FORMAT_VERSION.to_be_bytes())
                .map_err(rocks)?,
            Some(v) if v == FORMAT_VERSION.to_be_bytes() => {}
            Some(_) => {
                return Err(damaged(&format!(
                    "{} has another layout than version {FORMAT_VERSION}; move it aside",
                    path.display()
                )));
            }
        }
        let mut scopes = HashSet::new();
        let cf = db
            .cf_handle(CF_SCOPES)
            .ok_or_else(|| damaged("no scopes"))?;
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            scopes.insert(item.map_err(rocks)?.0.to_vec());
        }
        // Sequence numbers go on after the newest stored one, so that keys never
        // repeat, even when the clock stepped back across a restart.
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let log = db.cf_handle(CF_LOG).ok_or_else(|| damaged("no log"))?;
        let after_stored = db
            .iterator_cf(log, IteratorMode::End)
            .next()
            .transpose()
            .map_err(rocks)?
            .and_then(|(k, _)| k.get(8..16).and_then(|s| s.try_into().ok()))
            .map_or(0, |seq: [u8; 8]| u64::from_be_bytes(seq).saturating_add(1));
        Ok(Self {
            db,
            next_seq: AtomicU64::new(clock.max(after_stored)),
            scopes: Mutex::new(scopes),
        })
    }

    fn cf(&self, name: &str) -> io::Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| damaged(&format!("column family {name} missing")))
    }

    /// Adds `scope` to `batch`'s scopes if it is new.
    fn note_scope(&self, batch: &mut WriteBatch, scope: &[u8]) -> io::Result<()> {
        let mut known = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        if known.insert(scope.to_vec()) {
            batch.put_cf(self.cf(CF_SCOPES)?, scope, []);
        }
        Ok(())
    }

    /// Read options over `snapshot`.
    fn reading(snapshot: &rocksdb::Snapshot<'_>) -> ReadOptions {
        let mut read = ReadOptions::default();
        read.set_snapshot(snapshot);
        read
    }

    fn counts(
        &self,
        snapshot: &rocksdb::Snapshot<'_>,
        scope: &[u8],
        query: &ReportQuery,
        report: &mut Report,
    ) -> io::Result<()> {
        let from = query.since_unix_s.map_or(i64::MIN, day_of);
        let mut read = Self::reading(snapshot);
        read.set_iterate_lower_bound(key(&[scope, &ordered(from)]));
        read.set_iterate_upper_bound(match query.until_unix_s {
            Some(until) => key(&[scope, &ordered(day_of(until.saturating_sub(1)) + 1)]),
            None => prefix_end(scope),
        });
        let mut per_track: std::collections::BTreeMap<String, Counts> = Default::default();
        let mut per_network: std::collections::BTreeMap<String, Counts> = Default::default();
        let mut per_day: std::collections::BTreeMap<i64, Counts> = Default::default();
        for item in self
            .db
            .iterator_cf_opt(self.cf(CF_COUNTS)?, read, IteratorMode::Start)
        {
            let (k, v) = item.map_err(rocks)?;
            let rest = k.get(scope.len()..).ok_or_else(|| damaged("short key"))?;
            let (day, rest) = rest
                .split_at_checked(8)
                .ok_or_else(|| damaged("short key"))?;
            let day = from_ordered(day).ok_or_else(|| damaged("bad day"))?;
            let (&kind, name) = rest.split_first().ok_or_else(|| damaged("short key"))?;
            let name = String::from_utf8_lossy(name).into_owned();
            let counts = decode_counts(&v).ok_or_else(|| damaged("bad counts"))?;
            let entry = |map: &mut std::collections::BTreeMap<String, Counts>| {
                map.entry(name.clone())
                    .or_insert_with(|| Counts {
                        key: name.clone(),
                        ..Counts::default()
                    })
                    .add(counts);
            };
            match kind {
                KIND_TRACK => entry(&mut per_track),
                KIND_NETWORK => {
                    entry(&mut per_network);
                    // Every decision has exactly one network: these make the days.
                    per_day
                        .entry(day)
                        .or_insert_with(|| Counts {
                            key: format_date(day * SECONDS_PER_DAY),
                            ..Counts::default()
                        })
                        .add(counts);
                }
                _ => return Err(damaged("unknown counter kind")),
            }
        }
        let by_total = |m: std::collections::BTreeMap<String, Counts>| {
            let mut v: Vec<Counts> = m.into_values().collect();
            v.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
            v
        };
        report.per_track = by_total(per_track);
        report.per_network = by_total(per_network);
        report.per_day = per_day.into_values().collect();
        for day in &report.per_day {
            report.totals.add([day.allow, day.block, day.review]);
        }
        Ok(())
    }

    /// The newest decisions of `holder` (everyone's for `None`) that `query` asks for.
    fn recent(
        &self,
        snapshot: &rocksdb::Snapshot<'_>,
        holder: Option<&str>,
        query: &ReportQuery,
        report: &mut Report,
    ) -> io::Result<()> {
        if query.recent == 0 {
            return Ok(());
        }
        // Everyone's decisions are the log itself; a holder's, the keys it has in
        // `by_holder`, each the log's key behind the holder's scope.
        let (cf, prefix) = match holder {
            None => (self.cf(CF_LOG)?, Vec::new()),
            Some(_) => (self.cf(CF_BY_HOLDER)?, scope(holder)),
        };
        let mut upper = match query.until_unix_s {
            Some(until) => key(&[&prefix, &ordered(until)]),
            None if prefix.is_empty() => vec![0xff; 17],
            None => prefix_end(&prefix),
        };
        if let Some(before) = &query.before {
            upper = upper.min(key(&[&prefix, &parse_cursor(before)?]));
        }
        let mut read = Self::reading(snapshot);
        read.set_iterate_lower_bound(key(&[
            &prefix,
            &ordered(query.since_unix_s.unwrap_or(i64::MIN)),
        ]));
        read.set_iterate_upper_bound(upper);
        // Each listed decision's key, and its record when the walk already read it.
        let mut listed: Vec<(Box<[u8]>, Option<Record>)> = Vec::new();
        for item in self.db.iterator_cf_opt(cf, read, IteratorMode::End) {
            let (k, v) = item.map_err(rocks)?;
            if listed.len() == query.recent {
                report.next = listed.last().map(|(k, _)| cursor(&k[prefix.len()..]));
                break;
            }
            listed.push((k, holder.is_none().then_some(v)));
        }
        let log = self.cf(CF_LOG)?;
        // Newest first, as walked: not the ascending order RocksDB may be told of.
        let missing: Vec<&[u8]> = listed
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| &k[prefix.len()..])
            .collect();
        let mut fetched = self
            .db
            .batched_multi_get_cf_opt(log, &missing, false, &Self::reading(snapshot))
            .into_iter();
        for (_, value) in listed {
            let value = match value {
                Some(value) => value.to_vec(),
                None => fetched
                    .next()
                    .ok_or_else(|| damaged("fewer records than keys"))?
                    .map_err(rocks)?
                    .ok_or_else(|| damaged("a holder's decision without its record"))?
                    .to_vec(),
            };
            report
                .recent
                .push(serde_json::from_slice(&value).map_err(|e| damaged(&e.to_string()))?);
        }
        Ok(())
    }
}

impl DecisionLog for DecisionDb {
    fn append(&self, record: &DecisionRecord) -> io::Result<()> {
        let json = serde_json::to_vec(record).map_err(io::Error::other)?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let at = ordered(record.at_unix_s);
        let day = ordered(day_of(record.at_unix_s));
        let tally = tally(record.decision);
        let track = record.track_id.as_deref().unwrap_or(NO_MATCH).as_bytes();
        let (log, counts) = (self.cf(CF_LOG)?, self.cf(CF_COUNTS)?);
        let mut batch = WriteBatch::default();
        batch.put_cf(log, key(&[&at, &seq]), &json);
        let holder = record.rights_holder.as_deref().map(Some);
        for holder in [None].into_iter().chain(holder) {
            let scope = scope(holder);
            self.note_scope(&mut batch, &scope)?;
            if holder.is_some() {
                batch.put_cf(self.cf(CF_BY_HOLDER)?, key(&[&scope, &at, &seq]), []);
            }
            batch.merge_cf(
                counts,
                key(&[&scope, &day, &[KIND_NETWORK], record.network.as_bytes()]),
                tally,
            );
            batch.merge_cf(counts, key(&[&scope, &day, &[KIND_TRACK], track]), tally);
        }
        self.db.write(batch).map_err(rocks)
    }

    fn report(&self, query: &ReportQuery) -> io::Result<Report> {
        let scope = scope(query.rights_holder.as_deref());
        let mut report = Report {
            rights_holder: query.rights_holder.clone(),
            totals: Counts {
                key: "all".into(),
                ..Counts::default()
            },
            ..Report::default()
        };
        // One snapshot: the counts and the list agree to the decision, and a prune
        // meanwhile cannot take a listed decision's record away.
        let snapshot = self.db.snapshot();
        self.counts(&snapshot, &scope, query, &mut report)?;
        self.recent(
            &snapshot,
            query.rights_holder.as_deref(),
            query,
            &mut report,
        )?;
        Ok(report)
    }

    fn prune(&self, cutoff_unix_s: i64) -> io::Result<()> {
        let scopes: Vec<Vec<u8>> = self
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        let (log, by_holder, counts) = (
            self.cf(CF_LOG)?,
            self.cf(CF_BY_HOLDER)?,
            self.cf(CF_COUNTS)?,
        );
        let mut ranges = vec![(
            log,
            ordered(i64::MIN).to_vec(),
            ordered(cutoff_unix_s).to_vec(),
        )];
        for scope in &scopes {
            let start = key(&[scope, &ordered(i64::MIN)]);
            let end_of_log = key(&[scope, &ordered(cutoff_unix_s)]);
            let end_of_counts = key(&[scope, &ordered(day_of(cutoff_unix_s))]);
            ranges.push((by_holder, start.clone(), end_of_log));
            ranges.push((counts, start, end_of_counts));
        }
        let mut batch = WriteBatch::default();
        for (cf, from, to) in &ranges {
            batch.delete_range_cf(*cf, from, to);
        }
        self.db.write(batch).map_err(rocks)?;
        // Range deletions hide the keys at once; compacting the deleted ranges (only
        // the table files that hold old keys overlap them) frees their space.
        for (cf, from, to) in &ranges {
            self.db
                .compact_range_cf(*cf, Some(from.as_slice()), Some(to.as_slice()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use earmark_rights::Rule;

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
            time_scale: Some(1.0),
            pitch_shift_semitones: Some(0.0),
            input: "fingerprint".into(),
        }
    }

    const DAY: i64 = 86_400;

    fn sample(log: &DecisionDb) {
        for r in [
            record(10, "net-a", Some("a1"), Some("A"), Decision::Block),
            record(20, "net-b", Some("a1"), Some("A"), Decision::Allow),
            record(DAY + 5, "net-a", Some("a2"), Some("A"), Decision::Block),
            record(DAY + 6, "net-a", Some("b1"), Some("B"), Decision::Block),
            record(DAY + 7, "net-a", None, None, Decision::Allow),
            record(DAY + 8, "net-b", Some("a2"), Some("A"), Decision::Review),
        ] {
            log.append(&r).expect("append");
        }
    }

    #[test]
    fn reports_per_holder_day_track_and_network() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DecisionDb::open(dir.path().join("decisions")).expect("opens");
        sample(&log);
        let report = log
            .report(&ReportQuery {
                rights_holder: Some("A".into()),
                recent: 2,
                ..ReportQuery::default()
            })
            .expect("report");
        assert_eq!((report.totals.total, report.totals.block), (4, 2));
        assert_eq!(report.per_track.len(), 2);
        assert_eq!(report.per_network[0].key, "net-a");
        assert_eq!(report.per_network[0].total, 2);
        let days: Vec<(&str, u64)> = report
            .per_day
            .iter()
            .map(|c| (c.key.as_str(), c.total))
            .collect();
        assert_eq!(days, [("1970-01-01", 2), ("1970-01-02", 2)]);
        let times: Vec<i64> = report.recent.iter().map(|r| r.at_unix_s).collect();
        assert_eq!(times, [DAY + 8, DAY + 5]);
        assert!(
            report
                .recent
                .iter()
                .all(|r| r.rights_holder.as_deref() == Some("A"))
        );

        // The next page, and the last.
        let next = log
            .report(&ReportQuery {
                rights_holder: Some("A".into()),
                recent: 2,
                before: report.next.clone(),
                ..ReportQuery::default()
            })
            .expect("report");
        let times: Vec<i64> = next.recent.iter().map(|r| r.at_unix_s).collect();
        assert_eq!(times, [20, 10]);
        assert_eq!(next.next, None, "no third page");

        let all = log.report(&ReportQuery::default()).expect("report");
        assert_eq!(all.totals.total, 6);
        assert!(all.per_track.iter().any(|c| c.key == NO_MATCH));
        // Counts of the days [since, until) overlap; the list is exact.
        let windowed = log
            .report(&ReportQuery {
                since_unix_s: Some(DAY + 6),
                until_unix_s: Some(DAY + 8),
                recent: 10,
                ..ReportQuery::default()
            })
            .expect("report");
        assert_eq!(windowed.totals.total, 4, "all of day 2");
        assert_eq!(windowed.recent.len(), 2, "{windowed:?}");
        assert!(matches!(
            log.report(&ReportQuery {
                recent: 1,
                before: Some("zz".into()),
                ..ReportQuery::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput
        ));
    }

    #[test]
    fn decisions_survive_reopening_and_pruning_forgets_old_days() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("decisions");
        {
            let log = DecisionDb::open(&path).expect("opens");
            sample(&log);
        }
        let log = DecisionDb::open(&path).expect("reopens");
        // Appends after a reopen sort after the earlier ones of the same second.
        log.append(&record(
            DAY + 8,
            "net-c",
            Some("a2"),
            Some("A"),
            Decision::Allow,
        ))
        .expect("append");
        let report = log
            .report(&ReportQuery {
                recent: 1,
                ..ReportQuery::default()
            })
            .expect("report");
        assert_eq!(report.totals.total, 7);
        assert_eq!(report.recent[0].network, "net-c");

        log.prune(DAY).expect("prunes");
        let report = log
            .report(&ReportQuery {
                recent: 100,
                ..ReportQuery::default()
            })
            .expect("report");
        assert_eq!(report.totals.total, 5, "day 1 forgotten");
        assert_eq!(report.recent.len(), 5);
        assert!(report.recent.iter().all(|r| r.at_unix_s >= DAY));
        let a = log
            .report(&ReportQuery {
                rights_holder: Some("A".into()),
                ..ReportQuery::default()
            })
            .expect("report");
        assert_eq!(a.totals.total, 3);
    }

    #[test]
    fn holder_pages_read_records_from_every_level() {
        // Records flushed into several table files and compacted down, then more in
        // the memtable: a holder's page fetches them from wherever they are.
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DecisionDb::open(dir.path().join("decisions")).expect("opens");
        let mut at = 0;
        for round in 0..4 {
            for i in 0..50 {
                at += 1;
                let holder = if i % 2 == 0 { "A" } else { "B" };
                log.append(&record(at, "net", Some("t"), Some(holder), Decision::Block))
                    .expect("append");
            }
            for cf in [CF_LOG, CF_BY_HOLDER, CF_COUNTS] {
                log.db.flush_cf(log.cf(cf).expect("cf")).expect("flush");
            }
            if round == 1 {
                for cf in [CF_LOG, CF_BY_HOLDER] {
                    log.db
                        .compact_range_cf(log.cf(cf).expect("cf"), None::<&[u8]>, None::<&[u8]>);
                }
            }
        }
        log.append(&record(
            at + 1,
            "net",
            Some("t"),
            Some("A"),
            Decision::Allow,
        ))
        .expect("append");
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = log
                .report(&ReportQuery {
                    rights_holder: Some("A".into()),
                    recent: 7,
                    before,
                    ..ReportQuery::default()
                })
                .expect("report");
            assert_eq!(page.totals.total, 101);
            seen.extend(page.recent.iter().map(|r| r.at_unix_s));
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        let expected: Vec<i64> = std::iter::once(at + 1)
            .chain((1..=at).rev().filter(|t| (t - 1) % 50 % 2 == 0))
            .collect();
        assert_eq!(seen, expected, "every decision of A once, newest first");
    }

    #[test]
    fn another_layout_or_a_second_process_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("decisions");
        let open = DecisionDb::open(&path).expect("opens");
        let busy = DecisionDb::open(&path).expect_err("locked");
        assert!(busy.to_string().contains("of its own"), "{busy}");
        open.db
            .put(META_FORMAT_VERSION, 9u32.to_be_bytes())
            .expect("put");
        drop(open);
        let err = DecisionDb::open(&path).expect_err("another layout");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[test]
    fn holder_scopes_never_share_keys() {
        // "ab" must not see "abc"'s decisions, nor "*" anyone's by prefix.
        assert!(!scope(Some("abc")).starts_with(&scope(Some("ab"))));
        assert!(!scope(Some("ab")).starts_with(&scope(None)));
        assert!(prefix_end(&scope(Some("ab"))) > scope(Some("ab")));
        for t in [i64::MIN, -1, 0, 1, i64::MAX - 1] {
            assert!(ordered(t) < ordered(t + 1));
            assert_eq!(from_ordered(&ordered(t)), Some(t));
        }
    }
}
