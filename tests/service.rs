//! The service as it is deployed: `earmark serve` over a real RocksDB index, keys made
//! with `earmark keys`, driven over loopback HTTP, and `earmark check` as the client a
//! file-sharing network embeds.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use earmark_test_support::fixture;
use serde_json::{Value, json};

/// A running `earmark serve`, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = earmark();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-json"])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("earmark serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server logs before it listens")
                .expect("utf-8 log");
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if entry["fields"]["message"] == "listening" {
                break entry["fields"]["addr"]
                    .as_str()
                    .expect("address logged")
                    .to_owned();
            }
        };
        // Keep draining the log so that the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// SIGTERM, then the exit status: a graceful shutdown exits 0.
    fn stop(mut self) -> std::process::ExitStatus {
        terminate(&self.child);
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &Child) {
    // The shell's own `kill`, so that no procps package is needed.
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .expect("sh runs");
    assert!(status.success());
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// One request: status and body (JSON when it parses, else the text as a string).
fn call(
    method: &str,
    url: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = match key {
        Some(k) => request.header("authorization", format!("Bearer {k}")),
        None => request,
    };
    let request = match content_type {
        Some(t) => request.header("content-type", t),
        None => request,
    };
    let request = request.body(body.to_vec()).expect("request");
    let mut response = agent().run(request).expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The status line answered to raw request bytes.
fn raw_status(server: &Server, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).expect("read");
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

fn add_key(db: &Path, role: &str, subject: &str) -> String {
    let o = run(&[
        "keys",
        "add",
        "--db",
        s(db),
        "--role",
        role,
        "--subject",
        subject,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_owned()
}

/// An index with two real clips: `clip` of label-a (block) and `other` of label-b
/// (allow), ingested by the CLI.
fn catalog() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = dir.path().join("catalog.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,track_id,title,rights_holder,policy\n{},clip,The Clip,label-a,block\n{},other,Another,label-b,allow\n",
            s(&fixture("clip.flac")),
            s(&fixture("other.wav")),
        ),
    )
    .expect("manifest");
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    (dir, db)
}

fn check_with_client(server: &Server, key: &str, file: &Path) -> Value {
    let o = run(&[
        "check",
        "--server",
        &server.base,
        "--key",
        key,
        "--territory",
        "de",
        "--json",
        s(file),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let line: Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON line");
    line["answer"].clone()
}

#[test]
fn the_service_answers_over_a_real_index() {
    let (dir, db) = catalog();
    let network = add_key(&db, "network", "p2p-net");
    let label_a = add_key(&db, "label", "label-a");
    let label_b = add_key(&db, "label", "label-b");
    let server = Server::start(&["--db", s(&db)], &[("EARMARK_MAX_AUDIO_BYTES", "3000000")]);
    let url = |path: &str| format!("{}{path}", server.base);

    // Identify by audio: the excerpt starts 5 s into `clip`.
    let offset = std::fs::read(fixture("offset.wav")).expect("read");
    let (status, body) = call(
        "POST",
        &url("/v1/identify"),
        Some(&network),
        Some("audio/wav"),
        &offset,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matches"][0]["track_id"], "clip", "{body}");
    let track_offset = body["matches"][0]["track_offset_s"]
        .as_f64()
        .expect("offset");
    assert!((track_offset - 5.0).abs() < 0.5, "{body}");

    // Check by fingerprint, through the client a network embeds.
    let answer = check_with_client(&server, &network, &fixture("offset.wav"));
    assert_eq!(
        (
            &answer["decision"],
            &answer["track"]["id"],
            &answer["input"]
        ),
        (&json!("block"), &json!("clip"), &json!("fingerprint")),
        "{answer}"
    );
    assert_eq!(answer["rights_holder"], "label-a");
    assert_eq!(answer["territory"], "DE");
    let answer = check_with_client(&server, &network, &fixture("silence.wav"));
    assert_eq!(
        (&answer["decision"], &answer["rule"]),
        (&json!("allow"), &json!("no_match"))
    );

    // Identify by content hash: the exact catalog file.
    let hash = json!({"content_hash": earmark_service::sha256_hex(&std::fs::read(fixture("clip.flac")).expect("read"))}).to_string();
    let (status, body) = call(
        "POST",
        &url("/v1/identify"),
        Some(&network),
        Some("application/json"),
        hash.as_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (&body["input"], &body["matches"][0]["track_id"]),
        (&json!("content_hash"), &json!("clip"))
    );

    // Label isolation: label-b gets what a missing id gets, and changes nothing.
    let (missing_status, missing) =
        call("GET", &url("/v1/tracks/nothing"), Some(&label_b), None, b"");
    for method in ["GET", "DELETE"] {
        let (status, body) = call(method, &url("/v1/tracks/clip"), Some(&label_b), None, b"");
        assert_eq!((status, &body), (missing_status, &missing), "{method}");
    }
    let (status, body) = call("GET", &url("/v1/tracks/clip"), Some(&label_a), None, b"");
    assert_eq!(
        (status, &body["rights_holder"]),
        (200, &json!("label-a")),
        "{body}"
    );
    let (status, _) = call(
        "POST",
        &url("/v1/check"),
        Some(&label_a),
        Some("application/json"),
        hash.as_bytes(),
    );
    assert_eq!(status, 403);

    // Bad input: nothing crashes, each gets its status.
    let garbage = std::fs::read(fixture("garbage.mp3")).expect("read");
    let cases: [(&str, Option<&str>, Vec<u8>, u16); 5] = [
        ("/v1/identify", Some("audio/mpeg"), garbage, 400),
        ("/v1/identify", Some("text/plain"), b"hello".to_vec(), 415),
        (
            "/v1/identify",
            Some("application/json"),
            b"{\"fingerprint\": 3".to_vec(),
            400,
        ),
        (
            "/v1/identify",
            Some("application/vnd.earmark.fingerprint"),
            b"EMFP not really".to_vec(),
            400,
        ),
        ("/v1/nowhere", None, Vec::new(), 404),
    ];
    for (path, content_type, body, expected) in cases {
        let (status, answer) = call("POST", &url(path), Some(&network), content_type, &body);
        assert_eq!(status, expected, "{path} {content_type:?}: {answer}");
    }
    let (status, _) = call(
        "POST",
        &url("/v1/identify"),
        None,
        Some("application/json"),
        b"{}",
    );
    assert_eq!(status, 401);
    // An upload announced larger than the limit is refused before its body is read.
    let head = format!(
        "POST /v1/identify HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {network}\r\ncontent-type: audio/wav\r\ncontent-length: 4000000\r\n\r\n"
    );
    assert!(raw_status(&server, head.as_bytes()).starts_with("HTTP/1.1 413"));

    // Concurrent checks while label-a uploads a new track: every check answers, the
    // upload lands whole.
    let song = dir.path().join("song.wav");
    write_melody_wav(&song, 77, 30);
    let song_bytes = std::fs::read(&song).expect("read");
    std::thread::scope(|scope| {
        let checkers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..5 {
                        let answer = check_with_client(&server, &network, &fixture("offset.wav"));
                        assert_eq!(answer["decision"], "block", "{answer}");
                    }
                })
            })
            .collect();
        let (status, body) = call(
            "POST",
            &url("/v1/tracks?id=label-a:song&title=Song&policy=block"),
            Some(&label_a),
            Some("audio/wav"),
            &song_bytes,
        );
        assert_eq!(status, 201, "{body}");
        for c in checkers {
            c.join().expect("checker");
        }
    });
    let excerpt = dir.path().join("excerpt.wav");
    let sox = std::process::Command::new("sox")
        .args([s(&song), s(&excerpt), "trim", "10", "10"])
        .status()
        .expect("sox (installed with the fixtures) runs");
    assert!(sox.success());
    let probe = &excerpt;
    let answer = check_with_client(&server, &network, probe);
    assert_eq!(
        (&answer["decision"], &answer["track"]["id"]),
        (&json!("block"), &json!("label-a:song")),
        "{answer}"
    );

    // Every check was recorded; label-a sees its own.
    let (status, report) = call("GET", &url("/v1/reports"), Some(&label_a), None, b"");
    assert_eq!(status, 200, "{report}");
    assert!(
        report["totals"]["total"].as_u64().expect("total") >= 17,
        "{report}"
    );
    let (_, report_b) = call("GET", &url("/v1/reports"), Some(&label_b), None, b"");
    assert_eq!(report_b["totals"]["total"], 0, "{report_b}");

    let (status, metrics) = call("GET", &url("/metrics"), None, None, b"");
    assert_eq!(status, 200);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("earmark_decisions_total")),
        "{metrics}"
    );

    // A graceful stop, then a restart on the same index keeps the uploaded track.
    assert!(server.stop().success());
    let server = Server::start(&["--db", s(&db)], &[]);
    let answer = check_with_client(&server, &network, probe);
    assert_eq!(answer["track"]["id"], "label-a:song", "{answer}");
    // The service holds the writer's lock: a second writer is told so, readers are not.
    let o = run(&["ingest", "--db", s(&db), s(&song)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("in use by another process"),
        "{}",
        stderr(&o)
    );
    let o = run(&["tracks", "--db", s(&db), "list"]);
    assert!(stdout(&o).contains("label-a:song"), "{}", stdout(&o));
    assert!(server.stop().success());
    let o = run(&["tracks", "--db", s(&db), "show", "label-a:song"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_following_server_sees_a_concurrent_cli_ingest() {
    let (dir, db) = catalog();
    let network = add_key(&db, "network", "p2p-net");
    let admin = add_key(&db, "admin", "ops");
    let server = Server::start(&["--db", s(&db), "--follow", "0.2"], &[]);
    let song = dir.path().join("late.wav");
    write_melody_wav(&song, 91, 25);
    let answer = check_with_client(&server, &network, &song);
    assert_eq!(answer["rule"], "no_match", "{answer}");

    // The CLI writes while the service runs.
    let o = run(&["ingest", "--db", s(&db), s(&song)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = check_with_client(&server, &network, &song);
        if answer["track"]["id"] == "late" {
            break;
        }
        assert!(Instant::now() < deadline, "never caught up: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Catalog writes belong to the writer here.
    let (status, body) = call(
        "DELETE",
        &format!("{}/v1/tracks/late", server.base),
        Some(&admin),
        None,
        b"",
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("unavailable"))
    );
    assert!(server.stop().success());
}

#[test]
fn keys_added_and_revoked_while_the_server_runs_take_effect() {
    let (_dir, db) = catalog();
    let admin = add_key(&db, "admin", "ops");
    let server = Server::start(&["--db", s(&db)], &[]);
    let tracks = format!("{}/v1/tracks", server.base);
    let status_with = |key: &str| call("GET", &tracks, Some(key), None, b"").0;
    // Polls until `key` gets `wanted`: the service looks at the keys file every second.
    let wait_for = |key: &str, wanted: u16| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while status_with(key) != wanted {
            assert!(Instant::now() < deadline, "never answered {wanted}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(status_with(&admin), 200);

    let label = add_key(&db, "label", "label-a");
    wait_for(&label, 200);
    let listed = run(&["keys", "list", "--db", s(&db)]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let label_id = stdout(&listed)
        .lines()
        .find(|line| line.contains("\tlabel\tlabel-a\t"))
        .and_then(|line| line.split('\t').next())
        .expect("the label key is listed")
        .to_owned();
    let o = run(&["keys", "revoke", "--db", s(&db), &label_id]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for(&label, 401);
    assert_eq!(status_with(&admin), 200, "the other keys stay");
    assert!(server.stop().success());
}
