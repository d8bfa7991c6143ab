//! The one error type of the rights layer.

/// What can be wrong with a policy or a timestamp.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy text is neither a plain action word nor a valid JSON policy object.
    #[error("invalid policy: {reason}")]
    InvalidPolicy {
        /// What is wrong.
        reason: String,
    },
    /// A territory is not two ASCII letters (ISO 3166-1 alpha-2).
    #[error("invalid territory code {0:?}: expected two letters (ISO 3166-1 alpha-2)")]
    InvalidTerritory(String),
    /// A timestamp is neither RFC 3339 nor unix seconds.
    #[error("invalid timestamp {0:?}: expected RFC 3339 (2024-01-31T00:00:00Z) or unix seconds")]
    InvalidTimestamp(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
