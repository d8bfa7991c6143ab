//! Opening: what is at the path, which layout and hash configuration, who holds it.

use std::path::Path;

use earmark_core::HashConfig;
use earmark_index::Store;
use earmark_index::conformance::synthetic_track;
use rocksdb::DB;

use super::{check_consistent, create_blank_database, hashes_of, sorted, tempdir};
use crate::layout::{self, CF_META, CF_POSTINGS};
use crate::{Error, Mode, RocksStore};

#[test]
fn tracks_survive_reopening() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let a = synthetic_track("a", 1, 400);
    let b = synthetic_track("b", 2, 400);
    let (ra, rb, before) = {
        let store = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates");
        let (_, ra) = store.put_track(&a).expect("put");
        let (_, rb) = store.put_track(&b).expect("put");
        let before = sorted(store.lookup(&hashes_of(&a), usize::MAX).expect("lookup"));
        (ra, rb, before)
    };
    let store = RocksStore::open_existing(&path).expect("reopens");
    assert_eq!(store.hash_config_id(), HashConfig::DEFAULT.id);
    assert_eq!(store.mode(), Mode::Primary);
    assert_eq!(store.track(&a.id).expect("read"), Some(ra.clone()));
    assert_eq!(
        store.tracks_by_idx(&[rb.idx, ra.idx]).expect("read"),
        vec![Some(rb.clone()), Some(ra.clone())]
    );
    let after = sorted(store.lookup(&hashes_of(&a), usize::MAX).expect("lookup"));
    assert_eq!(after, before);
    // Numbering goes on where it stopped.
    let (_, rc) = store.put_track(&synthetic_track("c", 3, 10)).expect("put");
    assert_eq!(rc.idx, rb.idx + 1);
    check_consistent(&store);
    drop(store);
    // Reopening with the same configuration is not a new index.
    let store = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("reopens");
    assert_eq!(store.stats().expect("stats").tracks, 3);
}

#[test]
fn query_opens_never_create() {
    let dir = tempdir();
    let missing = dir.path().join("missing");
    assert!(matches!(
        RocksStore::open_existing(&missing),
        Err(Error::NoIndex { .. })
    ));
    assert!(matches!(
        RocksStore::open_read_only(&missing),
        Err(Error::NoIndex { .. })
    ));
    assert!(!missing.exists());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert!(matches!(
        RocksStore::open_existing(&empty),
        Err(Error::NoIndex { .. })
    ));
    assert_eq!(std::fs::read_dir(&empty).expect("list").count(), 0);
}

#[test]
fn foreign_directories_are_refused() {
    let dir = tempdir();

    let file = dir.path().join("file");
    std::fs::write(&file, b"not an index").expect("write");
    let err = RocksStore::create_or_open(&file, HashConfig::DEFAULT.id).expect_err("a file");
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");

    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("notes.txt"), b"keep me").expect("write");
    let err =
        RocksStore::create_or_open(&docs, HashConfig::DEFAULT.id).expect_err("not a database");
    assert!(matches!(err, Error::NotAnIndex { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(&docs).expect("list").count(),
        1,
        "wrote into it"
    );

    let other = dir.path().join("other-db");
    {
        let db = DB::open_default(&other).expect("plain database");
        db.put(b"k", b"v").expect("put");
    }
    let err =
        RocksStore::create_or_open(&other, HashConfig::DEFAULT.id).expect_err("foreign database");
    assert!(
        matches!(&err, Error::NotAnIndex { reason, .. } if reason.contains("column family")),
        "{err}"
    );
    // The refusal happened before opening: no column family was added.
    let names = DB::list_cf(&rocksdb::Options::default(), &other).expect("list");
    assert_eq!(names, ["default"]);
}

#[test]
fn a_database_with_our_column_families_but_no_metadata() {
    let dir = tempdir();
    let path = dir.path().join("half");
    create_blank_database(&path, &layout::ALL_CFS);
    let err = RocksStore::open_existing(&path).expect_err("no metadata");
    assert!(
        matches!(&err, Error::NotAnIndex { reason, .. } if reason.contains("metadata")),
        "{err}"
    );
    // Creation that stopped before writing metadata is finished on the next create.
    let store =
        RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("adopts the blank index");
    assert_eq!(store.hash_config_id(), HashConfig::DEFAULT.id);
    store.put_track(&synthetic_track("a", 1, 10)).expect("put");
    check_consistent(&store);
}

#[test]
fn another_hash_configuration_is_refused() {
    // This release has one configuration: any other id asked for (here 1, `robust`,
    // retired) is refused for an index of the default one, which stays as it was.
    let dir = tempdir();
    let path = dir.path().join("index");
    let default = HashConfig::DEFAULT.id;
    drop(RocksStore::create_or_open(&path, default).expect("creates"));
    let err = RocksStore::create_or_open(&path, 1).expect_err("other config");
    assert!(
        matches!(err, Error::ConfigMismatch { index, requested: 1 } if index == default),
        "{err}"
    );
    assert!(err.to_string().contains("default"), "{err}");
    assert!(matches!(
        earmark_index::Error::from(err),
        earmark_index::Error::ConfigMismatch { index, query: 1 } if index == default
    ));
    assert_eq!(
        RocksStore::open_existing(&path)
            .expect("opens")
            .hash_config_id(),
        default
    );
}

/// Writes `version` as the layout version of a new index at `path`.
fn set_layout_version(path: &Path, version: u32) {
    let store = RocksStore::create_or_open(path, HashConfig::DEFAULT.id).expect("creates");
    store
        .db()
        .put_cf(
            store.cf(CF_META).expect("cf"),
            layout::META_FORMAT_VERSION,
            version.to_be_bytes(),
        )
        .expect("put");
}

#[test]
fn indexes_of_other_layouts_are_refused_with_a_rebuild_message() {
    let dir = tempdir();
    // A newer release's layout.
    let newer = dir.path().join("newer");
    set_layout_version(&newer, crate::FORMAT_VERSION + 1);
    let err = RocksStore::open_read_only(&newer).expect_err("newer layout");
    assert!(
        matches!(err, Error::NewerLayout { found, .. } if found == crate::FORMAT_VERSION + 1),
        "{err}"
    );
    // An earlier layout in this layout's column families.
    let earlier = dir.path().join("earlier");
    set_layout_version(&earlier, 4);
    let err = RocksStore::open_existing(&earlier).expect_err("earlier layout");
    assert!(
        matches!(err, Error::OutdatedLayout { found: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("earmark ingest"), "{err}");

    // Indexes as releases before this layout made them: their postings in a family of
    // their own, the version in `meta`. Refused, and left as they were.
    for (family, version) in [("postings", 3u32), ("sorted_postings", 4)] {
        let path = dir.path().join(family);
        let mut names = layout::ALL_CFS.to_vec();
        names.retain(|n| *n != CF_POSTINGS);
        names.push(family);
        create_blank_database(&path, &names);
        {
            let db = DB::open_cf(&rocksdb::Options::default(), &path, &names).expect("opens");
            let meta = db.cf_handle(CF_META).expect("cf");
            db.put_cf(meta, layout::META_FORMAT_VERSION, version.to_be_bytes())
                .expect("put");
        }
        for open in [
            RocksStore::open_existing,
            RocksStore::open_read_only,
            |p: &Path| RocksStore::create_or_open(p, HashConfig::DEFAULT.id),
        ] {
            let err = open(&path).expect_err("an earlier layout");
            assert!(
                matches!(&err, Error::OutdatedLayout { found, .. } if *found == version),
                "{family}: {err}"
            );
            assert!(err.to_string().contains("rebuild"), "{err}");
        }
        let after = DB::list_cf(&rocksdb::Options::default(), &path).expect("lists");
        assert!(!after.iter().any(|n| n == CF_POSTINGS), "{family}: changed");
    }

    // Indexes of the hash configurations this release no longer has (1 `robust`, 2
    // `compact`, 3, 4 `large-catalog`): refused with a rebuild message, and no new
    // index is created with one of them either.
    for retired_id in [1u16, 2, 3, 4] {
        let retired = dir.path().join(format!("retired-{retired_id}"));
        {
            let store =
                RocksStore::create_or_open(&retired, HashConfig::DEFAULT.id).expect("creates");
            store
                .db()
                .put_cf(
                    store.cf(CF_META).expect("cf"),
                    layout::META_HASH_CONFIG_ID,
                    retired_id.to_be_bytes(),
                )
                .expect("put");
        }
        for open in [
            RocksStore::open_read_only,
            RocksStore::open_existing,
            |p: &Path| RocksStore::create_or_open(p, HashConfig::DEFAULT.id),
        ] {
            let err = open(&retired).expect_err("retired configuration");
            assert!(
                matches!(err, Error::UnknownHashConfig { id, .. } if id == retired_id),
                "{err}"
            );
            assert!(err.to_string().contains("rebuild"), "{err}");
        }
        let fresh = dir.path().join(format!("fresh-{retired_id}"));
        let err = RocksStore::create_or_open(&fresh, retired_id).expect_err("retired id");
        assert!(
            matches!(err, Error::UnknownHashConfig { id, .. } if id == retired_id),
            "{err}"
        );
    }
}

#[test]
fn a_second_writer_is_told_the_index_is_busy() {
    let dir = tempdir();
    let path = dir.path().join("index");
    let _first = RocksStore::create_or_open(&path, HashConfig::DEFAULT.id).expect("creates");
    let err = RocksStore::open_existing(&path).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
}
