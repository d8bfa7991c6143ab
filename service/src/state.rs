//! What every handler shares.

use std::sync::Arc;

use earmark_core::Fingerprinter;
use earmark_index::Store;
use tokio::sync::Semaphore;

use crate::limits::KeyedLimit;

use crate::auth::{KeyStore, RateLimiter};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::reports::DecisionLog;

/// The service's state: the index, the keys, the decision log and the configuration,
/// behind `Arc`s so that cloning per request is cheap.
#[derive(Clone)]
pub struct AppState {
    /// The fingerprint index and catalog.
    pub store: Arc<dyn Store>,
    /// The accepted API keys.
    pub keys: Arc<KeyStore>,
    /// Where check decisions are recorded.
    pub reports: Arc<dyn DecisionLog>,
    /// The configuration.
    pub config: Arc<Config>,
    pub(crate) runtime: Arc<Runtime>,
}

/// Shared machinery built from the configuration.
pub(crate) struct Runtime {
    pub(crate) metrics: Metrics,
    pub(crate) limiter: RateLimiter,
    pub(crate) requests: Semaphore,
    /// Each key's share of [`requests`](Self::requests), taken first.
    pub(crate) requests_per_key: Arc<KeyedLimit>,
    /// Turns for the blocking pool (see [`Config::cpu_workers`]).
    pub(crate) cpu: Arc<Semaphore>,
    /// Each key's share of the turns, taken first.
    pub(crate) cpu_per_key: Arc<KeyedLimit>,
    pub(crate) fingerprinter: Fingerprinter,
    /// Serialises catalog additions (see [`earmark_index::Ingest::sharing`]).
    pub(crate) catalog_writes: std::sync::Mutex<()>,
}

impl AppState {
    /// Builds the state.
    pub fn new(
        store: Arc<dyn Store>,
        keys: KeyStore,
        reports: Arc<dyn DecisionLog>,
        config: Config,
    ) -> Self {
        let runtime = Runtime {
            metrics: Metrics::default(),
            limiter: RateLimiter::new(config.rate_limit_per_s, config.rate_limit_burst),
            // Clamped as well as validated: a configuration built in code need not
            // have been checked, and a semaphore panics beyond its maximum.
            requests: Semaphore::new(config.max_concurrent.min(Semaphore::MAX_PERMITS)),
            requests_per_key: KeyedLimit::new(config.per_key_requests()),
            cpu: Arc::new(Semaphore::new(
                config.cpu_workers.min(Semaphore::MAX_PERMITS),
            )),
            cpu_per_key: KeyedLimit::new(config.per_key_cpu_workers()),
            fingerprinter: Fingerprinter::new(earmark_core::FingerprintConfig {
                max_duration_s: Some(config.max_audio_s),
                ..Default::default()
            }),
            catalog_writes: std::sync::Mutex::new(()),
        };
        Self {
            store,
            keys: Arc::new(keys),
            reports,
            config: Arc::new(config),
            runtime: Arc::new(runtime),
        }
    }
}
