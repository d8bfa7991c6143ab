//! The library's whole path: add audio files to an index on disk by the catalog rules
//! `earmark ingest` follows, then identify a query file against it.
//!
//! ```text
//! cargo run --release -p earmark-rocksdb --example identify -- INDEX QUERY CATALOG_FILE...
//! ```

use std::path::Path;

use earmark_core::{Fingerprinter, HashConfig};
use earmark_index::{Added, Ingest, MatchConfig, OnDuplicate, Store, TrackId, TrackMeta, identify};
use earmark_rocksdb::RocksStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [index, query, catalog @ ..] = args.as_slice() else {
        return Err("usage: identify INDEX QUERY CATALOG_FILE...".into());
    };
    let store = RocksStore::create_or_open(index, HashConfig::DEFAULT.id)?;
    let fingerprinter = Fingerprinter::default();

    // Catalog: fingerprint each file (hashing its bytes as it is read), then add it.
    let ingest = Ingest::new(&store, OnDuplicate::Skip)?;
    for file in catalog {
        let decoded = fingerprinter.decode_file(file)?;
        let stem = Path::new(file).file_stem().and_then(|s| s.to_str());
        let id = TrackId::sanitized(stem.unwrap_or("track"))?;
        let added = ingest.add(
            id,
            TrackMeta::default(),
            decoded.content_hash,
            decoded.fingerprint,
        )?;
        let what = match &added {
            Added::Inserted(_) => "added as",
            Added::Replaced(_) => "replaced",
            Added::Unchanged(_) => "unchanged:",
            Added::Duplicate(_) => "a duplicate of",
            Added::OtherHolder(_) => "held by another rights holder as",
        };
        println!("{file}: {what} {}", added.record().id);
    }

    // Query: what a client sends is the fingerprint (`to_bytes` / `from_bytes`).
    let print = fingerprinter.fingerprint_file(query)?;
    let config = store.hash_config()?;
    for m in identify(&store, &[print], config, &MatchConfig::for_hash(config))? {
        println!(
            "{query}: {} at {:.1} s of the track, confidence {:.2}",
            m.track.id, m.track_offset_s, m.confidence
        );
    }
    Ok(())
}
