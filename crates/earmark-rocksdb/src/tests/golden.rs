//! The one on-disk layout, pinned: a small index's stored bytes, every key and value
//! of every column family, compared byte for byte with
//! `testdata/layout-<version>-<hash configuration>.txt` (the default configuration's
//! 40-bit hashes under 3-byte bucket keys). A failure here is a format change: make it
//! deliberate, bump
//! [`FORMAT_VERSION`](crate::FORMAT_VERSION) (older indexes are then refused and
//! rebuilt), and rewrite the file with `EARMARK_BLESS=1 cargo test --workspace golden`
//! (then run the tests again: the test that reads the file may run before it is
//! written).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use earmark_core::{HashConfig, Landmark};
use earmark_index::{NewTrack, Store, TrackMeta};
use rocksdb::{DB, IteratorMode};

use super::{check_consistent, fingerprinted_track, hashes_of, id, postings_found, tempdir};
use crate::RocksStore;
use crate::layout;

/// The pinned configurations: the one this release has.
const PINNED: [&HashConfig; 1] = [&HashConfig::DEFAULT];

fn golden_path(config: &HashConfig) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "testdata/layout-{}-{}.txt",
        crate::FORMAT_VERSION,
        config.name
    ))
}

/// The tracks of the pinned index: two kept as fingerprints (one of them replaced),
/// one kept as a hash list, one deleted; metadata and content hashes on some.
fn tracks(config: &HashConfig) -> Vec<NewTrack> {
    let c = config.id;
    let mut with_meta = fingerprinted_track("label-a:one", 1, 24, c);
    with_meta.meta = TrackMeta {
        title: Some("One".into()),
        artist: Some("Someone".into()),
        album: None,
        isrc: Some("XX0000000001".into()),
        rights_holder: Some("label-a".into()),
        policy: Some("block".into()),
    };
    with_meta.content_hash = Some("ab".repeat(32));
    let mut listed = fingerprinted_track("listed", 2, 16, c);
    // Landmarks that are not the fingerprint's: the store keeps the hash list.
    listed.landmarks.push(Landmark {
        hash: 0x7f_fff0,
        frame: 7,
        aux: 0x1234,
    });
    vec![
        with_meta,
        listed,
        fingerprinted_track("replaced", 3, 16, c),
        fingerprinted_track("deleted", 4, 16, c),
        fingerprinted_track("replaced", 5, 20, c),
    ]
}

/// The index of [`tracks`], compacted.
fn build(path: &Path, config: &HashConfig) -> RocksStore {
    let store = RocksStore::create_or_open(path, config.id).expect("creates");
    for track in tracks(config) {
        store.put_track(&track).expect("put");
    }
    assert!(store.delete_track(&id("deleted")).expect("delete"));
    store.compact().expect("compacts");
    store
}

/// Bytes as hex, with runs of eight or more zero bytes written `(N)`.
fn render(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut i = 0;
    while i < bytes.len() {
        let zeros = bytes[i..].iter().take_while(|&&b| b == 0).count();
        if zeros >= 8 {
            let _ = write!(out, "({zeros})");
            i += zeros;
        } else {
            let _ = write!(out, "{:02x}", bytes[i]);
            i += 1;
        }
    }
    out
}

/// The inverse of [`render`].
fn parse(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(run) = rest.strip_prefix('(') {
            let (n, after) = run.split_once(')').expect("closed run");
            out.resize(out.len() + n.parse::<usize>().expect("run length"), 0);
            rest = after;
        } else {
            let (byte, after) = rest.split_at(2);
            out.push(u8::from_str_radix(byte, 16).expect("hex"));
            rest = after;
        }
    }
    out
}

/// Every column family's keys and values, one `family key value` line each.
fn dump(db: &DB) -> String {
    let mut out = String::new();
    for name in layout::ALL_CFS {
        let cf = db.cf_handle(name).expect("cf");
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item.expect("scan");
            let _ = writeln!(out, "{name} {} {}", render(&key), render(&value));
        }
    }
    out
}

#[test]
fn the_layout_is_pinned_byte_for_byte() {
    for config in PINNED {
        pinned_byte_for_byte(config);
    }
}

fn pinned_byte_for_byte(config: &HashConfig) {
    let dir = tempdir();
    let store = build(&dir.path().join("index"), config);
    check_consistent(&store);
    let found = dump(store.db());
    let path = golden_path(config);
    if std::env::var_os("EARMARK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
        std::fs::write(&path, &found).expect("writes the golden file");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (write it with EARMARK_BLESS=1)", path.display()));
    if found != expected {
        let first = found
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(found.lines().count().min(expected.lines().count()));
        panic!(
            "the stored bytes differ from {} from line {} on:\n  now:    {}\n  pinned: {}\n\
             a layout change needs a new FORMAT_VERSION and a blessed file",
            path.display(),
            first + 1,
            found.lines().nth(first).unwrap_or("(end)"),
            expected.lines().nth(first).unwrap_or("(end)"),
        );
    }
}

#[test]
fn the_pinned_bytes_open_as_an_index_that_answers() {
    for config in PINNED {
        pinned_bytes_answer(config);
    }
}

/// Written key by key into a bare database, as an earlier build of this layout left
/// them, the pinned bytes must open and read in this release.
fn pinned_bytes_answer(config: &HashConfig) {
    let text = std::fs::read_to_string(golden_path(config)).expect("golden file");
    let dir = tempdir();
    let path = dir.path().join("index");
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = DB::open_cf(&opts, &path, layout::ALL_CFS).expect("creates");
        for line in text.lines() {
            let mut fields = line.split(' ');
            let (Some(name), Some(key), Some(value)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("malformed line {line:?}");
            };
            let cf = db.cf_handle(name).expect("a known family");
            db.put_cf(cf, parse(key), parse(value)).expect("put");
        }
    }
    let store = RocksStore::open_existing(&path).expect("opens the pinned bytes");
    check_consistent(&store);
    let ids: Vec<String> = store
        .list_tracks(None, 10)
        .expect("list")
        .into_iter()
        .map(|r| r.id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["label-a:one", "listed", "replaced"]);
    // The last version of each id that was not deleted.
    let mut last: BTreeMap<String, NewTrack> = BTreeMap::new();
    for track in tracks(config) {
        last.insert(track.id.as_str().to_owned(), track);
    }
    last.remove("deleted");
    for track in last.values() {
        let record = store.track(&track.id).expect("read").expect("present");
        assert_eq!(record.meta, track.meta);
        assert_eq!(record.content_hash, track.content_hash);
        assert!(!hashes_of(track).is_empty());
        assert_eq!(
            postings_found(&store, track, record.idx),
            record.landmarks,
            "{}",
            track.id
        );
    }
    // Deletes work on the pinned bytes too: through a stored fingerprint and a list.
    assert!(store.delete_track(&id("label-a:one")).expect("delete"));
    assert!(store.delete_track(&id("listed")).expect("delete"));
    check_consistent(&store);
    assert_eq!(store.stats().expect("stats").tracks, 1);
    assert_eq!(store.tracks_by_content(&"ab".repeat(32)).expect("read"), []);
}
