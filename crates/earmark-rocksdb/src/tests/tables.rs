//! Table options: how the postings tables are stored per hash configuration.

use earmark_core::HashConfig;
use earmark_index::{NewTrack, Store};

use super::{check_consistent, fingerprinted_track, postings_found, postings_of, tempdir};
use crate::RocksStore;
use crate::layout::CF_POSTINGS;

/// Data blocks of the postings table files, and how many of them were stored without
/// compression because none was configured, per RocksDB's table properties.
fn postings_blocks_and_uncompressed(store: &RocksStore) -> (u64, u64) {
    let cf = store.cf(CF_POSTINGS).expect("cf");
    let props = store
        .db()
        .property_value_cf(cf, "rocksdb.aggregated-table-properties")
        .expect("property")
        .expect("present");
    let count = |name: &str| -> u64 {
        props
            .split("; ")
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name:?} in {props}"))
    };
    (
        count("# data blocks"),
        count("# data blocks compression bypassed"),
    )
}

#[test]
fn default_indexes_store_postings_compressed() {
    // The hash configurations of absolute bins stored their triplets uncompressed
    // (decision 0013); the groups keep LZ4 (decision 0021).
    let config = HashConfig::DEFAULT.id;
    let dir = tempdir();
    let store = RocksStore::create_or_open(dir.path().join("index"), config).expect("creates");
    for i in 0..4 {
        let track = fingerprinted_track(&format!("c{i}"), i, 1_500, config);
        store.put_track(&track).expect("put");
    }
    store.compact().expect("compacts");
    let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
    assert!(blocks > 10, "{blocks} blocks");
    assert_eq!(uncompressed, 0);
}

/// An index whose tables an earlier writer stored uncompressed reads as it is, and a
/// writer's compaction rewrites them compressed.
#[test]
fn uncompressed_tables_are_read_and_rewritten_compressed() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let store = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates");
    let postings = store.cf(CF_POSTINGS).expect("cf");
    store
        .db()
        .set_options_cf(
            postings,
            &[
                ("compression", "kNoCompression"),
                ("bottommost_compression", "kNoCompression"),
            ],
        )
        .expect("turns compression off");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("z{i}"), i, 1_500, HashConfig::DEFAULT.id))
        .collect();
    let idx: Vec<u32> = tracks
        .iter()
        .map(|t| store.put_track(t).expect("put").1.idx)
        .collect();
    store.compact().expect("compacts");
    let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
    assert!(blocks > 10);
    assert_eq!(uncompressed, blocks);
    drop(store);

    let reader = RocksStore::open_read_only(&path).expect("opens");
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&reader, t, i), postings_of(t));
    }
    drop(reader);
    let store = RocksStore::open_existing(&path).expect("reopens");
    store.compact().expect("compacts");
    let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
    assert!(blocks > 10);
    assert_eq!(uncompressed, 0);
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&store, t, i), postings_of(t));
    }
    check_consistent(&store);
}
