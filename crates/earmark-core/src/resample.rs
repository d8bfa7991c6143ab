//! Downmix to mono and resample to the analysis rate, chunk by chunk.
//!
//! Resampling uses rubato's synchronous FFT resampler, which band-limits before
//! decimating (no aliasing of the 4-22 kHz content into the analysis band) and costs
//! far less than sinc interpolation for a fixed ratio.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::error::{Error, Result};

/// Input frames per resampler call: large enough to amortise the FFT, small enough to
/// keep memory bounded whatever the stream's length.
const CHUNK_FRAMES: usize = 4096;

/// Averages interleaved channels into `out` (cleared first).
pub fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    out.clear();
    match channels {
        0 => {}
        1 => out.extend_from_slice(interleaved),
        2 => out.extend(interleaved.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1]))),
        n => {
            let scale = 1.0 / n as f32;
            out.extend(
                interleaved
                    .chunks_exact(n)
                    .map(|f| f.iter().sum::<f32>() * scale),
            );
        }
    }
}

/// Converts a mono stream from one fixed rate to another.
pub struct MonoResampler {
    inner: Option<Fft<f32>>,
    /// Input frames per call, fixed by the resampler.
    chunk: usize,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output samples still to drop: the filter's delay, so that output time zero is
    /// input time zero and offsets agree across input rates.
    skip: usize,
    input_total: u64,
    produced_out: u64,
    ratio: f64,
}

impl MonoResampler {
    /// A resampler from `input_hz` to `output_hz`; a pass-through when they are equal.
    ///
    /// # Errors
    /// [`Error::InvalidParameters`] for a rate of zero or one the resampler refuses.
    pub fn new(input_hz: u32, output_hz: u32) -> Result<Self> {
        if input_hz == 0 || output_hz == 0 {
            return Err(Error::InvalidParameters {
                reason: format!("sample rate must be positive (got {input_hz} Hz)"),
            });
        }
        let inner = if input_hz == output_hz {
            None
        } else {
            let fft = Fft::<f32>::new(
                input_hz as usize,
                output_hz as usize,
                CHUNK_FRAMES,
                1,
                FixedSync::Input,
            )
            .map_err(|e| Error::InvalidParameters {
                reason: format!("cannot resample {input_hz} Hz to {output_hz} Hz: {e}"),
            })?;
            Some(fft)
        };
        let (chunk, skip, out_len) = inner.as_ref().map_or((0, 0, 0), |r| {
            (
                r.input_frames_next(),
                r.output_delay(),
                r.output_frames_max(),
            )
        });
        Ok(Self {
            inner,
            chunk,
            pending: Vec::with_capacity(chunk),
            out: vec![0.0; out_len],
            skip,
            input_total: 0,
            produced_out: 0,
            ratio: f64::from(output_hz) / f64::from(input_hz),
        })
    }

    /// Feeds mono input; calls `sink` with each run of output samples.
    pub fn push(&mut self, input: &[f32], sink: &mut impl FnMut(&[f32])) {
        if self.inner.is_none() {
            sink(input);
            return;
        }
        self.input_total += input.len() as u64;
        let mut rest = input;
        while !rest.is_empty() {
            let take = (self.chunk - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.chunk {
                self.run_chunk(None, sink);
                self.pending.clear();
            }
        }
    }

    /// Drains the filter's tail; call once after the last [`push`](Self::push).
    pub fn finish(&mut self, sink: &mut impl FnMut(&[f32])) {
        if self.inner.is_none() {
            return;
        }
        // Feed silence until the output covers the whole input (delay included); the
        // delay is below a few chunks, the bound only guards against a resampler bug.
        let expected = self.expected_out();
        let mut rounds = 0;
        while self.produced_out < expected && rounds < 64 {
            let partial = self.pending.len();
            self.pending.resize(self.chunk, 0.0);
            self.run_chunk(Some(partial), sink);
            self.pending.clear();
            rounds += 1;
        }
    }

    fn expected_out(&self) -> u64 {
        (self.input_total as f64 * self.ratio).floor() as u64
    }

    fn run_chunk(&mut self, partial_len: Option<usize>, sink: &mut impl FnMut(&[f32])) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len,
            active_channels_mask: None,
        };
        let out_len = self.out.len();
        let (Ok(input), Ok(mut output)) = (
            InterleavedSlice::new(&self.pending[..], 1, self.chunk),
            InterleavedSlice::new_mut(&mut self.out[..], 1, out_len),
        ) else {
            return;
        };
        // The buffers are sized from the resampler's own figures, so this cannot fail;
        // if it ever did, dropping the chunk is safer than panicking on input.
        let Ok((_, written)) = inner.process_into_buffer(&input, &mut output, Some(&indexing))
        else {
            return;
        };
        let produced = &self.out[..written];
        let skipped = self.skip.min(produced.len());
        self.skip -= skipped;
        let produced = &produced[skipped..];
        let room = self.expected_out().saturating_sub(self.produced_out) as usize;
        let produced = &produced[..produced.len().min(room)];
        self.produced_out += produced.len() as u64;
        if !produced.is_empty() {
            sink(produced);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample_all(input: &[f32], from: u32, to: u32) -> Vec<f32> {
        let mut r = MonoResampler::new(from, to).expect("valid rates");
        let mut out = Vec::new();
        for chunk in input.chunks(1000) {
            r.push(chunk, &mut |s| out.extend_from_slice(s));
        }
        r.finish(&mut |s| out.extend_from_slice(s));
        out
    }

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
        downmix_into(&[3.0, 0.0, 0.0], 3, &mut out);
        assert_eq!(out, vec![1.0]);
    }

    #[test]
    fn output_length_follows_the_ratio() {
        let input = vec![0.1f32; 44_100 * 2];
        let out = resample_all(&input, 44_100, 8_000);
        assert_eq!(out.len(), 16_000);
    }

    #[test]
    fn a_tone_keeps_its_phase_after_resampling() {
        // 1 kHz at 44.1 kHz resampled to 8 kHz must line up with 1 kHz generated at 8 kHz:
        // the filter delay is removed, so times agree across input rates.
        let tone = |rate: f32, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate).sin())
                .collect()
        };
        let out = resample_all(&tone(44_100.0, 44_100), 44_100, 8_000);
        let reference = tone(8_000.0, 8_000);
        let mid = 2_000..6_000;
        let err: f32 = mid
            .clone()
            .map(|i| (out[i] - reference[i]).abs())
            .fold(0.0, f32::max);
        // One sample of misalignment would show as an error near 0.7; what remains is
        // the filter's sub-sample group delay and ripple.
        assert!(err < 0.15, "max error {err}");
    }

    #[test]
    fn content_above_the_new_nyquist_is_removed() {
        // 6 kHz cannot exist at 8 kHz; a proper resampler removes it instead of folding it to 2 kHz.
        let n = 44_100;
        let input: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 6000.0 * i as f32 / 44_100.0).sin())
            .collect();
        let out = resample_all(&input, 44_100, 8_000);
        let rms = (out[1000..7000].iter().map(|x| x * x).sum::<f32>() / 6000.0).sqrt();
        assert!(rms < 0.01, "aliased energy rms {rms}");
    }

    #[test]
    fn equal_rates_pass_through() {
        let input: Vec<f32> = (0..5000).map(|i| i as f32).collect();
        assert_eq!(resample_all(&input, 8_000, 8_000), input);
    }

    #[test]
    fn zero_rate_is_an_error() {
        assert!(matches!(
            MonoResampler::new(0, 8_000),
            Err(Error::InvalidParameters { .. })
        ));
    }
}
