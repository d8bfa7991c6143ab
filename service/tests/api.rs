//! The API through `router(state)` with `oneshot`: every route, role and bad input.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use common::{RATE, chords, env, env_with, fingerprint, wav};
use earmark_core::HashConfig;
use earmark_service::{Config, FINGERPRINT_MEDIA_TYPE, sha256_hex};
use earmark_test_support::fixture;
use serde_json::{Value, json};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn excerpt(samples: &[f32], from_s: usize, to_s: usize) -> &[f32] {
    &samples[from_s * RATE as usize..to_s * RATE as usize]
}

#[tokio::test]
async fn identify_by_audio_fingerprint_and_content_hash() {
    let e = env();
    let song = chords(1, 30);
    let other = chords(2, 30);
    let song_wav = wav(&song);
    let (status, body) = e
        .upload(
            &e.acme,
            "id=Acme:song&title=Song&artist=A.%20Artist",
            song_wav.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["rights_holder"], "Acme",
        "a label's holder is filled in"
    );
    assert_eq!(body["content_hash"], sha256_hex(&song_wav));
    let (status, _) = e.upload(&e.acme, "id=Acme:other", wav(&other)).await;
    assert_eq!(status, StatusCode::CREATED);

    // Audio: a ten-second excerpt, streamed to the decoder.
    let (status, body) = e
        .call(
            "POST",
            "/v1/identify",
            Some(&e.network),
            Some("audio/wav"),
            wav(excerpt(&song, 8, 18)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["input"], "audio");
    assert_eq!(body["matches"][0]["track_id"], "Acme:song");
    let offset = body["matches"][0]["track_offset_s"].as_f64().unwrap();
    assert!((offset - 8.0).abs() < 0.5, "offset {offset}");

    // The very same file: the exact-file fast path answers with certainty.
    let (_, body) = e
        .call(
            "POST",
            "/v1/identify",
            Some(&e.network),
            Some("application/octet-stream"),
            song_wav.clone(),
        )
        .await;
    assert_eq!(body["matches"][0]["confidence"], 1.0);

    // The compact binary fingerprint, and its JSON form.
    let fp = fingerprint(excerpt(&other, 3, 13));
    let (status, body) = e
        .call(
            "POST",
            "/v1/identify",
            Some(&e.network),
            Some(FINGERPRINT_MEDIA_TYPE),
            fp.to_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["input"], "fingerprint");
    assert_eq!(body["matches"][0]["track_id"], "Acme:other");
    let (_, body) = e
        .json(
            "POST",
            "/v1/identify",
            &e.network,
            json!({"fingerprint": serde_json::from_str::<Value>(&fp.to_json()).unwrap()}),
        )
        .await;
    assert_eq!(body["matches"][0]["track_id"], "Acme:other");

    // A content hash alone.
    let (_, body) = e
        .json(
            "POST",
            "/v1/identify",
            &e.network,
            json!({"content_hash": sha256_hex(&song_wav)}),
        )
        .await;
    assert_eq!(body["input"], "content_hash");
    assert_eq!(body["matches"][0]["track_id"], "Acme:song");
    let (_, body) = e
        .json(
            "POST",
            "/v1/identify",
            &e.network,
            json!({"content_hash": "0".repeat(64)}),
        )
        .await;
    assert_eq!(body["matches"], json!([]));

    // Unknown audio matches nothing.
    let (_, body) = e
        .call(
            "POST",
            "/v1/identify",
            Some(&e.admin),
            Some("audio/wav"),
            wav(&chords(3, 10)),
        )
        .await;
    assert_eq!(body["matches"], json!([]));
}

#[tokio::test]
async fn check_decisions_per_policy_territory_and_window() {
    let e = env();
    let song = chords(11, 30);
    let (status, _) = e
        .upload(&e.acme, "id=Acme:hit&policy=block", wav(&song))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let fp = fingerprint(excerpt(&song, 10, 20));

    let decide = |policy: Value, query: &'static str| {
        let e = &e;
        let fp = &fp;
        async move {
            let (status, body) = e
                .json("PATCH", "/v1/tracks/Acme:hit/policy", &e.acme, policy)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let (status, body) = e.check_fp(fp, query).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (
                body["decision"].as_str().unwrap().to_owned(),
                body["rule"].as_str().unwrap().to_owned(),
                body,
            )
        }
    };

    let (d, r, body) = decide(json!("block"), "").await;
    assert_eq!((d.as_str(), r.as_str()), ("block", "policy"));
    assert_eq!(body["track"]["id"], "Acme:hit");
    assert_eq!(body["rights_holder"], "Acme");
    assert_eq!(body["policy"]["action"], "block");
    assert_eq!(body["network"], "p2p");
    assert!(body["confidence"].as_f64().unwrap() >= 0.5);
    assert!(!body["request_id"].as_str().unwrap().is_empty());

    let (d, r, _) = decide(json!("allow"), "").await;
    assert_eq!((d.as_str(), r.as_str()), ("allow", "policy"));
    let (d, r, _) = decide(json!("monitor"), "").await;
    assert_eq!((d.as_str(), r.as_str()), ("allow", "monitor"));
    let (d, r, _) = decide(Value::Null, "").await;
    assert_eq!((d.as_str(), r.as_str()), ("allow", "no_policy"));

    let in_de = json!({"action": "block", "territories": ["DE", "AT"]});
    assert_eq!(decide(in_de.clone(), "territory=de").await.0, "block");
    let (d, r, body) = decide(in_de.clone(), "territory=FR").await;
    assert_eq!((d.as_str(), r.as_str()), ("allow", "outside_territory"));
    assert_eq!(body["territory"], "FR");
    assert_eq!(decide(in_de, "").await.1, "territory_unknown");

    let open_window = json!({"action": "block", "from": now() - 3600, "until": now() + 3600});
    assert_eq!(decide(open_window, "").await.0, "block");
    let ended = json!({"action": "block", "until": now() - 60});
    assert_eq!(decide(ended, "").await.1, "expired");
    let future = json!({"action": "block", "from": "2999-01-01T00:00:00Z"});
    assert_eq!(decide(future, "").await.1, "not_yet_valid");

    // Territory in the JSON body, and a bad territory.
    let body = format!("{{\"fingerprint\":{},\"territory\":\"XX\"}}", fp.to_json());
    let (status, answer) = e
        .call(
            "POST",
            "/v1/check",
            Some(&e.network),
            Some("application/json"),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["territory"], "XX");
    let (status, body) = e.check_fp(&fp, "territory=Germany").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_query");

    // Unmatched content: the catalog default, no track.
    let (status, body) = e.check_fp(&fingerprint(&chords(12, 10)), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["decision"].as_str(), body["rule"].as_str()),
        (Some("allow"), Some("no_match"))
    );
    assert!(body["track"].is_null());

    // Every decision was recorded, and counted.
    let (status, report) = e.call("GET", "/v1/reports", Some(&e.acme), None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["rights_holder"], "Acme");
    assert_eq!(report["per_track"][0]["key"], "Acme:hit");
    assert_eq!(report["per_network"][0]["key"], "p2p");
    // Eleven checks matched the track (the bad territory was refused before deciding).
    assert_eq!(report["totals"]["total"], 11);
    let (_, report) = e.call("GET", "/v1/reports", Some(&e.admin), None, "").await;
    assert_eq!(
        report["totals"]["total"], 12,
        "admins see unmatched decisions too"
    );
    // The decisions page by page, newest first, each once.
    let mut seen = Vec::new();
    let mut uri = "/v1/reports?recent=5".to_owned();
    loop {
        let (status, page) = e.call("GET", &uri, Some(&e.admin), None, "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let listed = page["recent"].as_array().unwrap();
        assert!(listed.len() <= 5);
        seen.extend(listed.iter().map(|d| d["request_id"].clone()));
        match page["next"].as_str() {
            Some(next) => uri = format!("/v1/reports?recent=5&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
    let (status, body) = e
        .call(
            "GET",
            "/v1/reports?before=nonsense",
            Some(&e.admin),
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, metrics) = e.call("GET", "/metrics", None, None, "").await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains("earmark_decisions_total{decision=\"block\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/v1/check\",method=\"POST\",status=\"200\""));
    assert!(metrics.contains("earmark_index_tracks 1"));
}

/// A copy sped up by 5 % (the same samples played at a rate 5 % higher, so time and
/// pitch change together) is decided as the original is, and the decision log
/// records how the copy was changed.
#[tokio::test]
async fn an_altered_copy_gets_the_originals_decision_and_the_log_its_change() {
    let e = env();
    let song = chords(21, 30);
    let (status, body) = e
        .upload(&e.acme, "id=Acme:original&policy=block", wav(&song))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let faster = earmark_core::Fingerprinter::default()
        .fingerprint_samples(excerpt(&song, 8, 20), RATE * 105 / 100, 1)
        .expect("fingerprint");
    let (status, body) = e.check_fp(&faster, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "block", "{body}");
    assert_eq!(body["rule"], "policy", "{body}");
    assert_eq!(body["track"]["id"], "Acme:original", "{body}");
    let semitones = 12.0 * 1.05f64.log2();
    let is_the_change = |answer: &serde_json::Value| {
        let scale = answer["time_scale"].as_f64().expect("a time scale");
        let pitch = answer["pitch_shift_semitones"]
            .as_f64()
            .expect("a pitch shift");
        (scale * 1.05 - 1.0).abs() < 0.005 && (pitch - semitones).abs() < 0.2
    };
    assert!(is_the_change(&body), "{body}");

    let (status, report) = e
        .call("GET", "/v1/reports?recent=1", Some(&e.acme), None, "")
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let logged = &report["recent"][0];
    assert!(is_the_change(logged), "{logged}");
}

#[tokio::test]
async fn review_between_the_thresholds() {
    // A match threshold above any real match's confidence sends every match to review.
    let e = env_with(Config {
        rate_limit_per_s: 0.0,
        rights: earmark_rights::RightsConfig {
            review_confidence: 0.35,
            match_confidence: 1.0,
            ..Default::default()
        },
        ..Config::default()
    });
    let song = chords(21, 20);
    e.upload(
        &e.admin,
        "id=rev&policy=block&rights_holder=Acme",
        wav(&song),
    )
    .await;
    let (_, body) = e.check_fp(&fingerprint(excerpt(&song, 2, 12)), "").await;
    assert_eq!(
        (body["decision"].as_str(), body["rule"].as_str()),
        (Some("review"), Some("below_match_threshold"))
    );
    assert_eq!(body["track"]["id"], "rev");
}

#[tokio::test]
async fn label_isolation() {
    let e = env();
    let song = chords(31, 20);
    let (status, _) = e
        .upload(&e.acme, "id=Acme:mine&policy=monitor", wav(&song))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = e
        .upload(
            &e.admin,
            "id=plain-id&rights_holder=Bolt",
            wav(&chords(32, 20)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The owner reads, lists and patches.
    let (status, body) = e
        .call("GET", "/v1/tracks/Acme:mine", Some(&e.acme), None, "")
        .await;
    assert_eq!(
        (status, body["policy"]["action"].as_str()),
        (StatusCode::OK, Some("monitor"))
    );

    // Another label gets the answer a missing id gets, for every verb.
    let (_, missing) = e
        .call("GET", "/v1/tracks/Acme:nothing", Some(&e.bolt), None, "")
        .await;
    for (method, uri, ct, body) in [
        ("GET", "/v1/tracks/Acme:mine", None, String::new()),
        ("DELETE", "/v1/tracks/Acme:mine", None, String::new()),
        (
            "PATCH",
            "/v1/tracks/Acme:mine/policy",
            Some("application/json"),
            "\"allow\"".into(),
        ),
    ] {
        let (status, body) = e.call(method, uri, Some(&e.bolt), ct, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(body, missing, "{method} {uri}");
    }
    // Replacing it, or taking a free id outside its namespace, answers alike.
    let (s1, b1) = e
        .json(
            "PUT",
            "/v1/tracks/Acme:mine",
            &e.bolt,
            json!({"title": "x"}),
        )
        .await;
    let (s2, b2) = e
        .json(
            "PUT",
            "/v1/tracks/Acme:free",
            &e.bolt,
            json!({"title": "x"}),
        )
        .await;
    assert_eq!((s1, &b1), (StatusCode::NOT_FOUND, &b2));
    assert_eq!(s2, StatusCode::NOT_FOUND);
    // Bolt sees its admin-made track, but only its own in lists.
    let (status, _) = e
        .call("GET", "/v1/tracks/plain-id", Some(&e.bolt), None, "")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = e.call("GET", "/v1/tracks", Some(&e.bolt), None, "").await;
    let ids: Vec<&str> = page["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["plain-id"]);
    let (status, _) = e
        .call(
            "GET",
            "/v1/tracks?rights_holder=Acme",
            Some(&e.bolt),
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A label cannot make tracks for another holder.
    let (status, _) = e
        .upload(
            &e.bolt,
            "id=Bolt:x&rights_holder=Acme",
            wav(&chords(33, 10)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Reports: only one's own.
    e.check_fp(&fingerprint(excerpt(&song, 1, 11)), "").await;
    let (_, report) = e.call("GET", "/v1/reports", Some(&e.bolt), None, "").await;
    assert_eq!(report["totals"]["total"], 0);
    let (status, _) = e
        .call(
            "GET",
            "/v1/reports?rights_holder=Acme",
            Some(&e.bolt),
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, report) = e.call("GET", "/v1/reports", Some(&e.acme), None, "").await;
    assert_eq!(report["totals"]["total"], 1);
    assert_eq!(report["recent"][0]["track_id"], "Acme:mine");

    // Roles.
    let (status, _) = e
        .call("GET", "/v1/tracks", Some(&e.network), None, "")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = e
        .call("GET", "/v1/reports", Some(&e.network), None, "")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = e
        .call(
            "POST",
            "/v1/check",
            Some(&e.acme),
            Some("application/json"),
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = e.call("GET", "/v1/tracks", None, None, "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = e
        .call("GET", "/v1/tracks", Some("ek_wrong"), None, "")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The owner deletes; then it is gone for everyone.
    let (status, _) = e
        .call("DELETE", "/v1/tracks/Acme:mine", Some(&e.acme), None, "")
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = e
        .call("GET", "/v1/tracks/Acme:mine", Some(&e.admin), None, "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_put_list_and_paging() {
    let e = env();
    // PUT with a JSON fingerprint creates; PUT without one replaces the metadata.
    let fp = fingerprint(&chords(41, 12));
    let fp_json: Value = serde_json::from_str(&fp.to_json()).unwrap();
    let (status, body) = e
        .json(
            "PUT",
            "/v1/tracks/Acme:a",
            &e.acme,
            json!({"title": "Alpha", "policy": "block", "fingerprint": fp_json}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = e
        .json(
            "PUT",
            "/v1/tracks/Acme:a",
            &e.acme,
            json!({"title": "Alpha 2", "policy": {"action": "allow", "territories": ["se"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["policy"]["territories"], json!(["SE"]));
    assert_eq!(body["rights_holder"], "Acme");
    let (status, _) = e
        .json(
            "PUT",
            "/v1/tracks/Acme:none",
            &e.acme,
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A binary fingerprint upload, id named after the content.
    let (status, body) = e
        .call(
            "POST",
            "/v1/tracks?title=Beta",
            Some(&e.acme),
            Some(FINGERPRINT_MEDIA_TYPE),
            fingerprint(&chords(42, 12)).to_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("Acme:"));
    for i in 0..5 {
        let (status, _) = e
            .call(
                "PUT",
                &format!("/v1/tracks/t{i}?rights_holder=Bolt&title=Gamma%20{i}"),
                Some(&e.admin),
                Some(FINGERPRINT_MEDIA_TYPE),
                fingerprint(&chords(50 + i, 8)).to_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Paging through everything, two at a time.
    let mut seen = Vec::new();
    let mut uri = "/v1/tracks?limit=2".to_owned();
    loop {
        let (status, page) = e.call("GET", &uri, Some(&e.admin), None, "").await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["tracks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => uri = format!("/v1/tracks?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    // Filters.
    let count = |uri: &'static str| {
        let e = &e;
        async move {
            let (_, page) = e.call("GET", uri, Some(&e.admin), None, "").await;
            page["tracks"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("/v1/tracks?rights_holder=Bolt").await, 5);
    assert_eq!(count("/v1/tracks?policy=allow").await, 1);
    assert_eq!(count("/v1/tracks?policy=none").await, 6);
    assert_eq!(count("/v1/tracks?q=gAmMa%203").await, 1);
    let (status, _) = e
        .call("GET", "/v1/tracks?limit=many", Some(&e.admin), None, "")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_inputs_are_refused_with_their_status() {
    let e = env_with(Config {
        rate_limit_per_s: 0.0,
        max_audio_bytes: 200_000,
        max_body_bytes: 50_000,
        ..Config::default()
    });
    let id = |uri| (uri, Some(e.network.as_str()));
    let big = wav(&chords(61, 20));
    assert!(big.len() > 200_000);
    let (uri, key) = id("/v1/identify");
    let (status, body) = e.call("POST", uri, key, Some("audio/wav"), big).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    let (status, _) = e
        .call(
            "POST",
            uri,
            key,
            Some(FINGERPRINT_MEDIA_TYPE),
            vec![0u8; 60_000],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = e.call("POST", uri, key, Some("text/plain"), "hello").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = e.call("POST", uri, key, None, "hello").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = e
        .call("POST", uri, key, Some("audio/mpeg"), vec![0x5au8; 20_000])
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_audio")),
        "{body}"
    );
    let (status, _) = e
        .call("POST", uri, key, Some("audio/mpeg"), Vec::new())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = e
        .call(
            "POST",
            uri,
            key,
            Some(FINGERPRINT_MEDIA_TYPE),
            b"EMFP garbage".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_fingerprint"))
    );
    let mut truncated = fingerprint(&chords(62, 5)).to_bytes();
    truncated.truncate(truncated.len() / 2);
    let (status, _) = e
        .call("POST", uri, key, Some(FINGERPRINT_MEDIA_TYPE), truncated)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = e
        .call(
            "POST",
            uri,
            key,
            Some("application/json"),
            "{\"fingerprint\": ",
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let (status, body) = e
        .call(
            "POST",
            uri,
            key,
            Some("application/json"),
            "{\"fingerprint\": {\"format\": \"nope\"}}",
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_fingerprint"))
    );
    let (status, body) = e
        .call("POST", uri, key, Some("application/json"), "{}")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (status, _) = e
        .call(
            "POST",
            uri,
            key,
            Some("application/json"),
            "{\"content_hash\": \"abc\"}",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = e
        .call(
            "POST",
            uri,
            key,
            Some("application/json"),
            "{\"fingerprint\": 1, \"extra\": 2}",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The catalog: unknown ids, bad ids, bad policies, silence; nothing half-made.
    let (status, _) = e
        .call("GET", "/v1/tracks/nope", Some(&e.admin), None, "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = e
        .call("GET", "/v1/tracks/bad%20id", Some(&e.admin), None, "")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_track_id"))
    );
    let (status, body) = e
        .upload(&e.admin, "id=x&policy=forbid", wav(&chords(63, 5)))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_policy"))
    );
    let (status, body) = e
        .upload(&e.admin, "id=quiet", wav(&vec![0.0; RATE as usize * 5]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = e.upload(&e.admin, "id=corrupt", vec![7u8; 10_000]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = e.upload(&e.admin, "id=huge", wav(&chords(64, 20))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, page) = e.call("GET", "/v1/tracks", Some(&e.admin), None, "").await;
    assert_eq!(page["tracks"], json!([]), "no partial catalog entries");
    let (status, _) = e.call("GET", "/no/such/route", None, None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn real_clips_are_identified_and_decided() {
    let read = |name: &str| std::fs::read(fixture(name)).expect("a fixture clip");
    let e = env();
    let (status, body) = e
        .upload(&e.admin, "id=clip&policy=block", read("clip.wav"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = e
        .call(
            "POST",
            "/v1/check",
            Some(&e.network),
            Some("audio/mpeg"),
            read("clip-128k.mp3"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "block", "{body}");
    // Another track of the same soundtrack (which matches nothing since the matcher
    // verifies against catalog peaks): at most a review, never the clip's block.
    let (_, body) = e
        .call(
            "POST",
            "/v1/check",
            Some(&e.network),
            Some("audio/wav"),
            read("other.wav"),
        )
        .await;
    assert_ne!(body["decision"], "block", "{body}");
    assert!(
        body["confidence"].is_null() || body["confidence"].as_f64().unwrap() < 0.5,
        "{body}"
    );
    let (status, body) = e
        .call(
            "POST",
            "/v1/identify",
            Some(&e.network),
            Some("audio/mpeg"),
            read("garbage.mp3"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_audio", "{body}");
}

#[tokio::test]
async fn rate_limit_answers_429_per_key() {
    let e = env_with(Config {
        rate_limit_per_s: 0.001,
        rate_limit_burst: 2.0,
        ..Config::default()
    });
    for _ in 0..2 {
        let (status, _) = e.call("GET", "/v1/tracks", Some(&e.acme), None, "").await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = e.call("GET", "/v1/tracks", Some(&e.acme), None, "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    let (status, _) = e.call("GET", "/v1/tracks", Some(&e.bolt), None, "").await;
    assert_eq!(status, StatusCode::OK, "other keys have their own bucket");
}

#[tokio::test]
async fn operations_routes() {
    let e = env();
    let (status, body) = e.call("GET", "/healthz", None, None, "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = e.call("GET", "/readyz", None, None, "").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let (status, doc) = e.call("GET", "/openapi.json", None, None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc,
        serde_json::to_value(earmark_service::openapi()).unwrap()
    );
}

/// Collects every `$ref` in a JSON document.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|x| refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn openapi_document_describes_every_route() {
    let doc = serde_json::to_value(earmark_service::openapi()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let methods = |path: &str| -> Vec<String> {
        let mut m: Vec<String> = doc["paths"][path]
            .as_object()
            .unwrap_or_else(|| panic!("no path {path}"))
            .keys()
            .filter(|k| *k != "parameters")
            .cloned()
            .collect();
        m.sort();
        m
    };
    let expected = [
        ("/v1/identify", vec!["post"]),
        ("/v1/check", vec!["post"]),
        ("/v1/tracks", vec!["get", "post"]),
        ("/v1/tracks/{id}", vec!["delete", "get", "put"]),
        ("/v1/tracks/{id}/policy", vec!["patch"]),
        ("/v1/reports", vec!["get"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/openapi.json", vec!["get"]),
    ];
    assert_eq!(doc["paths"].as_object().unwrap().len(), expected.len());
    for (path, want) in &expected {
        assert_eq!(&methods(path), want, "methods of {path}");
        for method in want {
            let op = &doc["paths"][path][method];
            let keyed = path.starts_with("/v1/");
            assert_eq!(op["security"].is_array(), keyed, "{method} {path} security");
            assert!(op["responses"]["200"].is_object() || op["responses"]["204"].is_object());
            if keyed {
                for status in ["401", "403", "429"] {
                    let answer = &op["responses"][status]["content"]["application/json"];
                    assert_eq!(
                        answer["schema"]["$ref"], "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                assert!(op["responses"]["413"].is_object(), "{method} {path} 413");
            }
        }
    }
    let body = &doc["paths"]["/v1/identify"]["post"]["requestBody"]["content"];
    for media in [
        "audio/*",
        "application/octet-stream",
        FINGERPRINT_MEDIA_TYPE,
    ] {
        assert!(body[media].is_object(), "identify accepts {media}");
    }
    assert_eq!(
        body["application/json"]["schema"]["$ref"],
        "#/components/schemas/QueryJson"
    );
    let params: Vec<&str> = doc["paths"]["/v1/check"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["network", "territory"]);

    // Every reference resolves, and the rights types describe their wire forms.
    let schemas = &doc["components"]["schemas"];
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas[name].is_object(), "dangling reference {r}");
    }
    let decision: Vec<&str> = schemas["Decision"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(decision, ["allow", "block", "review"]);
    assert_eq!(schemas["Policy"]["oneOf"].as_array().unwrap().len(), 2);
    for scheme in ["bearer", "api_key"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object());
    }
}

/// A store whose lookups panic: a bug in Earmark's own code on the matching path.
struct PanickingLookups(earmark_index::MemoryStore);

impl earmark_index::Store for PanickingLookups {
    fn hash_config_id(&self) -> u16 {
        self.0.hash_config_id()
    }
    fn put_track(
        &self,
        track: &earmark_index::NewTrack,
    ) -> earmark_index::Result<(earmark_index::PutOutcome, earmark_index::TrackRecord)> {
        self.0.put_track(track)
    }
    fn lookup_into(
        &self,
        _hashes: &[u64],
        _cap: usize,
        _out: &mut earmark_index::PostingLists,
    ) -> earmark_index::Result<()> {
        panic!("a bug in the lookup path")
    }
    fn delete_track(&self, id: &earmark_index::TrackId) -> earmark_index::Result<bool> {
        self.0.delete_track(id)
    }
    fn track(
        &self,
        id: &earmark_index::TrackId,
    ) -> earmark_index::Result<Option<earmark_index::TrackRecord>> {
        self.0.track(id)
    }
    fn tracks_by_idx(
        &self,
        idx: &[u32],
    ) -> earmark_index::Result<Vec<Option<earmark_index::TrackRecord>>> {
        self.0.tracks_by_idx(idx)
    }
    fn fingerprints_by_idx(
        &self,
        idx: &[u32],
    ) -> earmark_index::Result<Vec<Option<earmark_core::Fingerprint>>> {
        self.0.fingerprints_by_idx(idx)
    }
    fn tracks_by_content(
        &self,
        content_hash: &str,
    ) -> earmark_index::Result<Vec<earmark_index::TrackRecord>> {
        self.0.tracks_by_content(content_hash)
    }

    fn holder_usage(&self, holder: &str) -> earmark_index::Result<earmark_index::HolderUsage> {
        self.0.holder_usage(holder)
    }
    fn list_tracks(
        &self,
        after: Option<&earmark_index::TrackId>,
        limit: usize,
    ) -> earmark_index::Result<Vec<earmark_index::TrackRecord>> {
        self.0.list_tracks(after, limit)
    }
    fn update_meta(
        &self,
        id: &earmark_index::TrackId,
        meta: &earmark_index::TrackMeta,
    ) -> earmark_index::Result<earmark_index::TrackRecord> {
        self.0.update_meta(id, meta)
    }
    fn stats(&self) -> earmark_index::Result<earmark_index::StoreStats> {
        self.0.stats()
    }
}

#[tokio::test]
async fn a_panic_in_our_own_code_is_a_500_not_blamed_on_the_input() {
    let store = PanickingLookups(earmark_index::MemoryStore::new(HashConfig::default().id));
    let e = common::env_over(
        std::sync::Arc::new(store),
        Config {
            rate_limit_per_s: 0.0,
            ..Config::default()
        },
    );
    let valid = fingerprint(&chords(3, 10)).to_bytes();
    for (content_type, body) in [
        (FINGERPRINT_MEDIA_TYPE, valid),
        ("audio/wav", wav(&chords(3, 10))),
    ] {
        let (status, body) = e
            .call(
                "POST",
                "/v1/identify",
                Some(&e.network),
                Some(content_type),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(body["error"]["code"], "internal", "{body}");
        // The detail is logged, not sent.
        assert!(!body.to_string().contains("lookup path"), "{body}");
    }
    // The service still answers afterwards.
    let (status, _) = e.call("GET", "/healthz", None, None, "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn uploads_follow_the_catalog_rules_of_the_cli() {
    let e = env();
    let song = wav(&chords(41, 30));
    let (status, body) = e
        .upload(&e.acme, "id=Acme:song&title=Song", song.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The same bytes again under the same id: unchanged, the metadata kept current.
    let (status, body) = e
        .upload(&e.acme, "id=Acme:song&title=Song%20(2026)", song.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "Song (2026)", "{body}");

    // The same recording under another id: a duplicate, named to its owner ...
    let (status, body) = e.upload(&e.acme, "id=Acme:copy", song.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "duplicate", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Acme:song"),
        "{body}"
    );
    // ... and withheld from another holder.
    let (status, body) = e.upload(&e.bolt, "id=Bolt:copy", song.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(!body.to_string().contains("Acme"), "{body}");
    // Another encoding of it (a fingerprint, no bytes to compare) is the same recording.
    let (status, body) = e
        .call(
            "PUT",
            "/v1/tracks/Acme:fp-copy",
            Some(&e.acme),
            Some(FINGERPRINT_MEDIA_TYPE),
            fingerprint(&chords(41, 30)).to_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Asked to, the duplicate is added.
    let (status, body) = e
        .upload(&e.acme, "id=Acme:copy&on_duplicate=add", song)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, page) = e.call("GET", "/v1/tracks", Some(&e.admin), None, "").await;
    assert_eq!(page["tracks"].as_array().unwrap().len(), 2, "{page}");
    let (status, body) = e
        .upload(&e.acme, "id=Acme:x&on_duplicate=maybe", wav(&chords(42, 5)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// One request through the router with raw header values; the answer's status,
/// headers, and body as JSON (or as a JSON string when it is not JSON).
async fn call_with_headers(
    e: &common::Env,
    method: &str,
    uri: &str,
    headers: &[(&str, Vec<u8>)],
    body: impl Into<axum::body::Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, axum::http::HeaderValue::from_bytes(value).unwrap());
    }
    let response = e
        .app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, value)
}

/// Percent-encodes everything but letters and digits, for a query parameter's value.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn random_methods_and_paths_do_not_grow_the_metrics() {
    let e = env();
    for i in 0..300 {
        let method = format!("M{i}X");
        let (status, _, _) = call_with_headers(&e, &method, "/v1/check", &[], "").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, _, _) =
            call_with_headers(&e, &method, &format!("/no/such/{i}"), &[], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = e
            .call("GET", &format!("/v1/tracks/t{i}"), Some(&e.admin), None, "")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, text) = e.call("GET", "/metrics", None, None, "").await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("earmark_http_requests_total{"))
        .collect();
    assert!(series.len() <= 4, "{series:#?}");
    assert!(
        series.contains(
            &"earmark_http_requests_total{route=\"/v1/check\",method=\"other\",status=\"405\"} 300"
        ),
        "{series:#?}"
    );
    assert!(
        series.contains(
            &"earmark_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 300"
        ),
        "{series:#?}"
    );
    assert!(
        series.contains(
            &"earmark_http_requests_total{route=\"/v1/tracks/{id}\",method=\"GET\",status=\"404\"} 300"
        ),
        "{series:#?}"
    );
    assert!(text.len() < 16_000, "{} bytes", text.len());
}

/// Whether `id` is a request id the service may log and record.
fn plain_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
}

#[tokio::test]
async fn request_ids_are_bounded_plain_text_or_replaced() {
    let e = env();
    let check = |ids: Vec<Vec<u8>>| {
        let e = &e;
        async move {
            let mut headers: Vec<(&str, Vec<u8>)> =
                ids.into_iter().map(|id| ("x-request-id", id)).collect();
            headers.push(("authorization", format!("Bearer {}", e.network).into()));
            headers.push(("content-type", b"application/json".to_vec()));
            let query = json!({"content_hash": "0".repeat(64)}).to_string();
            let (status, headers, body) =
                call_with_headers(e, "POST", "/v1/check", &headers, query).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let echoed = headers["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(body["request_id"], echoed.as_str(), "{body}");
            echoed
        }
    };
    let sent_back = check(vec![vec![b'a'; 60_000]]).await;
    assert!(plain_request_id(&sent_back), "{sent_back:?}");
    for bad in [
        b"with space".to_vec(),
        b"tab\there".to_vec(),
        b"caf\xc3\xa9".to_vec(),
        b"quote\"d".to_vec(),
        Vec::new(),
    ] {
        let sent_back = check(vec![bad.clone()]).await;
        assert!(plain_request_id(&sent_back), "{sent_back:?}");
        assert_ne!(sent_back.as_bytes(), bad.as_slice());
    }
    let twice = check(vec![b"first".to_vec(), b"second".to_vec()]).await;
    assert!(!["first", "second"].contains(&twice.as_str()), "{twice}");
    let valid = "client-42.retry:1_of_3";
    assert_eq!(check(vec![valid.as_bytes().to_vec()]).await, valid);
    assert_eq!(check(vec![vec![b'z'; 64]]).await, "z".repeat(64));

    let (status, report) = e
        .call("GET", "/v1/reports?recent=100", Some(&e.admin), None, "")
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let recorded: Vec<&str> = report["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(recorded.len(), 9, "{report}");
    assert!(
        recorded.iter().all(|id| plain_request_id(id)),
        "{recorded:?}"
    );
    assert!(recorded.contains(&valid), "{recorded:?}");
}

#[tokio::test]
async fn every_error_answer_is_json_with_a_code() {
    let e = env();
    let json_error = |status: StatusCode, headers: &axum::http::HeaderMap, body: &Value| {
        assert_eq!(
            headers["content-type"], "application/json",
            "{status} {body}"
        );
        body["error"]["code"].as_str().unwrap().to_owned()
    };

    // A known path with a method it does not take.
    for (method, uri) in [
        ("DELETE", "/v1/check"),
        ("BREW", "/healthz"),
        ("POST", "/v1/tracks/x"),
    ] {
        let (status, headers, body) = call_with_headers(&e, method, uri, &[], "").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(json_error(status, &headers, &body), "method_not_allowed");
        assert!(headers.contains_key("allow"), "{headers:?}");
    }

    // A path parameter that is not UTF-8.
    let admin = [("authorization", format!("Bearer {}", e.admin).into_bytes())];
    for (method, uri) in [
        ("GET", "/v1/tracks/%FF"),
        ("DELETE", "/v1/tracks/a%C3"),
        ("PATCH", "/v1/tracks/%FF/policy"),
    ] {
        let (status, headers, body) = call_with_headers(&e, method, uri, &admin, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {body}");
        assert_eq!(json_error(status, &headers, &body), "invalid_path");
    }

    // No key, or an unknown one: a Bearer challenge, and both ways to send a key.
    for (headers, challenge) in [
        (Vec::new(), "Bearer realm=\"earmark\""),
        (
            vec![("x-api-key", b"ek_nope".to_vec())],
            "Bearer realm=\"earmark\", error=\"invalid_token\"",
        ),
    ] {
        let (status, headers, body) =
            call_with_headers(&e, "GET", "/v1/tracks", &headers, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json_error(status, &headers, &body), "unauthorized");
        assert_eq!(headers["www-authenticate"], challenge);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Authorization: Bearer") && message.contains("X-Api-Key"),
            "{message}"
        );
    }
}

/// A request as `Env::call` takes it: method, URI, key, content type, body.
type Request<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Vec<u8>);

#[tokio::test]
async fn every_route_refuses_unknown_query_parameters() {
    let e = env();
    let fp = fingerprint(&chords(71, 10)).to_bytes();
    let hash = json!({"content_hash": "0".repeat(64)}).to_string();
    let routes: [Request<'_>; 14] = [
        (
            "POST",
            "/v1/identify",
            Some(e.network.as_str()),
            Some("application/json"),
            hash.clone().into(),
        ),
        (
            "POST",
            "/v1/check?territory=DE",
            Some(e.network.as_str()),
            Some("application/json"),
            hash.into(),
        ),
        (
            "POST",
            "/v1/tracks?id=x",
            Some(e.admin.as_str()),
            Some(FINGERPRINT_MEDIA_TYPE),
            fp.clone(),
        ),
        (
            "PUT",
            "/v1/tracks/x?title=T",
            Some(e.admin.as_str()),
            Some(FINGERPRINT_MEDIA_TYPE),
            fp,
        ),
        (
            "PUT",
            "/v1/tracks/x",
            Some(e.admin.as_str()),
            Some("application/json"),
            b"{}".to_vec(),
        ),
        (
            "GET",
            "/v1/tracks/x",
            Some(e.admin.as_str()),
            None,
            Vec::new(),
        ),
        (
            "DELETE",
            "/v1/tracks/x",
            Some(e.admin.as_str()),
            None,
            Vec::new(),
        ),
        (
            "PATCH",
            "/v1/tracks/x/policy",
            Some(e.admin.as_str()),
            Some("application/json"),
            b"null".to_vec(),
        ),
        (
            "GET",
            "/v1/tracks?limit=5",
            Some(e.admin.as_str()),
            None,
            Vec::new(),
        ),
        (
            "GET",
            "/v1/reports?recent=5",
            Some(e.admin.as_str()),
            None,
            Vec::new(),
        ),
        ("GET", "/healthz", None, None, Vec::new()),
        ("GET", "/readyz", None, None, Vec::new()),
        ("GET", "/metrics", None, None, Vec::new()),
        ("GET", "/openapi.json", None, None, Vec::new()),
    ];
    for (method, uri, key, content_type, body) in routes {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let (status, answer) = e
            .call(
                method,
                &format!("{uri}{sep}bogus=1"),
                key,
                content_type,
                body,
            )
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{method} {uri}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("\"bogus\""), "{method} {uri}: {message}");
    }
    // The parameters a route takes still pass, and a long unknown name is cut short.
    let (status, body) = e
        .call(
            "GET",
            "/v1/tracks?limit=5&q=x",
            Some(e.admin.as_str()),
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let long = "n".repeat(10_000);
    let (status, body) = e
        .call("GET", &format!("/healthz?{long}=1"), None, None, "")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().len() < 500, "{body}");
}

#[tokio::test]
async fn bad_times_and_territories_are_named_in_queries_and_policies() {
    let e = env();
    let hash = json!({"content_hash": "0".repeat(64)}).to_string();
    let (status, body) = e
        .call(
            "POST",
            "/v1/check?territory=ZZZ",
            Some(e.network.as_str()),
            Some("application/json"),
            hash,
        )
        .await;
    assert_eq!(body["error"]["code"], "invalid_query", "{status} {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("territory")
    );
    for (param, value) in [("since", "yesterday"), ("until", "2026-13-01")] {
        let (_, body) = e
            .call(
                "GET",
                &format!("/v1/reports?{param}={value}"),
                Some(e.admin.as_str()),
                None,
                "",
            )
            .await;
        assert_eq!(body["error"]["code"], "invalid_query", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{param}: ")), "{message}");
    }
    // In a policy: invalid_policy, saying which part is wrong.
    for (policy, part) in [
        (
            json!({"action": "block", "territories": ["ZZZ"]}),
            "territories",
        ),
        (json!({"action": "block", "from": "soon"}), "from or until"),
    ] {
        let query = format!("id=p&policy={}", encoded(&policy.to_string()));
        let (status, body) = e.upload(&e.admin, &query, wav(&chords(72, 5))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_policy", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(part), "{message}");
    }
}
