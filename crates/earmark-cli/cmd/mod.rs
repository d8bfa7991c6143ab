//! One module per subcommand.

pub mod check;
pub mod fingerprint;
pub mod ingest;
pub mod keys;
pub mod query;
pub mod serve;
pub mod stats;
pub mod tracks;

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// SHA-256 of a file's bytes, lowercase hex: the key of the exact-file fast path.
pub fn content_hash(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}
