//! No panic is reachable from input bytes: property tests over the two entry points
//! that take untrusted bytes, the audio decoder and the fingerprint wire format.
//! (A coverage-guided fuzzer would search deeper; these run in every CI build.)
//!
//! A panic in Earmark's own code (resampler, spectrogram, peaks, hashes) is not caught
//! anywhere, so it fails these tests. A panic inside the decoder library is caught and
//! reported as [`Error::DecoderPanic`] for that input: symphonia 0.6 has some (an
//! overflow check on a WAV header's channel count times its sample width, in builds
//! with overflow checks), which only a fix upstream removes.

use earmark_core::{Error, Fingerprint, Fingerprinter, Source};
use earmark_test_support::{fixture, melody, wav_bytes};
use proptest::prelude::*;

fn valid_wire() -> Vec<u8> {
    Fingerprinter::default()
        .fingerprint_samples(&melody(1, 8_000, 5.0), 8_000, 1)
        .expect("fingerprint")
        .to_bytes()
}

/// Decodes and fingerprints `bytes`: any outcome is fine but a panic escaping; errors
/// must render.
fn decode_bytes(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    if let Err(e) = Fingerprinter::default().decode_source(Source::bytes(bytes), None) {
        prop_assert!(!e.to_string().is_empty());
        if matches!(e, Error::DecoderPanic) {
            prop_assert_eq!(e.to_string(), "the decoder failed on malformed data");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wire_decoding_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Fingerprint::from_bytes(&bytes);
    }

    #[test]
    fn wire_decoding_never_panics_on_mutated_fingerprints(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = valid_wire();
        for (at, value) in edits {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = Fingerprint::from_bytes(&bytes);
        // Re-checksummed, so the value checks run too.
        if bytes.len() > 4 {
            let body = bytes.len() - 4;
            let crc = crc32fast::hash(&bytes[..body]);
            bytes[body..].copy_from_slice(&crc.to_le_bytes());
            if let Ok(fp) = Fingerprint::from_bytes(&bytes) {
                prop_assert_eq!(Fingerprint::from_bytes(&fp.to_bytes()).ok(), Some(fp));
            }
        }
    }

    #[test]
    fn json_decoding_never_panics(text in ".{0,300}") {
        let _ = Fingerprint::from_json(&text);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        decode_bytes(bytes)?;
    }

    #[test]
    fn decoding_damaged_wav_never_panics(
        edits in proptest::collection::vec((0usize..64, any::<u8>()), 1..6),
        cut in 0usize..20_000,
    ) {
        let mut bytes = wav_bytes(&melody(2, 8_000, 1.0), 8_000);
        for (at, value) in edits {
            bytes[at % 44] = value;
        }
        bytes.truncate(cut.min(bytes.len()));
        decode_bytes(bytes)?;
    }
}

#[test]
fn damaged_real_files_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    for name in [
        "clip-128k.mp3",
        "clip.ogg",
        "clip.flac",
        "clip-aac.m4a",
        "clip-alac.m4a",
    ] {
        let original = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Damage the first 64 KB, where headers and the first frames live.
        let strategy = proptest::collection::vec((0usize..65_536, any::<u8>()), 1..32);
        runner
            .run(&strategy, |edits| {
                let mut bytes = original.clone();
                for (at, value) in edits {
                    let i = at % bytes.len();
                    bytes[i] = value;
                }
                decode_bytes(bytes)
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A header declaring a format no recording has is refused before decoding: a 1 Hz
/// rate would otherwise be resampled 8,000-fold (27 s of CPU and 0.9 GB for 42 KB).
#[test]
fn absurd_sample_rates_are_refused_before_decoding() {
    for rate in [1, 100, 3_999, 1_000_000] {
        let bytes = wav_bytes(&melody(2, 8_000, 2.5), rate);
        let err = Fingerprinter::default()
            .decode_source(Source::bytes(bytes), Some("wav"))
            .expect_err("refused");
        assert!(
            matches!(&err, Error::InvalidParameters { reason } if reason.contains(&format!("{rate} Hz"))),
            "{rate} Hz: {err:?}"
        );
    }
    let ok = wav_bytes(&melody(2, 8_000, 2.5), 8_000);
    assert!(
        Fingerprinter::default()
            .decode_source(Source::bytes(ok), Some("wav"))
            .is_ok()
    );
}

/// A fingerprinter told to decode at most so many seconds stops there with an
/// error, whatever the input's length.
#[test]
fn decoding_stops_at_the_configured_duration() {
    let fingerprinter = Fingerprinter::new(earmark_core::FingerprintConfig {
        max_duration_s: Some(3.0),
        ..Default::default()
    });
    let long = wav_bytes(&melody(3, 8_000, 5.0), 8_000);
    let err = fingerprinter
        .decode_source(Source::bytes(long), Some("wav"))
        .expect_err("too long");
    assert!(
        matches!(err, Error::TooLong { limit_s } if limit_s == 3.0),
        "{err:?}"
    );
    let short = wav_bytes(&melody(3, 8_000, 2.5), 8_000);
    assert!(
        fingerprinter
            .decode_source(Source::bytes(short), Some("wav"))
            .is_ok()
    );
}
