//! The catalog: `/v1/tracks` and `/v1/tracks/{id}`.
//!
//! Labels see and change only their own rights holder's tracks. A track of another
//! holder answers exactly as a missing one does. New tracks of a label take ids in its
//! namespace, `<holder>:...`, so that creating one never tells whether another holder
//! uses an id.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use earmark_core::Fingerprint;
use earmark_index::{Added, Ingest, Limits, OnDuplicate, TrackId, TrackMeta, TrackRecord};
use earmark_rights::Policy;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{TrackView, blocking, no_such_track, query_params, visible};
use crate::auth::{Caller, Role, label_namespace};
use crate::error::{ApiError, ErrorBody};
use crate::input::{self, Kind};
use crate::state::AppState;

/// Metadata given as query parameters with an audio or binary fingerprint upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MetaParams {
    /// The track id (for `PUT`, the path's). Without one, the id is made from the
    /// content; a label's new ids start with `<holder>:`.
    id: Option<String>,
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    isrc: Option<String>,
    /// Labels: their own, filled in when absent.
    rights_holder: Option<String>,
    /// A policy word or its JSON object form.
    policy: Option<String>,
    /// A recording already in the catalog under another id (the same bytes, or
    /// another encoding of it): `skip` (the default) answers 409 `duplicate`, `add`
    /// adds it under this id as well.
    on_duplicate: Option<DuplicateParam>,
}

/// The `on_duplicate` query parameter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DuplicateParam {
    Skip,
    Add,
}

/// The rule a request asked for; skipping without one.
fn on_duplicate(param: Option<DuplicateParam>) -> OnDuplicate {
    match param {
        Some(DuplicateParam::Add) => OnDuplicate::Add,
        Some(DuplicateParam::Skip) | None => OnDuplicate::Skip,
    }
}

/// The JSON body of `PUT /v1/tracks/{id}`: metadata, and a fingerprint to (re)index
/// the track with; without one, only the metadata of an existing track is replaced.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrackBody {
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    isrc: Option<String>,
    rights_holder: Option<String>,
    policy: Option<Policy>,
    /// A fingerprint in its JSON form, to (re)index the track with.
    fingerprint: Option<serde_json::Value>,
    /// As the query parameter of audio uploads: `skip` (the default) or `add`.
    on_duplicate: Option<DuplicateParam>,
}

/// Fills in or checks the rights holder against the caller.
fn owned_meta(caller: &Caller, mut meta: TrackMeta) -> Result<TrackMeta, ApiError> {
    if let Some(holder) = caller.label_holder() {
        match meta.rights_holder.as_deref() {
            None => meta.rights_holder = Some(holder.to_owned()),
            Some(h) if h == holder => {}
            Some(_) => {
                return Err(ApiError::Forbidden(
                    "a label key manages only its own rights holder's tracks".into(),
                ));
            }
        }
    }
    Ok(meta)
}

/// May the caller write `id`? `Some(record)` when it exists.
async fn writable(
    state: &AppState,
    caller: &Caller,
    id: &TrackId,
) -> Result<Option<TrackRecord>, ApiError> {
    let store = state.store.clone();
    let lookup = id.clone();
    let existing = blocking(state, move || Ok(store.track(&lookup)?)).await?;
    match (&existing, caller.label_holder()) {
        (Some(record), _) if !visible(caller, record) => Err(label_refusal(caller)),
        (None, Some(holder)) if !id.as_str().starts_with(&label_namespace(holder)) => {
            Err(label_refusal(caller))
        }
        _ => Ok(existing),
    }
}

/// The same answer for another holder's id and for a free id outside the namespace.
fn label_refusal(caller: &Caller) -> ApiError {
    let ns = label_namespace(caller.label_holder().unwrap_or_default());
    ApiError::NotFound(format!(
        "no track with this id; a label's new tracks take ids starting with {ns:?}"
    ))
}

fn parse_id(id: &str) -> Result<TrackId, ApiError> {
    Ok(TrackId::new(id)?)
}

fn meta_from_params(p: MetaParams) -> Result<TrackMeta, ApiError> {
    let policy = p.policy.map(|t| Policy::parse(&t)).transpose()?;
    Ok(TrackMeta {
        title: p.title,
        artist: p.artist,
        album: p.album,
        isrc: p.isrc,
        rights_holder: p.rights_holder,
        policy: policy.map(|p| p.encode()),
    })
}

/// Adds `fp` as track `id` by the catalog's rules ([`Ingest`]), as `earmark ingest`
/// does: 201 for a new track, 200 for a replaced or unchanged one, 409 for a recording
/// already in the catalog under another id (named only to a caller who may see it).
async fn store_track(
    state: &AppState,
    caller: &Caller,
    track: (TrackId, TrackMeta),
    fp: Fingerprint,
    content_hash: Option<String>,
    on_duplicate: OnDuplicate,
) -> Result<Response, ApiError> {
    let (id, meta) = track;
    let (store, runtime) = (state.store.clone(), state.runtime.clone());
    let config = state.config.clone();
    let added = blocking(state, move || {
        let limits = Limits {
            max_track_s: Some(config.max_audio_s),
            quota: config.holder_quota(),
        };
        let ingest = Ingest::new(&*store, on_duplicate)?
            .sharing(&runtime.catalog_writes)
            .with_limits(limits);
        Ok(ingest.add(id, meta, content_hash, fp)?)
    })
    .await?;
    let status = match &added {
        Added::Inserted(_) => StatusCode::CREATED,
        Added::Replaced(_) | Added::Unchanged(_) => StatusCode::OK,
        Added::OtherHolder(existing) => {
            let which = named_to(caller, existing);
            return Err(ApiError::Conflict {
                code: "held_by_another_holder",
                message: format!(
                    "these very bytes are in the catalog{which} under another rights holder; \
                     a file is registered by one holder, so that no upload can stand in \
                     for another holder's"
                ),
            });
        }
        Added::Duplicate(existing) => {
            let which = named_to(caller, existing);
            return Err(ApiError::Conflict {
                code: "duplicate",
                message: format!(
                    "this recording is already in the catalog{which}; \
                     add on_duplicate=add to add it under this id as well"
                ),
            });
        }
    };
    Ok((status, Json(TrackView::from(added.record()))).into_response())
}

/// " as <id>" for a track the caller may see, nothing for one it may not.
fn named_to(caller: &Caller, existing: &TrackRecord) -> String {
    if visible(caller, existing) {
        format!(" as {}", existing.id)
    } else {
        String::new()
    }
}

/// Audio or a binary fingerprint as a new or replacing track.
async fn upload(
    state: &AppState,
    caller: &Caller,
    path_id: Option<String>,
    params: MetaParams,
    kind: Upload,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let explicit = match (path_id, params.id.clone()) {
        (Some(p), Some(q)) if p != q => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "the id in the path and the query differ",
            ));
        }
        (Some(p), _) => Some(parse_id(&p)?),
        (None, q) => q.as_deref().map(parse_id).transpose()?,
    };
    let rule = on_duplicate(params.on_duplicate);
    let meta = owned_meta(caller, meta_from_params(params)?)?;
    // Everything that can be refused is refused before the body is read.
    if let Some(id) = &explicit {
        writable(state, caller, id).await?;
    }
    let (fp, content_hash) = match kind {
        Upload::Audio(hint) => {
            let mut audio = input::decode_audio(state, headers, body, hint, 1).await?;
            let fp = audio.prints.pop().ok_or_else(|| {
                ApiError::bad_request("invalid_audio", "the input contains no audio samples")
            })?;
            (fp, audio.content_hash)
        }
        Upload::Fingerprint => {
            let bytes = input::read_limited(headers, body, state.config.max_body_bytes).await?;
            (
                input::fingerprint_from_bytes(&bytes, state.config.max_audio_s)?,
                None,
            )
        }
    };
    let id = match explicit {
        Some(id) => id,
        None => {
            // Named after the content: the file's hash, or the fingerprint's.
            let basis = content_hash
                .clone()
                .unwrap_or_else(|| crate::auth::sha256_hex(&fp.to_bytes()));
            let ns = caller
                .label_holder()
                .map(label_namespace)
                .unwrap_or_default();
            let id = parse_id(&format!("{ns}{}", &basis[..16]))?;
            writable(state, caller, &id).await?;
            id
        }
    };
    store_track(state, caller, (id, meta), fp, content_hash, rule).await
}

/// The body forms a track can be uploaded in besides JSON.
enum Upload {
    Audio(Option<&'static str>),
    Fingerprint,
}

/// Add a track from audio or a binary fingerprint.
///
/// Metadata comes in the query. Without `id`, the id is made from the content (a
/// label's: `<holder>:...`). Roles: label (its own rights holder), admin.
#[utoipa::path(
    post,
    path = "/v1/tracks",
    tag = "catalog",
    params(MetaParams),
    request_body(description = "The track's audio, or its binary fingerprint.", content(
        ("audio/*"),
        ("application/octet-stream"),
        ("application/vnd.earmark.fingerprint"),
    )),
    responses(
        (status = 201, description = "Created.", body = TrackView),
        (status = 200, description = "Replaced (the id existed), or unchanged (the same bytes).", body = TrackView),
        (status = 404, description = "An id the caller may not use.", body = ErrorBody),
        (status = 409, description = "The recording is already in the catalog under another id.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    let params: MetaParams = query_params(&uri)?;
    let kind = match input::classify(&headers)? {
        Kind::Json => {
            return Err(ApiError::UnsupportedMediaType(
                "POST /v1/tracks takes audio or a binary fingerprint; use PUT /v1/tracks/{id} for JSON".into(),
            ));
        }
        Kind::Audio(hint) => Upload::Audio(hint),
        Kind::Fingerprint => Upload::Fingerprint,
    };
    upload(&state, &caller, None, params, kind, &headers, body).await
}

/// Create or replace a track.
///
/// From audio or a binary fingerprint (metadata in the query), or from JSON: metadata
/// and an optional JSON fingerprint; without one, only an existing track's metadata is
/// replaced. Roles: label (its own rights holder), admin.
#[utoipa::path(
    put,
    path = "/v1/tracks/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The track id."), MetaParams),
    request_body(description = "Audio, a binary fingerprint, or JSON.", content(
        ("audio/*"),
        ("application/octet-stream"),
        ("application/vnd.earmark.fingerprint"),
        (TrackBody = "application/json"),
    )),
    responses(
        (status = 201, description = "Created.", body = TrackView),
        (status = 200, description = "Replaced, or unchanged (the same bytes).", body = TrackView),
        (status = 404, description = "No such track, or an id the caller may not use.", body = ErrorBody),
        (status = 409, description = "The recording is already in the catalog under another id.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    let kind = match input::classify(&headers)? {
        Kind::Json => None,
        Kind::Audio(hint) => Some(Upload::Audio(hint)),
        Kind::Fingerprint => Some(Upload::Fingerprint),
    };
    if let Some(kind) = kind {
        let params: MetaParams = query_params(&uri)?;
        return upload(&state, &caller, Some(id), params, kind, &headers, body).await;
    }
    let id = parse_id(&id)?;
    let bytes = input::read_limited(&headers, body, state.config.max_body_bytes).await?;
    let b: TrackBody = input::parse_json(&bytes)?;
    let meta = owned_meta(
        &caller,
        TrackMeta {
            title: b.title,
            artist: b.artist,
            album: b.album,
            isrc: b.isrc,
            rights_holder: b.rights_holder,
            policy: b.policy.map(|p| p.encode()),
        },
    )?;
    let fp = b
        .fingerprint
        .as_ref()
        .map(|fp| input::fingerprint_from_json(fp, state.config.max_audio_s))
        .transpose()?;
    let existing = writable(&state, &caller, &id).await?;
    match fp {
        Some(fp) => {
            let rule = on_duplicate(b.on_duplicate);
            store_track(&state, &caller, (id, meta), fp, None, rule).await
        }
        None => {
            if existing.is_none() {
                return Err(ApiError::NotFound(
                    "no track with this id; give a fingerprint to create one".into(),
                ));
            }
            let store = state.store.clone();
            let record = blocking(&state, move || Ok(store.update_meta(&id, &meta)?)).await?;
            Ok(Json(TrackView::from(&record)).into_response())
        }
    }
}

/// Reads a track the caller may see.
async fn visible_track(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<TrackRecord, ApiError> {
    let id = parse_id(id)?;
    let store = state.store.clone();
    let record = blocking(state, move || Ok(store.track(&id)?)).await?;
    match record {
        Some(r) if visible(caller, &r) => Ok(r),
        _ => Err(no_such_track()),
    }
}

/// A track. Roles: label (its own rights holder), admin.
#[utoipa::path(
    get,
    path = "/v1/tracks/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The track id.")),
    responses(
        (status = 200, description = "The track.", body = TrackView),
        (status = 404, description = "No such track.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TrackView>, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    let record = visible_track(&state, &caller, &id).await?;
    Ok(Json(TrackView::from(&record)))
}

/// Delete a track and all its postings. Roles: label (its own rights holder), admin.
#[utoipa::path(
    delete,
    path = "/v1/tracks/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The track id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such track.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    let record = visible_track(&state, &caller, &id).await?;
    let store = state.store.clone();
    let deleted = blocking(&state, move || Ok(store.delete_track(&record.id)?)).await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such_track())
    }
}

/// Set or clear a track's policy.
///
/// The body is a policy (a word or the object form), or `null` to remove it. Roles:
/// label (its own rights holder), admin.
#[utoipa::path(
    patch,
    path = "/v1/tracks/{id}/policy",
    tag = "catalog",
    params(("id" = String, Path, description = "The track id.")),
    request_body(content = Option<Policy>, content_type = "application/json"),
    responses(
        (status = 200, description = "The track with its new policy.", body = TrackView),
        (status = 404, description = "No such track.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn set_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<TrackView>, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    if input::classify(&headers)? != Kind::Json {
        return Err(ApiError::UnsupportedMediaType(
            "the policy is JSON: application/json".into(),
        ));
    }
    let record = visible_track(&state, &caller, &id).await?;
    let bytes = input::read_limited(&headers, body, state.config.max_body_bytes).await?;
    let policy: Option<Policy> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_policy", e.to_string()))?;
    let meta = TrackMeta {
        policy: policy.map(|p| p.encode()),
        ..record.meta
    };
    let store = state.store.clone();
    let updated = blocking(&state, move || Ok(store.update_meta(&record.id, &meta)?)).await?;
    Ok(Json(TrackView::from(&updated)))
}

/// Listing parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Start after this id (the previous page's `next`).
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// Only this holder's tracks (admins; labels always see only their own).
    rights_holder: Option<String>,
    /// Only tracks whose policy has this action (`allow`, `block`, `monitor`) or `none`.
    policy: Option<String>,
    /// Only tracks whose title or artist contains this text, ignoring case.
    q: Option<String>,
}

/// A page of tracks.
#[derive(Serialize, ToSchema)]
pub(crate) struct TrackPage {
    tracks: Vec<TrackView>,
    /// Pass as `after` for the next page; absent on the last.
    next: Option<String>,
}

/// Records scanned per listing request at most, so a filter matching little stays cheap.
const MAX_SCAN: usize = 20_000;

/// List tracks in id order, filtered. Roles: label (its own tracks), admin.
#[utoipa::path(
    get,
    path = "/v1/tracks",
    tag = "catalog",
    params(ListParams),
    responses((status = 200, description = "A page.", body = TrackPage)),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<TrackPage>, ApiError> {
    caller.require(&[Role::Label, Role::Admin])?;
    let p: ListParams = query_params(&uri)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let holder = match (caller.label_holder(), p.rights_holder) {
        (Some(own), Some(asked)) if asked != own => {
            return Err(ApiError::Forbidden(
                "a label key lists only its own tracks".into(),
            ));
        }
        (Some(own), _) => Some(own.to_owned()),
        (None, asked) => asked,
    };
    let policy_filter = match p.policy.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(word) => Some(Some(Policy::parse(word)?.action)),
    };
    let needle = p.q.map(|q| q.to_lowercase());
    let after = p.after.as_deref().map(parse_id).transpose()?;
    let store = state.store.clone();
    let page = blocking(&state, move || {
        let mut cursor = after;
        let mut out = Vec::new();
        let mut scanned = 0;
        loop {
            let batch = store.list_tracks(cursor.as_ref(), 500)?;
            let exhausted = batch.len() < 500;
            for r in batch {
                scanned += 1;
                cursor = Some(r.id.clone());
                let m = &r.meta;
                let keep = holder
                    .as_ref()
                    .is_none_or(|h| m.rights_holder.as_ref() == Some(h))
                    && policy_filter.is_none_or(|want| {
                        want == m
                            .policy
                            .as_deref()
                            .and_then(|t| Policy::parse(t).ok())
                            .map(|p| p.action)
                    })
                    && needle.as_ref().is_none_or(|n| {
                        [&m.title, &m.artist]
                            .iter()
                            .any(|f| f.as_ref().is_some_and(|t| t.to_lowercase().contains(n)))
                    });
                if keep {
                    out.push(TrackView::from(&r));
                    if out.len() == limit {
                        return Ok(TrackPage {
                            tracks: out,
                            next: cursor.map(String::from),
                        });
                    }
                }
                if scanned >= MAX_SCAN {
                    return Ok(TrackPage {
                        tracks: out,
                        next: cursor.map(String::from),
                    });
                }
            }
            if exhausted {
                return Ok(TrackPage {
                    tracks: out,
                    next: None,
                });
            }
        }
    })
    .await?;
    Ok(Json(page))
}
