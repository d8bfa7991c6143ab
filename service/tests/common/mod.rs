//! Shared helpers: synthesized audio, a state with one key per role, and two small
//! HTTP clients (`oneshot` on the router, raw HTTP/1.1 over a real socket).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use earmark_core::{Fingerprint, Fingerprinter, HashConfig};
use earmark_index::{MemoryStore, Store};
use earmark_service::{AppState, Config, DecisionDb, KeyStore, Role, router, serve_on};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tower::ServiceExt;

pub const RATE: u32 = 8_000;

/// `secs` seconds of seeded music at [`RATE`]: distinct audio per seed.
pub fn chords(seed: u32, secs: usize) -> Vec<f32> {
    earmark_test_support::melody(u64::from(seed), RATE, secs as f32)
}

/// 16-bit mono PCM WAV bytes at [`RATE`].
pub fn wav(samples: &[f32]) -> Vec<u8> {
    earmark_test_support::wav_bytes(samples, RATE)
}

/// The fingerprint a client would compute for `samples`.
pub fn fingerprint(samples: &[f32]) -> Fingerprint {
    Fingerprinter::default()
        .fingerprint_samples(samples, RATE, 1)
        .unwrap()
}

pub struct Env {
    /// Holds the decision log.
    _dir: tempfile::TempDir,
    pub app: Router,
    pub state: AppState,
    pub admin: String,
    /// A label for rights holder "Acme".
    pub acme: String,
    /// A label for rights holder "Bolt".
    pub bolt: String,
    /// A network called "p2p".
    pub network: String,
}

pub fn env_with(config: Config) -> Env {
    env_on(config, HashConfig::default().id)
}

/// The service over an empty in-memory index of hash configuration `hash_config_id`.
pub fn env_on(config: Config, hash_config_id: u16) -> Env {
    env_over(Arc::new(MemoryStore::new(hash_config_id)), config)
}

/// The service over `store`.
pub fn env_over(store: Arc<dyn Store>, config: Config) -> Env {
    let mut keys = KeyStore::new();
    let admin = keys.insert(Role::Admin, "ops").unwrap();
    let acme = keys.insert(Role::Label, "Acme").unwrap();
    let bolt = keys.insert(Role::Label, "Bolt").unwrap();
    let network = keys.insert(Role::Network, "p2p").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionDb::open(dir.path().join("decisions")).unwrap();
    let state = AppState::new(store, keys, Arc::new(log), config);
    Env {
        _dir: dir,
        app: router(state.clone()),
        state,
        admin,
        acme,
        bolt,
        network,
    }
}

pub fn env() -> Env {
    env_with(Config {
        rate_limit_per_s: 0.0,
        ..Config::default()
    })
}

impl Env {
    /// One request through the router; the body parsed as JSON when it is JSON.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(
            method,
            uri,
            Some(key),
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// Adds a track from audio as `key`.
    pub async fn upload(&self, key: &str, query: &str, audio: Vec<u8>) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/v1/tracks?{query}"),
            Some(key),
            Some("audio/wav"),
            audio,
        )
        .await
    }

    /// `/v1/check` with a JSON fingerprint as the network.
    pub async fn check_fp(&self, fp: &Fingerprint, query: &str) -> (StatusCode, Value) {
        let body = format!("{{\"fingerprint\":{}}}", fp.to_json());
        self.call(
            "POST",
            &format!("/v1/check?{query}"),
            Some(&self.network),
            Some("application/json"),
            body,
        )
        .await
    }
}

/// A raw HTTP/1.1 response.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The service over `state` on an ephemeral loopback port: its address, the sender
/// that stops it (dropping it stops it too), and the server's task.
pub async fn start(
    state: AppState,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_on(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, server)
}

/// Sends one request on a new connection (`Connection: close`) and reads the answer.
/// Writing may fail when the server answers early (e.g. 413) and closes; the answer is
/// read all the same.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    read_response(stream).await
}

pub async fn read_response(mut stream: TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "the helper reads sized bodies only"
    );
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    RawResponse {
        status,
        head,
        body: buf[split + 4..].to_vec(),
    }
}
