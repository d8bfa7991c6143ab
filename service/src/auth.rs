//! API keys: stored as SHA-256 hashes in a JSON file, each with a role; the [`Caller`]
//! extractor that authenticates a request and applies the per-key rate limit.
//!
//! A key is `ek_` and 64 hex digits of operating-system randomness. It is shown once,
//! when made; the file keeps only its hash, so a leaked file grants nothing.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use earmark_rights::timestamp::now_unix_s;
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{RATE_LIMIT_BURST, RATE_LIMIT_PER_S};
use crate::error::{ApiError, Error, Result};
use crate::state::AppState;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A file-sharing network: identify and check.
    Network,
    /// A rights holder: its own tracks and reports only.
    Label,
    /// Everything.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "network" => Ok(Role::Network),
            "label" => Ok(Role::Label),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::Config(format!(
                "unknown role {s:?}: expected network, label or admin"
            ))),
        }
    }
}

/// A stored key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Public id, for listing, revoking and logs.
    pub id: String,
    /// What the key may do.
    pub role: Role,
    /// For a label, its rights holder; for a network, the network's name; for an
    /// admin, a free note.
    pub subject: String,
    /// SHA-256 of the key, hex.
    pub sha256: String,
    /// When the key was made, unix seconds.
    pub created_unix_s: i64,
}

#[derive(Serialize, Deserialize)]
struct KeysFile {
    version: u32,
    keys: Vec<KeyEntry>,
}

const KEYS_FILE_VERSION: u32 = 1;

/// The keys a running service accepts, by hash. One loaded from a file follows it:
/// [`reload_if_changed`](Self::reload_if_changed) picks up keys added or revoked by
/// `earmark keys` while the service runs.
#[derive(Debug, Default)]
pub struct KeyStore {
    by_hash: RwLock<HashMap<String, KeyEntry>>,
    /// The file the keys come from, and its size and time when last read.
    file: Option<(PathBuf, Mutex<FileStamp>)>,
}

/// Size and modification time of a keys file; `None` while there is no file.
type FileStamp = Option<(u64, Option<SystemTime>)>;

impl KeyStore {
    /// No keys: every authenticated route answers 401.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a keys file; a missing file is an empty store.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::KeysFile`].
    pub fn load(path: &Path) -> Result<Self> {
        let stamp = stamp(path)?;
        let entries = read_entries(path)?;
        Ok(Self {
            by_hash: RwLock::new(by_hash(entries)),
            file: Some((path.to_path_buf(), Mutex::new(stamp))),
        })
    }

    /// Reads the keys file again if its size or modification time changed since it was
    /// last read, and then accepts exactly the keys it holds; `true` when it did. Keys
    /// files are replaced whole (written beside, then renamed), so a reload never sees
    /// half a file. A no-op for a store not loaded from a file.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::KeysFile`]; the keys accepted so far stay in force,
    /// and the same damaged file is not reported again.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let Some((path, seen)) = &self.file else {
            return Ok(false);
        };
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = stamp(path)?;
        if now == *seen {
            return Ok(false);
        }
        *seen = now;
        let entries = read_entries(path)?;
        *self.by_hash.write().unwrap_or_else(PoisonError::into_inner) = by_hash(entries);
        Ok(true)
    }

    /// Adds a key in memory only (tests, embedding); returns the key text.
    ///
    /// # Errors
    /// [`Error::Random`].
    pub fn insert(&mut self, role: Role, subject: &str) -> Result<String> {
        let (entry, key) = new_key(role, subject)?;
        self.by_hash
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entry.sha256.clone(), entry);
        Ok(key)
    }

    /// The entry of a presented key.
    pub fn verify(&self, key: &str) -> Option<KeyEntry> {
        self.by_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&sha256_hex(key.trim().as_bytes()))
            .cloned()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn by_hash(entries: Vec<KeyEntry>) -> HashMap<String, KeyEntry> {
    entries.into_iter().map(|e| (e.sha256.clone(), e)).collect()
}

fn stamp(path: &Path) -> Result<FileStamp> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.len(), meta.modified().ok()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn new_key(role: Role, subject: &str) -> Result<(KeyEntry, String)> {
    let mut secret = [0u8; 32];
    let mut id = [0u8; 4];
    getrandom::fill(&mut secret).map_err(|_| Error::Random)?;
    getrandom::fill(&mut id).map_err(|_| Error::Random)?;
    let key = format!("ek_{}", hex::encode(secret));
    let entry = KeyEntry {
        id: hex::encode(id),
        role,
        subject: subject.to_owned(),
        sha256: sha256_hex(key.as_bytes()),
        created_unix_s: now_unix_s(),
    };
    Ok((entry, key))
}

fn read_entries(path: &Path) -> Result<Vec<KeyEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let damaged = |reason: String| Error::KeysFile {
        path: path.display().to_string(),
        reason,
    };
    let file: KeysFile = serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
    if file.version != KEYS_FILE_VERSION {
        return Err(damaged(format!("unsupported version {}", file.version)));
    }
    Ok(file.keys)
}

/// Reads the keys file, changes its entries and writes it back, holding an exclusive
/// lock on a `.lock` file beside it throughout, so that two `earmark keys` runs at
/// once never drop each other's change.
fn rewrite_entries<T>(
    path: &Path,
    change: impl FnOnce(&mut Vec<KeyEntry>) -> Result<T>,
) -> Result<T> {
    let lock_path = path.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| Error::io(format!("cannot create {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| Error::io(format!("cannot lock {}", lock_path.display()), e))?;
    let mut entries = read_entries(path)?;
    let outcome = change(&mut entries)?;
    write_entries(path, entries)?;
    Ok(outcome)
}

/// Writes the whole file atomically: a temporary file beside it, then a rename.
fn write_entries(path: &Path, keys: Vec<KeyEntry>) -> Result<()> {
    let text = serde_json::to_string_pretty(&KeysFile {
        version: KEYS_FILE_VERSION,
        keys,
    })
    .map_err(|e| Error::Config(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot replace {}", path.display()), e))
}

/// Makes a key, stores its hash in the keys file (created if missing) and returns the
/// entry with the key text, which is never shown again. `subject` is the rights holder
/// of a label, the name of a network, a note for an admin. A running service picks the
/// change up within a second or two.
///
/// # Errors
/// [`Error::Config`] for a label or network without a subject, [`Error::Io`],
/// [`Error::KeysFile`], [`Error::Random`].
pub fn add_key(path: &Path, role: Role, subject: &str) -> Result<(KeyEntry, String)> {
    if subject.trim().is_empty() && role != Role::Admin {
        return Err(Error::Config(
            "a label key needs its rights holder, a network key its network name".into(),
        ));
    }
    let (entry, key) = new_key(role, subject.trim())?;
    rewrite_entries(path, |entries| {
        if role == Role::Label {
            check_namespace_free(entries, &entry.subject)?;
        }
        entries.push(entry.clone());
        Ok(())
    })?;
    Ok((entry, key))
}

/// The prefix of the track ids a label's uploads take: `<holder>:`, with characters
/// ids do not allow replaced. Two holders could map to one prefix, so a label key is
/// refused when its prefix is another holder's ([`add_key`]).
pub(crate) fn label_namespace(holder: &str) -> String {
    let prefix: String = holder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    format!("{prefix}:")
}

/// Refuses a label key for `holder` when another holder's label keys use the same id
/// prefix: each holder's namespace is its own.
fn check_namespace_free(entries: &[KeyEntry], holder: &str) -> Result<()> {
    let namespace = label_namespace(holder);
    match entries.iter().find(|e| {
        e.role == Role::Label && e.subject != holder && label_namespace(&e.subject) == namespace
    }) {
        Some(other) => Err(Error::Config(format!(
            "rights holder {holder:?} would share the track id prefix {namespace:?} with \
             rights holder {:?}; name it so that the two differ in letters, digits or . _ -",
            other.subject
        ))),
        None => Ok(()),
    }
}

/// The keys in the file (hashes, never keys).
///
/// # Errors
/// [`Error::Io`] or [`Error::KeysFile`].
pub fn list_keys(path: &Path) -> Result<Vec<KeyEntry>> {
    read_entries(path)
}

/// Removes the key with `id` from the file.
///
/// # Errors
/// [`Error::UnknownKey`], [`Error::Io`] or [`Error::KeysFile`].
pub fn revoke_key(path: &Path, id: &str) -> Result<KeyEntry> {
    rewrite_entries(path, |entries| {
        let pos = entries
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| Error::UnknownKey(id.to_owned()))?;
        Ok(entries.remove(pos))
    })
}

type Limiter<C> = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// The rate limit per key: `per_s` requests a second on average, bursts of up to
/// `burst` (the generic cell rate algorithm of `governor`); a rate of 0 is no limit.
pub(crate) struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Option<Limiter<C>>,
}

impl RateLimiter {
    pub(crate) fn new(per_s: f64, burst: f64) -> Self {
        Self::with_clock(per_s, burst, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    fn with_clock(per_s: f64, burst: f64, clock: C) -> Self {
        // Within what the configuration accepts: a period from 1 us to 1,000 s, which
        // no burst makes overflow.
        let (rates, bursts) = (RATE_LIMIT_PER_S, RATE_LIMIT_BURST);
        let quota = (per_s > 0.0)
            .then(|| {
                Duration::try_from_secs_f64(1.0 / per_s.clamp(*rates.start(), *rates.end())).ok()
            })
            .flatten()
            .and_then(Quota::with_period)
            .map(|quota| {
                let burst = burst.clamp(*bursts.start(), *bursts.end()) as u32;
                quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
            });
        Self {
            limiter: quota.map(|quota| {
                governor::RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock)
            }),
        }
    }

    /// Takes a turn for `key_id`, or says in how many whole seconds one will be there.
    pub(crate) fn take(&self, key_id: &str) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&key_id.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

impl<C: Clock> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("on", &self.limiter.is_some())
            .finish()
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's entry.
    pub key: KeyEntry,
}

impl Caller {
    /// Refuses unless the caller has one of `roles`.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`].
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.key.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a {} key may not use this route",
                match self.key.role {
                    Role::Network => "network",
                    Role::Label => "label",
                    Role::Admin => "admin",
                }
            )))
        }
    }

    /// The rights holder a label key is limited to; `None` for other roles.
    pub fn label_holder(&self) -> Option<&str> {
        (self.key.role == Role::Label).then_some(self.key.subject.as_str())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented =
            presented_key(&parts.headers).ok_or(ApiError::Unauthorized { key_given: false })?;
        let key = state
            .keys
            .verify(presented)
            .ok_or(ApiError::Unauthorized { key_given: true })?;
        state
            .runtime
            .limiter
            .take(&key.id)
            .map_err(|retry_after_s| ApiError::RateLimited { retry_after_s })?;
        Ok(Caller { key })
    }
}

/// The key a request presents: `Authorization: Bearer <key>`, else `X-Api-Key`.
pub(crate) fn presented_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_file_round_trip_and_revoke() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        let (label, label_key) = add_key(&path, Role::Label, "Acme").expect("add");
        let (_, net_key) = add_key(&path, Role::Network, "p2p").expect("add");
        assert!(label_key.starts_with("ek_") && label_key.len() == 67);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&label_key), "the key itself is never stored");
        let store = KeyStore::load(&path).expect("load");
        assert_eq!(store.len(), 2);
        assert_eq!(store.verify(&label_key).map(|e| e.role), Some(Role::Label));
        assert_eq!(
            store.verify(&net_key).map(|e| e.subject),
            Some("p2p".to_owned())
        );
        assert!(store.verify("ek_0000").is_none());
        revoke_key(&path, &label.id).expect("revoke");
        assert!(
            KeyStore::load(&path)
                .expect("load")
                .verify(&label_key)
                .is_none()
        );
        assert!(matches!(
            revoke_key(&path, "nope"),
            Err(Error::UnknownKey(_))
        ));
        assert!(add_key(&path, Role::Label, " ").is_err());
    }

    #[test]
    fn concurrent_adds_keep_every_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        let keys: Vec<String> = std::thread::scope(|scope| {
            let adding: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    scope.spawn(move || add_key(path, Role::Network, &format!("net-{i}")))
                })
                .collect();
            adding
                .into_iter()
                .map(|t| t.join().expect("thread").expect("add").1)
                .collect()
        });
        let store = KeyStore::load(&path).expect("load");
        assert_eq!(store.len(), 8);
        assert!(keys.iter().all(|k| store.verify(k).is_some()));
    }

    #[test]
    fn a_loaded_store_follows_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        let store = KeyStore::load(&path).expect("no file yet");
        assert!(!store.reload_if_changed().expect("unchanged"));

        let (entry, key) = add_key(&path, Role::Network, "p2p").expect("add");
        assert!(store.verify(&key).is_none(), "seen only after a reload");
        assert!(store.reload_if_changed().expect("reload"));
        assert_eq!(store.verify(&key).map(|e| e.id), Some(entry.id.clone()));
        assert!(!store.reload_if_changed().expect("unchanged"));

        let (_, other) = add_key(&path, Role::Admin, "").expect("add");
        revoke_key(&path, &entry.id).expect("revoke");
        assert!(store.reload_if_changed().expect("reload"));
        assert!(store.verify(&key).is_none(), "a revoked key is refused");
        assert!(store.verify(&other).is_some());

        // A damaged file keeps the keys in force and is reported once.
        std::fs::write(&path, "{").expect("damage");
        assert!(matches!(
            store.reload_if_changed(),
            Err(Error::KeysFile { .. })
        ));
        assert!(store.verify(&other).is_some());
        assert!(!store.reload_if_changed().expect("reported already"));

        std::fs::remove_file(&path).expect("remove");
        assert!(store.reload_if_changed().expect("reload"));
        assert!(store.is_empty(), "no file, no keys");
    }

    #[test]
    fn damaged_keys_file_is_an_error_and_missing_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        assert!(KeyStore::load(&path).expect("missing").is_empty());
        std::fs::write(&path, "{not json").expect("write");
        assert!(matches!(KeyStore::load(&path), Err(Error::KeysFile { .. })));
    }

    #[test]
    fn rate_limits_are_per_key_with_bursts() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(2.0, 3.0, clock.clone());
        for _ in 0..3 {
            assert!(limiter.take("k").is_ok());
        }
        assert_eq!(limiter.take("k"), Err(1));
        assert!(limiter.take("other").is_ok(), "limits are per key");
        clock.advance(Duration::from_millis(500));
        assert!(limiter.take("k").is_ok());
        assert!(limiter.take("k").is_err());
        // Below one a second, the wait is given in whole seconds.
        let slow = RateLimiter::with_clock(0.1, 1.0, clock.clone());
        assert!(slow.take("k").is_ok());
        assert_eq!(slow.take("k"), Err(10));
        assert!(
            RateLimiter::new(0.0, 1.0).take("k").is_ok(),
            "0 is no limit"
        );
    }
}
