//! What a report costs over a large decision log: `GET /v1/reports` reads the
//! per-day counts and a page of decisions, never the whole log.
//!
//! Fills a [`DecisionDb`] with `EARMARK_REPORTS_DECISIONS` synthetic decisions (default
//! 10,000,000) spread over 30 days: 50 rights holders of 200 tracks each, 20 networks,
//! three checks in ten matching no track. Prints the append rate and the size on
//! disk, then times reports: one holder's over all 30 days and over one day, everyone's
//! over 30 days, and a later page of one holder's decisions. With
//! `EARMARK_REPORTS_DIR`, the log is kept there and reused by later runs.
//! `cargo bench -p earmark-service --bench reports`.

use std::time::Instant;

use criterion::Criterion;
use earmark_rights::{Decision, Rule};
use earmark_service::{DecisionDb, DecisionLog, DecisionRecord, ReportQuery};
use earmark_test_support::Lcg;

const DAYS: i64 = 30;
const HOLDERS: u64 = 50;
const TRACKS_PER_HOLDER: u64 = 200;
const NETWORKS: u64 = 20;
const START: i64 = 1_780_000_000;

fn decision(i: u64, total: u64, rng: &mut Lcg) -> DecisionRecord {
    let at = START + (i as i64 * DAYS * 86_400) / total as i64;
    let matched = rng.below(10) >= 3;
    let holder = rng.below(HOLDERS);
    let track = rng.below(TRACKS_PER_HOLDER);
    DecisionRecord {
        at_unix_s: at,
        request_id: format!("{i:x}"),
        network: format!("network-{}", rng.below(NETWORKS)),
        territory: Some("DE".into()),
        decision: match (matched, rng.below(3)) {
            (false, _) | (true, 0) => Decision::Allow,
            (true, 1) => Decision::Block,
            _ => Decision::Review,
        },
        rule: if matched { Rule::Policy } else { Rule::NoMatch },
        track_id: matched.then(|| format!("holder-{holder}:track-{track}")),
        rights_holder: matched.then(|| format!("holder-{holder}")),
        confidence: matched.then_some(0.97),
        time_scale: matched.then_some(1.0),
        pitch_shift_semitones: matched.then_some(0.0),
        input: "fingerprint".into(),
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn reports(c: &mut Criterion) {
    let total: u64 = std::env::var("EARMARK_REPORTS_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = match std::env::var_os("EARMARK_REPORTS_DIR") {
        Some(dir) => std::path::PathBuf::from(dir).join(format!("decisions-{total}")),
        None => scratch.path().join("decisions"),
    };
    let fresh = !path.exists();
    let log = DecisionDb::open(&path).expect("opens the log");
    if fresh {
        let mut rng = Lcg(7);
        let started = Instant::now();
        for i in 0..total {
            log.append(&decision(i, total, &mut rng)).expect("append");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "appended {total} decisions in {secs:.1} s: {:.0} per second",
            total as f64 / secs
        );
    }
    println!(
        "decision log: {total} decisions, {:.1} MB on disk",
        dir_bytes(&path) as f64 / 1e6
    );

    let holder = Some("holder-7".to_owned());
    let last_day = START + (DAYS - 1) * 86_400;
    let first_page = log
        .report(&ReportQuery {
            rights_holder: holder.clone(),
            recent: 50,
            ..ReportQuery::default()
        })
        .expect("report");
    println!(
        "holder-7: {} decisions over {} days, {} tracks",
        first_page.totals.total,
        first_page.per_day.len(),
        first_page.per_track.len()
    );
    let mut group = c.benchmark_group("reports");
    group.sample_size(20);
    let cases = [
        (
            "one holder, 30 days, 50 decisions",
            ReportQuery {
                rights_holder: holder.clone(),
                recent: 50,
                ..ReportQuery::default()
            },
        ),
        (
            "one holder, 1 day, 50 decisions",
            ReportQuery {
                rights_holder: holder.clone(),
                since_unix_s: Some(last_day),
                recent: 50,
                ..ReportQuery::default()
            },
        ),
        (
            "one holder, next page of 50",
            ReportQuery {
                rights_holder: holder.clone(),
                recent: 50,
                before: first_page.next.clone(),
                ..ReportQuery::default()
            },
        ),
        (
            "everyone, 30 days, 50 decisions",
            ReportQuery {
                recent: 50,
                ..ReportQuery::default()
            },
        ),
    ];
    for (name, query) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = log.report(&query).expect("report");
                assert!(report.totals.total > 0);
                report
            });
        });
    }
    group.finish();
}

criterion::criterion_group!(benches, reports);
criterion::criterion_main!(benches);
