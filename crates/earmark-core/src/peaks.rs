//! Spectral peaks ("landmarks"): 2-D local maxima of the dB spectrogram, thinned to a
//! fixed density.
//!
//! A cell is a candidate when it is the maximum of the rectangle of
//! `(2 * neighborhood_frames + 1) x (2 * neighborhood_bins + 1)` cells around it and lies
//! above the absolute floor. Candidates are then ranked within a sliding window of about
//! one second and the strongest `peaks_per_window` kept. Ranking instead of a fixed
//! threshold is what adapts density to loudness: a quiet passage keeps as many peaks
//! per second as a loud one, and a loud transient cannot starve its neighbours of
//! peaks beyond its window.
//!
//! The picker streams: it holds `2 * neighborhood_frames + 1` rows and the candidates of
//! one window, whatever the length of the audio.

use std::collections::VecDeque;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::config::AnalysisConfig;

/// One spectral peak: an STFT frame and an FFT bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Peak {
    /// STFT frame index (time).
    pub frame: u32,
    /// FFT bin index (frequency), counted from 0 Hz.
    pub bin: u16,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    frame: u32,
    bin: u16,
    score: f32,
}

impl Candidate {
    /// Total order for ranking: higher score first, ties broken by position so the
    /// result never depends on float equality.
    fn outranks(&self, other: &Candidate) -> bool {
        self.score > other.score
            || (self.score == other.score && (self.frame, self.bin) < (other.frame, other.bin))
    }
}

/// Streaming 2-D peak picker over dB rows from [`Stft`](crate::spectrogram::Stft).
pub struct PeakPicker {
    neighborhood_frames: usize,
    neighborhood_bins: usize,
    keep: usize,
    half_window: u32,
    floor_db: f32,
    min_bin: u16,
    /// The last `2 * neighborhood_frames + 1` rows, indexed by frame modulo the height.
    rows: Array2<f32>,
    /// The same rows dilated (running maximum) along frequency.
    dilated: Array2<f32>,
    /// Rows received so far.
    frames: u64,
    /// Next frame whose candidates are still to be found.
    next_detect: u64,
    /// Next frame whose candidates are still to be ranked.
    next_decide: u64,
    candidates: VecDeque<Candidate>,
    peaks: Vec<Peak>,
    prefix: Vec<f32>,
    suffix: Vec<f32>,
}

impl PeakPicker {
    /// A picker for rows of `row_len` bins starting at `analysis.min_bin`.
    pub fn new(analysis: &AnalysisConfig, row_len: usize) -> Self {
        let height = 2 * analysis.neighborhood_frames + 1;
        Self {
            neighborhood_frames: analysis.neighborhood_frames,
            neighborhood_bins: analysis.neighborhood_bins,
            keep: analysis.peaks_per_window,
            half_window: (analysis.density_window_frames / 2) as u32,
            floor_db: analysis.floor_db,
            min_bin: analysis.min_bin,
            rows: Array2::from_elem((height, row_len), f32::NEG_INFINITY),
            dilated: Array2::from_elem((height, row_len), f32::NEG_INFINITY),
            frames: 0,
            next_detect: 0,
            next_decide: 0,
            candidates: VecDeque::new(),
            peaks: Vec::new(),
            prefix: Vec::new(),
            suffix: Vec::new(),
        }
    }

    /// Adds the next row of the spectrogram.
    pub fn push_row(&mut self, row: &[f32]) {
        let height = self.rows.nrows() as u64;
        let slot = (self.frames % height) as usize;
        let width = self.rows.ncols().min(row.len());
        let mut stored = self.rows.row_mut(slot);
        for (dst, src) in stored.iter_mut().zip(&row[..width]) {
            *dst = *src;
        }
        let mut dilated = self.dilated.row_mut(slot);
        if let (Some(src), Some(dst)) = (self.rows.row(slot).as_slice(), dilated.as_slice_mut()) {
            dilate(
                src,
                self.neighborhood_bins,
                dst,
                &mut self.prefix,
                &mut self.suffix,
            );
        }
        self.frames += 1;
        let lookahead = self.neighborhood_frames as u64;
        while self.next_detect + lookahead < self.frames {
            self.detect(self.next_detect);
            self.next_detect += 1;
        }
        self.decide_ready();
    }

    /// Flushes the last frames and returns every peak, sorted by frame then bin.
    pub fn finish(mut self) -> Vec<Peak> {
        while self.next_detect < self.frames {
            self.detect(self.next_detect);
            self.next_detect += 1;
        }
        let end = self.next_detect;
        while self.next_decide < end {
            self.decide(self.next_decide);
            self.next_decide += 1;
        }
        self.peaks.sort_unstable();
        self.peaks
    }

    /// Finds the candidates of frame `t`; needs rows `t - nf ..= t + nf` that exist.
    fn detect(&mut self, t: u64) {
        let height = self.rows.nrows() as u64;
        let nf = self.neighborhood_frames as u64;
        let first = t.saturating_sub(nf);
        let last = (t + nf).min(self.frames - 1);
        let slot = (t % height) as usize;
        let row = self.rows.row(slot);
        let own = self.dilated.row(slot);
        for (bin, (&value, &max_here)) in row.iter().zip(own.iter()).enumerate() {
            if value < self.floor_db || value < max_here {
                continue;
            }
            // Ties: strictly above the lower bins of the neighbourhood, so a plateau
            // yields one candidate.
            let lower = bin.saturating_sub(self.neighborhood_bins);
            if row
                .iter()
                .skip(lower)
                .take(bin - lower)
                .any(|&v| v >= value)
            {
                continue;
            }
            // Strictly above earlier frames, at least equal to later ones: a plateau in
            // time yields one peak, not one per frame.
            let is_peak = (first..=last).filter(|&u| u != t).all(|u| {
                let other = self.dilated[[(u % height) as usize, bin]];
                if u < t { value > other } else { value >= other }
            });
            if is_peak {
                self.candidates.push_back(Candidate {
                    frame: t as u32,
                    bin: self.min_bin + bin as u16,
                    score: value,
                });
            }
        }
    }

    fn decide_ready(&mut self) {
        // Frame d can be ranked once candidates through d + half_window are known.
        let half = u64::from(self.half_window);
        while self.next_decide + half < self.next_detect {
            self.decide(self.next_decide);
            self.next_decide += 1;
        }
    }

    /// Keeps the candidates of frame `d` that rank among the strongest of their window.
    fn decide(&mut self, d: u64) {
        let half = u64::from(self.half_window);
        let low = d.saturating_sub(half);
        while self
            .candidates
            .front()
            .is_some_and(|c| u64::from(c.frame) < low)
        {
            self.candidates.pop_front();
        }
        let high = d + half;
        for c in self.candidates.iter().filter(|c| u64::from(c.frame) == d) {
            let stronger = self
                .candidates
                .iter()
                .take_while(|o| u64::from(o.frame) <= high)
                .filter(|o| o.outranks(c))
                .count();
            if stronger < self.keep {
                self.peaks.push(Peak {
                    frame: c.frame,
                    bin: c.bin,
                });
            }
        }
    }
}

/// Running maximum over `[i - radius, i + radius]` (van Herk / Gil-Werman: three
/// passes whatever the radius).
pub fn dilate(
    src: &[f32],
    radius: usize,
    dst: &mut [f32],
    prefix: &mut Vec<f32>,
    suffix: &mut Vec<f32>,
) {
    let n = src.len();
    let w = 2 * radius + 1;
    prefix.clear();
    suffix.clear();
    prefix.resize(n, f32::NEG_INFINITY);
    suffix.resize(n, f32::NEG_INFINITY);
    for i in 0..n {
        prefix[i] = if i % w == 0 {
            src[i]
        } else {
            prefix[i - 1].max(src[i])
        };
    }
    for i in (0..n).rev() {
        suffix[i] = if i % w == w - 1 || i == n - 1 {
            src[i]
        } else {
            suffix[i + 1].max(src[i])
        };
    }
    for (i, out) in dst.iter_mut().enumerate().take(n) {
        let lo = i.saturating_sub(radius);
        let hi = (i + radius).min(n - 1);
        // [lo, hi] spans at most two blocks: the suffix of lo's block and the prefix of
        // hi's block; when both lie in one block either one alone is exact.
        *out = if lo / w == hi / w {
            let mut m = f32::NEG_INFINITY;
            for v in &src[lo..=hi] {
                m = m.max(*v);
            }
            m
        } else {
            suffix[lo].max(prefix[hi])
        };
    }
}

/// The naive reference for [`dilate`].
pub fn dilate_reference(src: &[f32], radius: usize) -> Vec<f32> {
    (0..src.len())
        .map(|i| {
            let lo = i.saturating_sub(radius);
            let hi = (i + radius).min(src.len() - 1);
            src[lo..=hi]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilate_matches_reference() {
        let mut state = 11u32;
        for n in [1usize, 2, 20, 21, 22, 100, 464] {
            for radius in [0usize, 1, 3, 10] {
                let src: Vec<f32> = (0..n)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (state >> 8) as f32
                    })
                    .collect();
                let mut dst = vec![0.0; n];
                dilate(&src, radius, &mut dst, &mut Vec::new(), &mut Vec::new());
                assert_eq!(dst, dilate_reference(&src, radius), "n {n} radius {radius}");
            }
        }
    }

    fn pick(rows: &[Vec<f32>], cfg: &AnalysisConfig) -> Vec<Peak> {
        let mut picker = PeakPicker::new(cfg, rows[0].len());
        for r in rows {
            picker.push_row(r);
        }
        picker.finish()
    }

    #[test]
    fn isolated_maxima_are_found() {
        let cfg = AnalysisConfig::V1;
        let width = 100;
        let mut rows = vec![vec![-100.0f32; width]; 50];
        rows[10][20] = -10.0;
        rows[30][70] = -20.0;
        let peaks = pick(&rows, &cfg);
        assert_eq!(
            peaks,
            vec![
                Peak {
                    frame: 10,
                    bin: cfg.min_bin + 20
                },
                Peak {
                    frame: 30,
                    bin: cfg.min_bin + 70
                },
            ]
        );
    }

    #[test]
    fn below_the_floor_nothing_is_a_peak() {
        let cfg = AnalysisConfig::V1;
        let mut rows = vec![vec![-120.0f32; 50]; 40];
        rows[5][5] = -100.0;
        assert!(pick(&rows, &cfg).is_empty());
    }

    #[test]
    fn density_is_capped_per_window() {
        let cfg = AnalysisConfig::V1;
        // A candidate in every other frame and every 25th bin: far more than the cap.
        let width = 400;
        let mut rows = vec![vec![-60.0f32; width]; 200];
        let mut state = 3u32;
        for (t, row) in rows.iter_mut().enumerate() {
            for b in (0..width).step_by(25) {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if t % 10 == 0 {
                    row[b] = -30.0 + (state >> 28) as f32;
                }
            }
        }
        let peaks = pick(&rows, &cfg);
        let window = cfg.density_window_frames as u32;
        for p in &peaks {
            let lo = p.frame.saturating_sub(window / 2);
            let hi = p.frame + window / 2;
            let around = peaks
                .iter()
                .filter(|q| q.frame >= lo && q.frame <= hi)
                .count();
            // Each kept peak ranked among the top `keep` of its own window; neighbours of
            // different windows may add up to at most twice that.
            assert!(
                around <= 2 * cfg.peaks_per_window,
                "{around} around frame {}",
                p.frame
            );
        }
        assert!(!peaks.is_empty());
    }
}
