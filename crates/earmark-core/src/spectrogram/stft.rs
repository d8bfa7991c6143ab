use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::config::{AnalysisConfig, Kernel};

/// Streaming STFT: push samples at the analysis rate, receive one dB row per hop.
///
/// Frame `t` covers samples `[t * hop, t * hop + fft_size)`; rows hold the bins
/// `min_bin..max_bin` of the configuration, in dB relative to a full-scale sine.
pub struct Stft {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    pending: Vec<f32>,
    /// Index in `pending` where the next frame starts.
    start: usize,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    row: Vec<f32>,
    scale: f32,
    hop: usize,
    min_bin: usize,
    max_bin: usize,
    kernel: Kernel,
    frames: u64,
}

impl Stft {
    /// Plans the FFT for `analysis`.
    pub fn new(analysis: &AnalysisConfig, kernel: Kernel) -> Self {
        let n = analysis.fft_size;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        // Periodic Hann window: overlap-adds to a constant at hop n/4.
        let window = (0..n)
            .map(|i| {
                let phase = 2.0 * std::f32::consts::PI * i as f32 / n as f32;
                0.5 - 0.5 * phase.cos()
            })
            .collect();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        let max_bin = usize::from(analysis.max_bin).min(n / 2 + 1);
        let min_bin = usize::from(analysis.min_bin).min(max_bin);
        // A full-scale sine under a Hann window peaks at |X| = n/4: make that 0 dB.
        let full_scale = (n as f32 / 4.0).powi(2);
        Self {
            fft,
            window,
            pending: Vec::with_capacity(4 * n),
            start: 0,
            frame: vec![0.0; n],
            spectrum,
            scratch,
            row: vec![0.0; max_bin - min_bin],
            scale: 1.0 / full_scale,
            hop: analysis.hop,
            min_bin,
            max_bin,
            kernel,
            frames: 0,
        }
    }

    /// Number of bins in each row.
    pub fn row_len(&self) -> usize {
        self.row.len()
    }

    /// Frames emitted so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds samples; calls `on_row` for every frame that became complete.
    pub fn push(&mut self, samples: &[f32], on_row: &mut impl FnMut(&[f32])) {
        self.pending.extend_from_slice(samples);
        let n = self.window.len();
        while self.pending.len() - self.start >= n {
            self.emit(on_row);
            self.start += self.hop;
        }
        // Compact once the consumed prefix dominates, keeping the copy amortised O(1).
        if self.start > n {
            self.pending.drain(..self.start);
            self.start = 0;
        }
    }

    /// Pads the tail with silence so every pushed sample lands in some frame.
    pub fn finish(&mut self, on_row: &mut impl FnMut(&[f32])) {
        let n = self.window.len();
        // After `push` fewer than `n` samples remain; the last frame covered all but the
        // final `remaining - (n - hop)` of them, so one zero-padded frame covers the rest.
        let remaining = self.pending.len() - self.start;
        let uncovered = if self.frames == 0 {
            remaining > 0
        } else {
            remaining > n - self.hop
        };
        if uncovered {
            let zeros = vec![0.0; n - remaining];
            self.push(&zeros, on_row);
        }
    }

    fn emit(&mut self, on_row: &mut impl FnMut(&[f32])) {
        let n = self.window.len();
        let src = &self.pending[self.start..self.start + n];
        for ((f, s), w) in self.frame.iter_mut().zip(src).zip(&self.window) {
            *f = s * w;
        }
        // The buffers come from the plan itself, so the lengths always agree.
        if self
            .fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            return;
        }
        let band = &self.spectrum[self.min_bin..self.max_bin];
        match self.kernel {
            Kernel::Fast => super::fast::power_db(band, self.scale, &mut self.row),
            Kernel::Scalar => super::scalar::power_db(band, self.scale, &mut self.row),
        }
        self.frames += 1;
        on_row(&self.row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(samples: &[f32], cfg: &AnalysisConfig) -> Vec<Vec<f32>> {
        let mut stft = Stft::new(cfg, Kernel::Scalar);
        let mut rows = Vec::new();
        for chunk in samples.chunks(777) {
            stft.push(chunk, &mut |r| rows.push(r.to_vec()));
        }
        stft.finish(&mut |r| rows.push(r.to_vec()));
        rows
    }

    #[test]
    fn full_scale_sine_is_zero_db_at_its_bin() {
        let cfg = AnalysisConfig::V2;
        let bin = 128; // 1 kHz at 8 kHz / 1024
        let samples: Vec<f32> = (0..8000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin())
            .collect();
        let rows = rows_of(&samples, &cfg);
        let row = &rows[10];
        let col = bin - usize::from(cfg.min_bin);
        let (argmax, max) = row
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        assert_eq!(argmax, col);
        assert!(max.abs() < 0.1, "peak level {max} dB");
    }

    #[test]
    fn frame_count_covers_the_input() {
        let cfg = AnalysisConfig::V2;
        for len in [1usize, 500, 1024, 1025, 8000, 8001] {
            let rows = rows_of(&vec![0.5; len], &cfg);
            let covered = (rows.len() - 1) * cfg.hop + cfg.fft_size;
            assert!(covered >= len, "len {len}: {} rows", rows.len());
            assert!(!rows.is_empty());
        }
    }

    #[test]
    fn chunking_does_not_change_the_rows() {
        let cfg = AnalysisConfig::V2;
        let samples: Vec<f32> = (0..20_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let whole = {
            let mut stft = Stft::new(&cfg, Kernel::Scalar);
            let mut rows = Vec::new();
            stft.push(&samples, &mut |r| rows.push(r.to_vec()));
            stft.finish(&mut |r| rows.push(r.to_vec()));
            rows
        };
        assert_eq!(whole, rows_of(&samples, &cfg));
    }
}
