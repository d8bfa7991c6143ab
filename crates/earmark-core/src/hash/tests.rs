//! Tests of the group hashes under known changes of speed, tempo and pitch.

use std::collections::HashSet;

use super::*;
use crate::synthetic::{altered, peaks};

const STEPS: f64 = PITCH_STEPS_PER_SEMITONE as f64;

/// Share of the catalog's landmarks whose hash some query probe looks up, and the
/// factors estimated from those hits.
fn survival(catalog: &[Peak], query: &[Peak]) -> (f64, Vec<(f64, f64)>) {
    let config = HashConfig::DEFAULT;
    let lms = landmarks(catalog, &config);
    let probes = query_probes(query, &config);
    let mut by_hash: std::collections::HashMap<u64, Vec<u32>> = Default::default();
    for &(hash, group) in &probes.probes {
        by_hash.entry(hash).or_default().push(group);
    }
    let mut found = 0;
    let mut estimates = Vec::new();
    for l in &lms {
        if let Some(groups) = by_hash.get(&l.hash) {
            found += 1;
            let aux = Aux::decode(l.aux, &config);
            for &g in groups {
                let q = probes.groups[g as usize];
                let span_q = f64::from(q.span_ticks) / f64::from(TICKS_PER_FRAME);
                estimates.push((
                    span_q / aux.span_frames,
                    f64::from(q.pitch) / STEPS - aux.pitch_semitones,
                ));
            }
        }
    }
    (found as f64 / lms.len().max(1) as f64, estimates)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn groups_survive_speed_tempo_and_pitch_changes() {
    let catalog = peaks(30, 7);
    // (time scale, pitch shift): speed changes move both, tempo changes time only,
    // pitch shifts pitch only.
    for (scale, semitones) in [
        (1.0, 0.0),
        (1.0 / 1.1, 12.0 * 1.1f64.log2()),
        (1.0 / 0.9, 12.0 * 0.9f64.log2()),
        (1.0 / 1.02, 12.0 * 1.02f64.log2()),
        (1.0 / 1.05, 0.0),
        (1.0 / 0.9, 0.0),
        (1.0, 2.0),
        (1.0, -1.0),
    ] {
        let (share, estimates) = survival(&catalog, &altered(&catalog, scale, semitones));
        assert!(
            share > 0.85,
            "scale {scale:.3}, {semitones:+.2} semitones: {share:.3} of the groups found"
        );
        // The hits of the catalog's own groups estimate the change.
        assert_estimates(&estimates, scale, semitones);
    }
}

/// The median of the hits' estimates lies within 1 % of `scale` and 0.2 semitone of
/// `semitones`.
fn assert_estimates(estimates: &[(f64, f64)], scale: f64, semitones: f64) {
    let s = median(estimates.iter().map(|e| e.0).collect());
    let p = median(estimates.iter().map(|e| e.1).collect());
    assert!(
        (s / scale - 1.0).abs() < 0.01,
        "scale {scale:.4}: estimated {s:.4}"
    );
    assert!(
        (p - semitones).abs() < 0.2,
        "pitch {semitones:+.2}: estimated {p:+.3}"
    );
}

/// The hash's coarse cells do not bound the change; the hits' estimates do, and
/// the matcher drops hits outside the supported range by them.
#[test]
fn hits_reveal_changes_beyond_the_supported_range() {
    let catalog = peaks(30, 11);
    for (scale, semitones) in [(1.3, 0.0), (1.0, 4.0)] {
        let (_, estimates) = survival(&catalog, &altered(&catalog, scale, semitones));
        assert_estimates(&estimates, scale, semitones);
    }
}

#[test]
fn unrelated_peaks_share_few_hashes() {
    let (share, _) = survival(&peaks(30, 7), &peaks(30, 99));
    assert!(
        share < 0.01,
        "{share:.4} of the groups found in other peaks"
    );
}

#[test]
fn every_field_moves_the_hash() {
    let config = HashConfig::DEFAULT;
    let anchor = Peak {
        tick: 1_000,
        pitch: 1_000,
        rank: 0,
    };
    let members = [
        Peak {
            tick: 1_100,
            pitch: 1_100,
            rank: 0,
        },
        Peak {
            tick: 1_200,
            pitch: 900,
            rank: 0,
        },
        Peak {
            tick: 1_300,
            pitch: 1_200,
            rank: 0,
        },
        Peak {
            tick: 1_400,
            pitch: 1_050,
            rank: 0,
        },
    ];
    let hash = |anchor: Peak, members: &[Peak]| {
        let cells = Cells::of(anchor, members, &config);
        hash_cells(&cells.floor(), cells.shape, cells.intervals, &config)
    };
    let base = hash(anchor, &members);
    let interval_step = (config.interval_cell_semitones * STEPS) as u16;
    for i in 0..members.len() {
        let mut moved = members;
        moved[i].pitch += interval_step;
        assert_ne!(hash(anchor, &moved), base, "interval of member {i}");
    }
    for i in 0..members.len() - 1 {
        let mut moved = members;
        moved[i].tick += 25; // a ratio cell is 20 ticks of this 400-tick span
        assert_ne!(hash(anchor, &moved), base, "time ratio of member {i}");
    }
    // Two octaves up, with every interval kept: a pitch shift changes nothing.
    let up = |p: Peak| Peak {
        tick: p.tick,
        pitch: p.pitch + 24 * PITCH_STEPS_PER_SEMITONE as u16,
        rank: p.rank,
    };
    assert_eq!(hash(up(anchor), &members.map(up)), base, "register");
    // The span: twice as long, with every ratio kept.
    let slow = |p: Peak| Peak {
        tick: 2 * p.tick - anchor.tick,
        pitch: p.pitch,
        rank: p.rank,
    };
    assert_ne!(hash(slow(anchor), &members.map(slow)), base, "span");
    // Translation in time changes nothing.
    let later = |p: Peak| Peak {
        tick: p.tick + 12_345,
        pitch: p.pitch,
        rank: p.rank,
    };
    assert_eq!(hash(later(anchor), &members.map(later)), base);
}

#[test]
fn no_field_wraps_or_spills_into_its_neighbour() {
    let config = HashConfig::DEFAULT;
    // The largest cell each field takes, a probe's step above it included.
    let interval = 2.0 * config.max_interval_semitones / config.interval_cell_semitones + 2.0;
    let ratio = 1.0 / config.ratio_cell + 2.0;
    let span = (config.max_delay_frames * config.max_time_scale).ln() / config.span_cell_ln;
    for (name, top, bits) in [
        ("interval", interval, INTERVAL_BITS),
        ("ratio", ratio, RATIO_BITS),
        ("span", span, SPAN_BITS),
    ] {
        assert!(
            top < f64::from(1u32 << bits),
            "{name}: {top} needs more than {bits} bits"
        );
    }
    let group = config.group_size;
    let packed = (group - 1) as u32 * INTERVAL_BITS + (group - 2) as u32 * RATIO_BITS + SPAN_BITS;
    assert!(packed <= 64, "{packed} bits packed");
    // The lowest cells are not negative either: a probe below the lowest interval.
    assert!(config.max_interval_semitones / config.interval_cell_semitones + 1.0 >= 1.0);
}

#[test]
fn hashes_fit_their_width_and_odd_input_does_not_panic() {
    let config = HashConfig::DEFAULT;
    let lms = landmarks(&peaks(20, 3), &config);
    assert!(!lms.is_empty());
    assert!(lms.iter().all(|l| l.hash < 1 << config.hash_bits()));
    let mut shuffled = peaks(5, 5);
    shuffled.reverse();
    let _ = landmarks(&shuffled, &config);
    let _ = query_probes(&shuffled, &config);
    let same_tick = vec![
        Peak {
            tick: 0,
            pitch: 0,
            rank: 0
        };
        10
    ];
    assert!(landmarks(&same_tick, &config).is_empty());
    assert!(landmarks(&[], &config).is_empty());
}

#[test]
fn aux_keeps_span_and_pitch_within_its_steps() {
    let config = HashConfig::DEFAULT;
    for span_ticks in [64u32, 100, 333, 700, 1008] {
        for pitch in [0u16, 17, 1500, 3039] {
            let aux = Aux::decode(Aux::encode(span_ticks, pitch, &config), &config);
            let span = f64::from(span_ticks) / f64::from(TICKS_PER_FRAME);
            assert!(
                (aux.span_frames / span - 1.0).abs() < 0.006,
                "span {span}: {aux:?}"
            );
            assert!(
                (aux.pitch_semitones - f64::from(pitch) / STEPS).abs() <= 0.126,
                "pitch {pitch}: {aux:?}"
            );
        }
    }
}

#[test]
fn catalog_groups_are_among_the_query_groups() {
    let config = HashConfig::DEFAULT;
    let p = peaks(10, 21);
    let probes: HashSet<u64> = query_probes(&p, &config)
        .probes
        .iter()
        .map(|&(h, _)| h)
        .collect();
    assert!(
        landmarks(&p, &config)
            .iter()
            .all(|l| probes.contains(&l.hash))
    );
}

#[test]
fn catalog_leaves_out_the_groups_of_an_anchors_weakest_partner() {
    let config = HashConfig::DEFAULT;
    assert_eq!(config.catalog_skip_weakest, 1);
    // A strong anchor and six partners too weak to anchor, the third the weakest.
    let anchor = Peak {
        tick: 0,
        pitch: 1000,
        rank: 0,
    };
    let partners: Vec<Peak> = [4u8, 5, 11, 6, 7, 8]
        .iter()
        .zip(1u32..)
        .map(|(&rank, k)| Peak {
            tick: 2 * k * TICKS_PER_FRAME,
            pitch: 1000 + 40 * k as u16,
            rank,
        })
        .collect();
    let all: Vec<Peak> = std::iter::once(anchor).chain(partners.clone()).collect();
    let catalog = landmarks(&all, &config);
    assert_eq!(query_probes(&all, &config).groups.len(), 15);
    assert_eq!(
        catalog.len(),
        5,
        "the groups of the five strongest partners"
    );
    // Without the weakest peak the anchor has five partners, all grouped: the same
    // five groups.
    let without_weakest: Vec<Peak> = all.iter().copied().filter(|p| p.rank != 11).collect();
    assert_eq!(catalog, landmarks(&without_weakest, &config));
}
