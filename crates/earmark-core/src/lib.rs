//! Earmark's fingerprint core: any audio in, a compact landmark fingerprint out.
//!
//! The data flows through one module per stage:
//! [`decode`] (symphonia: MP3, Vorbis, FLAC, WAV, AAC/M4A, ALAC; libopus for Opus) ->
//! [`resample`] (mono, 8 kHz, anti-aliased) -> [`spectrogram`] (STFT, dB) ->
//! [`peaks`] (2-D local maxima at a loudness-independent density) -> [`Fingerprint`]
//! (peaks plus the analysis id, with a compact binary and a JSON [`wire`] form) ->
//! [`hash`] (landmark hashes for an index, derived from the peaks under a versioned
//! [`HashConfig`]).
//!
//! Every stage streams, so a two-hour mix never sits in memory as PCM. The crate knows
//! nothing of storage, networks or async runtimes: an index, a service and a
//! file-sharing client all call the same [`Fingerprinter`].
//!
//! ```
//! use earmark_core::{Fingerprint, Fingerprinter, HashConfig};
//!
//! // Five seconds of a two-note melody at 22.05 kHz, mono.
//! let rate = 22_050;
//! let samples: Vec<f32> = (0..5 * rate)
//!     .map(|i| {
//!         let t = i as f32 / rate as f32;
//!         let f = if (t * 4.0) as u32 % 2 == 0 { 440.0 } else { 660.0 };
//!         0.5 * (2.0 * std::f32::consts::PI * f * t).sin()
//!     })
//!     .collect();
//!
//! let fingerprinter = Fingerprinter::default();
//! let fp = fingerprinter.fingerprint_samples(&samples, rate as u32, 1)?;
//! assert!(!fp.is_empty());
//!
//! // What a client sends instead of the audio: a few bytes per second.
//! let bytes = fp.to_bytes();
//! assert_eq!(Fingerprint::from_bytes(&bytes)?, fp);
//!
//! // What an index stores: hashes with the frame of their anchor peak.
//! let landmarks = fp.catalog_landmarks(&HashConfig::default());
//! assert!(!landmarks.is_empty());
//! # Ok::<(), earmark_core::Error>(())
//! ```
//!
//! A codec without a decoder (AC-3, say) is reported as [`Error::Unsupported`] with its
//! name.

pub mod config;
mod content;
pub mod decode;
mod error;
mod fingerprint;
mod fingerprinter;
pub mod hash;
pub mod peaks;
pub mod resample;
pub mod spectrogram;
#[cfg(any(test, feature = "synthetic"))]
pub mod synthetic;
pub mod varint;
pub mod wire;

pub use config::{AnalysisConfig, FingerprintConfig, HashConfig, Kernel};
pub use decode::{DecodeReport, Source};
pub use error::{Error, Result};
pub use fingerprint::Fingerprint;
pub use fingerprinter::{Decoded, Fingerprinter, StreamFingerprinter};
pub use hash::{Aux, Landmark, QueryGroup, QueryProbes};
pub use peaks::{MAX_RANK, Peak, STRONG_RANKS};
