//! Table options: how the postings tables are stored per hash configuration.

use earmark_index::{NewTrack, Store};

use super::{check_consistent, fingerprinted_track, postings_found, tempdir};
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
fn triplet_indexes_store_postings_uncompressed() {
    for config in [1, 2, 4] {
        let dir = tempdir();
        let store = RocksStore::create_or_open(dir.path().join("index"), config).expect("creates");
        for i in 0..4 {
            let track = fingerprinted_track(&format!("c{i}"), i, 1_500, config);
            store.put_track(&track).expect("put");
        }
        store.compact().expect("compacts");
        let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
        assert!(blocks > 10, "configuration {config}: {blocks} blocks");
        let expected = if config == 4 { blocks } else { 0 };
        assert_eq!(uncompressed, expected, "configuration {config}");
    }
}

/// An index whose tables an older release compressed reads as it is, and a writer's
/// compaction rewrites them uncompressed.
#[test]
fn compressed_triplet_tables_are_read_and_rewritten_uncompressed() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let store = RocksStore::create_or_open(&path, 4).expect("creates");
    let postings = store.cf(CF_POSTINGS).expect("cf");
    store
        .db()
        .set_options_cf(
            postings,
            &[
                ("compression", "kLZ4Compression"),
                ("bottommost_compression", "kLZ4Compression"),
            ],
        )
        .expect("sets LZ4");
    let tracks: Vec<NewTrack> = (0..4)
        .map(|i| fingerprinted_track(&format!("z{i}"), i, 1_500, 4))
        .collect();
    let idx: Vec<u32> = tracks
        .iter()
        .map(|t| store.put_track(t).expect("put").1.idx)
        .collect();
    store.compact().expect("compacts");
    assert_eq!(postings_blocks_and_uncompressed(&store).1, 0);
    drop(store);

    let reader = RocksStore::open_read_only(&path).expect("opens");
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&reader, t, i), t.landmarks.len() as u64);
    }
    drop(reader);
    let store = RocksStore::open_existing(&path).expect("reopens");
    store.compact().expect("compacts");
    let (blocks, uncompressed) = postings_blocks_and_uncompressed(&store);
    assert!(blocks > 10);
    assert_eq!(uncompressed, blocks);
    for (t, &i) in tracks.iter().zip(&idx) {
        assert_eq!(postings_found(&store, t, i), t.landmarks.len() as u64);
    }
    check_consistent(&store);
}
