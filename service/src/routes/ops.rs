//! Operations: liveness, readiness, metrics and the API description.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::blocking;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The API description, generated once from the handlers' annotations.
static OPENAPI_JSON: LazyLock<Result<String, String>> =
    LazyLock::new(|| crate::openapi().to_pretty_json().map_err(|e| e.to_string()));

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`.", body = String, content_type = "text/plain")),
)]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the index answers too.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"tracks\": N, \"keys\": N}`.", body = Object),
        (status = 503, description = "The index does not answer.", body = ErrorBody),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match blocking(&state, move || Ok(store.stats()?)).await {
        Ok(stats) => Json(json!({
            "status": "ready",
            "tracks": stats.tracks,
            "keys": state.keys.len(),
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = ?e, "index not ready");
            ApiError::Unavailable("the index does not answer".into()).into_response()
        }
    }
}

/// Metrics in the OpenMetrics text format, which Prometheus reads: requests and
/// latencies per route, decisions per outcome, index size.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text format 1.0.0.", body = String, content_type = "application/openmetrics-text")),
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let stats = blocking(&state, move || Ok(store.stats()?)).await.ok();
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.runtime.metrics.render(stats.as_ref()),
    )
        .into_response()
}

/// This document: the OpenAPI 3.1 description of the API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document.", body = Object)),
)]
pub(crate) async fn openapi() -> Response {
    match &*OPENAPI_JSON {
        Ok(doc) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            doc.as_str(),
        )
            .into_response(),
        Err(e) => ApiError::Internal(format!("cannot serialise the OpenAPI document: {e}"))
            .into_response(),
    }
}

/// Any other path.
pub(crate) async fn fallback() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A known path with a method it does not take; the router adds the `Allow` header.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
