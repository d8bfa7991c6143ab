//! The one error type of the fingerprint core.

/// Everything that can go wrong between input bytes and a fingerprint.
///
/// Variants say what the caller can do: fix the input, convert it, or give up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input failed.
    #[error("cannot read input")]
    Io(#[from] std::io::Error),
    /// The input has no bytes at all.
    #[error("input is empty (0 bytes)")]
    Empty,
    /// No known container or stream format was recognised in the bytes.
    #[error("unrecognized audio format")]
    UnrecognizedFormat,
    /// The container holds no audio track.
    #[error("no audio track in the input")]
    NoAudioTrack,
    /// The audio uses a codec this build cannot decode.
    #[error("unsupported codec: {codec}")]
    Unsupported {
        /// Name of the codec, e.g. `ac3`.
        codec: String,
    },
    /// The stream is corrupt: nothing could be decoded.
    #[error("corrupt audio: {reason}")]
    Corrupt {
        /// What the decoder reported.
        reason: String,
    },
    /// The decoder library panicked on this input: almost certainly malformed bytes
    /// that it failed to reject cleanly. Reported as bad input, and worth a bug report
    /// upstream with the file.
    #[error("the decoder failed on malformed data")]
    DecoderPanic,
    /// The input decoded to zero samples.
    #[error("the input contains no audio samples")]
    NoAudio,
    /// The audio is longer than the configured limit.
    #[error("audio longer than the limit of {limit_s} s")]
    TooLong {
        /// The limit in seconds.
        limit_s: f64,
    },
    /// Raw PCM parameters given by the caller are unusable.
    #[error("invalid audio parameters: {reason}")]
    InvalidParameters {
        /// Which parameter and why.
        reason: String,
    },
    /// Wire bytes do not start with the fingerprint magic.
    #[error("not an earmark fingerprint (bad magic)")]
    BadMagic,
    /// Wire bytes or JSON carry a format version this build does not read.
    #[error(
        "unsupported fingerprint format version {found} (supported: {supported}): fingerprint \
         the audio again with this release"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The fingerprint was computed with an analysis configuration this build does not know.
    #[error("unknown analysis configuration id {id}")]
    UnknownConfig {
        /// The id found.
        id: u16,
    },
    /// Wire bytes end before the structure they announce.
    #[error("fingerprint is truncated")]
    Truncated,
    /// Wire bytes fail their checksum.
    #[error("fingerprint checksum mismatch")]
    Checksum,
    /// The fingerprint is well-formed but its content is out of range.
    #[error("invalid fingerprint: {reason}")]
    InvalidFingerprint {
        /// Which field and why.
        reason: String,
    },
    /// The fingerprint is larger than any real one could be.
    #[error("fingerprint too large: {size} bytes (limit {limit})")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The JSON form could not be parsed.
    #[error("malformed fingerprint JSON")]
    Json(#[from] serde_json::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
