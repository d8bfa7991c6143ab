//! Spectral peaks ("landmarks"): 2-D local maxima of the dB spectrogram on a
//! log-frequency axis, thinned to a fixed density.
//!
//! Each row of the STFT is mapped onto cells of a log-frequency axis
//! ([`LogFrequency`]). A cell is a candidate when it is the maximum of the
//! rectangle of `(2 * neighborhood_frames + 1) x (2 * neighborhood_cells + 1)` cells
//! around it and lies above the absolute floor. Candidates are then ranked within a
//! sliding window of about one second against the others of their band (an octave),
//! and each band keeps its share of `peaks_per_window`. Ranking instead of a fixed
//! threshold is what adapts density to loudness; ranking per band keeps noise that
//! is loud in one register (pink noise in the low octaves) from taking the quota of
//! the music in the others.
//!
//! A kept peak's time is refined between frames (a parabola through its cell in the
//! frames either side) and its pitch between bins (a parabola through the linear
//! spectrum's local maximum), so that intervals and time ratios between peaks are
//! measured finer than the grid: they are what the hashes keep.
//!
//! The picker streams: it holds `2 * neighborhood_frames + 1` rows and the candidates
//! of one window, whatever the length of the audio.

use std::collections::VecDeque;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::config::{AnalysisConfig, PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};
use crate::spectrogram::LogFrequency;

/// One spectral peak: a time and a pitch, both finer than the analysis grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Peak {
    /// Time from the start of the audio, in ticks of 1/[`TICKS_PER_FRAME`] frame.
    pub tick: u32,
    /// Pitch above the analysis's `low_hz`, in steps of
    /// 1/[`PITCH_STEPS_PER_SEMITONE`](crate::config::PITCH_STEPS_PER_SEMITONE) semitone.
    pub pitch: u16,
    /// How many of the peaks around it are stronger, in steps of a quarter of
    /// [`anchor_share`](AnalysisConfig::anchor_share) of them: 0 for the strongest,
    /// at most [`MAX_RANK`]. Peaks of rank below [`STRONG_RANKS`] are
    /// [`strong`](Self::strong).
    pub rank: u8,
}

/// Ranks of [`strong`](Peak::strong) peaks: those below it.
pub const STRONG_RANKS: u8 = 4;
/// The largest [`Peak::rank`]; the wire form keeps a rank in four bits.
pub const MAX_RANK: u8 = 15;

impl Peak {
    /// The frame the peak lies in.
    pub fn frame(&self) -> u32 {
        self.tick / TICKS_PER_FRAME
    }

    /// The peak's time in frames, fractions included.
    pub fn frames(&self) -> f64 {
        f64::from(self.tick) / f64::from(TICKS_PER_FRAME)
    }

    /// The peak's pitch in semitones above the analysis band's low edge.
    pub fn semitones(&self) -> f64 {
        f64::from(self.pitch) / f64::from(PITCH_STEPS_PER_SEMITONE)
    }

    /// Among the strongest peaks around it
    /// ([`anchor_share`](AnalysisConfig::anchor_share)): only such peaks anchor
    /// groups. Noise rarely makes the strongest peaks, so anchoring on them keeps most
    /// true groups at a fraction of the lookups.
    pub fn strong(&self) -> bool {
        self.rank < STRONG_RANKS
    }
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    frame: u32,
    band: u16,
    peak: Peak,
    score: f32,
}

impl Candidate {
    /// Total order for ranking: higher score first, ties broken by position so the
    /// result never depends on float equality.
    fn outranks(&self, other: &Candidate) -> bool {
        self.score > other.score || (self.score == other.score && self.peak < other.peak)
    }
}

/// Streaming 2-D peak picker over dB rows from [`Stft`](crate::spectrogram::Stft).
pub struct PeakPicker {
    neighborhood_frames: usize,
    neighborhood_cells: usize,
    /// Peaks each band keeps per window.
    keep_per_band: usize,
    cells_per_band: usize,
    half_window: u32,
    floor_db: f32,
    log: LogFrequency,
    /// The last `2 * neighborhood_frames + 1` log-frequency rows, indexed by frame
    /// modulo the height.
    rows: Array2<f32>,
    /// The same rows dilated (running maximum) along frequency.
    dilated: Array2<f32>,
    /// The linear rows they came from, for refining pitches.
    linear: Array2<f32>,
    /// Rows received so far.
    frames: u64,
    /// Next frame whose candidates are still to be found.
    next_detect: u64,
    /// Next frame whose candidates are still to be ranked.
    next_decide: u64,
    candidates: VecDeque<Candidate>,
    /// Kept peaks with their scores, for [`rank_peaks`].
    peaks: Vec<(Peak, f32)>,
    anchor_share: f64,
    cells: Vec<f32>,
    prefix: Vec<f32>,
    suffix: Vec<f32>,
}

impl PeakPicker {
    /// A picker for STFT rows of `row_len` bins starting at `analysis.min_bin`.
    pub fn new(analysis: &AnalysisConfig, row_len: usize) -> Self {
        let height = 2 * analysis.neighborhood_frames + 1;
        let log = LogFrequency::new(analysis, row_len);
        let cells = log.len();
        let cells_per_band =
            (analysis.rank_band_semitones * analysis.cells_per_semitone).max(1) as usize;
        let bands = cells.div_ceil(cells_per_band).max(1);
        Self {
            neighborhood_frames: analysis.neighborhood_frames,
            neighborhood_cells: analysis.neighborhood_cells,
            keep_per_band: analysis.peaks_per_window.div_ceil(bands),
            cells_per_band,
            half_window: (analysis.density_window_frames / 2) as u32,
            floor_db: analysis.floor_db,
            rows: Array2::from_elem((height, cells), f32::NEG_INFINITY),
            dilated: Array2::from_elem((height, cells), f32::NEG_INFINITY),
            linear: Array2::from_elem((height, row_len), f32::NEG_INFINITY),
            log,
            frames: 0,
            next_detect: 0,
            next_decide: 0,
            candidates: VecDeque::new(),
            peaks: Vec::new(),
            anchor_share: analysis.anchor_share,
            cells: vec![f32::NEG_INFINITY; cells],
            prefix: Vec::new(),
            suffix: Vec::new(),
        }
    }

    /// Adds the next row of the spectrogram.
    pub fn push_row(&mut self, row: &[f32]) {
        let height = self.rows.nrows() as u64;
        let slot = (self.frames % height) as usize;
        let width = self.linear.ncols().min(row.len());
        let mut linear = self.linear.row_mut(slot);
        linear.fill(f32::NEG_INFINITY);
        for (dst, src) in linear.iter_mut().zip(&row[..width]) {
            *dst = *src;
        }
        self.log.map(&row[..width], &mut self.cells);
        let mut stored = self.rows.row_mut(slot);
        for (dst, src) in stored.iter_mut().zip(&self.cells) {
            *dst = *src;
        }
        let mut dilated = self.dilated.row_mut(slot);
        if let Some(dst) = dilated.as_slice_mut() {
            dilate(
                &self.cells,
                self.neighborhood_cells,
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

    /// Flushes the last frames and returns every peak, sorted by tick then pitch.
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
        let half = self.half_window;
        let mut peaks = rank_peaks(self.peaks, half, self.anchor_share);
        peaks.sort_unstable();
        // Two cells may refine onto the same spectral peak.
        peaks.dedup_by(|a, b| (a.tick, a.pitch) == (b.tick, b.pitch));
        peaks
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
        for (cell, (&value, &max_here)) in row.iter().zip(own.iter()).enumerate() {
            if value < self.floor_db || value < max_here {
                continue;
            }
            // Ties: strictly above the lower cells of the neighbourhood, so a plateau
            // yields one candidate.
            let lower = cell.saturating_sub(self.neighborhood_cells);
            if row
                .iter()
                .skip(lower)
                .take(cell - lower)
                .any(|&v| v >= value)
            {
                continue;
            }
            // Strictly above earlier frames, at least equal to later ones: a plateau in
            // time yields one peak, not one per frame.
            let is_peak = (first..=last).filter(|&u| u != t).all(|u| {
                let other = self.dilated[[(u % height) as usize, cell]];
                if u < t { value > other } else { value >= other }
            });
            if !is_peak {
                continue;
            }
            let at = |u: u64| self.rows[[(u % height) as usize, cell]];
            let shift = if t > 0 && t + 1 < self.frames {
                parabola_vertex(at(t - 1), value, at(t + 1))
            } else {
                0.0
            };
            let tick = ((t as f64 + shift) * f64::from(TICKS_PER_FRAME))
                .round()
                .clamp(0.0, f64::from(u32::MAX)) as u32;
            let linear = self.linear.row(slot);
            let pitch = linear
                .as_slice()
                .map_or(0.0, |l| self.log.refined_pitch(l, cell));
            self.candidates.push_back(Candidate {
                frame: t as u32,
                band: (cell / self.cells_per_band) as u16,
                peak: Peak {
                    tick,
                    pitch: pitch.round() as u16,
                    rank: MAX_RANK,
                },
                score: value,
            });
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

    /// Keeps the candidates of frame `d` that rank among the strongest of their band
    /// in their window.
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
                .filter(|o| o.band == c.band && o.outranks(c))
                .count();
            if stronger < self.keep_per_band {
                self.peaks.push((c.peak, c.score));
            }
        }
    }
}

/// The peaks, each ranked by how many of the peaks within `half_window` frames of
/// it are stronger, in steps of a quarter of `share` of them: strong when fewer
/// than `share` are.
fn rank_peaks(mut scored: Vec<(Peak, f32)>, half_window: u32, share: f64) -> Vec<Peak> {
    scored.sort_unstable_by_key(|(p, _)| (p.tick, p.pitch));
    let reach = half_window * TICKS_PER_FRAME;
    let (mut lo, mut hi) = (0, 0);
    let mut out = Vec::with_capacity(scored.len());
    for i in 0..scored.len() {
        let (peak, score) = scored[i];
        while scored[lo].0.tick + reach < peak.tick {
            lo += 1;
        }
        while hi < scored.len() && scored[hi].0.tick <= peak.tick + reach {
            hi += 1;
        }
        let stronger = scored[lo..hi].iter().filter(|(_, s)| *s > score).count();
        out.push(Peak {
            rank: (stronger as f64 * f64::from(STRONG_RANKS) / (share * (hi - lo) as f64))
                .floor()
                .min(f64::from(MAX_RANK)) as u8,
            ..peak
        });
    }
    out
}

/// Where the parabola through `(-1, left)`, `(0, mid)`, `(1, right)` peaks, within
/// half a step of the middle; 0 when it does not curve down.
fn parabola_vertex(left: f32, mid: f32, right: f32) -> f64 {
    let curvature = left - 2.0 * mid + right;
    if curvature < 0.0 && curvature.is_finite() {
        f64::from((0.5 * (left - right) / curvature).clamp(-0.5, 0.5))
    } else {
        0.0
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
    fn ranks_follow_strength_and_mark_the_anchor_share_strong() {
        // 100 peaks within one window, scores rising with the pitch.
        let scored: Vec<(Peak, f32)> = (0..100u16)
            .map(|i| {
                let peak = Peak {
                    tick: u32::from(i % 7) * TICKS_PER_FRAME,
                    pitch: i * 20,
                    rank: MAX_RANK,
                };
                (peak, f32::from(i))
            })
            .collect();
        let ranked = rank_peaks(scored, 10, 0.34);
        let rank_of = |pitch: u16| ranked.iter().find(|p| p.pitch == pitch).map(|p| p.rank);
        // 99 stronger than the weakest: 99 / 34 quarter shares.
        assert_eq!(rank_of(0), Some(11));
        assert_eq!(rank_of(99 * 20), Some(0));
        for w in (0..100u16).collect::<Vec<_>>().windows(2) {
            assert!(rank_of(w[0] * 20) >= rank_of(w[1] * 20), "{w:?}");
        }
        assert_eq!(ranked.iter().filter(|p| p.strong()).count(), 34);
    }

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
}
