//! Real music in every supported format, and broken files, from
//! `datasets/make-fixtures.sh` (run by `make test`).

mod common;

use std::path::PathBuf;

use common::{aligned_share, overlap};
use earmark_core::{Error, Fingerprint, Fingerprinter, HashConfig};
use earmark_test_support::fixture;

/// The fixtures folder, checked to be there.
fn fixtures() -> PathBuf {
    fixture("fixtures.csv")
        .parent()
        .expect("a folder")
        .to_path_buf()
}

fn print_of(name: &str) -> Result<Fingerprint, Error> {
    Fingerprinter::default().fingerprint_file(fixtures().join(name))
}

fn hashes(fp: &Fingerprint) -> Vec<(u64, u32)> {
    fp.catalog_landmarks(&HashConfig::DEFAULT)
        .into_iter()
        .map(|l| (l.hash, l.frame))
        .collect()
}

#[test]
fn every_supported_format_decodes_to_the_same_duration() {
    for name in [
        "clip.wav",
        "clip-s24.wav",
        "clip-s32.wav",
        "clip-f32.wav",
        "clip.flac",
        "clip-320k.mp3",
        "clip-128k.mp3",
        "clip.ogg",
        "clip-aac.m4a",
        "clip-alac.m4a",
        "clip.opus",
        "clip.webm",
        "clip-mono-22k.wav",
        "clip-8k.wav",
        "wav-named.mp3",
    ] {
        let fp = print_of(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            (fp.duration_s() - 20.0).abs() < 0.1,
            "{name}: {} s",
            fp.duration_s()
        );
        assert!(fp.peaks().len() > 200, "{name}: {} peaks", fp.peaks().len());
    }
}

#[test]
fn encodings_of_the_same_audio_share_most_hashes() {
    let reference = hashes(&print_of("clip.wav").expect("wav"));
    // Lossy codecs may also shift the audio by their priming delay (AAC by ~50 ms,
    // 1.5 hops), so hashes count as shared at the best common shift of a few frames,
    // each within a frame, as the matcher's offset vote would see them, and for the
    // best of four sub-hop analyses, as a query makes them. A group hash survives
    // only when all five of its peaks do and every interval and time ratio stays in
    // its cell, so lossy codecs keep fewer of them than they kept pairs (a query's
    // probes of neighbouring cells find more). Floors sit below the shares measured
    // with `default`, printed here: 1.000 lossless, 0.915 MP3 320k, 0.881 mono 22 kHz,
    // 0.505 Vorbis, 0.468 AAC, 0.442 MP3 128k.
    for (name, floor) in [
        ("clip-s24.wav", 0.99),
        ("clip.flac", 0.99),
        ("clip-320k.mp3", 0.85),
        ("clip-128k.mp3", 0.35),
        ("clip.ogg", 0.4),
        ("clip-aac.m4a", 0.35),
        ("clip-alac.m4a", 0.99),
        // Opus at 96 kbit/s, resampled to its 48 kHz by the encoder: 0.313 (0.310 in
        // WebM).
        ("clip.opus", 0.25),
        ("clip.webm", 0.25),
        ("clip-mono-22k.wav", 0.8),
    ] {
        let file = std::fs::File::open(fixtures().join(name)).expect(name);
        let (prints, _) = Fingerprinter::default()
            .decode_source_shifted(earmark_core::Source::file(file), None, 4)
            .expect(name);
        let share = prints
            .iter()
            .map(|p| aligned_share(&hashes(p), &reference, -4..=4))
            .fold(0.0, f64::max);
        eprintln!("{name}: {share:.3} of hashes shared with clip.wav");
        assert!(
            share >= floor,
            "{name}: only {share:.3} shared (floor {floor})"
        );
    }
}

#[test]
fn a_later_excerpt_matches_the_clip_shifted_by_five_seconds() {
    let clip = print_of("clip.wav").expect("clip");
    let later = print_of("offset.wav").expect("offset");
    // 5 s is 156.25 frames: the excerpt's frames fall between the clip's. Refined peak
    // times follow, but the windows see other samples and few groups keep every field
    // in its cell. One of four sub-hop shifted analyses (what a query uses) lines up
    // within 1/8 of a hop: measured 0.967 of its hashes with `default`, the others
    // 0.07-0.14.
    let shift = i64::from(clip.analysis().secs_to_frames(5.0));
    let file = std::fs::File::open(fixtures().join("offset.wav")).expect("open");
    let (prints, _) = Fingerprinter::default()
        .decode_source_shifted(earmark_core::Source::file(file), None, 4)
        .expect("shifted");
    assert_eq!(prints[0], later);
    let shares: Vec<f64> = prints
        .iter()
        .map(|p| aligned_share(&hashes(p), &hashes(&clip), shift - 1..=shift))
        .collect();
    eprintln!("offset.wav: shares of hashes lining up per shift: {shares:.3?}");
    let best = shares.iter().copied().fold(0.0, f64::max);
    assert!(
        best > 0.85,
        "only {best:.3} of the excerpt's hashes line up"
    );
}

#[test]
fn different_music_shares_almost_no_aligned_hashes() {
    let clip = hashes(&print_of("clip.wav").expect("clip"));
    let other = hashes(&print_of("other.wav").expect("other"));
    // Measured 0 of 2,277 with `default` (and 0 at any shift within 10 s).
    assert!(overlap(&other, &clip) < 0.02);
}

#[test]
fn a_codec_without_a_decoder_is_named() {
    match print_of("clip-ac3.mka") {
        Err(Error::Unsupported { codec }) => assert_eq!(codec, "ac3"),
        other => panic!("expected unsupported ac3, got {other:?}"),
    }
}

#[test]
fn broken_inputs_give_typed_errors() {
    assert!(matches!(print_of("empty.wav"), Err(Error::Empty)));
    assert!(matches!(print_of("zero-length.wav"), Err(Error::NoAudio)));
    assert!(matches!(
        print_of("text-as.mp3"),
        Err(Error::UnrecognizedFormat)
    ));
    assert!(matches!(
        print_of("garbage.mp3"),
        Err(Error::UnrecognizedFormat | Error::Corrupt { .. })
    ));
    assert!(matches!(print_of("missing.wav"), Err(Error::Io(_))));
}

#[test]
fn damaged_files_keep_what_decodes() {
    let fp = Fingerprinter::default();
    for name in ["truncated.mp3", "truncated.flac", "corrupt.mp3"] {
        let decoded = fp.decode_file(fixtures().join(name)).expect(name);
        let secs = decoded.fingerprint.duration_s();
        eprintln!("{name}: {secs:.1} s, {:?}", decoded.report);
        assert!(secs > 4.0 && secs < 20.5, "{name}: {secs} s");
    }
}

#[test]
fn silence_and_short_files_are_explicitly_empty_or_small() {
    let silence = print_of("silence.wav").expect("silence decodes");
    assert!(silence.is_empty());
    assert!((silence.duration_s() - 5.0).abs() < 0.05);
    let short = print_of("short.wav").expect("short decodes");
    assert!((short.duration_s() - 0.5).abs() < 0.05);
    assert!(short.peaks().len() < 40);
}

#[test]
fn streams_decode_like_files() {
    let path = fixtures().join("clip-320k.mp3");
    let file = std::fs::File::open(&path).expect("open");
    let streamed = Fingerprinter::default()
        .decode_source(earmark_core::Source::stream(file), Some("mp3"))
        .expect("stream")
        .fingerprint;
    assert_eq!(streamed, print_of("clip-320k.mp3").expect("file"));
}

#[test]
fn many_files_in_parallel_match_one_by_one() {
    let names = ["clip.wav", "clip.flac", "other.wav", "empty.wav"];
    let paths: Vec<PathBuf> = names.iter().map(|n| fixtures().join(n)).collect();
    let results = Fingerprinter::default().fingerprint_files(&paths);
    for (name, result) in names.iter().zip(results) {
        match (result, print_of(name)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{name}: {a:?} vs {b:?}"),
        }
    }
}
