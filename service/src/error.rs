//! The service's errors: [`Error`] for starting and key management, [`ApiError`] for
//! answers to clients, mapped to a status code in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// What can go wrong starting the service or managing keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file, or binding the listener, failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The keys file does not parse.
    #[error("keys file {path} is damaged: {reason}")]
    KeysFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// No key has this id.
    #[error("no key with id {0}")]
    UnknownKey(String),
    /// The operating system gave no randomness for a new key.
    #[error("no randomness available for a new key")]
    Random,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An answer that is not a success. 4xx carry a stable `code` the client can act on;
/// 500 hides its detail from the client and logs it in the request's span.
#[derive(Debug)]
pub enum ApiError {
    /// Missing or unknown API key (401), answered with a `WWW-Authenticate: Bearer`
    /// challenge.
    Unauthorized {
        /// Whether the request carried a key (then an unknown one).
        key_given: bool,
    },
    /// The key's role may not do this (403).
    Forbidden(String),
    /// No such resource, or one the caller may not know of (404).
    NotFound(String),
    /// The route exists but not with this method (405); the router adds `Allow`.
    MethodNotAllowed,
    /// The body is larger than the route accepts (413).
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request conflicts with the catalog: the recording is already in it (409).
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// What happened, and what the caller can do.
        message: String,
    },
    /// The rights holder's quota would be exceeded (403 `quota_exceeded`).
    QuotaExceeded(String),
    /// The content type is missing or not accepted by the route (415).
    UnsupportedMediaType(String),
    /// The request is malformed (400).
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The body did not arrive within the body-read timeout (408).
    BodyTimeout {
        /// The timeout in seconds.
        limit_s: f64,
    },
    /// The key has used up its rate (429).
    RateLimited {
        /// Seconds until a request will be accepted again.
        retry_after_s: u64,
    },
    /// The service cannot answer now (503).
    Unavailable(String),
    /// A failure on our side (500); the detail is logged, never sent.
    Internal(String),
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable and machine-readable: `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `too_large`, `body_timeout`, `unsupported_media_type`,
    /// `rate_limited`, `unavailable`, `internal`, `quota_exceeded`, a 400's own code
    /// such as `invalid_audio` or `invalid_fingerprint`, or a 409's (`duplicate`,
    /// `held_by_another_holder`).
    code: &'static str,
    /// For people: what to fix.
    message: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code_and_message(&self) -> (&'static str, String) {
        match self {
            ApiError::Unauthorized { key_given } => (
                "unauthorized",
                format!(
                    "{}: send it as Authorization: Bearer <key> or as X-Api-Key: <key>",
                    if *key_given {
                        "the API key is not known"
                    } else {
                        "an API key is required"
                    }
                ),
            ),
            ApiError::Forbidden(m) => ("forbidden", m.clone()),
            ApiError::QuotaExceeded(m) => ("quota_exceeded", m.clone()),
            ApiError::NotFound(m) => ("not_found", m.clone()),
            ApiError::MethodNotAllowed => (
                "method_not_allowed",
                "this route does not take this method; the Allow header lists those it takes"
                    .into(),
            ),
            ApiError::TooLarge { limit } => (
                "too_large",
                format!("request body larger than the limit of {limit} bytes"),
            ),
            ApiError::UnsupportedMediaType(m) => ("unsupported_media_type", m.clone()),
            ApiError::BadRequest { code, message } | ApiError::Conflict { code, message } => {
                (code, message.clone())
            }
            ApiError::BodyTimeout { limit_s } => (
                "body_timeout",
                format!("the request body did not arrive within {limit_s} s"),
            ),
            ApiError::RateLimited { retry_after_s } => (
                "rate_limited",
                format!("rate limit exceeded, retry in {retry_after_s} s"),
            ),
            ApiError::Unavailable(m) => ("unavailable", m.clone()),
            ApiError::Internal(_) => ("internal", "internal error".into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let (code, message) = self.code_and_message();
        let mut response = (
            self.status(),
            Json(ErrorBody {
                error: ErrorDetail { code, message },
            }),
        )
            .into_response();
        match self {
            ApiError::RateLimited { retry_after_s } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            ApiError::Unauthorized { key_given } => {
                // RFC 6750: a bare challenge when no key came, `invalid_token` for an
                // unknown one.
                let challenge = if key_given {
                    "Bearer realm=\"earmark\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"earmark\""
                };
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<earmark_index::Error> for ApiError {
    fn from(e: earmark_index::Error) -> Self {
        use earmark_index::Error as E;
        match e {
            E::InvalidTrackId { .. } => ApiError::bad_request("invalid_track_id", e.to_string()),
            E::AnalysisMismatch { .. } | E::ConfigMismatch { .. } => {
                ApiError::bad_request("fingerprint_mismatch", e.to_string())
            }
            E::NotFound(_) => ApiError::NotFound("no such track".into()),
            E::NoLandmarks => ApiError::bad_request("no_landmarks", e.to_string()),
            E::TrackTooLong { .. } => ApiError::bad_request("audio_too_long", e.to_string()),
            E::QuotaExceeded { .. } => ApiError::QuotaExceeded(e.to_string()),
            E::ReadOnly => ApiError::Unavailable(
                "this server follows an index another process writes; change the catalog there"
                    .into(),
            ),
            other => ApiError::Internal(DisplayChain(&other).to_string()),
        }
    }
}

impl From<earmark_core::Error> for ApiError {
    fn from(e: earmark_core::Error) -> Self {
        use earmark_core::Error as E;
        match e {
            E::Unsupported { .. } => ApiError::UnsupportedMediaType(e.to_string()),
            E::TooLong { .. } => ApiError::bad_request("audio_too_long", e.to_string()),
            E::Io(io) => {
                ApiError::bad_request("upload_failed", format!("reading the body failed: {io}"))
            }
            E::BadMagic
            | E::UnsupportedVersion { .. }
            | E::UnknownConfig { .. }
            | E::Truncated
            | E::Checksum
            | E::InvalidFingerprint { .. }
            | E::TooLarge { .. }
            | E::Json(_) => ApiError::bad_request("invalid_fingerprint", e.to_string()),
            other => ApiError::bad_request("invalid_audio", other.to_string()),
        }
    }
}

/// A policy that does not parse, saying which part is wrong: the rights layer's
/// territory and timestamp errors do not say they come from a policy. (Territories
/// and times given as query parameters are mapped to `invalid_query` where they are
/// read.)
impl From<earmark_rights::Error> for ApiError {
    fn from(e: earmark_rights::Error) -> Self {
        use earmark_rights::Error as E;
        let message = match &e {
            E::InvalidTerritory(_) => format!("invalid policy: in territories: {e}"),
            E::InvalidTimestamp(_) => format!("invalid policy: in from or until: {e}"),
            _ => e.to_string(),
        };
        ApiError::bad_request("invalid_policy", message)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("background task failed: {e}"))
    }
}

/// Formats an error with its sources.
pub(crate) struct DisplayChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
