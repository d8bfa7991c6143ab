//! Tenant isolation and crafted content, on the real server over a loopback port: one
//! label can neither shadow another's decisions nor poison the shared index, and
//! audio or fingerprints that declare absurd amounts of work are refused up front.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::{RATE, chords, env_with, fingerprint, raw, start, wav};
use earmark_core::config::{PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};
use earmark_core::{AnalysisConfig, Fingerprint, Peak};
use earmark_service::{Config, FINGERPRINT_MEDIA_TYPE, Role, add_key, sha256_hex};
use serde_json::{Value, json};

fn config() -> Config {
    Config {
        rate_limit_per_s: 0.0,
        ..Config::default()
    }
}

/// One request; the status and the body as JSON (null when it is not JSON).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let r = raw(
        addr,
        method,
        path,
        &[("authorization", &auth), ("content-type", content_type)],
        body,
    )
    .await;
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

async fn check_hash(addr: SocketAddr, key: &str, bytes: &[u8]) -> Value {
    let body = json!({"content_hash": sha256_hex(bytes)}).to_string();
    let (status, answer) = call(
        addr,
        "POST",
        "/v1/check",
        key,
        "application/json",
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_holders_file_never_shadows_its_decisions() {
    let e = env_with(config());
    let (addr, _stop, _server) = start(e.state.clone()).await;
    let song = chords(81, 30);
    let bytes = wav(&song);
    let (status, body) = call(
        addr,
        "POST",
        "/v1/tracks?id=Acme:song&policy=block",
        &e.acme,
        "audio/wav",
        &bytes,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Bolt uploads Acme's very bytes as allowed, even asking to add duplicates: refused,
    // without being told Acme's track.
    let (status, body) = call(
        addr,
        "POST",
        "/v1/tracks?id=Bolt:song&policy=allow&on_duplicate=add",
        &e.bolt,
        "audio/wav",
        &bytes,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "held_by_another_holder");
    assert!(
        !body.to_string().contains("Acme"),
        "another holder's track is named: {body}"
    );
    let answer = check_hash(addr, &e.network, &bytes).await;
    assert_eq!(answer["decision"], "block", "{answer}");
    assert_eq!(answer["track"]["id"], "Acme:song");

    // Acme's own second copy of the file is its business; deleting it leaves the first.
    let (status, body) = call(
        addr,
        "POST",
        "/v1/tracks?id=Acme:copy&policy=block&on_duplicate=add",
        &e.acme,
        "audio/wav",
        &bytes,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = call(addr, "DELETE", "/v1/tracks/Acme:copy", &e.acme, "", b"").await;
    assert_eq!(status, 204);
    let answer = check_hash(addr, &e.network, &bytes).await;
    assert_eq!(answer["track"]["id"], "Acme:song", "{answer}");

    // Another encoding of the same recording (other bytes) cannot be told apart from a
    // legitimate claim up front; matched, the two holders' disagreement goes to review
    // and names the track ingested first.
    let louder: Vec<f32> = song.iter().map(|s| s * 0.9).collect();
    let (status, body) = call(
        addr,
        "POST",
        "/v1/tracks?id=Bolt:song&policy=allow&on_duplicate=add",
        &e.bolt,
        "audio/wav",
        &wav(&louder),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let probe = fingerprint(&song[5 * RATE as usize..15 * RATE as usize]).to_bytes();
    let (status, answer) = call(
        addr,
        "POST",
        "/v1/check",
        &e.network,
        FINGERPRINT_MEDIA_TYPE,
        &probe,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"], "review", "{answer}");
    assert_eq!(answer["rule"], "holder_conflict");
    assert_eq!(answer["track"]["id"], "Acme:song");
}

/// A peak in every cell of the log-frequency axis in every frame: what no audio
/// gives, and what a hostile client can send.
fn dense_print(seconds: f64) -> Fingerprint {
    let analysis = AnalysisConfig::V2;
    let frames = analysis.secs_to_frames(seconds);
    let step = (PITCH_STEPS_PER_SEMITONE / analysis.cells_per_semitone) as usize;
    let peaks = (0..frames)
        .flat_map(|frame| {
            (0..analysis.pitch_steps())
                .step_by(step)
                .map(move |pitch| Peak {
                    tick: frame * TICKS_PER_FRAME,
                    pitch: pitch as u16,
                    rank: 0,
                })
        })
        .collect();
    Fingerprint::new(analysis.id, (seconds * 1000.0) as u32, peaks).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_fingerprints_and_audio_are_refused_before_any_work() {
    let e = env_with(Config {
        max_audio_s: 20.0,
        ..config()
    });
    let (addr, _stop, _server) = start(e.state.clone()).await;
    let dense = dense_print(8.0).to_bytes();
    for (path, key) in [
        ("/v1/tracks?id=Acme:dense", &e.acme),
        ("/v1/check", &e.network),
        ("/v1/identify", &e.network),
    ] {
        let (status, body) = call(addr, "POST", path, key, FINGERPRINT_MEDIA_TYPE, &dense).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_fingerprint", "{path}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("denser")
        );
    }
    // Longer than a request may carry, as a fingerprint and as audio.
    let long = fingerprint(&chords(82, 30)).to_bytes();
    let (status, body) = call(
        addr,
        "POST",
        "/v1/check",
        &e.network,
        FINGERPRINT_MEDIA_TYPE,
        &long,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("audio_too_long")),
        "{body}"
    );
    let (status, body) = call(
        addr,
        "POST",
        "/v1/tracks?id=Acme:long",
        &e.acme,
        "audio/wav",
        &wav(&chords(82, 30)),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("audio_too_long")),
        "{body}"
    );
    // A header declaring a 1 Hz rate: refused before decoding, so at once.
    let one_hz = earmark_test_support::wav_bytes(&chords(83, 5), 1);
    let (status, body) = call(
        addr,
        "POST",
        "/v1/identify",
        &e.network,
        "audio/wav",
        &one_hz,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1 Hz"),
        "{body}"
    );
    // Nothing reached the index.
    assert_eq!(e.state.store.stats().unwrap().postings, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_per_holder() {
    let e = env_with(Config {
        quota_tracks: 1,
        ..config()
    });
    let (addr, _stop, _server) = start(e.state.clone()).await;
    let upload = |key: String, id: &'static str, seed: u32| async move {
        call(
            addr,
            "POST",
            &format!("/v1/tracks?id={id}"),
            &key,
            "audio/wav",
            &wav(&chords(seed, 20)),
        )
        .await
    };
    assert_eq!(upload(e.acme.clone(), "Acme:one", 84).await.0, 201);
    let (status, body) = upload(e.acme.clone(), "Acme:two", 85).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tracks")
    );
    // Replacing its one track is within the quota; another holder has its own.
    assert_eq!(upload(e.acme.clone(), "Acme:one", 86).await.0, 200);
    assert_eq!(upload(e.bolt.clone(), "Bolt:one", 87).await.0, 201);
    assert_eq!(e.state.store.stats().unwrap().tracks, 2);
}

#[test]
fn holders_whose_id_prefixes_collide_cannot_both_have_label_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    add_key(&keys, Role::Label, "label a").unwrap();
    // The same holder may have a second key; another whose prefix is the same may not.
    add_key(&keys, Role::Label, "label a").unwrap();
    let err = add_key(&keys, Role::Label, "label-a").unwrap_err();
    assert!(err.to_string().contains("label-a:"), "{err}");
    add_key(&keys, Role::Network, "label-a").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_time_is_answered_in_the_error_format() {
    let e = env_with(Config {
        request_timeout_s: 0.5,
        ..config()
    });
    let (addr, _stop, _server) = start(e.state.clone()).await;
    // A head promising a body that never comes.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/identify HTTP/1.1\r\nhost: test\r\nconnection: close\r\nauthorization: Bearer {}\r\ncontent-type: audio/wav\r\ncontent-length: 100000\r\n\r\n",
        e.network
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        common::read_response(stream),
    )
    .await
    .expect("answered in bounded time");
    assert_eq!(answer.status, 503, "{}", answer.head);
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("0.5 s"));
}
