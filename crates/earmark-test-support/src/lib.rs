//! What Earmark's tests and benches share, and nothing else uses: where the dataset
//! scripts put real audio, seeded music-like signals, and WAV files of them.
//!
//! A development dependency only. It depends on no Earmark crate, so that every crate
//! can use it in its own tests without a dependency cycle.
//!
//! ```
//! use earmark_test_support::{melody, wav_bytes};
//!
//! let audio = melody(7, 8_000, 2.0);
//! assert_eq!(audio.len(), 16_000);
//! assert_eq!(melody(7, 8_000, 2.0), audio, "seeded");
//! let wav = wav_bytes(&audio, 8_000);
//! assert_eq!(&wav[..4], b"RIFF");
//! ```

use std::f32::consts::PI;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Where the dataset scripts put audio, fixtures and evaluation sets:
/// `$EARMARK_DATA`, by default `target/earmark-data` in the workspace, as in the
/// Makefile.
pub fn data_dir() -> PathBuf {
    std::env::var_os("EARMARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/earmark-data"))
}

/// The workspace's top folder.
pub fn workspace_root() -> PathBuf {
    // This crate lives in `crates/earmark-test-support`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A test clip made by `datasets/make-fixtures.sh` (which `make test` runs first).
///
/// # Panics
/// When the clip is missing: a test that needs real audio fails rather than passing
/// without it.
pub fn fixture(name: &str) -> PathBuf {
    let path = data_dir().join("fixtures").join(name);
    assert!(
        path.is_file(),
        "{} missing: run `make fixtures` (datasets/make-fixtures.sh)",
        path.display()
    );
    path
}

/// A deterministic pseudo-random generator: tests need spread, not quality, and the
/// same numbers on every run and machine.
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next 31 bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.next_u32() as f32 / (1u64 << 31) as f32
    }

    /// Below `n` (0 for an `n` of 0).
    pub fn below(&mut self, n: u64) -> u64 {
        u64::from(self.next_u32()) % n.max(1)
    }
}

/// A sine; the phase is computed in f64 because f32 phase error at large sample
/// indices sounds like broadband noise at -50 dB.
pub fn sine(freq: f32, rate: u32, secs: f32, amp: f32) -> Vec<f32> {
    let n = (secs * rate as f32) as usize;
    (0..n)
        .map(|i| {
            let cycles = (f64::from(freq) * i as f64 / f64::from(rate)).fract();
            amp * (2.0 * std::f64::consts::PI * cycles).sin() as f32
        })
        .collect()
}

/// A music-like mono signal: a new chord of three partials every 125-375 ms, with
/// decaying envelopes and a little noise. Seeded: every call with the same seed gives
/// the same audio, and other seeds other music.
pub fn melody(seed: u64, rate: u32, secs: f32) -> Vec<f32> {
    melody_with_noise(seed, rate, secs, 0.002)
}

/// [`melody`] with a chosen noise amplitude.
pub fn melody_with_noise(seed: u64, rate: u32, secs: f32, noise: f32) -> Vec<f32> {
    let mut rng = Lcg(seed);
    let n = (secs * rate as f32) as usize;
    let mut out = vec![0.0f32; n];
    let mut start = 0usize;
    while start < n {
        let len = ((0.125 + 0.25 * rng.unit()) * rate as f32) as usize;
        let base = 200.0 * 2f32.powf(rng.unit() * 4.0);
        let partials = [base, base * 1.5, base * 2.0 + 30.0 * rng.unit()];
        let amps = [0.3, 0.15 + 0.1 * rng.unit(), 0.1 * rng.unit()];
        let end = (start + 2 * len).min(n);
        for (i, sample) in out[start..end].iter_mut().enumerate() {
            let t = i as f32 / rate as f32;
            let env = (-t * 6.0).exp();
            for (f, a) in partials.iter().zip(amps) {
                *sample += a * env * (2.0 * PI * f * t).sin();
            }
        }
        start += len;
    }
    for s in &mut out {
        *s += noise * (rng.unit() - 0.5);
    }
    out
}

/// A 16-bit mono PCM WAV file of `samples` (clamped to [-1, 1]) at `rate`: a
/// 44-byte header, then the samples.
pub fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("a WAV header");
        for s in samples {
            writer
                .write_sample((s.clamp(-1.0, 1.0) * 32_000.0) as i16)
                .expect("in memory");
        }
        writer.finalize().expect("in memory");
    }
    out.into_inner()
}

/// [`wav_bytes`] written to `path`.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    std::fs::write(path, wav_bytes(samples, rate))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_files_have_the_plain_44_byte_header() {
        let bytes = wav_bytes(&[0.0, 1.0, -1.0, 2.0], 8_000);
        assert_eq!(bytes.len(), 44 + 8);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..16], b"WAVEfmt ");
        assert_eq!(&bytes[36..40], b"data");
        assert_eq!(
            u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            8_000
        );
        let samples: Vec<i16> = bytes[44..]
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(samples, [0, 32_000, -32_000, 32_000]);
    }

    #[test]
    fn melodies_differ_by_seed() {
        let (a, b) = (melody(1, 8_000, 1.0), melody(2, 8_000, 1.0));
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        assert!(a.iter().all(|s| s.abs() < 1.0));
    }
}
