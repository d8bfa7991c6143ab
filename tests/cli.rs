//! The real `earmark` binary end to end: ingest real clips, identify excerpts, manage
//! the index, and bad input through every command.

mod common;

use common::*;
use earmark_test_support::fixture;

fn catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let manifest = dir.join("catalog.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,track_id,title,artist,rights_holder,policy\n{},clip,The Clip,Someone,label-a,block\n{},other,Another,Else,label-b,allow\n",
            s(&fixture("clip.flac")),
            s(&fixture("other.wav")),
        ),
    )
    .expect("manifest");
    manifest
}

fn ingested() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = catalog(dir.path());
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert!(o.status.success(), "ingest: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ingested 2,"), "{}", stdout(&o));
    (dir, db)
}

fn query_json(db: &std::path::Path, files: &[&std::path::Path]) -> Vec<serde_json::Value> {
    let mut args = vec!["query", "--db", s(db), "--json"];
    args.extend(files.iter().map(|f| s(f)));
    let o = run(&args);
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn excerpts_and_re_encodings_are_identified_with_offsets() {
    let (_dir, db) = ingested();
    // The catalog holds the clip as FLAC; Ogg Opus and WebM Opus are among the copies.
    let files = [
        fixture("clip-128k.mp3"),
        fixture("offset.wav"),
        fixture("clip-aac.m4a"),
        fixture("clip.opus"),
        fixture("clip.webm"),
        fixture("silence.wav"),
    ];
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let answers = query_json(&db, &refs);
    assert_eq!(answers.len(), 6);
    for (answer, offset) in answers.iter().take(5).zip([0.0, 5.0, 0.0, 0.0, 0.0]) {
        let best = &answer["matches"][0];
        assert_eq!(best["track_id"], "clip", "{answer}");
        assert_eq!(best["title"], "The Clip");
        let start = best["track_offset_s"].as_f64().expect("offset")
            - best["query_offset_s"].as_f64().expect("offset");
        assert!((start - offset).abs() < 0.5, "{answer}");
        assert!(answer["elapsed_ms"].as_f64().is_some());
    }
    assert_eq!(answers[5]["matches"], serde_json::json!([]));
}

#[test]
fn the_exact_file_is_found_by_its_bytes() {
    let (_dir, db) = ingested();
    let answers = query_json(&db, &[&fixture("clip.flac")]);
    let best = &answers[0]["matches"][0];
    assert_eq!(best["track_id"], "clip");
    assert_eq!(best["confidence"], 1.0);
}

#[test]
fn unreadable_files_get_an_error_object_and_a_failing_exit_code() {
    let (_dir, db) = ingested();
    let o = run(&[
        "query",
        "--db",
        s(&db),
        "--json",
        s(&fixture("garbage.mp3")),
        "/nonexistent/file.mp3",
        s(&fixture("clip-ac3.mka")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert!(l["error"].is_string(), "{l}");
        assert!(l.get("matches").is_none());
    }
    assert!(
        lines[2]["error"]
            .as_str()
            .expect("error")
            .contains("unsupported codec: ac3")
    );
}

#[test]
fn re_running_an_ingest_duplicates_nothing() {
    let (dir, db) = ingested();
    let before = stats(&db);
    let o = run(&[
        "ingest",
        "--db",
        s(&db),
        "--manifest",
        s(&catalog(dir.path())),
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("unchanged 2"), "{}", stdout(&o));
    assert_eq!(stats(&db)["postings"], before["postings"]);
    assert_eq!(
        landmarks_of_tracks(&db),
        before["postings"].as_u64().expect("postings")
    );
}

#[test]
fn the_same_audio_under_a_new_id_is_reported_as_a_duplicate() {
    let (dir, db) = ingested();
    // Same bytes under another name, and the same recording in another encoding.
    let copy = dir.path().join("copy-of-clip.flac");
    std::fs::copy(fixture("clip.flac"), &copy).expect("copy");
    let o = run(&[
        "ingest",
        "--db",
        s(&db),
        s(&copy),
        s(&fixture("clip-320k.mp3")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("duplicates 2"), "{out}");
    assert!(out.contains("already in the index as clip"), "{out}");
    assert_eq!(stats(&db)["tracks"], 2);
    let o = run(&["ingest", "--db", s(&db), "--on-duplicate", "add", s(&copy)]);
    assert!(o.status.success());
    assert_eq!(stats(&db)["tracks"], 3);
}

#[test]
fn bad_files_are_reported_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let o = run(&[
        "ingest",
        "--db",
        s(&db),
        s(&fixture("clip.flac")),
        s(&fixture("corrupt.mp3")),
        s(&fixture("garbage.mp3")),
        s(&fixture("empty.wav")),
        s(&fixture("silence.wav")),
        "/nonexistent.mp3",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("failed 4"), "{out}");
    assert!(out.contains("input is empty"), "{out}");
    assert!(out.contains("no landmarks"), "{out}");
    assert!(out.contains("no such file"), "{out}");
    // The damaged MP3 still decodes in part and is ingested.
    assert_eq!(stats(&db)["tracks"], 2);
}

#[test]
fn a_malformed_manifest_row_names_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = dir.path().join("bad.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,track_id,policy\n{},good,allow\n{},bad id!,allow\n{},x,forbid\n{},too,many,fields\n",
            s(&fixture("clip.flac")),
            s(&fixture("other.wav")),
            s(&fixture("other.wav")),
            s(&fixture("other.wav")),
        ),
    )
    .expect("manifest");
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("bad.csv:3: invalid track id"), "{out}");
    assert!(out.contains("bad.csv:4: unknown policy"), "{out}");
    assert!(out.contains("bad.csv:5: malformed row"), "{out}");
    assert_eq!(stats(&db)["tracks"], 1);
}

#[test]
fn a_spreadsheet_export_with_columns_of_its_own_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = dir.path().join("export.csv");
    // A label's own columns, headers as a spreadsheet writes them, and a typo.
    std::fs::write(
        &manifest,
        format!(
            "Internal Code,Path,Track ID,Title,Artst,Year,Rights Holder
             X-1,{},clip,The Clip,Someone,1999,label-a
",
            s(&fixture("clip.flac")),
        ),
    )
    .expect("manifest");
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("ignored columns it does not use: Internal Code, Artst, Year"),
        "{err}"
    );
    assert!(
        err.contains("`Artst` is ignored; did you mean `artist`?"),
        "{err}"
    );
    let o = run(&["tracks", "--db", s(&db), "show", "clip"]);
    let out = stdout(&o);
    assert!(out.contains("The Clip") && out.contains("label-a"), "{out}");
    // Without a path column it is still refused.
    std::fs::write(
        &manifest,
        "Track ID,Title
clip,The Clip
",
    )
    .expect("manifest");
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no `path` column"), "{}", stderr(&o));
}

#[test]
fn a_directory_that_is_not_an_index_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "not an index").expect("write");
    let o = run(&["query", "--db", s(dir.path()), s(&fixture("clip.wav"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot open index"), "{}", stderr(&o));
    let o = run(&["ingest", "--db", s(dir.path()), s(&fixture("clip.wav"))]);
    assert_eq!(o.status.code(), Some(2));
    let missing = dir.path().join("nothing-here");
    let o = run(&["query", "--db", s(&missing), s(&fixture("clip.wav"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!missing.exists(), "a query must never create an index");
}

#[test]
fn a_fingerprint_file_identifies_like_the_audio() {
    let (dir, db) = ingested();
    for (name, json) in [("fp.emfp", false), ("fp.json", true)] {
        let out = dir.path().join(name);
        let audio = fixture("offset.wav");
        let mut args = vec!["fingerprint", s(&audio), "-o", s(&out)];
        if json {
            args.push("--json");
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(&["query", "--db", s(&db), "--json", "--fingerprint", s(&out)]);
        let answer: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
        assert_eq!(answer["matches"][0]["track_id"], "clip", "{answer}");
    }
    let bogus = dir.path().join("bogus.emfp");
    std::fs::write(&bogus, b"EMFP\x01garbage").expect("write");
    let o = run(&["query", "--db", s(&db), "--fingerprint", s(&bogus)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("error"), "{}", stdout(&o));
}

#[test]
fn tracks_can_be_listed_shown_and_removed() {
    let (_dir, db) = ingested();
    let o = run(&["tracks", "--db", s(&db), "list"]);
    assert!(stdout(&o).contains("clip\t") && stdout(&o).contains("other\t"));
    // `--db` may follow the action too.
    let after = run(&["tracks", "list", "--db", s(&db)]);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(stdout(&after), stdout(&o));
    let o = run(&["tracks", "list"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--db"), "{}", stderr(&o));
    let o = run(&["tracks", "--db", s(&db), "show", "clip"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(shown["meta"]["rights_holder"], "label-a");
    let other_landmarks = {
        let o = run(&["tracks", "--db", s(&db), "show", "other"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        v["landmarks"].as_u64().expect("landmarks")
    };
    let o = run(&["tracks", "--db", s(&db), "rm", "clip"]);
    assert!(o.status.success());
    assert_eq!(stats(&db)["postings"].as_u64(), Some(other_landmarks));
    let o = run(&["tracks", "--db", s(&db), "show", "clip"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["tracks", "--db", s(&db), "rm", "clip"]);
    assert_eq!(o.status.code(), Some(1));
    let answers = query_json(&db, &[&fixture("clip-128k.mp3")]);
    assert_eq!(answers[0]["matches"], serde_json::json!([]));
}

#[test]
fn version_names_the_fingerprint_configuration() {
    let o = run(&["--version"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains(
            "hash config robust (PairV1, fan-out 6/12) for new indexes; has robust, compact, large-catalog"
        ),
        "{out}"
    );
    assert!(out.contains("index layout 5"), "{out}");
    assert!(out.contains("fingerprint wire format 1"), "{out}");
}

#[test]
fn an_index_keeps_the_hash_configuration_it_was_built_with() {
    // The compact pairs and the triplets (whose 40-bit hashes take 5-byte keys).
    for name in ["large-catalog", "compact"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let manifest = catalog(dir.path());
        let o = run(&[
            "ingest",
            "--db",
            s(&db),
            "--hash-config",
            name,
            s(&fixture("clip.flac")),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // Later ingests without the flag keep the configuration ...
        let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(&["stats", "--db", s(&db), "--json"]);
        let stats: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stats JSON");
        assert_eq!(stats["hash_config"], name, "{stats}");
        assert_eq!(
            stats["layout_version"],
            earmark_rocksdb::FORMAT_VERSION,
            "{stats}"
        );
        // ... and queries are hashed and judged by it.
        let answers = query_json(&db, &[&fixture("clip-128k.mp3"), &fixture("silence.wav")]);
        assert_eq!(
            answers[0]["matches"][0]["track_id"], "clip",
            "configuration {name}: {}",
            answers[0]
        );
        assert_eq!(answers[1]["matches"], serde_json::json!([]));
        if name == "compact" {
            check_refusals(&db);
        }
    }
}

/// An existing index refuses another configuration, and an unknown one is a usage error.
fn check_refusals(db: &std::path::Path) {
    // Asking for another configuration on an existing index is refused, unchanged.
    let o = run(&[
        "ingest",
        "--db",
        s(db),
        "--hash-config",
        "robust",
        s(&fixture("other.wav")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("hash configuration"), "{}", stderr(&o));
    // An unknown configuration is a usage error.
    let o = run(&[
        "ingest",
        "--db",
        s(db),
        "--hash-config",
        "4",
        s(&fixture("clip.flac")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown hash configuration"),
        "{}",
        stderr(&o)
    );
}
