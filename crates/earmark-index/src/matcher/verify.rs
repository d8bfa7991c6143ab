//! Verification against the catalog's peaks: a candidate's alignment maps every
//! catalog peak of the matched stretch into the query, and counts how many find a
//! query peak where it should be. The pairs found refine the alignment, which is
//! what matches report.

use earmark_core::Peak;
use earmark_core::config::TICKS_PER_FRAME;

/// How catalog time and pitch map onto the query's: a catalog peak at frame `t` and
/// pitch `p` (semitones) lies in the query at frame `(t - offset) * scale` and pitch
/// `p + pitch`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Alignment {
    /// Query seconds per catalog second.
    pub scale: f64,
    /// Query pitch minus catalog pitch, in semitones.
    pub pitch: f64,
    /// Catalog frame at the query's frame zero.
    pub offset: f64,
}

/// How close a query peak must lie to where a catalog peak maps.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tolerance {
    pub frames: f64,
    pub semitones: f64,
}

/// What verification found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Verified {
    /// Catalog peaks with a query partner.
    pub matched: u32,
    /// Catalog peaks that map into the query: what could have matched.
    pub considered: u32,
    /// The refined alignment.
    pub alignment: Alignment,
    /// The first and last matched query frames.
    pub query_frames: (f64, f64),
}

/// `(catalog frame, query frame, pitch difference)` of every catalog peak that has a
/// query partner under `alignment` (the nearest in time, within `tolerance`), and
/// how many catalog peaks map into the query's `frames`.
fn pairs(
    query: &[Peak],
    query_frames: f64,
    catalog: &[Peak],
    alignment: &Alignment,
    tolerance: &Tolerance,
) -> (Vec<(f64, f64, f64)>, u32) {
    let Some(last) = query.last() else {
        return (Vec::new(), 0);
    };
    let query_end = last.frames() + tolerance.frames;
    let ticks = f64::from(TICKS_PER_FRAME);
    let first_catalog = ((alignment.offset - tolerance.frames) * ticks).max(0.0) as u32;
    let start = catalog.partition_point(|p| p.tick < first_catalog);
    let mut out = Vec::new();
    let mut considered = 0;
    for r in &catalog[start..] {
        let at = (r.frames() - alignment.offset) * alignment.scale;
        if at > query_end.max(query_frames) {
            break;
        }
        if (0.0..=query_frames).contains(&at) {
            considered += 1;
        }
        let pitch = r.semitones() + alignment.pitch;
        let lo = ((at - tolerance.frames) * ticks).max(0.0) as u32;
        let first = query.partition_point(|q| q.tick < lo);
        let partner = query[first..]
            .iter()
            .take_while(|q| q.frames() <= at + tolerance.frames)
            .filter(|q| (q.semitones() - pitch).abs() <= tolerance.semitones)
            .min_by(|a, b| (a.frames() - at).abs().total_cmp(&(b.frames() - at).abs()));
        if let Some(q) = partner {
            out.push((r.frames(), q.frames(), q.semitones() - r.semitones()));
        }
    }
    (out, considered)
}

/// Most refits of one candidate's alignment.
const REFITS: usize = 4;

/// The least-squares line `query = a * catalog + b` through the pairs, as an
/// alignment; `None` when the pairs do not determine one.
fn refit(pairs: &[(f64, f64, f64)], pitch: f64) -> Option<Alignment> {
    let n = pairs.len() as f64;
    if pairs.len() < 8 {
        return None;
    }
    let mean_c = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_q = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let var = pairs.iter().map(|p| (p.0 - mean_c).powi(2)).sum::<f64>();
    if var < 1.0 {
        return None;
    }
    let cov = pairs
        .iter()
        .map(|p| (p.0 - mean_c) * (p.1 - mean_q))
        .sum::<f64>();
    let scale = cov / var;
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    // query = scale * (catalog - offset)
    let offset = mean_c - mean_q / scale;
    Some(Alignment {
        scale,
        pitch,
        offset,
    })
}

/// Verifies `start` for the catalog peaks of one track against the query's (of
/// `query_frames` frames): counts the matched peaks, refines the alignment from them
/// and counts again.
pub(super) fn verify(
    query: &[Peak],
    query_frames: f64,
    catalog: &[Peak],
    start: Alignment,
    tolerance: &Tolerance,
) -> Verified {
    let mut alignment = start;
    let (mut found, mut considered) = pairs(query, query_frames, catalog, &alignment, tolerance);
    let mut pitch = super::vote::median(found.iter().map(|p| p.2).collect());
    // A start that is slightly off pairs peaks over only part of the query; each refit
    // from those pairs reaches further, so refit until the pairs stop growing.
    for _ in 0..REFITS {
        let Some(refined) = refit(&found, pitch) else {
            break;
        };
        let (again, again_considered) = pairs(query, query_frames, catalog, &refined, tolerance);
        if again.len() < found.len() {
            break;
        }
        let grew = again.len() > found.len();
        pitch = super::vote::median(again.iter().map(|p| p.2).collect());
        alignment = Alignment { pitch, ..refined };
        found = again;
        considered = again_considered;
        if !grew {
            break;
        }
    }
    let first = found.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let last = found.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    Verified {
        matched: u32::try_from(found.len()).unwrap_or(u32::MAX),
        considered,
        alignment,
        query_frames: (first, last),
    }
}
