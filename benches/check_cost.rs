//! What the matcher costs per fingerprint check on the development catalog.
//!
//! The service's load test (`benches/load/run.sh`) measures whole checks over HTTP with
//! the load generator on the same cores; this bench times only what a check spends in
//! the index and the matcher, one query after another on one thread, so that a change
//! to either shows in a figure steadier than requests per second. It opens the index
//! as the service does (a follower of the primary), takes the evaluation set's 10 s
//! queries (catalog excerpts, clean and in noise, and audio outside the catalog),
//! fingerprints each as a client would and round-trips it through the wire format.
//! One iteration identifies every query once. It runs twice: reading every posting
//! from RocksDB, and with the service's postings cache (which the first iteration
//! fills, so it times a catalog whose hot hashes are all in memory).
//!
//! Needs `make demo` (the index in `$EARMARK_DATA/demo-index`, another with
//! `EARMARK_BENCH_INDEX`). `cargo bench -p earmark --bench check_cost`.

mod common;

use std::path::PathBuf;

use common::data_dir;
use criterion::Criterion;
use earmark_core::{Fingerprint, Fingerprinter};
use earmark_index::{MatchConfig, Store, identify};
use earmark_rocksdb::Follower;
use earmark_service::Config;

/// The evaluation set's 10 s queries, as the service receives them from a client.
fn queries() -> Vec<Fingerprint> {
    let truth = data_dir().join("eval/truth.csv");
    let text = std::fs::read_to_string(&truth)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make demo` first", truth.display()));
    let fingerprinter = Fingerprinter::default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.get(2) == Some(&"10")).then(|| PathBuf::from(fields[0]))
        })
        .map(|path| {
            let fp = fingerprinter
                .fingerprint_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Fingerprint::from_bytes(&fp.to_bytes()).expect("a fingerprint survives the wire")
        })
        .collect()
}

fn main() {
    let index = std::env::var_os("EARMARK_BENCH_INDEX")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir().join("demo-index"));
    let open = |cache_bytes: u64, scratch: &std::path::Path| {
        Follower::open_with_postings_cache(&index, scratch, cache_bytes)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make demo` first", index.display()))
    };
    let (scratch, cached_scratch) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let store = open(0, scratch.path());
    let cached = open(
        Config::default().postings_cache_bytes(),
        cached_scratch.path(),
    );
    let hash = store.hash_config().expect("a known hash configuration");
    let config = MatchConfig::for_hash(hash);
    let queries = queries();
    assert!(!queries.is_empty(), "no 10 s queries in the evaluation set");

    // What the timed loop answers, so that a change that speeds it up by answering
    // differently shows here; the cache must not change a single answer.
    let answers = |store: &Follower| -> Vec<Vec<(u32, u32, u64)>> {
        queries
            .iter()
            .map(|q| {
                identify(store, std::slice::from_ref(q), hash, &config)
                    .expect("identify")
                    .iter()
                    .map(|m| (m.track.idx, m.score, m.track_offset_s.to_bits()))
                    .collect()
            })
            .collect()
    };
    let uncached_answers = answers(&store);
    assert_eq!(
        answers(&cached),
        uncached_answers,
        "the postings cache changed an answer"
    );
    let found = uncached_answers.iter().filter(|a| !a.is_empty()).count();
    println!(
        "{} queries of 10 s, {found} with a match, index {} (hash configuration {})",
        queries.len(),
        index.display(),
        hash.id
    );

    let mut c = Criterion::default().configure_from_args();
    for (name, store) in [("", &store), (", postings cache", &cached)] {
        c.bench_function(
            &format!("identify {} queries of 10 s{name}", queries.len()),
            |b| {
                b.iter(|| {
                    for q in &queries {
                        std::hint::black_box(
                            identify(store, std::slice::from_ref(q), hash, &config)
                                .expect("identify"),
                        );
                    }
                });
            },
        );
    }
    c.final_summary();
}
