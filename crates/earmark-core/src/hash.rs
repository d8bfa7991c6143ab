//! Landmark hashes from peaks: the one place where the hash layout lives.
//!
//! A catalog track is indexed by [`landmarks`]: one hash per group of peaks, with the
//! anchor's frame and what a single hit needs to estimate the time scale and pitch
//! offset of a query ([`Landmark::aux`]). A query is looked up by [`query_probes`]:
//! its own groups, each under every key a catalog group of the same music can have
//! after a supported change of speed, tempo or pitch, and under the neighbouring
//! cell of the fields that lie close to a cell edge.

use serde::{Deserialize, Serialize};

use crate::config::{HashConfig, PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};
use crate::peaks::Peak;

/// A hash, the frame of the anchor peak it was derived from, and the group's span
/// and anchor pitch in the compact form postings keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Landmark {
    /// The hash value, below 2^[`HashConfig::hash_bits`].
    pub hash: u64,
    /// Frame of the anchor peak.
    pub frame: u32,
    /// The group's span and anchor pitch, see [`Aux`].
    pub aux: u16,
}

/// A group's span and anchor pitch as postings keep them: each in 8 bits, the span
/// on a logarithmic scale (steps of about 1.1 %) and the pitch in quarter semitones.
/// One hit then estimates a time scale within about 0.6 % and a pitch offset within
/// a quarter semitone; the verification refines both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aux {
    /// Span from the anchor to the last grouped peak, in frames.
    pub span_frames: f64,
    /// The anchor's pitch in semitones above the analysis band's low edge.
    pub pitch_semitones: f64,
}

/// Pitch steps per quarter-semitone step of [`Aux`].
const AUX_PITCH_STEP: u32 = PITCH_STEPS_PER_SEMITONE / 4;

impl Aux {
    fn span_step(config: &HashConfig) -> f64 {
        (config.max_delay_frames / config.min_span_frames).ln() / 255.0
    }

    /// The compact form of a span in ticks and a pitch in pitch steps.
    pub fn encode(span_ticks: u32, pitch: u16, config: &HashConfig) -> u16 {
        let span_frames = f64::from(span_ticks) / f64::from(TICKS_PER_FRAME);
        let span_code = ((span_frames / config.min_span_frames).ln() / Self::span_step(config))
            .round()
            .clamp(0.0, 255.0) as u16;
        let pitch_code = (u32::from(pitch) / AUX_PITCH_STEP).min(255) as u16;
        (span_code << 8) | pitch_code
    }

    /// The span and pitch a compact form stands for (the middle of its step).
    pub fn decode(aux: u16, config: &HashConfig) -> Self {
        let span_code = f64::from(aux >> 8);
        let pitch_code = f64::from(aux & 0xff);
        Self {
            span_frames: config.min_span_frames * (span_code * Self::span_step(config)).exp(),
            pitch_semitones: (pitch_code + 0.5) * f64::from(AUX_PITCH_STEP)
                / f64::from(PITCH_STEPS_PER_SEMITONE),
        }
    }
}

/// A query's group, in the units of its peaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryGroup {
    /// The anchor's time in ticks.
    pub tick: u32,
    /// The anchor's pitch in pitch steps.
    pub pitch: u16,
    /// Span from the anchor to the last grouped peak, in ticks.
    pub span_ticks: u32,
}

/// A query's groups and every key they are looked up under.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryProbes {
    /// The groups.
    pub groups: Vec<QueryGroup>,
    /// `(hash, index into groups)`, in the order they were made.
    pub probes: Vec<(u64, u32)>,
}

/// Bits of each field in the packed hash, before mixing. Intervals take
/// `2 * max_interval / interval_cell + 3` values (with a probe either side), ratios
/// `1 / ratio_cell + 3`: [`HashConfig::DEFAULT`] fits with room to spare, which a
/// test checks, and values outside are clamped rather than spilt into a neighbour.
const INTERVAL_BITS: u32 = 7;
const RATIO_BITS: u32 = 5;
const SPAN_BITS: u32 = 4;
/// The most peaks a group can have: the packed fields of a larger one would not fit
/// in 64 bits.
pub const MAX_GROUP_SIZE: usize = 6;

/// A group's fields in cell units, continuous: intervals, ratios, span.
struct Cells {
    values: [f64; 2 * MAX_GROUP_SIZE],
    /// Intervals, then ratios; the span follows them.
    shape: usize,
    intervals: usize,
}

impl Cells {
    fn of(anchor: Peak, members: &[Peak], config: &HashConfig) -> Self {
        let steps = f64::from(PITCH_STEPS_PER_SEMITONE);
        let mut values = [0.0; 2 * MAX_GROUP_SIZE];
        let last = members[members.len() - 1];
        let span = f64::from(last.tick - anchor.tick);
        let offset = config.max_interval_semitones / config.interval_cell_semitones + 1.0;
        let mut n = 0;
        for m in members {
            let interval = (f64::from(m.pitch) - f64::from(anchor.pitch)) / steps;
            values[n] = interval / config.interval_cell_semitones + offset;
            n += 1;
        }
        let intervals = n;
        for m in &members[..members.len() - 1] {
            values[n] = f64::from(m.tick - anchor.tick) / span / config.ratio_cell + 1.0;
            n += 1;
        }
        let shape = n;
        values[n] = (span / f64::from(TICKS_PER_FRAME)).ln() / config.span_cell_ln;
        Self {
            values,
            shape,
            intervals,
        }
    }

    /// The cell of every field.
    fn floor(&self) -> [i64; 2 * MAX_GROUP_SIZE] {
        self.values.map(|v| v.floor() as i64)
    }

    fn span(&self) -> usize {
        self.shape
    }
}

/// Packs the cells (each clamped to its field's width) and mixes them into
/// `config.hash_bits` bits. Multiplying by an odd constant is a bijection, so two
/// groups share a hash only when their cells agree or by chance in the cut.
fn hash_cells(
    cells: &[i64; 2 * MAX_GROUP_SIZE],
    shape: usize,
    intervals: usize,
    config: &HashConfig,
) -> u64 {
    let mut packed = 0u64;
    let mut put = |value: i64, bits: u32| {
        let max = (1i64 << bits) - 1;
        packed = (packed << bits) | value.clamp(0, max) as u64;
    };
    for (i, &c) in cells[..shape].iter().enumerate() {
        put(
            c,
            if i < intervals {
                INTERVAL_BITS
            } else {
                RATIO_BITS
            },
        );
    }
    put(cells[shape], SPAN_BITS);
    let bits = config.hash_bits();
    packed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)
}

/// Calls `visit(anchor, members)` for every group of `peaks` (sorted by tick, then
/// pitch) whose anchor has at least `group_size - 1` eligible peaks among its next
/// `reach`: later by `min_delay..=max_delay` frames, within `max_interval` of it.
/// Members are in time order; the last one ends the span. When the anchor has all
/// `reach`, groups holding every one of its `skip_weakest` weakest eligible peaks
/// (the highest ranks, the later on a tie) are left out.
fn for_each_group(
    peaks: &[Peak],
    config: &HashConfig,
    skip_weakest: usize,
    mut visit: impl FnMut(Peak, &[Peak]),
) {
    let reach = config.reach;
    let members = config.group_size.clamp(2, MAX_GROUP_SIZE) - 1;
    let tick = f64::from(TICKS_PER_FRAME);
    let min_delay = (config.min_delay_frames * tick).ceil() as u32;
    let max_delay = (config.max_delay_frames * tick).floor() as u32;
    let min_span = (config.min_span_frames * tick).ceil() as u32;
    let max_interval =
        (config.max_interval_semitones * f64::from(PITCH_STEPS_PER_SEMITONE)).floor() as u16;
    let mut eligible: Vec<Peak> = Vec::with_capacity(reach);
    let mut chosen: Vec<Peak> = Vec::with_capacity(members);
    let mut picks: Vec<usize> = Vec::with_capacity(members);
    let mut order: Vec<usize> = Vec::with_capacity(reach);
    for (i, &anchor) in peaks.iter().enumerate() {
        if !anchor.strong() {
            continue;
        }
        eligible.clear();
        for &p in &peaks[i + 1..] {
            let Some(delay) = p.tick.checked_sub(anchor.tick) else {
                continue; // out of order: tolerated, never grouped
            };
            if delay > max_delay {
                break;
            }
            if delay >= min_delay && p.pitch.abs_diff(anchor.pitch) <= max_interval {
                eligible.push(p);
                if eligible.len() == reach {
                    break;
                }
            }
        }
        if eligible.len() < members {
            continue;
        }
        let weakest = if eligible.len() == reach && skip_weakest > 0 {
            order.clear();
            order.extend(0..eligible.len());
            order.sort_by_key(|&k| (std::cmp::Reverse(eligible[k].rank), std::cmp::Reverse(k)));
            order[..skip_weakest.min(reach)]
                .iter()
                .fold(0u32, |mask, &k| mask | (1 << k))
        } else {
            0
        };
        // Every `members`-subset of the eligible peaks, in lexicographic order.
        picks.clear();
        picks.extend(0..members);
        loop {
            chosen.clear();
            chosen.extend(picks.iter().map(|&k| eligible[k]));
            let mask = picks.iter().fold(0u32, |mask, &k| mask | (1 << k));
            let skipped = weakest != 0 && mask & weakest == weakest;
            if !skipped && chosen[members - 1].tick - anchor.tick >= min_span {
                visit(anchor, &chosen);
            }
            // Advance to the next subset.
            let Some(k) = (0..members)
                .rev()
                .find(|&k| picks[k] < eligible.len() - members + k)
            else {
                break;
            };
            picks[k] += 1;
            for j in k + 1..members {
                picks[j] = picks[j - 1] + 1;
            }
        }
    }
}

/// The landmarks a catalog track is indexed with: one per group of its peaks.
///
/// Peaks out of order are tolerated (they group with fewer peaks) but never panic.
pub fn landmarks(peaks: &[Peak], config: &HashConfig) -> Vec<Landmark> {
    let mut out = Vec::new();
    for_each_group(
        peaks,
        config,
        config.catalog_skip_weakest,
        |anchor, members| {
            let cells = Cells::of(anchor, members, config);
            let span_ticks = members[members.len() - 1].tick - anchor.tick;
            out.push(Landmark {
                hash: hash_cells(&cells.floor(), cells.shape, cells.intervals, config),
                frame: anchor.tick / TICKS_PER_FRAME,
                aux: Aux::encode(span_ticks, anchor.pitch, config),
            });
        },
    );
    out
}

/// A query's groups (formed as the catalog's are) and the keys to
/// look each up under: every span cell that a supported change can have moved the
/// catalog's group to, and the neighbouring cell of the fields nearest a cell edge
/// (at most [`HashConfig::edge_probe_fields`] of them).
pub fn query_probes(peaks: &[Peak], config: &HashConfig) -> QueryProbes {
    let mut out = QueryProbes::default();
    let span_reach = config.max_time_scale.max(1.0).ln() / config.span_cell_ln;
    let mut near: Vec<(f64, usize, i64)> = Vec::new();
    for_each_group(peaks, config, 0, |anchor, members| {
        let cells = Cells::of(anchor, members, config);
        let base = cells.floor();
        near.clear();
        for (i, &v) in cells.values[..cells.shape].iter().enumerate() {
            let fraction = v - v.floor();
            if fraction < config.edge_margin {
                near.push((fraction, i, -1));
            } else if 1.0 - fraction < config.edge_margin {
                near.push((1.0 - fraction, i, 1));
            }
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        near.truncate(config.edge_probe_fields);
        let group = out.groups.len() as u32;
        let span = cells.values[cells.span()];
        let spans = (span - span_reach).floor() as i64..=(span + span_reach).floor() as i64;
        for mask in 0..(1u32 << near.len()) {
            let mut key = base;
            for (j, &(_, field, step)) in near.iter().enumerate() {
                if mask & (1 << j) != 0 {
                    key[field] += step;
                }
            }
            for s in spans.clone() {
                key[cells.span()] = s;
                out.probes.push((
                    hash_cells(&key, cells.shape, cells.intervals, config),
                    group,
                ));
            }
        }
        out.groups.push(QueryGroup {
            tick: anchor.tick,
            pitch: anchor.pitch,
            span_ticks: members[members.len() - 1].tick - anchor.tick,
        });
    });
    out
}

#[cfg(test)]
mod tests;
