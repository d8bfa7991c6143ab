//! Seeded synthetic peaks and their altered copies, for the tests of this crate and of
//! the crates above it (feature `synthetic`): hashes and the matcher are pinned on the
//! same peaks under known changes of speed, tempo and pitch.

use crate::Peak;
use crate::config::{PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};

/// A seeded xorshift generator of `u32`s (the same sequence for `seed` and `seed | 1`).
pub fn xorshift(seed: u32) -> impl FnMut() -> u32 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    }
}

/// Seeded strong peaks: about 22 a second (a frame is 32 ms) over `seconds`, pitches
/// in the middle of the band so that a shift of two semitones stays inside it.
pub fn peaks(seconds: u32, seed: u32) -> Vec<Peak> {
    let mut next = xorshift(seed);
    let mut out = Vec::new();
    let mut tick = 0u32;
    while tick < seconds * 31 * TICKS_PER_FRAME {
        tick += 5 + next() % 35;
        let pitch = 8 * PITCH_STEPS_PER_SEMITONE + next() % (30 * PITCH_STEPS_PER_SEMITONE);
        out.push(Peak {
            tick,
            pitch: pitch as u16,
            rank: 0,
        });
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Seeded strong peaks in every one of `frames` frames: `per_frame` each (before
/// those that coincide merge), at seeded ticks within the frame and seeded pitches
/// anywhere below `pitch_steps`; sorted.
pub fn frame_peaks(seed: u32, frames: u32, per_frame: u32, pitch_steps: u32) -> Vec<Peak> {
    let mut next = xorshift(seed.wrapping_mul(2_654_435_761));
    let mut out = Vec::new();
    for frame in 0..frames {
        for _ in 0..per_frame {
            let tick = frame * TICKS_PER_FRAME + next() % TICKS_PER_FRAME;
            let pitch = (next() % pitch_steps) as u16;
            out.push(Peak {
                tick,
                pitch,
                rank: 0,
            });
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The peaks as heard after time scale `scale` (query seconds per original second)
/// and a pitch shift of `semitones`; peaks that land on one tick and pitch merge.
pub fn altered(peaks: &[Peak], scale: f64, semitones: f64) -> Vec<Peak> {
    let steps = f64::from(PITCH_STEPS_PER_SEMITONE);
    let mut out: Vec<Peak> = peaks
        .iter()
        .map(|p| Peak {
            tick: (f64::from(p.tick) * scale).round() as u32,
            pitch: (f64::from(p.pitch) + semitones * steps).round() as u16,
            rank: p.rank,
        })
        .collect();
    out.sort_unstable();
    out.dedup_by_key(|p| (p.tick, p.pitch));
    out
}
