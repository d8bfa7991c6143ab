//! The handlers, one module per resource.

pub(crate) mod ops;
pub(crate) mod query;
pub(crate) mod reports;
pub(crate) mod tracks;

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, MatchedPath, Query, RawPathParams, Request};
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use earmark_index::{Match, TrackRecord};
use earmark_rights::Policy;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Runs store and CPU work on the blocking pool, at most
/// [`cpu_workers`](crate::Config::cpu_workers) at once and at most
/// [`per_key_cpu_workers`](crate::Config::per_key_cpu_workers) for the request's key:
/// handlers never block the runtime, work waits in order for a turn rather than
/// time-slicing the cores, and one key's work never takes every turn. Decoding takes
/// its turns the same way (see `input::decode_audio`).
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = crate::limits::cpu_turn(&state.runtime, &crate::limits::current_key()).await?;
    tokio::task::spawn_blocking(work).await?
}

pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Query parameters, with a 400 in our error format when they do not parse.
pub(crate) fn query_params<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

/// The query parameters of each route: by path template, then by method. Read from
/// the OpenAPI description, which the handlers' parameter structs generate, so that
/// what is documented is exactly what is accepted.
type QueryParameters = HashMap<String, Vec<(Method, Vec<String>)>>;

static QUERY_PARAMETERS: LazyLock<QueryParameters> = LazyLock::new(|| {
    use utoipa::openapi::path::{Operation, ParameterIn};
    let names = |op: &Operation| -> Vec<String> {
        op.parameters
            .iter()
            .flatten()
            .filter(|p| p.parameter_in == ParameterIn::Query)
            .map(|p| p.name.clone())
            .collect()
    };
    crate::openapi()
        .paths
        .paths
        .into_iter()
        .map(|(path, item)| {
            let methods = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ]
            .into_iter()
            .filter_map(|(method, op)| op.as_ref().map(|op| (method, names(op))))
            .collect();
            (path, methods)
        })
        .collect()
});

/// Longest part of a client's parameter name repeated in an error message.
const MAX_ECHOED_NAME_CHARS: usize = 64;

/// Refuses, before any handler or key check runs, what no route accepts: a path
/// parameter that is not UTF-8 once percent-decoded (400 `invalid_path`) and a query
/// parameter the route does not take (400 `invalid_query`, naming it). One check for
/// every route, those without parameters included, so that all answer alike.
pub(crate) async fn refuse_malformed(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(RawPathParamsRejection::InvalidUtf8InPathParam(e)) =
        RawPathParams::from_request_parts(&mut parts, &()).await
    {
        return ApiError::bad_request(
            "invalid_path",
            format!(
                "a path parameter is not UTF-8 once percent-decoded ({})",
                e.body_text()
            ),
        )
        .into_response();
    }
    // Only matched routes: the others answer 404, or 405 when the method is wrong.
    let method = if parts.method == Method::HEAD {
        Method::GET
    } else {
        parts.method.clone()
    };
    let taken = parts
        .extensions
        .get::<MatchedPath>()
        .and_then(|route| QUERY_PARAMETERS.get(route.as_str()))
        .and_then(|methods| methods.iter().find(|(m, _)| *m == method))
        .map(|(_, names)| names);
    if let Some(taken) = taken
        && let Err(refusal) = only_parameters(&parts.uri, taken)
    {
        return refusal.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Refuses a query parameter outside `taken`.
fn only_parameters(uri: &Uri, taken: &[String]) -> Result<(), ApiError> {
    let given: Vec<(String, String)> = query_params(uri)?;
    let Some((unknown, _)) = given.iter().find(|(name, _)| !taken.contains(name)) else {
        return Ok(());
    };
    let shown: String = unknown.chars().take(MAX_ECHOED_NAME_CHARS).collect();
    let accepted = if taken.is_empty() {
        "this route takes no query parameters".to_owned()
    } else {
        format!("this route takes {}", taken.join(", "))
    };
    Err(ApiError::bad_request(
        "invalid_query",
        format!("unknown query parameter {shown:?}: {accepted}"),
    ))
}

/// Whether the caller may know of this track: labels see only their holder's.
pub(crate) fn visible(caller: &Caller, record: &TrackRecord) -> bool {
    caller
        .label_holder()
        .is_none_or(|h| record.meta.rights_holder.as_deref() == Some(h))
}

/// The one answer for a track the caller may not know of, whether or not it exists.
pub(crate) fn no_such_track() -> ApiError {
    ApiError::NotFound("no track with this id".into())
}

/// A track as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Track)]
pub(crate) struct TrackView {
    id: String,
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    isrc: Option<String>,
    rights_holder: Option<String>,
    /// The parsed policy; null when unset or unparsable (see `policy_text`).
    policy: Option<Policy>,
    /// The policy as stored.
    policy_text: Option<String>,
    /// Length of the indexed audio, in seconds.
    duration_s: f64,
    /// Landmark hashes indexed for the track.
    landmarks: u64,
    /// SHA-256 of the ingested file, hex: the exact-file fast path.
    content_hash: Option<String>,
}

impl From<&TrackRecord> for TrackView {
    fn from(r: &TrackRecord) -> Self {
        let m = &r.meta;
        Self {
            id: r.id.to_string(),
            title: m.title.clone(),
            artist: m.artist.clone(),
            album: m.album.clone(),
            isrc: m.isrc.clone(),
            rights_holder: m.rights_holder.clone(),
            policy: m.policy.as_deref().and_then(|p| Policy::parse(p).ok()),
            policy_text: m.policy.clone(),
            duration_s: r.duration_s,
            landmarks: r.landmarks,
            content_hash: r.content_hash.clone(),
        }
    }
}

/// A catalog track found in the content.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Match)]
pub(crate) struct MatchView {
    track_id: String,
    title: Option<String>,
    artist: Option<String>,
    rights_holder: Option<String>,
    /// Catalog peaks of the track found in the content where the alignment puts them.
    score: u32,
    /// In [0, 1]: 0.5 at the reporting threshold, rising with the score.
    confidence: f64,
    /// Where in the content the match starts, in seconds of the content.
    query_offset_s: f64,
    /// Where in the track the match starts, in seconds of the track.
    track_offset_s: f64,
    /// Length of the matched span, in seconds of the track.
    matched_duration_s: f64,
    /// Content seconds per track second: 1.0 for an unaltered copy, about 0.95 for a
    /// copy sped up by 5 %.
    time_scale: f64,
    /// How far the content's pitch lies above the track's, in semitones.
    pitch_shift_semitones: f64,
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A match's time scale and pitch shift as answers and the decision log carry them:
/// the scale to five decimals, the pitch to three.
pub(crate) fn alteration(m: &Match) -> (f64, f64) {
    (
        (m.time_scale * 1e5).round() / 1e5,
        round3(m.pitch_shift_semitones),
    )
}

impl From<&Match> for MatchView {
    fn from(m: &Match) -> Self {
        let (time_scale, pitch_shift_semitones) = alteration(m);
        Self {
            track_id: m.track.id.to_string(),
            title: m.track.meta.title.clone(),
            artist: m.track.meta.artist.clone(),
            rights_holder: m.track.meta.rights_holder.clone(),
            score: m.score,
            confidence: round3(m.confidence),
            query_offset_s: round3(m.query_offset_s),
            track_offset_s: round3(m.track_offset_s),
            matched_duration_s: round3(m.matched_duration_s),
            time_scale,
            pitch_shift_semitones,
        }
    }
}
