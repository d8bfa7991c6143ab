//! `POST /v1/identify` and `POST /v1/check`: what is this, and may it be shared?

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use earmark_core::Fingerprint;
use earmark_index::{Match, MatchConfig, Store, identify as match_prints, identify_exact, matcher};
use earmark_rights::{
    Context, Decision, DecisionOutcome, Policy, Rule, decide, min_score_for, normalize_territory,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{MatchView, alteration, blocking, query_params, request_id, round3};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::input::{self, Kind};
use crate::reports::DecisionRecord;
use crate::state::AppState;
use earmark_rights::timestamp::now_unix_s;

/// The JSON form of a query: exactly one of `fingerprint` and `content_hash`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = QueryJson)]
pub(crate) struct JsonQuery {
    /// A fingerprint in its JSON form (as `earmark fingerprint --json` writes it).
    fingerprint: Option<serde_json::Value>,
    /// SHA-256 of the file, hex: the exact-file fast path.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    content_hash: Option<String>,
    /// For check: the network's name (admin keys only).
    network: Option<String>,
    /// For check: where the file is shared.
    territory: Option<String>,
}

/// Context given as query parameters (a JSON body's fields take precedence).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContextParams {
    /// The network asking; admin keys only (a network key speaks for its own network).
    network: Option<String>,
    /// ISO 3166-1 alpha-2 code of where the file is shared.
    #[param(pattern = "^[A-Za-z]{2}$")]
    territory: Option<String>,
}

/// What to match: fingerprints of the content, or only its file hash.
enum Query {
    /// Fingerprints, with the file's hash when the content came whole.
    Prints(Vec<Fingerprint>, Option<String>),
    Hash(String),
}

/// A query read from the request, and how the content came.
struct QueryInput {
    query: Query,
    json: JsonQuery,
    input: &'static str,
}

/// Reads the query in whichever form the content type says (audio is decoded and
/// fingerprinted on the way in).
async fn read_query(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<QueryInput, ApiError> {
    let (query, json, input) = match input::classify(headers)? {
        Kind::Audio(hint) => {
            let audio =
                input::decode_audio(state, headers, body, hint, state.config.query_shifts).await?;
            (
                Query::Prints(audio.prints, audio.content_hash),
                JsonQuery::default(),
                "audio",
            )
        }
        Kind::Fingerprint => {
            let bytes = input::read_limited(headers, body, state.config.max_body_bytes).await?;
            let fp = input::fingerprint_from_bytes(&bytes, state.config.max_audio_s)?;
            (
                Query::Prints(vec![fp], None),
                JsonQuery::default(),
                "fingerprint",
            )
        }
        Kind::Json => {
            let bytes = input::read_limited(headers, body, state.config.max_body_bytes).await?;
            let mut json: JsonQuery = input::parse_json(&bytes)?;
            match (json.fingerprint.take(), json.content_hash.take()) {
                (Some(fp), None) => (
                    Query::Prints(
                        vec![input::fingerprint_from_json(&fp, state.config.max_audio_s)?],
                        None,
                    ),
                    json,
                    "fingerprint",
                ),
                (None, Some(hash)) => (
                    Query::Hash(input::content_hash(&hash)?),
                    json,
                    "content_hash",
                ),
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        "give exactly one of \"fingerprint\" and \"content_hash\"",
                    ));
                }
            }
        }
    };
    Ok(QueryInput { query, json, input })
}

/// The catalog tracks in the query, best first. Store work: call it on the blocking
/// pool.
fn find(store: &dyn Store, query: Query, config: &MatchConfig) -> Result<Vec<Match>, ApiError> {
    let hash = match &query {
        Query::Hash(h) => Some(h.as_str()),
        Query::Prints(_, h) => h.as_deref(),
    };
    // The exact-file fast path: the same bytes as catalog files.
    if let Some(hash) = hash {
        let exact = identify_exact(store, hash)?;
        if !exact.is_empty() {
            return Ok(exact);
        }
    }
    match query {
        Query::Hash(_) => Ok(Vec::new()),
        Query::Prints(prints, _) => Ok(match_prints(store, &prints, store.hash_config()?, config)?),
    }
}

/// The catalog tracks found in the content.
#[derive(Serialize, ToSchema)]
pub(crate) struct IdentifyAnswer {
    /// Best first; empty when nothing matches.
    matches: Vec<MatchView>,
    /// How the content came: `audio`, `fingerprint` or `content_hash`.
    input: &'static str,
    /// Time spent answering, in milliseconds.
    elapsed_ms: f64,
}

/// Identify audio, a fingerprint or a content hash.
///
/// The catalog tracks playing in the content, best first, each with its offsets and
/// confidence. Roles: network, admin.
#[utoipa::path(
    post,
    path = "/v1/identify",
    tag = "match",
    request_body(description = "The content, told apart by its content type.", content(
        ("audio/*"),
        ("application/octet-stream"),
        ("application/vnd.earmark.fingerprint"),
        (JsonQuery = "application/json"),
    )),
    responses((status = 200, description = "Matches, best first.", body = IdentifyAnswer)),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn identify(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IdentifyAnswer>, ApiError> {
    caller.require(&[Role::Network, Role::Admin])?;
    let started = Instant::now();
    let config = MatchConfig::for_hash(state.store.hash_config()?);
    let request = read_query(&state, &headers, body).await?;
    let store = state.store.clone();
    let matches = blocking(&state, move || find(&*store, request.query, &config)).await?;
    Ok(Json(IdentifyAnswer {
        matches: matches.iter().map(MatchView::from).collect(),
        input: request.input,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// The deciding track, as a check answer names it.
#[derive(Serialize, ToSchema)]
pub(crate) struct TrackBrief {
    id: String,
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    isrc: Option<String>,
}

/// A rights decision and what made it.
#[derive(Serialize, ToSchema)]
pub(crate) struct CheckAnswer {
    decision: Decision,
    /// The rule that decided.
    rule: Rule,
    /// The deciding track; absent when nothing matched.
    track: Option<TrackBrief>,
    rights_holder: Option<String>,
    /// The deciding track's policy.
    policy: Option<Policy>,
    /// Confidence of the deciding match, in [0, 1].
    confidence: Option<f64>,
    /// The deciding match's query seconds per catalog second: 1 for an unaltered
    /// copy, below 1 for one sped up.
    time_scale: Option<f64>,
    /// The deciding match's pitch relative to the catalog track, in semitones.
    pitch_shift_semitones: Option<f64>,
    network: String,
    territory: Option<String>,
    /// How the content came: `audio`, `fingerprint` or `content_hash`.
    input: &'static str,
    /// The request's id, as recorded in the reports.
    request_id: String,
}

/// A rights decision for the content.
///
/// `allow`, `block` or `review` for the content shared in a network and territory,
/// with the matched track, its rights holder, and the policy and rule that decided.
/// Every decision is recorded for the reports. Roles: network (the network is the
/// key's), admin.
#[utoipa::path(
    post,
    path = "/v1/check",
    tag = "match",
    params(ContextParams),
    request_body(description = "The content, told apart by its content type.", content(
        ("audio/*"),
        ("application/octet-stream"),
        ("application/vnd.earmark.fingerprint"),
        (JsonQuery = "application/json"),
    )),
    responses((status = 200, description = "The decision.", body = CheckAnswer)),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn check(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CheckAnswer>, ApiError> {
    caller.require(&[Role::Network, Role::Admin])?;
    let params: ContextParams = query_params(&uri)?;
    let rights = state.config.rights.clone();
    // Ask the matcher down to the review threshold, then judge with the calibrated
    // confidence, which the lowered `min_score` would otherwise inflate.
    let calibrated = MatchConfig::for_hash(state.store.hash_config()?);
    let config = MatchConfig {
        min_score: min_score_for(rights.review_confidence, calibrated.min_score)
            .min(calibrated.min_score),
        ..calibrated.clone()
    };
    let QueryInput { query, json, input } = read_query(&state, &headers, body).await?;
    let territory = json
        .territory
        .or(params.territory)
        .map(|t| normalize_territory(&t))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    // A network key speaks for its own network; an admin may say which.
    let network = match caller.key.role {
        Role::Network => caller.key.subject.clone(),
        _ => json
            .network
            .or(params.network)
            .unwrap_or_else(|| caller.key.subject.clone()),
    };
    let context = Context {
        territory: territory.clone(),
        at_unix_s: now_unix_s(),
    };
    let (store, log) = (state.store.clone(), state.reports.clone());
    let (id, net, place) = (request_id(&headers), network.clone(), territory.clone());
    // Matching, deciding and recording in one task on the blocking pool: one hand-off
    // per check, not two.
    let (outcome, change): (DecisionOutcome, Option<(f64, f64)>) = blocking(&state, move || {
        let mut matches = find(&*store, query, &config)?;
        for m in &mut matches {
            if m.confidence < 1.0 {
                m.confidence = matcher::confidence(m.score, &calibrated);
            }
        }
        let outcome = decide(&matches, &context, &rights);
        // The alteration of the copy that decided, so that reports show how content
        // that got through or was blocked had been changed.
        let change = outcome
            .track
            .as_ref()
            .and_then(|t| matches.iter().find(|m| m.track.id == t.id))
            .map(alteration);
        let record = DecisionRecord {
            at_unix_s: context.at_unix_s,
            request_id: id,
            network: net,
            territory: place,
            decision: outcome.decision,
            rule: outcome.rule,
            track_id: outcome.track.as_ref().map(|t| t.id.to_string()),
            rights_holder: outcome.rights_holder.clone(),
            confidence: outcome.confidence,
            time_scale: change.map(|a| a.0),
            pitch_shift_semitones: change.map(|a| a.1),
            input: input.to_owned(),
        };
        log.append(&record)
            .map_err(|e| ApiError::Internal(format!("cannot record the decision: {e}")))?;
        Ok((outcome, change))
    })
    .await?;
    state.runtime.metrics.observe_decision(outcome.decision);
    Ok(Json(CheckAnswer {
        decision: outcome.decision,
        rule: outcome.rule,
        track: outcome.track.as_ref().map(|t| TrackBrief {
            id: t.id.to_string(),
            title: t.meta.title.clone(),
            artist: t.meta.artist.clone(),
            album: t.meta.album.clone(),
            isrc: t.meta.isrc.clone(),
        }),
        rights_holder: outcome.rights_holder,
        policy: outcome.policy,
        confidence: outcome.confidence.map(round3),
        time_scale: change.map(|a| a.0),
        pitch_shift_semitones: change.map(|a| a.1),
        network,
        territory,
        input,
        request_id: request_id(&headers),
    }))
}
