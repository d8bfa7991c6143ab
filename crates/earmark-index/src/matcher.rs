//! From a query's fingerprints to verified matches.
//!
//! 1. **Look up**: the query's groups of peaks are looked up under every key a
//!    catalog group of the same music can have after a supported change of speed,
//!    tempo or pitch ([`earmark_core::hash::query_probes`]), in one batch per few
//!    thousand hashes; hashes with more postings than the cap are skipped.
//! 2. **Vote** ([`vote`]): each hit gives its own time scale (the spans' ratio), pitch
//!    offset (the anchors' difference) and catalog offset. Hits outside the supported
//!    range are dropped, the rest vote per track in cells of offset, scale and pitch:
//!    a track that really plays in the query piles its votes in one place.
//! 3. **Verify** ([`verify`]): the best tracks' catalog peaks are mapped into the
//!    query with their alignment and counted where a query peak answers them; the
//!    pairs refine the alignment. Too few, or too small a share, is no match: an
//!    empty list, never the nearest track.
//!
//! A query can contain several tracks (a mix, a medley): each is reported with its own
//! offsets, best first.

mod verify;
mod vote;

use earmark_core::{Fingerprint, HashConfig};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::posting::PostingLists;
use crate::store::Store;
use crate::track::TrackRecord;
use verify::{Alignment, Tolerance};

/// Thresholds of the matcher. The defaults come from the calibration on audio that is
/// not in the catalog (see the evaluation in `datasets/`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchConfig {
    /// Catalog peaks that verification must find in the query to report a match.
    pub min_score: u32,
    /// Least share of the catalog peaks mapped into the query that find their partner.
    pub min_match_share: f64,
    /// Distinct query anchors a track needs in its best vote window to be verified.
    pub min_votes: u32,
    /// Shortest matched span, in seconds.
    pub min_matched_duration_s: f64,
    /// Hashes with more postings are skipped.
    pub max_postings_per_hash: usize,
    /// Vote cell of the offset, in frames.
    pub offset_cell_frames: f64,
    /// Vote cell of the time scale's natural logarithm.
    pub ln_scale_cell: f64,
    /// Vote cell of the pitch offset, in semitones.
    pub pitch_cell_semitones: f64,
    /// How far from where a catalog peak maps a query peak may lie, in frames ...
    pub peak_tolerance_frames: f64,
    /// ... and in semitones.
    pub peak_tolerance_semitones: f64,
    /// Candidates verified per query, the strongest first.
    pub max_candidates: usize,
    /// Matches reported per query.
    pub max_matches: usize,
}

impl MatchConfig {
    /// The thresholds calibrated for an index built with `hash`.
    pub fn for_hash(_hash: &HashConfig) -> Self {
        Self {
            min_score: 25,
            min_match_share: 0.2,
            min_votes: 1,
            min_matched_duration_s: 0.5,
            max_postings_per_hash: 20_000,
            offset_cell_frames: 2.0,
            ln_scale_cell: 0.01,
            pitch_cell_semitones: 0.25,
            peak_tolerance_frames: 1.0,
            peak_tolerance_semitones: 0.3,
            max_candidates: 32,
            max_matches: 10,
        }
    }
}

/// The thresholds for [`HashConfig::default`], the configuration of new indexes.
impl Default for MatchConfig {
    fn default() -> Self {
        Self::for_hash(&HashConfig::default())
    }
}

/// A catalog track found in a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The track.
    pub track: TrackRecord,
    /// Distinct query landmarks aligned with the track at the reported offset.
    pub score: u32,
    /// Confidence in [0, 1]: 0.5 at the reporting threshold, rising with the score.
    pub confidence: f64,
    /// Where in the query the match starts, in seconds.
    pub query_offset_s: f64,
    /// Where in the track the match starts, in seconds.
    pub track_offset_s: f64,
    /// Length of the matched span, in seconds of the track.
    pub matched_duration_s: f64,
    /// Query seconds per track second: 1.0 for an unaltered copy, 0.95 for a copy
    /// sped up by about 5 %.
    pub time_scale: f64,
    /// How far the query's pitch lies above the track's, in semitones.
    pub pitch_shift_semitones: f64,
}

impl Match {
    /// A match by identical file content: certain, covering the whole track.
    pub fn exact(track: TrackRecord) -> Self {
        Self {
            score: u32::try_from(track.landmarks).unwrap_or(u32::MAX),
            confidence: 1.0,
            query_offset_s: 0.0,
            track_offset_s: 0.0,
            matched_duration_s: track.duration_s,
            time_scale: 1.0,
            pitch_shift_semitones: 0.0,
            track,
        }
    }
}

/// The exact-file matches of a file whose SHA-256 (hex) is `content_hash`: every
/// track made from these bytes, first ingested first (each holder's, so that a
/// decision weighs them all); empty when there is none.
///
/// # Errors
/// Store failures.
pub fn identify_exact(store: &dyn Store, content_hash: &str) -> Result<Vec<Match>> {
    Ok(store
        .tracks_by_content(content_hash)?
        .into_iter()
        .map(Match::exact)
        .collect())
}

/// Confidence of a score under `config`: `1 - 2^(-score / min_score)`.
pub fn confidence(score: u32, config: &MatchConfig) -> f64 {
    1.0 - 0.5f64.powf(f64::from(score) / f64::from(config.min_score.max(1)))
}

/// Hashes looked up per store call.
const LOOKUP_BATCH: usize = 4096;

/// Identifies the catalog tracks in a query given as one or more fingerprints of the
/// same audio (their groups are looked up together; the first one's peaks verify).
///
/// # Errors
/// [`Error::ConfigMismatch`] when the store was built with another hash configuration,
/// [`Error::AnalysisMismatch`] for fingerprints of another analysis, store failures.
pub fn identify(
    store: &dyn Store,
    prints: &[Fingerprint],
    hash_config: &HashConfig,
    config: &MatchConfig,
) -> Result<Vec<Match>> {
    if store.hash_config_id() != hash_config.id {
        return Err(Error::ConfigMismatch {
            index: store.hash_config_id(),
            query: hash_config.id,
        });
    }
    let Some(first) = prints.first() else {
        return Ok(Vec::new());
    };
    for p in prints {
        if p.analysis_id() != hash_config.analysis_id {
            return Err(Error::AnalysisMismatch {
                found: p.analysis_id(),
                expected: hash_config.analysis_id,
            });
        }
    }
    let frame_s = first.analysis().frame_duration_s();

    // Every print's groups, with every key they are looked up under.
    let mut groups = Vec::new();
    let mut probes: Vec<(u64, u32)> = Vec::new();
    for print in prints {
        let found = print.query_probes(hash_config);
        let base = groups.len() as u32;
        probes.extend(found.probes.iter().map(|&(h, g)| (h, g + base)));
        groups.extend(found.groups);
    }
    probes.sort_unstable();
    probes.dedup();
    let mut hashes: Vec<u64> = probes.iter().map(|&(h, _)| h).collect();
    hashes.dedup();
    let mut lists = PostingLists::new();
    for batch in hashes.chunks(LOOKUP_BATCH) {
        store.lookup_into(batch, config.max_postings_per_hash, &mut lists)?;
    }
    if lists.len() != hashes.len() {
        return Err(Error::Corrupt(format!(
            "the store answered {} posting lists for {} hashes",
            lists.len(),
            hashes.len()
        )));
    }

    let mut hits = Vec::new();
    let mut at = 0;
    for list in lists.iter() {
        let hash = probes[at].0;
        while at < probes.len() && probes[at].0 == hash {
            let group = &groups[probes[at].1 as usize];
            hits.extend(list.iter().filter_map(|p| vote::hit(group, p, hash_config)));
            at += 1;
        }
    }
    let cells = vote::Cells {
        offset_frames: config.offset_cell_frames,
        ln_scale: config.ln_scale_cell,
        pitch_semitones: config.pitch_cell_semitones,
    };
    let candidates = vote::candidates(
        &hits,
        &cells,
        config.min_votes as usize,
        config.max_candidates,
    );
    drop(hits);

    // A track's two windows come one after the other: its fingerprint is read once.
    let mut idx: Vec<u32> = candidates.iter().map(|c| c.track).collect();
    idx.dedup();
    let prints = store.fingerprints_by_idx(&idx)?;
    let catalog = candidates.iter().map(|c| {
        idx.iter()
            .position(|&t| t == c.track)
            .and_then(|k| prints[k].as_ref())
    });
    let tolerance = Tolerance {
        frames: config.peak_tolerance_frames,
        semitones: config.peak_tolerance_semitones,
    };
    let query_frames = first.duration_s() / frame_s;
    let mut verified = Vec::new();
    for (candidate, print) in candidates.iter().zip(catalog) {
        let Some(print) = print else { continue };
        let start = Alignment {
            scale: vote::median(candidate.hits.iter().map(|h| h.ln_scale).collect()).exp(),
            pitch: vote::median(candidate.hits.iter().map(|h| h.pitch).collect()),
            offset: vote::median(candidate.hits.iter().map(|h| h.offset).collect()),
        };
        let v = verify::verify(
            first.peaks(),
            query_frames,
            print.peaks(),
            start,
            &tolerance,
        );
        let span_s = (v.query_frames.1 - v.query_frames.0) * frame_s;
        if v.matched >= config.min_score
            && f64::from(v.matched) >= config.min_match_share * f64::from(v.considered)
            && span_s >= config.min_matched_duration_s
        {
            verified.push((candidate.track, v));
        }
    }
    verified.sort_by(|a, b| b.1.matched.cmp(&a.1.matched).then(a.0.cmp(&b.0)));
    // A track verified at two places is reported at the better one.
    let mut reported = std::collections::HashSet::new();
    verified.retain(|v| reported.insert(v.0));
    verified.truncate(config.max_matches);

    let idx: Vec<u32> = verified.iter().map(|v| v.0).collect();
    let records = store.tracks_by_idx(&idx)?;
    Ok(verified
        .into_iter()
        .zip(records)
        // A track deleted between lookup and now is simply not reported.
        .filter_map(|((_, v), record)| {
            let track = record?;
            let a = v.alignment;
            let (first_q, last_q) = v.query_frames;
            Some(Match {
                track,
                score: v.matched,
                confidence: confidence(v.matched, config),
                query_offset_s: first_q * frame_s,
                track_offset_s: ((first_q / a.scale + a.offset) * frame_s).max(0.0),
                matched_duration_s: (last_q - first_q) / a.scale * frame_s,
                time_scale: a.scale,
                pitch_shift_semitones: a.pitch,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests;
