//! What the index benches share.

use std::path::PathBuf;

/// Where the dataset scripts put audio and evaluation sets: `$EARMARK_DATA`, by default
/// `target/earmark-data`, as in the Makefile.
pub fn data_dir() -> PathBuf {
    std::env::var_os("EARMARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/earmark-data"))
}
