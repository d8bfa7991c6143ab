//! Table options: the postings live in plain tables.

use earmark_core::HashConfig;
use earmark_index::Store;

use super::{check_consistent, fingerprinted_track, postings_found, postings_of, tempdir};
use crate::RocksStore;
use crate::layout::CF_POSTINGS;

#[test]
fn postings_are_stored_in_plain_tables_and_read_back_after_reopening() {
    let config = HashConfig::DEFAULT.id;
    let dir = tempdir();
    let path = dir.path().join("index");
    let store = RocksStore::create_or_open(&path, config).expect("creates");
    let tracks: Vec<_> = (0..4)
        .map(|i| fingerprinted_track(&format!("c{i}"), i, 1_500, config))
        .collect();
    let idx: Vec<u32> = tracks
        .iter()
        .map(|t| store.put_track(t).expect("put").1.idx)
        .collect();
    store.compact().expect("compacts");
    let props = store
        .db()
        .property_value_cf(
            store.cf(CF_POSTINGS).expect("cf"),
            "rocksdb.aggregated-table-properties",
        )
        .expect("property")
        .expect("present");
    // A plain table is one run of entries: no data blocks (RocksDB counts the file
    // as one) and no index or filter block stored in it.
    assert!(props.contains("# data blocks=1;"), "{props}");
    assert!(props.contains("filter block size=0;"), "{props}");
    drop(store);
    for store in [
        RocksStore::open_read_only(&path).expect("opens"),
        RocksStore::open_existing(&path).expect("reopens"),
    ] {
        for (t, &i) in tracks.iter().zip(&idx) {
            assert_eq!(postings_found(&store, t, i), postings_of(t));
        }
        check_consistent(&store);
    }
}
