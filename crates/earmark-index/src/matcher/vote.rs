//! From looked-up postings to candidates: each hit's own time scale, pitch offset and
//! catalog offset, filtered to the supported range and then voted per track.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

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
/// window of 2 x 2 x 2 cells, best first (ties by track). Of a track's windows the
/// one with most votes counts, the lowest corner first on a tie; right after it
/// comes the track's best window elsewhere in the track, when it has at least half
/// those votes.
///
/// At catalog scale most hits are chance ones, a few per track: a track whose
/// distinct anchors in all its cells cannot reach the `max`-th best window found so
/// far is never searched.
pub(super) fn candidates(
    hits: &[Hit],
    cells: &Cells,
    min_votes: usize,
    max: usize,
) -> Vec<Candidate> {
    let hit_cells: Vec<Cell> = hits.iter().map(|h| cell_of(h, cells)).collect();
    // Distinct anchors per cell, sorted by cell: each track's cells lie together.
    let mut keyed: Vec<(Cell, u32)> = hit_cells
        .iter()
        .zip(hits)
        .map(|(&cell, h)| (cell, h.anchor))
        .collect();
    keyed.sort_unstable();
    keyed.dedup();
    let mut occupied: Vec<(Cell, usize)> = Vec::new();
    for &(cell, _) in &keyed {
        match occupied.last_mut() {
            Some((last, n)) if *last == cell => *n += 1,
            _ => occupied.push((cell, 1)),
        }
    }
    drop(keyed);
    // Per track: the anchors of all its cells (no window holds more) and its cells.
    let mut tracks: Vec<(usize, u32, std::ops::Range<usize>)> = Vec::new();
    let mut lo = 0;
    while lo < occupied.len() {
        let track = occupied[lo].0.0;
        let hi = lo + occupied[lo..].partition_point(|(c, _)| c.0 == track);
        let total = occupied[lo..hi].iter().map(|(_, n)| n).sum();
        tracks.push((total, track, lo..hi));
        lo = hi;
    }
    tracks.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));

    // Per track: its best window's votes, that window and another one.
    let mut best: Vec<(usize, Cell, Option<Cell>)> = Vec::new();
    // The `max` best window votes so far, the least on top.
    let mut leaders: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    for (bound, _, range) in tracks {
        let threshold = match leaders.peek() {
            Some(&Reverse(least)) if leaders.len() >= max => least.max(min_votes),
            _ => min_votes,
        };
        if bound < threshold {
            break;
        }
        let own = &occupied[range];
        let votes_at = |cell: Cell| {
            own.binary_search_by(|(c, _)| c.cmp(&cell))
                .map_or(0, |i| own[i].1)
        };
        let windows: Vec<(usize, Cell)> = own
            .iter()
            .map(|&((track, o, s, p), _)| {
                let votes = CORNERS
                    .iter()
                    .map(|&(d_o, ds, dp)| votes_at((track, o + d_o, s + ds, p + dp)))
                    .sum();
                (votes, (track, o, s, p))
            })
            .collect();
        let better = |a: &(usize, Cell), b: &(usize, Cell)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
        let mut top = windows[0];
        for w in &windows {
            if better(w, &top) {
                top = *w;
            }
        }
        // The best window that does not overlap the top one in offset: a passage that
        // repeats in the track can gather the most votes at the wrong place, and
        // verification tells the two apart.
        let mut second: Option<(usize, Cell)> = None;
        for w in windows.iter().filter(|w| (w.1.1 - top.1.1).abs() >= 2) {
            if second.is_none_or(|s| better(w, &s)) {
                second = Some(*w);
            }
        }
        let second = second
            .filter(|s| s.0 >= SECOND_WINDOW_MIN_VOTES && 2 * s.0 >= top.0)
            .map(|s| s.1);
        if top.0 >= min_votes {
            best.push((top.0, top.1, second));
            leaders.push(Reverse(top.0));
            if leaders.len() > max {
                leaders.pop();
            }
        }
    }
    best.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
    best.truncate(max);

    // Each chosen window's hits, in the order they came.
    let mut chosen: Vec<(Cell, Vec<Hit>)> = best
        .into_iter()
        .flat_map(|(_, top, second)| std::iter::once(top).chain(second))
        .map(|c| (c, Vec::new()))
        .collect();
    let mut by_track: Vec<(u32, usize)> = chosen
        .iter()
        .enumerate()
        .map(|(k, (c, _))| (c.0, k))
        .collect();
    by_track.sort_unstable();
    for (h, &(track, ho, hs, hp)) in hits.iter().zip(&hit_cells) {
        let first = by_track.partition_point(|(t, _)| *t < track);
        for &(_, k) in by_track[first..].iter().take_while(|(t, _)| *t == track) {
            let (window, list) = &mut chosen[k];
            let (_, o, s, p) = *window;
            if (o..=o + 1).contains(&ho) && (s..=s + 1).contains(&hs) && (p..=p + 1).contains(&hp) {
                list.push(*h);
            }
        }
    }
    chosen
        .into_iter()
        .map(|((track, ..), hits)| Candidate { track, hits })
        .collect()
}

/// The least votes of a track's second window worth verifying (besides half its
/// best window's).
const SECOND_WINDOW_MIN_VOTES: usize = 3;

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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// Every window of every track counted from scratch: what `candidates` must give.
    fn exhaustive(hits: &[Hit], cells: &Cells, min_votes: usize, max: usize) -> Vec<(u32, usize)> {
        let mut anchors: BTreeMap<Cell, BTreeSet<u32>> = BTreeMap::new();
        for h in hits {
            anchors
                .entry(cell_of(h, cells))
                .or_default()
                .insert(h.anchor);
        }
        let mut best: BTreeMap<u32, usize> = BTreeMap::new();
        for &(track, o, s, p) in anchors.keys() {
            let votes = CORNERS
                .iter()
                .map(|&(d_o, ds, dp)| {
                    anchors
                        .get(&(track, o + d_o, s + ds, p + dp))
                        .map_or(0, BTreeSet::len)
                })
                .sum();
            let entry = best.entry(track).or_default();
            *entry = (*entry).max(votes);
        }
        let mut ranked: Vec<(u32, usize)> =
            best.into_iter().filter(|&(_, v)| v >= min_votes).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(max);
        ranked
    }

    #[test]
    fn pruned_search_ranks_as_the_exhaustive_count() {
        let cells = Cells {
            offset_frames: 4.0,
            ln_scale: 0.01,
            pitch_semitones: 0.25,
        };
        let mut random = earmark_core::synthetic::xorshift(7);
        let mut next = |below: u32| random() % below;
        for round in 0..40 {
            // Many tracks with a few chance hits, and some with many aligned ones.
            let mut hits = Vec::new();
            for _ in 0..2_000 {
                hits.push(Hit {
                    track: next(500),
                    ln_scale: (f64::from(next(200)) - 100.0) * 0.001,
                    pitch: (f64::from(next(40)) - 20.0) * 0.1,
                    offset: f64::from(next(5_000)),
                    anchor: next(300),
                });
            }
            for track in 0..(round % 15) {
                for _ in 0..(5 + next(40)) {
                    hits.push(Hit {
                        track,
                        ln_scale: 0.004,
                        pitch: 0.3,
                        offset: 100.0 + f64::from(next(8)),
                        anchor: next(300),
                    });
                }
            }
            for (min_votes, max) in [(1, 10), (3, 10), (1, 1), (2, 50)] {
                let mut found: Vec<(u32, usize)> = candidates(&hits, &cells, min_votes, max)
                    .iter()
                    .map(|c| {
                        // A window's votes: the distinct anchors of each of its cells.
                        let per_cell: BTreeSet<(Cell, u32)> = c
                            .hits
                            .iter()
                            .map(|h| (cell_of(h, &cells), h.anchor))
                            .collect();
                        (c.track, per_cell.len())
                    })
                    .collect();
                // A track's second window follows its best one.
                found.dedup_by_key(|(track, _)| *track);
                assert_eq!(
                    found,
                    exhaustive(&hits, &cells, min_votes, max),
                    "round {round}, min_votes {min_votes}, max {max}"
                );
            }
        }
    }

    #[test]
    fn a_track_aligned_at_two_places_offers_both_windows() {
        let cells = Cells {
            offset_frames: 4.0,
            ln_scale: 0.01,
            pitch_semitones: 0.25,
        };
        let at = |offset: f64, anchor: u32| Hit {
            track: 7,
            ln_scale: 0.0,
            pitch: 0.1,
            offset,
            anchor,
        };
        // 12 anchors agree on offset 100, 8 on offset 300, 1 on offset 500.
        let mut hits: Vec<Hit> = (0..12).map(|a| at(101.0, a)).collect();
        hits.extend((0..8).map(|a| at(301.0, 100 + a)));
        hits.push(at(501.0, 200));
        let found = candidates(&hits, &cells, 1, 10);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|c| c.track == 7));
        assert_eq!(found[0].hits.len(), 12);
        assert_eq!(found[1].hits.len(), 8);
        assert!(found[1].hits.iter().all(|h| h.offset == 301.0));
        // A second place with less than half the votes is not worth verifying.
        hits.truncate(12 + 5);
        let found = candidates(&hits, &cells, 1, 10);
        assert_eq!(found.len(), 1);
    }
}
