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
    /// The hash value; its layout is given by the [`HashScheme`], and its width by
    /// [`HashConfig::hash_bits`].
    pub hash: u64,
    /// Frame of the anchor peak.
    pub frame: u32,
}

/// Layout of [`HashScheme::PairV1`], from the high bits down: anchor bin (9 bits),
/// frequency difference + 128 (8 bits), time difference (6 bits).
fn pair_v1(anchor: Peak, target: Peak) -> u64 {
    let bin = u64::from(anchor.bin) & 0x1ff;
    let df = (i64::from(target.bin) - i64::from(anchor.bin) + 128).clamp(0, 255) as u64;
    let dt = u64::from((target.frame - anchor.frame) & 0x3f);
    (bin << 14) | (df << 6) | dt
}

/// [`HashScheme::TripletV1`]: the 37 bits of an anchor's bin and both targets'
/// frequency and time differences, multiplied by a 64-bit odd constant (Fibonacci
/// hashing) and cut to the top `bits` bits, so the values spread evenly over the
/// key space. A narrower value is a prefix of a wider one of the same triplet, so two
/// triplets that share a wide value share every narrower one.
fn triplet_v1(anchor: Peak, first: Peak, second: Peak, bits: u8) -> u64 {
    let field = |target: Peak| {
        let df = (i64::from(target.bin) - i64::from(anchor.bin) + 128).clamp(0, 255) as u64;
        let dt = u64::from(target.frame.wrapping_sub(anchor.frame) & 0x3f);
        (df << 6) | dt
    };
    let packed = (u64::from(anchor.bin & 0x1ff) << 28) | (field(first) << 14) | field(second);
    let bits = u32::from(bits.clamp(1, 64));
    packed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)
}

/// The targets of the anchor at `i`: the next peaks inside the target zone, at most
/// `fan_out` of them.
fn targets<'a>(
    peaks: &'a [Peak],
    i: usize,
    config: &'a HashConfig,
    fan_out: usize,
) -> impl Iterator<Item = Peak> + 'a {
    let anchor = peaks[i];
    peaks[i + 1..]
        .iter()
        .copied()
        .take_while(move |t| t.frame.saturating_sub(anchor.frame) <= config.max_dt)
        .filter(move |t| {
            t.frame >= anchor.frame
                && t.frame - anchor.frame >= config.min_dt
                && anchor.bin.abs_diff(t.bin) <= config.max_df
        })
        .take(fan_out)
}

/// Derives the landmarks of `peaks` (sorted by frame, then bin) under `config`:
/// each anchor with at most `fan_out` targets for pairs, or with every two of them
/// for triplets.
///
/// Peaks out of order are tolerated (they pair with fewer targets) but never panic.
pub fn landmarks(peaks: &[Peak], config: &HashConfig, fan_out: usize) -> Vec<Landmark> {
    let mut out = Vec::with_capacity(peaks.len() * fan_out);
    let mut zone: Vec<Peak> = Vec::with_capacity(fan_out);
    for (i, &anchor) in peaks.iter().enumerate() {
        zone.clear();
        zone.extend(targets(peaks, i, config, fan_out));
        match config.scheme {
            HashScheme::PairV1 => {
                out.extend(zone.iter().map(|&target| Landmark {
                    hash: pair_v1(anchor, target),
                    frame: anchor.frame,
                }));
            }
            HashScheme::TripletV1 { bits } => {
                for (j, &first) in zone.iter().enumerate() {
                    out.extend(zone[j + 1..].iter().map(|&second| Landmark {
                        hash: triplet_v1(anchor, first, second, bits),
                        frame: anchor.frame,
                    }));
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

    /// What each configuration's catalog landmarks of a fixed set of peaks were when
    /// the configuration was made: `(id, landmarks, CRC-32 of their hashes and
    /// frames)`. Indexes store fingerprints and recompute a track's hashes from them
    /// to delete it, so hashing under an existing id must never change; a change
    /// that fails this test needs a new configuration id instead.
    const PINNED: [(u16, usize, u32); 3] = [
        (1, 9_527, 1_191_726_844),
        (2, 4_773, 515_608_287),
        (4, 4_770, 2_564_612_284),
    ];

    #[test]
    fn hashing_under_an_existing_configuration_never_changes() {
        let mut state = 0x1234_5678u32;
        let mut peaks = Vec::new();
        for frame in 0..400u32 {
            let mut bins: Vec<u16> = (0..4)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    32 + (state % 464) as u16
                })
                .collect();
            bins.sort_unstable();
            bins.dedup();
            peaks.extend(bins.into_iter().map(|bin| p(frame, bin)));
        }
        let found: Vec<(u16, usize, u32)> = HashConfig::ALL
            .iter()
            .map(|config| {
                let lms = landmarks(&peaks, config, config.fan_out);
                let mut crc = crc32fast::Hasher::new();
                // Hashes of up to 32 bits as the 4 bytes they were pinned with.
                let width = if config.hash_bits() <= 32 { 4 } else { 8 };
                for l in &lms {
                    crc.update(&l.hash.to_le_bytes()[..width]);
                    crc.update(&l.frame.to_le_bytes());
                }
                (config.id, lms.len(), crc.finalize())
            })
            .collect();
        assert_eq!(found, PINNED);
    }

    #[test]
    fn pairs_respect_the_target_zone() {
        let cfg = HashConfig::ROBUST;
        let peaks = [p(0, 100), p(0, 120), p(5, 90), p(5, 400), p(70, 100)];
        let lms = landmarks(&peaks, &cfg, 10);
        // (0,100)->(5,90); (0,120)->(5,90); (5,90) has no target within 63 frames.
        // Same-frame, too-far-in-bin and too-late targets are skipped.
        assert_eq!(lms.len(), 2);
        assert!(lms.iter().all(|l| l.frame == 0));
    }

    #[test]
    fn fan_out_limits_targets_per_anchor() {
        let cfg = HashConfig::ROBUST;
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
        let cfg = HashConfig::ROBUST;
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
        let peaks = [p(50, 100), p(3, 110), p(u32::MAX, 0), p(0, u16::MAX)];
        for cfg in HashConfig::ALL {
            let _ = landmarks(&peaks, cfg, 5);
        }
    }

    #[test]
    fn triplets_take_every_two_of_the_targets() {
        let cfg = HashConfig::LARGE_CATALOG;
        let peaks: Vec<Peak> = (0..20).map(|i| p(i, 200 + (i as u16 % 7) * 3)).collect();
        for fan_out in [2, 3, 6] {
            let lms = landmarks(&peaks, &cfg, fan_out);
            let from_first: Vec<u64> = lms
                .iter()
                .filter(|l| l.frame == 0)
                .map(|l| l.hash)
                .collect();
            assert_eq!(from_first.len(), fan_out * (fan_out - 1) / 2);
            let mut distinct = from_first.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), from_first.len(), "fan-out {fan_out}");
        }
    }

    #[test]
    fn catalog_triplets_are_among_the_query_triplets() {
        // The query's wider fan-out forms every triplet the catalog's does.
        let cfg = HashConfig::LARGE_CATALOG;
        let peaks: Vec<Peak> = (0..40)
            .map(|i| p(i * 2, 100 + (i as u16 * 37) % 200))
            .collect();
        let catalog = landmarks(&peaks, &cfg, cfg.fan_out);
        let query = landmarks(&peaks, &cfg, cfg.query_fan_out);
        assert!(!catalog.is_empty());
        assert!(catalog.iter().all(|l| query.contains(l)));
    }

    #[test]
    fn triplet_hashes_depend_on_every_field_and_not_on_time() {
        let t = |a: Peak, b: Peak, c: Peak| triplet_v1(a, b, c, 32);
        let base = t(p(10, 300), p(12, 280), p(15, 330));
        assert_eq!(base, t(p(510, 300), p(512, 280), p(515, 330)));
        for other in [
            t(p(10, 301), p(12, 280), p(15, 330)),
            t(p(10, 300), p(13, 280), p(15, 330)),
            t(p(10, 300), p(12, 281), p(15, 330)),
            t(p(10, 300), p(12, 280), p(16, 330)),
            t(p(10, 300), p(12, 280), p(15, 331)),
        ] {
            assert_ne!(base, other);
        }
        // Narrower hashes are the top bits of the wide one.
        let narrow = triplet_v1(p(10, 300), p(12, 280), p(15, 330), 24);
        assert_eq!(narrow, base >> 8);
        let wide = triplet_v1(p(10, 300), p(12, 280), p(15, 330), 40);
        assert_eq!(wide >> 8, base);
    }

    #[test]
    fn hashes_fit_their_configured_width() {
        let peaks: Vec<Peak> = (0..200).map(|i| p(i, 40 + (i as u16 * 97) % 450)).collect();
        for config in HashConfig::ALL {
            let bits = config.hash_bits();
            let lms = landmarks(&peaks, config, config.query_fan_out);
            assert!(!lms.is_empty());
            assert!(lms.iter().all(|l| bits == 64 || l.hash >> bits == 0));
        }
    }
}
