//! Earmark's rights-filtering service: the HTTP API file-sharing networks call to ask
//! what a file is and whether it may be shared, and labels use to manage their catalog.
//!
//! [`router`] builds the whole API over an [`AppState`] (the index behind
//! `Arc<dyn Store>`, the hashed API keys, the decision log, the [`Config`]); [`serve`]
//! runs it on a socket until a shutdown future resolves, finishing requests in flight.
//! Handlers stay thin: matching is `earmark_index`, decisions are
//! [`earmark_rights::decide`], and every decode, match and store call runs on the
//! blocking pool so the async executor never stalls.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `POST /v1/identify` | network, admin | matches for audio, a fingerprint or a content hash |
//! | `POST /v1/check` | network, admin | a decision: allow, block or review |
//! | `POST /v1/tracks`, `PUT/GET/DELETE /v1/tracks/{id}`, `PATCH /v1/tracks/{id}/policy`, `GET /v1/tracks` | label (own holder), admin | the catalog |
//! | `GET /v1/reports` | label (own holder), admin | decision counts and recent decisions |
//! | `/healthz`, `/readyz`, `/metrics`, `/openapi.json` | anyone | operations |
//!
//! Bodies are told apart by content type: `audio/*` or `application/octet-stream` is
//! audio (streamed to the decoder, never buffered whole), `application/vnd.earmark.fingerprint`
//! the compact binary fingerprint, `application/json` a JSON document.
//!
//! TLS is left to a reverse proxy. The service leaves out key management over HTTP
//! (see [`add_key`], which the command line calls) and installing a tracing subscriber.
//!
//! ```
//! use std::sync::Arc;
//! use earmark_core::HashConfig;
//! use earmark_index::MemoryStore;
//! use earmark_service::{AppState, Config, DecisionDb, KeyStore, router};
//!
//! let dir = tempfile::tempdir()?;
//! let state = AppState::new(
//!     Arc::new(MemoryStore::new(HashConfig::default().id)),
//!     KeyStore::new(),
//!     Arc::new(DecisionDb::open(dir.path().join("decisions"))?),
//!     Config::default(),
//! );
//! let app: axum::Router = router(state);
//! # drop(app);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod config;
mod connections;
mod error;
mod input;
mod limits;
mod metrics;
mod openapi;
mod reports;
mod routes;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use earmark_index::Store;
use tokio::net::TcpListener;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{Caller, KeyEntry, KeyStore, Role, add_key, list_keys, revoke_key, sha256_hex};
pub use config::Config;
pub use error::{ApiError, Error, Result};
pub use input::FINGERPRINT_MEDIA_TYPE;
pub use metrics::Metrics;
pub use reports::{Counts, DecisionDb, DecisionLog, DecisionRecord, Report, ReportQuery};
pub use state::AppState;

/// The `/v1` routes, each with its OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    use routes::{query, reports, tracks};
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(query::identify))
        .routes(utoipa_axum::routes!(query::check))
        .routes(utoipa_axum::routes!(tracks::create, tracks::list))
        .routes(utoipa_axum::routes!(
            tracks::get,
            tracks::put,
            tracks::delete
        ))
        .routes(utoipa_axum::routes!(tracks::set_policy))
        .routes(utoipa_axum::routes!(reports::get))
}

/// The operations routes, each with its OpenAPI description.
fn ops_routes() -> OpenApiRouter<AppState> {
    use routes::ops;
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(ops::healthz))
        .routes(utoipa_axum::routes!(ops::readyz))
        .routes(utoipa_axum::routes!(ops::metrics))
        .routes(utoipa_axum::routes!(ops::openapi))
}

/// The OpenAPI 3.1 document of the API, generated from the same route table
/// [`router`] serves (and served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = api_routes().merge(ops_routes()).split_for_parts();
    openapi::document(paths)
}

/// The whole API over `state`, with its layers: request ids, tracing, metrics, a
/// timeout, and a concurrency limit on the `/v1` routes.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let api = api.route_layer(middleware::from_fn_with_state(
        state.clone(),
        limit_concurrency,
    ));
    let (ops, _) = ops_routes().split_for_parts();
    api.merge(ops)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .fallback(routes::ops::fallback)
        .layer(middleware::from_fn(routes::refuse_malformed))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_request_time,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), track_metrics))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Body>| {
                    let id = req
                        .headers()
                        .get(X_REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(SequentialId::new()))
        .layer(middleware::map_request(drop_unusable_request_id))
        .with_state(state)
}

/// Runs the service on `config.listen` over `store`, reading the keys file and opening
/// the decision log beside the index, until `shutdown` resolves; requests in flight
/// then finish.
///
/// # Errors
/// [`Error::Io`] when the log cannot be opened or the address bound,
/// [`Error::KeysFile`] for a damaged keys file.
pub async fn serve(
    config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let keys = KeyStore::load(&config.keys_path())?;
    if keys.is_empty() {
        tracing::warn!(
            keys_file = %config.keys_path().display(),
            "no API keys: every /v1 request will be refused until a key is added"
        );
    }
    let log_path = config.decisions_path();
    let log = Arc::new(
        DecisionDb::open(&log_path)
            .map_err(|e| Error::io(format!("cannot open {}", log_path.display()), e))?,
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", config.listen), e))?;
    let retention_days = config.decision_retention_days;
    let state = AppState::new(store, keys, log.clone(), config);
    let reloading = tokio::spawn(follow_keys_file(state.keys.clone()));
    let pruning = (retention_days > 0).then(|| tokio::spawn(prune_decisions(log, retention_days)));
    let served = serve_on(listener, state, shutdown).await;
    reloading.abort();
    if let Some(pruning) = pruning {
        pruning.abort();
    }
    served
}

/// How often the service forgets decisions past their retention.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Forgets decisions older than `days` now and every [`PRUNE_INTERVAL`].
async fn prune_decisions(log: Arc<DecisionDb>, days: u32) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tick.tick().await;
        let log = log.clone();
        let cutoff = earmark_rights::timestamp::now_unix_s() - i64::from(days) * 86_400;
        match tokio::task::spawn_blocking(move || log.prune(cutoff)).await {
            Ok(Ok(())) => tracing::debug!(days, "forgot decisions past their retention"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune the decision log"),
            Err(e) => tracing::warn!(error = %e, "prune task failed"),
        }
    }
}

/// How often the service looks at the keys file for keys added or revoked.
const KEYS_FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Reloads the keys file whenever it changes, for as long as the service runs.
async fn follow_keys_file(keys: Arc<KeyStore>) {
    let mut tick = tokio::time::interval(KEYS_FILE_CHECK_INTERVAL);
    loop {
        tick.tick().await;
        let keys = keys.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            let outcome = keys.reload_if_changed();
            (outcome, keys.len())
        })
        .await;
        match reloaded {
            Ok((Ok(true), n)) => tracing::info!(keys = n, "reloaded the API keys"),
            Ok((Ok(false), _)) => {}
            Ok((Err(e), _)) => {
                tracing::warn!(error = %e, "cannot reload the API keys; the previous ones stay in force");
            }
            Err(e) => tracing::warn!(error = %e, "keys reload task failed"),
        }
    }
}

/// Runs the service on a bound listener (tests bind `127.0.0.1:0`).
///
/// # Errors
/// [`Error::Io`] when accepting fails for good.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, "listening"),
        Err(e) => tracing::info!(error = %e, "listening on an address the OS does not tell"),
    }
    let limits = connections::ConnectionLimits {
        max_connections: state.config.max_connections,
        header_read_timeout: state.config.header_read_timeout(),
    };
    connections::serve(listener, router(state), limits, shutdown).await
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM: the usual `shutdown` for [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Admits a `/v1` request within its key's share of
/// [`max_concurrent`](Config::max_concurrent), then within the global limit: a key at
/// its share waits without holding a global slot, so no key can hold them all. The
/// handler runs with its key known to [`limits::cpu_turn`], and with a deadline on its
/// body ([`Config::body_read_timeout_s`]).
async fn limit_concurrency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let runtime = state.runtime.clone();
    let key = limits::key_of(&state, req.headers());
    let req = req.map(|body| input::with_deadline(body, state.config.body_read_timeout()));
    let Some(_own) = runtime.requests_per_key.acquire(&key).await else {
        return ApiError::Unavailable("shutting down".into()).into_response();
    };
    match runtime.requests.acquire().await {
        Ok(_permit) => limits::with_key(key, next.run(req)).await,
        Err(_) => ApiError::Unavailable("shutting down".into()).into_response(),
    }
}

/// Answers 503 `unavailable` in the service's error format when a request runs past
/// [`Config::request_timeout_s`]; dropping the handler's future ends its work (a
/// decoder sees its input end).
async fn limit_request_time(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.config.request_timeout();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request took longer than the limit of {} s",
            limit.as_secs_f64()
        ))
        .into_response(),
    }
}

async fn track_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    state.runtime.metrics.observe_request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The request id header, as [`SetRequestIdLayer::x_request_id`] names it.
const X_REQUEST_ID: &str = "x-request-id";

/// The longest request id a client may choose.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's `X-Request-Id` may be logged, echoed and recorded as sent: 1 to
/// [`MAX_REQUEST_ID_LEN`] letters, digits, `.`, `_`, `:` or `-`.
fn acceptable_request_id(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Removes a client's request id that is not [`acceptable_request_id`], or that came
/// more than once, so that the request gets one of ours: the id goes into every log
/// line, the response and the decision log, where a client's 60 KB or control
/// characters have no place.
async fn drop_unusable_request_id(mut req: Request) -> Request {
    let mut ids = req.headers().get_all(X_REQUEST_ID).iter();
    let usable = matches!((ids.next(), ids.next()), (Some(id), None) if acceptable_request_id(id));
    if !usable {
        req.headers_mut().remove(X_REQUEST_ID);
    }
    req
}

/// Request ids for requests that come without one: a random per-process prefix and a
/// counter, unique across restarts without a UUID dependency.
#[derive(Clone)]
struct SequentialId {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl SequentialId {
    fn new() -> Self {
        let mut seed = [0u8; 4];
        // Without randomness the ids are still unique within the process.
        let _ = getrandom::fill(&mut seed);
        Self {
            prefix: hex::encode(seed).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for SequentialId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
