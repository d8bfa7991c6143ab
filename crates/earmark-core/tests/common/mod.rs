//! What the core's integration tests share: measures of how many peaks and landmarks
//! survive, and a peak's position in the units of the signals that made it.
#![allow(dead_code)]

use earmark_core::{AnalysisConfig, Peak};

/// Fraction of `needles` present in `haystack` (both sorted or not).
pub fn overlap<T: Ord + Clone>(needles: &[T], haystack: &[T]) -> f64 {
    if needles.is_empty() {
        return 0.0;
    }
    let mut sorted = haystack.to_vec();
    sorted.sort();
    let hits = needles
        .iter()
        .filter(|n| sorted.binary_search(n).is_ok())
        .count();
    hits as f64 / needles.len() as f64
}

/// Fraction of `needles` (hash, frame) found in `haystack` at `frame + shift` or one
/// frame either side, for the best whole shift in `shifts`: how many landmarks a
/// matcher voting on offsets would count.
pub fn aligned_share(
    needles: &[(u64, u32)],
    haystack: &[(u64, u32)],
    shifts: std::ops::RangeInclusive<i64>,
) -> f64 {
    if needles.is_empty() {
        return 0.0;
    }
    let set: std::collections::HashSet<(u64, i64)> =
        haystack.iter().map(|&(h, f)| (h, i64::from(f))).collect();
    shifts
        .map(|shift| {
            let hits = needles
                .iter()
                .filter(|&&(h, f)| {
                    let at = i64::from(f) + shift;
                    (at - 1..=at + 1).any(|g| set.contains(&(h, g)))
                })
                .count();
            hits as f64 / needles.len() as f64
        })
        .fold(0.0, f64::max)
}

/// Fraction of `needles` with a peak of `haystack` within `ticks` in time and
/// `pitch_steps` in pitch: peaks found again, allowing for sub-frame refinement.
pub fn near_share(needles: &[Peak], haystack: &[Peak], ticks: u32, pitch_steps: u16) -> f64 {
    if needles.is_empty() {
        return 0.0;
    }
    let mut sorted = haystack.to_vec();
    sorted.sort();
    let hits = needles
        .iter()
        .filter(|n| {
            let from = sorted.partition_point(|p| p.tick + ticks < n.tick);
            sorted[from..]
                .iter()
                .take_while(|p| p.tick <= n.tick + ticks)
                .any(|p| p.pitch.abs_diff(n.pitch) <= pitch_steps)
        })
        .count();
    hits as f64 / needles.len() as f64
}

/// A peak's frequency in Hz.
pub fn hz(peak: &Peak) -> f64 {
    AnalysisConfig::V2.low_hz * (peak.semitones() / 12.0).exp2()
}

/// The interval from `expected_hz` to `hz`, in semitones.
pub fn interval(hz: f64, expected_hz: f64) -> f64 {
    12.0 * (hz / expected_hz).log2()
}
