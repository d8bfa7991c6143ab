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
    // Added when asked to, as the same holder's second copy; never as another's.
    let manifest = dir.path().join("copies.csv");
    let rows = |holder: &str| format!("path,track_id,rights_holder\n{},copy,{holder}\n", s(&copy));
    std::fs::write(&manifest, rows("label-b")).expect("manifest");
    let add = [
        "ingest",
        "--db",
        s(&db),
        "--on-duplicate",
        "add",
        "--manifest",
        s(&manifest),
    ];
    let o = run(&add);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("under another rights holder (label-a)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(stats(&db)["tracks"], 2);
    std::fs::write(&manifest, rows("label-a")).expect("manifest");
    let o = run(&add);
    assert!(o.status.success(), "{}", stdout(&o));
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
    assert!(out.contains("analysis config 2 (8000 Hz"), "{out}");
    assert!(
        out.contains(
            "hash config default (id 6, groups of 5 peaks, reach 6) for new indexes; has default"
        ),
        "{out}"
    );
    assert!(out.contains("index layout 8"), "{out}");
    assert!(out.contains("fingerprint wire format 3"), "{out}");
}

#[test]
fn an_index_records_its_hash_configuration_and_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = catalog(dir.path());
    let o = run(&["ingest", "--db", s(&db), s(&fixture("clip.flac"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stats = stats(&db);
    assert_eq!(stats["hash_config"], "default", "{stats}");
    assert_eq!(
        stats["layout_version"],
        earmark_rocksdb::FORMAT_VERSION,
        "{stats}"
    );
    let answers = query_json(&db, &[&fixture("clip-128k.mp3"), &fixture("silence.wav")]);
    assert_eq!(
        answers[0]["matches"][0]["track_id"], "clip",
        "{}",
        answers[0]
    );
    assert_eq!(answers[1]["matches"], serde_json::json!([]));
}

/// The track ids of an index, in id order.
fn track_ids(db: &std::path::Path) -> Vec<String> {
    track_records(db)
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Whether `id` is `base` with the `.` and 8 hex digits that tell apart files deriving
/// one id.
fn is_suffixed(id: &str, base: &str) -> bool {
    id.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|hex| hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn files_of_a_folder_never_share_an_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    std::fs::create_dir_all(music.join("a")).expect("mkdir");
    std::fs::create_dir_all(music.join("b")).expect("mkdir");
    // One name in two folders; two names that become one id; a flat file.
    let mut files = vec![
        music.join("a/song.wav"),
        music.join("b/song.wav"),
        music.join("x y.wav"),
        music.join("x-y.wav"),
        music.join("top.wav"),
    ];
    // File names that are not UTF-8 (all once became the id `track`).
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        for name in [&b"\xff.wav"[..], b"\xfe.wav"] {
            files.push(music.join(std::ffi::OsStr::from_bytes(name)));
        }
    }
    for (seed, file) in (1..).zip(&files) {
        write_melody_wav(file, 300 + seed, 8);
    }
    let ingest = |db: &std::path::Path| {
        let o = run(&["ingest", "--db", s(db), s(&music)]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        o
    };
    let db = dir.path().join("db");
    let o = ingest(&db);
    assert!(
        stdout(&o).contains(&format!("ingested {},", files.len())),
        "{}",
        stdout(&o)
    );
    let ids = track_ids(&db);
    assert_eq!(ids.len(), files.len(), "{ids:?}");
    // A flat folder's files keep their names; sub-folders are part of the id.
    for id in ["top", "a:song", "b:song"] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    assert_eq!(ids.iter().filter(|i| is_suffixed(i, "x-y")).count(), 2);
    #[cfg(unix)]
    assert_eq!(ids.iter().filter(|i| is_suffixed(i, "-")).count(), 2);
    // The same command names the files the same way every time.
    let o = ingest(&db);
    assert!(
        stdout(&o).contains(&format!("unchanged {}", files.len())),
        "{}",
        stdout(&o)
    );
    let again = dir.path().join("db-again");
    ingest(&again);
    assert_eq!(track_ids(&again), ids);
}

#[test]
fn files_named_alike_on_the_command_line_are_all_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (seed, sub) in [(401, "a"), (402, "b")] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        write_melody_wav(&dir.path().join(sub).join("song.wav"), seed, 8);
    }
    let db = dir.path().join("db");
    let (a, b) = (dir.path().join("a/song.wav"), dir.path().join("b/song.wav"));
    let o = run(&["ingest", "--db", s(&db), s(&a), s(&b)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ingested 2,"), "{}", stdout(&o));
    let ids = track_ids(&db);
    assert!(ids.iter().all(|i| is_suffixed(i, "song")), "{ids:?}");
    assert_eq!(ids.len(), 2);
}

#[test]
fn a_manifest_giving_one_id_to_two_rows_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let manifest = dir.path().join("catalog.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,track_id\n{},clip\n{},other\n{},clip\n",
            s(&fixture("clip.flac")),
            s(&fixture("other.wav")),
            s(&fixture("clip-128k.mp3")),
        ),
    )
    .expect("manifest");
    let o = run(&["ingest", "--db", s(&db), "--manifest", s(&manifest)]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("clip on catalog.csv:2 and catalog.csv:4"),
        "{err}"
    );
    assert!(!db.exists(), "a refused manifest must not create an index");
}

/// Runs `earmark` with `args`, failing the test if it has not ended within a minute.
fn run_within_a_minute(args: &[&str]) -> std::process::Output {
    let mut child = earmark()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("earmark runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("earmark {args:?} ran for over a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[cfg(unix)]
#[test]
fn symbolic_link_loops_and_repeated_links_walk_each_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    std::fs::create_dir_all(music.join("sub")).expect("mkdir");
    write_melody_wav(&music.join("song.wav"), 501, 8);
    write_melody_wav(&music.join("sub/other.wav"), 502, 8);
    // Two loops back to the folder, and two more ways into its sub-folder.
    for (link, target) in [("a", "."), ("b", "."), ("c", "sub"), ("d", "sub")] {
        std::os::unix::fs::symlink(target, music.join(link)).expect("symlink");
    }
    let db = dir.path().join("db");
    let o = run_within_a_minute(&["ingest", "--db", s(&db), s(&music)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("ingested 2,"), "{out}");
    assert!(out.contains("duplicates 0, failed 0"), "{out}");
    assert_eq!(stats(&db)["tracks"], 2);
}

#[test]
fn identical_files_ingested_in_parallel_are_one_track() {
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).expect("mkdir");
    let original = music.join("copy-0.wav");
    write_melody_wav(&original, 601, 10);
    let copies = 6;
    for i in 1..copies {
        std::fs::copy(&original, music.join(format!("copy-{i}.wav"))).expect("copy");
    }
    // Rounds with fresh indexes, so that a race between the workers would show.
    for round in 0..5 {
        let db = dir.path().join(format!("db-{round}"));
        let o = run(&["ingest", "--db", s(&db), s(&music)]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&format!(
                "ingested 1, replaced 0, unchanged 0, duplicates {}",
                copies - 1
            )),
            "round {round}: {out}"
        );
        assert_eq!(stats(&db)["tracks"], 1, "round {round}");
    }
}

#[test]
fn nothing_is_created_when_there_is_nothing_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let o = run(&[
        "ingest",
        "--db",
        s(&db),
        "/nonexistent/a.mp3",
        "/nonexistent/b.mp3",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("no such file"), "{}", stdout(&o));
    assert!(stderr(&o).contains("nothing to ingest"), "{}", stderr(&o));
    assert!(!db.exists(), "an ingest of nothing created an index");
    let o = run(&["tracks", "--db", s(&db), "rm", "clip"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no index at"), "{}", stderr(&o));
    assert!(!db.exists(), "`tracks rm` created an index");
}

#[test]
fn writers_racing_to_create_an_index_are_told_it_is_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = fixture("clip.flac");
    for round in 0..4 {
        let db = dir.path().join(format!("db-{round}"));
        let children: Vec<_> = (0..4)
            .map(|_| {
                earmark()
                    .args(["ingest", "--no-compact", "--db", s(&db), s(&clip)])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("earmark runs")
            })
            .collect();
        for child in children {
            let o = child.wait_with_output().expect("output");
            if !o.status.success() {
                assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
                assert!(
                    stderr(&o).contains("in use by another process"),
                    "round {round}: {}",
                    stderr(&o)
                );
            }
        }
        assert_eq!(stats(&db)["tracks"], 1, "round {round}");
    }
}

#[test]
fn a_reader_closing_the_output_early_ends_the_command_quietly() {
    let (_dir, db) = ingested();
    let (mp3, wav, flac) = (
        fixture("clip-128k.mp3"),
        fixture("offset.wav"),
        fixture("clip.flac"),
    );
    let commands: Vec<Vec<&str>> = vec![
        vec!["stats", "--db", s(&db)],
        vec!["stats", "--db", s(&db), "--json"],
        vec!["tracks", "--db", s(&db), "list"],
        vec!["tracks", "--db", s(&db), "show", "clip"],
        vec!["query", "--db", s(&db), s(&mp3)],
        vec!["query", "--db", s(&db), "--json", s(&mp3)],
        vec!["fingerprint", s(&wav)],
        vec!["ingest", "--db", s(&db), s(&flac)],
    ];
    for args in commands {
        // The reader is gone before the command writes a byte: its first line fails.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let o = earmark()
            .args(&args)
            .stdout(writer)
            .output()
            .expect("earmark runs");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
    }
}
