//! From a row of linear FFT bins to cells on a log-frequency axis, and a peak's pitch
//! refined between bins.

use crate::config::{AnalysisConfig, PITCH_STEPS_PER_SEMITONE};

/// Where a cell's value comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The maximum of the row's bins `lo..=hi` (cells wider than a bin).
    Max { lo: usize, hi: usize },
    /// Linear interpolation between bin `at` and the next (cells narrower than a bin).
    Between { at: usize, weight: f32 },
}

/// Maps rows of [`Stft`](super::Stft) (bins `min_bin..max_bin`) to the analysis's
/// log-frequency cells.
#[derive(Debug, Clone)]
pub struct LogFrequency {
    sources: Vec<Source>,
    /// Each cell's centre, in row bins.
    centres: Vec<f64>,
    min_bin: f64,
    bin_hz: f64,
    low_hz: f64,
    max_pitch: f64,
}

impl LogFrequency {
    /// The mapping of `analysis` for rows of `row_len` bins.
    pub fn new(analysis: &AnalysisConfig, row_len: usize) -> Self {
        let cps = f64::from(analysis.cells_per_semitone);
        let bin_hz = analysis.bin_hz();
        let min_bin = f64::from(analysis.min_bin);
        let last = row_len.saturating_sub(1);
        let mut sources = Vec::with_capacity(analysis.cells());
        let mut centres = Vec::with_capacity(analysis.cells());
        for cell in 0..analysis.cells() {
            let hz = |semitones: f64| analysis.low_hz * (semitones / 12.0).exp2();
            let position = |semitones: f64| hz(semitones) / bin_hz - min_bin;
            let centre = cell as f64 / cps;
            let (lo, hi) = (position(centre - 0.5 / cps), position(centre + 0.5 / cps));
            let (first, end) = (lo.ceil().max(0.0) as usize, hi.floor().max(0.0) as usize);
            let mid = position(centre).clamp(0.0, last as f64);
            sources.push(if first <= end && end <= last {
                Source::Max { lo: first, hi: end }
            } else {
                let at = (mid.floor() as usize).min(last.saturating_sub(1));
                Source::Between {
                    at,
                    weight: (mid - at as f64) as f32,
                }
            });
            centres.push(mid);
        }
        Self {
            sources,
            centres,
            min_bin,
            bin_hz,
            low_hz: analysis.low_hz,
            max_pitch: f64::from(analysis.pitch_steps() - 1),
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Fills `cells` (one value per cell, dB) from one row.
    pub fn map(&self, row: &[f32], cells: &mut [f32]) {
        for (out, source) in cells.iter_mut().zip(&self.sources) {
            *out = match *source {
                Source::Max { lo, hi } => row[lo..=hi]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max),
                Source::Between { at, weight } => match (row.get(at), row.get(at + 1)) {
                    (Some(&a), Some(&b)) => a + (b - a) * weight,
                    (Some(&a), None) => a,
                    _ => f32::NEG_INFINITY,
                },
            };
        }
    }

    /// The pitch, in pitch steps above `low_hz`, of the spectral peak that makes
    /// `cell` a maximum in `row`: the row's local maximum nearest the cell, refined
    /// by a parabola through it and its two neighbours (a Hann window's main lobe is
    /// close to one in dB).
    pub fn refined_pitch(&self, row: &[f32], cell: usize) -> f64 {
        if row.len() < 3 {
            return 0.0;
        }
        let start = match self.sources.get(cell) {
            Some(&Source::Max { lo, hi }) => (lo..=hi)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(lo),
            _ => self.centres.get(cell).map_or(0, |c| c.round() as usize),
        };
        let mut k = start.clamp(1, row.len() - 2);
        while k + 2 < row.len() && row[k + 1] > row[k] {
            k += 1;
        }
        while k > 1 && row[k - 1] > row[k] {
            k -= 1;
        }
        let (left, mid, right) = (row[k - 1], row[k], row[k + 1]);
        let curvature = left - 2.0 * mid + right;
        let delta = if curvature < 0.0 {
            f64::from((0.5 * (left - right) / curvature).clamp(-0.5, 0.5))
        } else {
            0.0
        };
        let hz = (self.min_bin + k as f64 + delta) * self.bin_hz;
        (12.0 * (hz / self.low_hz).log2() * f64::from(PITCH_STEPS_PER_SEMITONE))
            .clamp(0.0, self.max_pitch)
    }
}
