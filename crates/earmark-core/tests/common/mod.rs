//! Signals with known content, shared by the integration tests.
#![allow(dead_code)]

use std::f32::consts::PI;

/// A deterministic pseudo-random generator (the tests need spread, not quality).
pub struct Lcg(pub u64);

impl Lcg {
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
/// decaying envelopes and a little noise. Seeded, so every call yields the same audio.
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
