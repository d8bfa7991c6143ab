//! Tracks: ids and the metadata stored with them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A catalog track's id, chosen by whoever ingests it (by default the file name).
///
/// Ids are 1 to 128 characters of `[A-Za-z0-9._:-]`, so they are safe in paths, URLs,
/// CSV and logs without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackId(String);

impl TrackId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`Error::InvalidTrackId`] when empty, longer than 128 bytes, or holding other
    /// characters.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("empty")
        } else if id.len() > 128 {
            Some("longer than 128 characters")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
        {
            Some("only letters, digits and . _ - : are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidTrackId { id, reason }),
            None => Ok(Self(id)),
        }
    }

    /// A valid id derived from any text (a file name): other characters become `-`.
    pub fn sanitized(text: &str) -> Result<Self> {
        let cleaned: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':') {
                    c
                } else {
                    '-'
                }
            })
            .take(128)
            .collect();
        Self::new(cleaned)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TrackId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl From<TrackId> for String {
    fn from(id: TrackId) -> String {
        id.0
    }
}

/// Descriptive metadata a label supplies with a track; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackMeta {
    /// Title.
    pub title: Option<String>,
    /// Artist.
    pub artist: Option<String>,
    /// Album.
    pub album: Option<String>,
    /// International Standard Recording Code.
    pub isrc: Option<String>,
    /// Who holds the rights: the label or publisher the rights service answers for.
    pub rights_holder: Option<String>,
    /// The sharing policy name (`allow`, `block`, `monitor`), interpreted by the
    /// rights layer.
    pub policy: Option<String>,
}

/// Everything stored about a track besides its postings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    /// The external id.
    pub id: TrackId,
    /// The dense internal number postings refer to; assigned by the store.
    pub idx: u32,
    /// Label-supplied metadata.
    pub meta: TrackMeta,
    /// Duration of the audio in seconds.
    pub duration_s: f64,
    /// Hash configuration the postings were made with.
    pub hash_config_id: u16,
    /// Landmarks stored for this track.
    pub landmarks: u64,
    /// SHA-256 of the source file's bytes, hex, for the exact-file fast path.
    pub content_hash: Option<String>,
}
