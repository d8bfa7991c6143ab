//! The real server on an ephemeral loopback port, driven over TCP: concurrent checks
//! while a label streams an upload (also with a single CPU worker), aborted uploads,
//! graceful shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{RawResponse, chords, env, env_with, fingerprint, raw, read_response, start, wav};
use earmark_service::{Config, FINGERPRINT_MEDIA_TYPE};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// A generous guard so a bug shows as a failure rather than a hung test run.
const GUARD: Duration = Duration::from_secs(120);

/// Streams `body` as a chunked upload in small pieces, as a slow client would.
async fn chunked_upload(addr: SocketAddr, path: &str, key: &str, body: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\nauthorization: Bearer {key}\r\ncontent-type: audio/wav\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(16 * 1024) {
        stream
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(piece).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
        tokio::task::yield_now().await;
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    read_response(stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_while_a_label_uploads() {
    tokio::time::timeout(GUARD, async {
        let e = env();
        let known = chords(71, 20);
        let (status, _) = e
            .upload(&e.acme, "id=Acme:known&policy=block", wav(&known))
            .await;
        assert_eq!(status.as_u16(), 201);
        let (addr, stop, server) = start(e.state.clone()).await;

        let new_song = chords(72, 30);
        let upload = {
            let key = e.acme.clone();
            let bytes = wav(&new_song);
            tokio::spawn(async move {
                chunked_upload(addr, "/v1/tracks?id=Acme:new&policy=monitor", &key, &bytes).await
            })
        };
        let probe = fingerprint(&known[3 * 8_000..13 * 8_000]).to_bytes();
        let mut checks = JoinSet::new();
        for _ in 0..8 {
            let key = e.network.clone();
            let probe = probe.clone();
            checks.spawn(async move {
                let mut answers = Vec::new();
                for _ in 0..5 {
                    let auth = format!("Bearer {key}");
                    let r = raw(
                        addr,
                        "POST",
                        "/v1/check?territory=DE",
                        &[
                            ("authorization", &auth),
                            ("content-type", FINGERPRINT_MEDIA_TYPE),
                        ],
                        &probe,
                    )
                    .await;
                    answers.push((
                        r.status,
                        r.json()["decision"].as_str().unwrap_or("").to_owned(),
                    ));
                }
                answers
            });
        }
        while let Some(answers) = checks.join_next().await {
            for (status, decision) in answers.unwrap() {
                assert_eq!((status, decision.as_str()), (200, "block"));
            }
        }
        let uploaded = upload.await.unwrap();
        assert_eq!(
            uploaded.status,
            201,
            "{}",
            String::from_utf8_lossy(&uploaded.body)
        );
        assert!(uploaded.head.to_ascii_lowercase().contains("x-request-id"));

        // The new track is found at once, over the socket.
        let auth = format!("Bearer {}", e.network);
        let r = raw(
            addr,
            "POST",
            "/v1/check",
            &[("authorization", &auth), ("content-type", "audio/wav")],
            &wav(&new_song[5 * 8_000..15 * 8_000]),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["track"]["id"], "Acme:new");
        assert_eq!(r.json()["rule"], "monitor");

        let metrics = raw(addr, "GET", "/metrics", &[], b"").await;
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        assert!(
            text.contains("earmark_decisions_total{decision=\"block\"} 40"),
            "{text}"
        );
        assert!(text.contains("earmark_index_tracks 2"));

        stop.send(()).unwrap();
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cpu_worker_serves_checks_while_an_upload_stalls() {
    tokio::time::timeout(GUARD, async {
        let e = env_with(Config {
            cpu_workers: 1,
            rate_limit_per_s: 0.0,
            ..Config::default()
        });
        let known = chords(91, 20);
        let (status, _) = e
            .upload(&e.acme, "id=Acme:known&policy=block", wav(&known))
            .await;
        assert_eq!(status.as_u16(), 201);
        let (addr, stop, server) = start(e.state.clone()).await;

        // A label's upload sends half of its body and waits: reading it must not hold
        // the one turn that matching needs.
        let song = wav(&chords(92, 20));
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/tracks?id=Acme:slow&policy=allow HTTP/1.1\r\nhost: test\r\nconnection: close\r\nauthorization: Bearer {}\r\ncontent-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
            e.acme,
            song.len()
        );
        stalled.write_all(head.as_bytes()).await.unwrap();
        let (first, rest) = song.split_at(song.len() / 2);
        stalled.write_all(first).await.unwrap();

        let probe = fingerprint(&known[4 * 8_000..14 * 8_000]).to_bytes();
        let mut checks = JoinSet::new();
        for _ in 0..4 {
            let auth = format!("Bearer {}", e.network);
            let probe = probe.clone();
            checks.spawn(async move {
                let mut decisions = Vec::new();
                for _ in 0..3 {
                    let r = raw(
                        addr,
                        "POST",
                        "/v1/check",
                        &[
                            ("authorization", &auth),
                            ("content-type", FINGERPRINT_MEDIA_TYPE),
                        ],
                        &probe,
                    )
                    .await;
                    decisions.push((r.status, r.json()["decision"].clone()));
                }
                decisions
            });
        }
        while let Some(decisions) = checks.join_next().await {
            for (status, decision) in decisions.unwrap() {
                assert_eq!((status, decision.as_str()), (200, Some("block")));
            }
        }

        stalled.write_all(rest).await.unwrap();
        let uploaded = read_response(stalled).await;
        assert_eq!(
            uploaded.status,
            201,
            "{}",
            String::from_utf8_lossy(&uploaded.body)
        );
        stop.send(()).unwrap();
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_oversized_uploads_leave_nothing_behind() {
    tokio::time::timeout(GUARD, async {
        let e = env();
        let (addr, stop, server) = start(e.state.clone()).await;
        let bytes = wav(&chords(81, 20));

        // The client announces the whole file, sends a third and hangs up.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/tracks?id=Acme:cut HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
            e.acme,
            bytes.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&bytes[..bytes.len() / 3]).await.unwrap();
        drop(stream);

        // A declared length over the limit is refused before the body is sent.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/identify HTTP/1.1\r\nhost: test\r\nconnection: close\r\nauthorization: Bearer {}\r\ncontent-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
            e.network,
            e.state.config.max_audio_bytes + 1
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let r = read_response(stream).await;
        assert_eq!(r.status, 413);

        // The service still answers, and no partial track exists.
        let admin = format!("Bearer {}", e.admin);
        let mut tries = 0;
        loop {
            let r = raw(addr, "GET", "/v1/tracks/Acme:cut", &[("authorization", &admin)], b"").await;
            assert_eq!(r.status, 404);
            let ready = raw(addr, "GET", "/readyz", &[], b"").await;
            assert_eq!(ready.status, 200);
            tries += 1;
            if tries == 3 {
                break;
            }
            tokio::task::yield_now().await;
        }
        stop.send(()).unwrap();
        server.await.unwrap();
    })
    .await
    .unwrap();
}
