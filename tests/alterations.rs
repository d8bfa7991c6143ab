//! Speed, tempo and pitch changes end to end on real music: excerpts altered with sox
//! are identified through the real binary with the right track, the start in catalog
//! time within half a second, and the change estimated within the evaluation's
//! tolerances (time scale within 0.5 %, pitch within 0.2 semitone). Altered audio of
//! a track never ingested matches nothing. The music is the quick evaluation set's
//! catalog (`make test` builds it).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use earmark_test_support::data_dir;
use serde_json::Value;

/// Where the excerpts start in their track, in seconds.
const AT_S: f64 = 40.0;
const LENGTH_S: f64 = 10.0;

/// The quick set's catalog files, in manifest order.
fn catalog_files() -> Vec<PathBuf> {
    let manifest = data_dir().join("eval/catalog.csv");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `make test` (or datasets/build-eval.py --quick)",
            manifest.display()
        )
    });
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(PathBuf::from))
        .collect()
}

/// A change as sox applies it, and what it does: track seconds per query second and
/// the pitch shift in semitones.
struct Change {
    name: &'static str,
    effect: [&'static str; 2],
    factor: f64,
    semitones: f64,
}

const fn change(
    name: &'static str,
    effect: [&'static str; 2],
    factor: f64,
    semitones: f64,
) -> Change {
    Change {
        name,
        effect,
        factor,
        semitones,
    }
}

/// Speed moves time and pitch together: `speed 1.05` plays 5 % faster, 0.845 semitone
/// higher.
fn speed(name: &'static str, arg: &'static str, factor: f64) -> Change {
    change(name, ["speed", arg], factor, 12.0 * factor.log2())
}

/// `LENGTH_S` seconds of `track` from `AT_S`, changed by `effect`, as a WAV file.
fn altered(track: &Path, effect: &[&str], out: &Path) {
    let at = AT_S.to_string();
    let length = LENGTH_S.to_string();
    let mut args = vec![s(track), "-r", "44100", s(out), "trim", &at, &length];
    args.extend_from_slice(effect);
    let status = std::process::Command::new("sox")
        .args(&args)
        .status()
        .expect("sox (installed with the fixtures) runs");
    assert!(status.success(), "sox {args:?}");
}

fn answers(db: &Path, files: &[PathBuf]) -> Vec<Value> {
    let mut args = vec!["query", "--db", s(db), "--json"];
    args.extend(files.iter().map(|f| s(f)));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn sped_up_slowed_stretched_and_pitched_excerpts_are_found_with_their_change() {
    let catalog = catalog_files();
    assert!(catalog.len() >= 4, "the quick set's catalog is too small");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    // Three tracks ingested; the fourth stays outside the catalog.
    let ingested = &catalog[..3];
    let mut args = vec!["ingest", "--db", s(&db)];
    args.extend(ingested.iter().map(|f| s(f)));
    let o = run(&args);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let target = &catalog[1];
    let track_id = target.file_stem().and_then(|n| n.to_str()).expect("name");
    let changes = [
        speed("speed-10", "0.9", 0.9),
        speed("speed-5", "0.95", 0.95),
        speed("speed+2", "1.02", 1.02),
        speed("speed+10", "1.1", 1.1),
        change("tempo-10", ["tempo", "0.9"], 0.9, 0.0),
        change("tempo+5", ["tempo", "1.05"], 1.05, 0.0),
        change("pitch-2", ["pitch", "-200"], 1.0, -2.0),
        change("pitch+1", ["pitch", "100"], 1.0, 1.0),
    ];
    // Every change of `track`, as WAV files named after the change.
    let altered_all = |track: &Path, prefix: &str| -> Vec<PathBuf> {
        changes
            .iter()
            .map(|c| {
                let out = dir.path().join(format!("{prefix}{}.wav", c.name));
                altered(track, &c.effect, &out);
                out
            })
            .collect()
    };
    let files = altered_all(target, "");
    for (c, answer) in changes.iter().zip(answers(&db, &files)) {
        let best = &answer["matches"][0];
        assert_eq!(best["track_id"], track_id, "{}: {answer}", c.name);
        let number = |field: &str| best[field].as_f64().expect(field);
        // Query second q plays track second AT_S + factor * q.
        let expected = AT_S + c.factor * number("query_offset_s");
        assert!(
            (number("track_offset_s") - expected).abs() <= 0.5,
            "{}: catalog time {} against {expected}: {answer}",
            c.name,
            number("track_offset_s")
        );
        // time_scale is query seconds per catalog second.
        let scale_error = (number("time_scale") * c.factor - 1.0).abs();
        assert!(scale_error <= 0.005, "{}: time scale {answer}", c.name);
        let pitch_error = (number("pitch_shift_semitones") - c.semitones).abs();
        assert!(pitch_error <= 0.2, "{}: pitch {answer}", c.name);
    }

    // Never ingested: the same changes of another track match nothing.
    let files = altered_all(&catalog[3], "outside-");
    for (c, answer) in changes.iter().zip(answers(&db, &files)) {
        assert_eq!(answer["matches"], serde_json::json!([]), "{}", c.name);
    }
}
