//! Fair shares of the service's capacity between keys: requests handled at once and
//! turns of the worker pool, each limited per key beside the global limit, so that one
//! key's slow uploads or heavy queries never take every slot from the others.
//!
//! The concurrency middleware knows the request's key and sets it for the handler's
//! task ([`with_key`]); [`cpu_turn`] reads it there, and a decoder on a blocking thread
//! is handed it explicitly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::{AppState, Runtime};

tokio::task_local! {
    /// The id of the key the current request presents ("" for none or an unknown one).
    static KEY_ID: Arc<str>;
}

/// The id of the key a request presents (as [`Caller`](crate::Caller) finds it); ""
/// for a request without a valid key. Those are refused by the extractor later, so
/// they share one bucket.
pub(crate) fn key_of(state: &AppState, headers: &HeaderMap) -> Arc<str> {
    crate::auth::presented_key(headers)
        .and_then(|presented| state.keys.verify(presented))
        .map_or_else(|| Arc::from(""), |entry| Arc::from(entry.id))
}

/// Runs `work` with `key` as the key of the current request.
pub(crate) async fn with_key<F: Future>(key: Arc<str>, work: F) -> F::Output {
    KEY_ID.scope(key, work).await
}

/// The key of the current request; "" outside a request's task (operations routes).
pub(crate) fn current_key() -> Arc<str> {
    KEY_ID
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from(""))
}

/// A semaphore per key, each of `per_key` permits. A key's semaphore exists only while
/// someone holds or waits for one of its permits, so the map never outgrows the
/// requests in flight.
#[derive(Debug)]
pub(crate) struct KeyedLimit {
    per_key: usize,
    by_key: Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
}

impl KeyedLimit {
    pub(crate) fn new(per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            per_key: per_key.clamp(1, Semaphore::MAX_PERMITS),
            by_key: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for one of `key`'s permits; `None` only if the semaphore was closed.
    pub(crate) async fn acquire(self: &Arc<Self>, key: &Arc<str>) -> Option<KeyedPermit> {
        let mut claim = KeyedPermit {
            permit: None,
            semaphore: self.semaphore(key),
            key: key.clone(),
            limit: self.clone(),
        };
        // The claim is in place while waiting: a request dropped while it waits
        // still removes the key's idle entry.
        claim.permit = Some(claim.semaphore.clone().acquire_owned().await.ok()?);
        Some(claim)
    }

    fn semaphore(&self, key: &Arc<str>) -> Arc<Semaphore> {
        self.by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_key)))
            .clone()
    }

    /// Keys with a permit held or awaited.
    #[cfg(test)]
    fn keys_in_use(&self) -> usize {
        self.by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One of a key's permits (or a claim on one, while waiting); the key's entry goes
/// when its last permit or claim does.
#[derive(Debug)]
pub(crate) struct KeyedPermit {
    permit: Option<OwnedSemaphorePermit>,
    semaphore: Arc<Semaphore>,
    key: Arc<str>,
    limit: Arc<KeyedLimit>,
}

impl Drop for KeyedPermit {
    fn drop(&mut self) {
        self.permit = None;
        let mut by_key = self
            .limit
            .by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Clones are made under this lock, so the count is exact: the map's and ours
        // mean nobody else holds or waits.
        let ours = by_key
            .get(&self.key)
            .is_some_and(|s| Arc::ptr_eq(s, &self.semaphore));
        if ours && Arc::strong_count(&self.semaphore) == 2 {
            by_key.remove(&self.key);
        }
    }
}

/// A turn of the worker pool: one of the key's share, then one of all.
#[derive(Debug)]
pub(crate) struct CpuTurn {
    _all: OwnedSemaphorePermit,
    _own: KeyedPermit,
}

/// Waits for a turn of the worker pool for `key`: first one of the key's share
/// ([`Config::per_key_cpu_workers`](crate::Config::per_key_cpu_workers)), so that a key
/// at its share waits without holding a global turn, then one of
/// [`cpu_workers`](crate::Config::cpu_workers).
///
/// # Errors
/// [`ApiError::Unavailable`] if the pool was closed.
pub(crate) async fn cpu_turn(runtime: &Runtime, key: &Arc<str>) -> Result<CpuTurn, ApiError> {
    let shutting_down = || ApiError::Unavailable("shutting down".into());
    let own = runtime
        .cpu_per_key
        .acquire(key)
        .await
        .ok_or_else(shutting_down)?;
    let all = runtime
        .cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| shutting_down())?;
    Ok(CpuTurn {
        _all: all,
        _own: own,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `future` is still waiting after the runtime had a chance to run it.
    async fn waits<F: Future>(future: F) -> bool {
        tokio::time::timeout(Duration::from_millis(50), future)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn keys_have_their_own_shares_and_idle_keys_are_forgotten() {
        let limit = KeyedLimit::new(2);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let first = limit.acquire(&a).await.expect("permit");
        let second = limit.acquire(&a).await.expect("permit");
        assert!(waits(limit.acquire(&a)).await, "a third permit of a waits");
        let other = limit.acquire(&b).await.expect("another key is not held up");
        assert_eq!(limit.keys_in_use(), 2);
        drop(first);
        let third = limit.acquire(&a).await.expect("a permit came back");
        drop((second, third, other));
        assert_eq!(limit.keys_in_use(), 0, "idle keys leave the map");
    }
}
