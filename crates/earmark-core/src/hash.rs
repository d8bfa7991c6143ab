//! Landmark hashes from peaks: the one place where the hash layout lives.
//!
//! Every [`HashScheme`] is derived here from the same peaks, so the wire format (which
//! carries peaks) never changes when a new scheme is added, and an index built with
//! one [`HashConfig::id`] can refuse queries hashed another way.

use serde::{Deserialize, Serialize};

use crate::config::{HashConfig, HashScheme};
use crate::peaks::Peak;

/// A hash and the frame of the anchor peak it was derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Landmark {
    /// The hash value; its layout is given by the [`HashScheme`].
    pub hash: u32,
    /// Frame of the anchor peak.
    pub frame: u32,
}

/// Layout of [`HashScheme::PairV1`], from the high bits down: anchor bin (9 bits),
/// frequency difference + 128 (8 bits), time difference (6 bits).
fn pair_v1(anchor: Peak, target: Peak) -> u32 {
    let bin = u32::from(anchor.bin) & 0x1ff;
    let df = (i32::from(target.bin) - i32::from(anchor.bin) + 128).clamp(0, 255) as u32;
    let dt = (target.frame - anchor.frame) & 0x3f;
    (bin << 14) | (df << 6) | dt
}

/// Derives the landmarks of `peaks` (sorted by frame, then bin) under `config`,
/// pairing each anchor with at most `fan_out` targets.
///
/// Peaks out of order are tolerated (they pair with fewer targets) but never panic.
pub fn landmarks(peaks: &[Peak], config: &HashConfig, fan_out: usize) -> Vec<Landmark> {
    let mut out = Vec::with_capacity(peaks.len() * fan_out);
    match config.scheme {
        HashScheme::PairV1 => {
            for (i, &anchor) in peaks.iter().enumerate() {
                let mut paired = 0;
                for &target in &peaks[i + 1..] {
                    if paired == fan_out {
                        break;
                    }
                    let Some(dt) = target.frame.checked_sub(anchor.frame) else {
                        continue;
                    };
                    if dt > config.max_dt {
                        break;
                    }
                    if dt < config.min_dt || anchor.bin.abs_diff(target.bin) > config.max_df {
                        continue;
                    }
                    out.push(Landmark {
                        hash: pair_v1(anchor, target),
                        frame: anchor.frame,
                    });
                    paired += 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(frame: u32, bin: u16) -> Peak {
        Peak { frame, bin }
    }

    #[test]
    fn pairs_respect_the_target_zone() {
        let cfg = HashConfig::V1;
        let peaks = [p(0, 100), p(0, 120), p(5, 90), p(5, 400), p(70, 100)];
        let lms = landmarks(&peaks, &cfg, 10);
        // (0,100)->(5,90); (0,120)->(5,90); (5,90) has no target within 63 frames.
        // Same-frame, too-far-in-bin and too-late targets are skipped.
        assert_eq!(lms.len(), 2);
        assert!(lms.iter().all(|l| l.frame == 0));
    }

    #[test]
    fn fan_out_limits_targets_per_anchor() {
        let cfg = HashConfig::V1;
        let peaks: Vec<Peak> = (0..20).map(|i| p(i, 200)).collect();
        let lms = landmarks(&peaks, &cfg, 3);
        let from_first = lms.iter().filter(|l| l.frame == 0).count();
        assert_eq!(from_first, 3);
    }

    #[test]
    fn hash_fields_are_recoverable() {
        let h = pair_v1(p(10, 300), p(42, 250));
        assert_eq!(h >> 14, 300);
        assert_eq!((h >> 6) & 0xff, 128 - 50);
        assert_eq!(h & 0x3f, 32);
    }

    #[test]
    fn shifting_in_time_keeps_hashes() {
        let cfg = HashConfig::V1;
        let peaks = [p(0, 100), p(3, 110), p(9, 95), p(20, 130)];
        let shifted: Vec<Peak> = peaks.iter().map(|q| p(q.frame + 1000, q.bin)).collect();
        let a = landmarks(&peaks, &cfg, 5);
        let b = landmarks(&shifted, &cfg, 5);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.hash, y.hash);
            assert_eq!(x.frame + 1000, y.frame);
        }
    }

    #[test]
    fn unsorted_input_does_not_panic() {
        let cfg = HashConfig::V1;
        let peaks = [p(50, 100), p(3, 110), p(u32::MAX, 0), p(0, u16::MAX)];
        let _ = landmarks(&peaks, &cfg, 5);
    }
}
