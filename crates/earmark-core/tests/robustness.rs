//! No panic is reachable from input bytes: property tests over the two entry points
//! that take untrusted bytes, the audio decoder and the fingerprint wire format.
//! (A coverage-guided fuzzer would search deeper; these run in every CI build.)

mod common;

use common::melody;
use earmark_core::{Fingerprint, Fingerprinter, Source};
use proptest::prelude::*;

fn valid_wire() -> Vec<u8> {
    Fingerprinter::default()
        .fingerprint_samples(&melody(1, 8_000, 5.0), 8_000, 1)
        .expect("fingerprint")
        .to_bytes()
}

/// A minimal 16-bit mono WAV file holding `samples`.
fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

fn decode_bytes(bytes: Vec<u8>) {
    // Any outcome is fine but a panic; errors must render.
    if let Err(e) = Fingerprinter::default().decode_source(Source::bytes(bytes), None) {
        let _ = e.to_string();
    }
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
        decode_bytes(bytes);
    }

    #[test]
    fn decoding_damaged_wav_never_panics(
        edits in proptest::collection::vec((0usize..64, any::<u8>()), 1..6),
        cut in 0usize..20_000,
    ) {
        let samples: Vec<i16> = melody(2, 8_000, 1.0).iter().map(|s| (s * 20_000.0) as i16).collect();
        let mut bytes = wav(&samples, 8_000);
        for (at, value) in edits {
            bytes[at % 44] = value;
        }
        bytes.truncate(cut.min(bytes.len()));
        decode_bytes(bytes);
    }
}

#[test]
fn damaged_real_files_never_panic() {
    let dir = std::env::var_os("EARMARK_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/earmark-data")
        })
        .join("fixtures");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    for name in [
        "clip-128k.mp3",
        "clip.ogg",
        "clip.flac",
        "clip-aac.m4a",
        "clip-alac.m4a",
    ] {
        let original = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e} (run datasets/make-fixtures.sh)"));
        // Damage the first 64 KB, where headers and the first frames live.
        let strategy = proptest::collection::vec((0usize..65_536, any::<u8>()), 1..32);
        runner
            .run(&strategy, |edits| {
                let mut bytes = original.clone();
                for (at, value) in edits {
                    let i = at % bytes.len();
                    bytes[i] = value;
                }
                decode_bytes(bytes);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
