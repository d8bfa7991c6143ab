//! Short-time Fourier transform to a log-power spectrogram, frame by frame.
//!
//! [`Stft`] owns the FFT plan and a small sample buffer; it emits one row of dB values
//! per hop, so memory does not grow with the stream. The conversion from complex
//! spectrum to dB has two kernels: [`scalar`], the exact reference, and [`fast`], a
//! branch-free approximation of `log10` that the compiler vectorises. [`LogFrequency`]
//! maps the rows onto the log-frequency axis peaks are picked on.

pub mod fast;
mod log_frequency;
pub mod scalar;
mod stft;

pub use log_frequency::LogFrequency;
pub use stft::Stft;
