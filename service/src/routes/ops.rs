//! Operations: liveness, readiness, metrics and the API description.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI 3.1 description of the API, written by hand beside the code.
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the index answers too.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match blocking(move || Ok(store.stats()?)).await {
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

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let stats = blocking(move || Ok(store.stats()?)).await.ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.runtime.metrics.render(stats.as_ref()),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// Any other path.
pub(crate) async fn fallback() -> ApiError {
    ApiError::NotFound("no such route".into())
}
