//! Matching real music clips from `datasets/make-fixtures.sh` (run by `make test`).

use earmark_core::{Fingerprint, Fingerprinter, HashConfig, Source};
use earmark_index::{
    Error, MatchConfig, MemoryStore, NewTrack, Store, TrackId, TrackMeta, identify,
};
use earmark_test_support::fixture;

fn query_prints(name: &str) -> Vec<Fingerprint> {
    let file = std::fs::File::open(fixture(name)).expect("open");
    Fingerprinter::default()
        .decode_source_shifted(Source::file(file), None, 4)
        .expect("decode")
        .0
}

fn catalog(hash_config: &HashConfig) -> MemoryStore {
    let store = MemoryStore::new(hash_config.id);
    let fp = Fingerprinter::default()
        .fingerprint_file(fixture("clip.flac"))
        .expect("clip");
    store
        .put_track(&NewTrack::from_fingerprint(
            TrackId::new("clip").expect("id"),
            TrackMeta::default(),
            None,
            fp,
            hash_config,
        ))
        .expect("put");
    store
}

#[test]
fn excerpts_and_encodings_are_found_at_their_offset() {
    for hash_config in HashConfig::ALL {
        let store = catalog(hash_config);
        let config = MatchConfig::for_hash(hash_config);
        for (name, offset) in [
            ("clip-128k.mp3", 0.0),
            ("clip-aac.m4a", 0.0),
            ("clip.ogg", 0.0),
            ("offset.wav", 5.0),
        ] {
            let what = format!("{name}, hash config {}", hash_config.id);
            let matches =
                identify(&store, &query_prints(name), hash_config, &config).expect("identify");
            let best = matches
                .first()
                .unwrap_or_else(|| panic!("{what}: no match"));
            assert_eq!(best.track.id.as_str(), "clip", "{what}");
            let start = best.track_offset_s - best.query_offset_s;
            assert!((start - offset).abs() < 0.5, "{what}: offset {start}");
            assert!(
                best.confidence > 0.9,
                "{what}: confidence {}",
                best.confidence
            );
        }
    }
}

#[test]
fn music_not_in_the_catalog_matches_nothing() {
    for hash_config in HashConfig::ALL {
        let store = catalog(hash_config);
        let config = MatchConfig::for_hash(hash_config);
        let matches =
            identify(&store, &query_prints("other.wav"), hash_config, &config).expect("identify");
        assert!(
            matches.is_empty(),
            "hash config {}: {matches:?}",
            hash_config.id
        );
    }
}

#[test]
fn a_store_of_another_hash_configuration_is_refused() {
    let store = MemoryStore::new(99);
    let result = identify(
        &store,
        &query_prints("clip.wav"),
        &HashConfig::default(),
        &MatchConfig::default(),
    );
    assert!(matches!(
        result,
        Err(Error::ConfigMismatch { index: 99, query }) if query == HashConfig::DEFAULT.id
    ));
    // A store of an unknown configuration names it, a retired one (1, `robust`) too.
    assert!(matches!(
        store.hash_config(),
        Err(Error::UnknownHashConfig(99))
    ));
    assert!(matches!(
        MemoryStore::new(1).hash_config(),
        Err(Error::UnknownHashConfig(1))
    ));
}
