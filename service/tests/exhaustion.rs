//! Resource exhaustion over a real socket: clients that send their heads slowly or not
//! at all, bodies trickled slower than the body-read timeout, the connection cap, and
//! one key's slow uploads beside another key's queries. Timeouts are short through the
//! configuration; the assertions are about what happens, within generous bounds, never
//! about speed.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{chords, env_with, fingerprint, raw, read_response, start, wav};
use earmark_service::{Config, FINGERPRINT_MEDIA_TYPE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// A generous bound for what must happen "soon": far above the short timeouts set
/// here, far below the defaults the service would otherwise apply.
const SOON: Duration = Duration::from_secs(20);

/// Short transport timeouts; a request timeout far beyond them, so that only they can
/// end a slow request within [`SOON`].
fn config() -> Config {
    Config {
        rate_limit_per_s: 0.0,
        header_read_timeout_s: 1.0,
        body_read_timeout_s: 1.0,
        request_timeout_s: 600.0,
        ..Config::default()
    }
}

/// Reads until the server closes the connection (an end or a reset), returning what
/// came; `None` if it is still open after [`SOON`].
async fn until_closed(read: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(SOON, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

async fn healthz(addr: SocketAddr) -> (u16, Vec<u8>) {
    let r = raw(addr, "GET", "/healthz", &[], b"").await;
    (r.status, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_are_cut_while_healthz_answers() {
    let e = env_with(config());
    let (addr, stop, server) = start(e.state.clone()).await;

    // Many clients send part of a head and stop; one keeps trickling header bytes.
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: te")
            .await
            .unwrap();
        stalled.push(stream);
    }
    let (mut trickled, mut trickling) = TcpStream::connect(addr).await.unwrap().into_split();
    let trickler = tokio::spawn(async move {
        trickling
            .write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ")
            .await?;
        loop {
            trickling.write_all(b"a").await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });

    // An honest client is answered meanwhile.
    let answered = tokio::time::timeout(SOON, healthz(addr)).await;
    assert_eq!(answered.ok(), Some((200, b"ok".to_vec())));

    // And every slow one is cut after the header timeout.
    for stream in &mut stalled {
        assert!(
            until_closed(stream).await.is_some(),
            "a stalled head was cut"
        );
    }
    assert!(
        until_closed(&mut trickled).await.is_some(),
        "a trickled head was cut: the timeout is for the whole head"
    );
    trickler.abort();
    // An idle connection that never sends a byte is cut too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        until_closed(&mut idle).await.is_some(),
        "an idle connection was cut"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(SOON, server).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_cap_an_honest_client_is_served_once_slow_ones_are_cut() {
    let e = env_with(Config {
        max_connections: 2,
        header_read_timeout_s: 3.0,
        ..config()
    });
    let (addr, stop, server) = start(e.state.clone()).await;

    // Two clients take both connections and send nothing.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // A third sends a whole request: it waits in the backlog, not served while the
    // cap is reached (connections are accepted in the order they were made) ...
    let mut honest = TcpStream::connect(addr).await.unwrap();
    honest
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), honest.peek(&mut first)).await;
    assert!(early.is_err(), "no answer while both connections are held");
    // ... and served once the header timeout has cut the idle ones.
    let answered = tokio::time::timeout(SOON, read_response(honest)).await;
    let answered = answered.expect("the honest client was served");
    assert_eq!(
        (answered.status, answered.body.as_slice()),
        (200, &b"ok"[..])
    );
    for stream in &mut idle {
        assert!(until_closed(stream).await.is_some());
    }

    stop.send(()).unwrap();
    tokio::time::timeout(SOON, server).await.unwrap().unwrap();
}

/// Sends `head` and then `body` a little at a time, never pausing as long as the body
/// timeout, until the server stops taking it; returns the reading half.
async fn trickle(
    addr: SocketAddr,
    head: String,
    body: Vec<u8>,
) -> (OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let (read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let writer = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for piece in body.chunks(256) {
            if write.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (read, writer)
}

/// The answer to a trickled body: 408 `body_timeout`, or (if the close raced the
/// answer) at least a closed connection, within [`SOON`].
async fn assert_body_timed_out(mut read: OwnedReadHalf) {
    let got = until_closed(&mut read)
        .await
        .expect("a trickled body ends the request");
    if let Some(split) = got.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&got[..split]);
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        let body: serde_json::Value = serde_json::from_slice(&got[split + 4..]).unwrap();
        assert_eq!(body["error"]["code"], "body_timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_trickled_past_the_body_timeout_get_408() {
    let e = env_with(config());
    let (addr, stop, server) = start(e.state.clone()).await;

    // Audio, streamed to the decoder: a real WAV, so the decoder keeps asking.
    let audio = wav(&chords(5, 60));
    let head = format!(
        "POST /v1/identify HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
        e.network,
        audio.len()
    );
    let (read, writer) = trickle(addr, head, audio).await;
    assert_body_timed_out(read).await;
    writer.abort();

    // JSON, read whole before parsing.
    let json = format!(
        "{{\"content_hash\": \"{}\"{}}}",
        "ab".repeat(32),
        " ".repeat(200_000)
    );
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        e.network,
        json.len()
    );
    let (read, writer) = trickle(addr, head, json.into_bytes()).await;
    assert_body_timed_out(read).await;
    writer.abort();

    // A body sent at once is not affected.
    let (status, _) = healthz(addr).await;
    assert_eq!(status, 200);
    stop.send(()).unwrap();
    tokio::time::timeout(SOON, server).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_keys_slow_uploads_do_not_stop_another_keys_identify() {
    let e = env_with(Config {
        max_concurrent: 6,
        max_concurrent_per_key: Some(2),
        cpu_workers: 2,
        body_read_timeout_s: 600.0,
        ..config()
    });
    let known = chords(11, 20);
    let (status, _) = e
        .upload(&e.acme, "id=Acme:known&policy=block", wav(&known))
        .await;
    assert_eq!(status.as_u16(), 201);
    let (addr, stop, server) = start(e.state.clone()).await;

    // A label opens more uploads than the whole service handles at once, sends the
    // start of each and stalls.
    let song = wav(&chords(12, 30));
    let mut stalled = Vec::new();
    for i in 0..8 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/tracks?id=Acme:slow-{i} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
            e.acme,
            song.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&song[..16 * 1024]).await.unwrap();
        stalled.push(stream);
    }
    // Give the service time to take the stalled uploads in, so that without per-key
    // limits they would hold every slot first; the outcome below does not depend on it.
    assert_eq!(healthz(addr).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Other keys' identifies are answered, again and again.
    let probe = fingerprint(&known[4 * 8_000..14 * 8_000]).to_bytes();
    for key in [&e.network, &e.admin, &e.network] {
        let auth = format!("Bearer {key}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", FINGERPRINT_MEDIA_TYPE),
        ];
        let identify = raw(addr, "POST", "/v1/identify", &headers, &probe);
        let answer = tokio::time::timeout(SOON, identify)
            .await
            .expect("identify answered beside the stalled uploads");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["matches"][0]["track_id"], "Acme:known");
    }

    drop(stalled);
    stop.send(()).unwrap();
    tokio::time::timeout(SOON, server).await.unwrap().unwrap();
}
