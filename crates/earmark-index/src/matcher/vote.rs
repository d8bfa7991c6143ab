//! From looked-up postings to candidates: each hit's own time scale, pitch offset and
//! catalog offset, filtered to the supported range and then voted per track.

use std::collections::HashMap;

use earmark_core::config::{PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};
use earmark_core::{Aux, HashConfig, QueryGroup};

use crate::posting::Posting;

/// One hit: a query group meets a catalog posting of its hash.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hit {
    pub track: u32,
    /// Natural log of the time scale (query seconds per catalog second).
    pub ln_scale: f64,
    /// Pitch offset, query minus catalog, in semitones.
    pub pitch: f64,
    /// Catalog frame where the query's frame zero lies.
    pub offset: f64,
    /// The query group's anchor tick: hits of one anchor count once.
    pub anchor: u32,
}

/// The estimate one hit gives, or `None` outside the supported range: filtered
/// before voting, so that impossible alignments never gather votes.
pub(super) fn hit(group: &QueryGroup, posting: &Posting, hash: &HashConfig) -> Option<Hit> {
    let aux = Aux::decode(posting.aux, hash);
    let ticks = f64::from(TICKS_PER_FRAME);
    let scale = f64::from(group.span_ticks) / ticks / aux.span_frames;
    // The aux's span steps add up to half a percent either way.
    let max = hash.max_time_scale * 1.01;
    if !(1.0 / max..=max).contains(&scale) {
        return None;
    }
    let pitch = f64::from(group.pitch) / f64::from(PITCH_STEPS_PER_SEMITONE) - aux.pitch_semitones;
    if pitch.abs() > hash.max_pitch_shift_semitones + 0.25 {
        return None;
    }
    Some(Hit {
        track: posting.track,
        ln_scale: scale.ln(),
        pitch,
        offset: f64::from(posting.frame) - f64::from(group.tick) / ticks / scale,
        anchor: group.tick,
    })
}

/// Sizes of the vote's cells.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cells {
    pub offset_frames: f64,
    pub ln_scale: f64,
    pub pitch_semitones: f64,
}

/// A vote cell: track, offset, ln scale and pitch cells.
type Cell = (u32, i64, i64, i64);

fn cell_of(h: &Hit, cells: &Cells) -> Cell {
    (
        h.track,
        (h.offset / cells.offset_frames).floor() as i64,
        (h.ln_scale / cells.ln_scale).floor() as i64,
        (h.pitch / cells.pitch_semitones).floor() as i64,
    )
}

/// A candidate: a track and the window of 2 x 2 x 2 cells that holds most of its
/// distinct query anchors, with the hits inside it.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub track: u32,
    pub hits: Vec<Hit>,
}

/// The strongest `max` tracks with at least `min_votes` distinct anchors in one
/// window of 2 x 2 x 2 cells, best first (ties by track).
pub(super) fn candidates(
    hits: &[Hit],
    cells: &Cells,
    min_votes: usize,
    max: usize,
) -> Vec<Candidate> {
    // Distinct anchors per cell.
    let mut keyed: Vec<(Cell, u32)> = hits.iter().map(|h| (cell_of(h, cells), h.anchor)).collect();
    keyed.sort_unstable();
    keyed.dedup();
    let mut per_cell: HashMap<Cell, usize> = HashMap::new();
    for (cell, _) in &keyed {
        *per_cell.entry(*cell).or_default() += 1;
    }
    // Each occupied cell as a window's lowest corner.
    let mut best: HashMap<u32, (usize, Cell)> = HashMap::new();
    for &(track, o, s, p) in per_cell.keys() {
        let mut votes = 0;
        for (d_o, ds, dp) in CORNERS {
            votes += per_cell
                .get(&(track, o + d_o, s + ds, p + dp))
                .copied()
                .unwrap_or(0);
        }
        let entry = best.entry(track).or_insert((0, (track, o, s, p)));
        if votes > entry.0 || (votes == entry.0 && (track, o, s, p) < entry.1) {
            *entry = (votes, (track, o, s, p));
        }
    }
    let mut ranked: Vec<(usize, Cell)> = best
        .into_values()
        .filter(|&(votes, _)| votes >= min_votes)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
    ranked.truncate(max);
    ranked
        .into_iter()
        .map(|(_, (track, o, s, p))| Candidate {
            track,
            hits: hits
                .iter()
                .filter(|h| {
                    let (t, ho, hs, hp) = cell_of(h, cells);
                    t == track
                        && (o..=o + 1).contains(&ho)
                        && (s..=s + 1).contains(&hs)
                        && (p..=p + 1).contains(&hp)
                })
                .copied()
                .collect(),
        })
        .collect()
}

const CORNERS: [(i64, i64, i64); 8] = [
    (0, 0, 0),
    (0, 0, 1),
    (0, 1, 0),
    (0, 1, 1),
    (1, 0, 0),
    (1, 0, 1),
    (1, 1, 0),
    (1, 1, 1),
];

/// The median of `values` (the upper one of an even count); 0 for none.
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}
