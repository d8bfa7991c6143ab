//! From a query's fingerprints to verified matches.
//!
//! 1. **Look up**: the query's landmarks (paired with the wider query fan-out, from
//!    every sub-hop shifted analysis) are looked up in one batch per few thousand
//!    hashes; hashes with more postings than the cap are skipped.
//! 2. **Vote**: each posting votes for `(track, track frame - query frame)`; a track
//!    that really plays in the query piles its votes on one offset.
//! 3. **Verify**: the best offsets (one frame either side) are checked before they are
//!    reported: enough distinct aligned landmarks, spread over the matched span rather
//!    than bunched in one moment, and present in both halves of the span. Anything
//!    less is no match: an empty list, never the nearest track.
//!
//! A query can contain several tracks (a mix, a medley): each is reported with its own
//! offsets, best first.

use earmark_core::{Fingerprint, HashConfig};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::posting::PostingLists;
use crate::store::Store;
use crate::track::TrackRecord;

/// Thresholds of the matcher. The defaults come from the calibration on audio that is
/// not in the catalog (see the evaluation in `datasets/`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchConfig {
    /// Distinct aligned query landmarks needed to report a match.
    pub min_score: u32,
    /// Shortest matched span, in seconds.
    pub min_matched_duration_s: f64,
    /// Least fraction of the matched span's seconds that hold an aligned landmark.
    pub min_spread: f64,
    /// Least share of the score in each half of the matched span.
    pub min_half_share: f64,
    /// Least score per second of matched span. Chance alignments of long queries
    /// (whole files) gather enough votes over a minute or more, but thinly.
    pub min_score_per_s: f64,
    /// Least matched span as a share of the query's duration, up to
    /// `max_required_span_s`: a dense burst of a second or two (a shared sample or
    /// drum loop) is not the recording.
    pub min_span_share: f64,
    /// Cap of the span `min_span_share` asks for, in seconds.
    pub max_required_span_s: f64,
    /// Hashes with more postings are skipped.
    pub max_postings_per_hash: usize,
    /// Offsets this many frames apart vote together.
    pub offset_tolerance_frames: i64,
    /// Candidates verified per query, the strongest first.
    pub max_candidates: usize,
    /// Matches reported per query.
    pub max_matches: usize,
}

impl MatchConfig {
    /// The thresholds calibrated for an index built with `hash`: scores scale with the
    /// fan-outs, so each hash configuration has its own. Ids without a calibration get
    /// `robust`'s, the strictest.
    pub fn for_hash(hash: &HashConfig) -> Self {
        const COMPACT: u16 = HashConfig::COMPACT.id;
        const LARGE_CATALOG: u16 = HashConfig::LARGE_CATALOG.id;
        let (min_score, min_score_per_s, min_half_share) = match hash.id {
            // `compact` (catalog fan-out 3, query fan-out 8), swept on the full
            // evaluation set (88 catalog tracks, 5,060 queries, 1,012 of them outside
            // the catalog) with `examples/fan_out.rs`: 35 still let one negative
            // through, 40 none; scores are about half of `robust`'s, so the
            // per-second floor is halved too.
            COMPACT => (40, 2.0, 0.1),
            // `large-catalog` (triplets), swept on a 1,650-query subset of the full set
            // (330 of them outside the catalog; clean 3 s to whole files, codecs, white
            // and pink noise, another song underneath): 10 let 1-3 negatives through,
            // 12 none. At 15 the held-out check (music of four other packages) then
            // matched one whole file outside the catalog, 17 triplets over 4.8 s of
            // 157 s; 20 keeps a margin above that. True matches in heavy noise gather
            // where the music is loud, so the halves rule, which stopped dense chance
            // bursts of pairs, only cost true matches here and is off. The sweep was
            // of the same triplets in 32 bits; in 40 bits the true votes are the same
            // and the chance votes a subset, so the same thresholds hold.
            LARGE_CATALOG => (20, 1.5, 0.0),
            // `robust`. The quick evaluation set (8 catalog tracks, 48 ten-second
            // queries): every true match scored 349 or more, chance alignments at most
            // 40. The full set (88 tracks, 5,060 queries): true matches held at least 6.2
            // aligned landmarks per second of span; chance matches of whole files outside
            // the catalog at most 2.4 over 38-99 s, and two bursts of 48-53 per second
            // over 1.3 s of a 10 s and a 20 s query.
            _ => (60, 4.0, 0.1),
        };
        Self {
            min_score,
            min_matched_duration_s: 0.5,
            min_spread: 0.3,
            min_half_share,
            min_score_per_s,
            min_span_share: 0.3,
            max_required_span_s: 3.0,
            max_postings_per_hash: 20_000,
            offset_tolerance_frames: 1,
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
    /// Length of the matched span, in seconds.
    pub matched_duration_s: f64,
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

/// One vote: a query landmark at `query_frame` meets a posting at `offset` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Vote {
    track: u32,
    offset: i64,
    query_frame: u32,
    hash: u64,
}

/// A query's votes, walked from its landmarks and their posting lists instead of
/// stored: a query casts tens of thousands, and the matcher needs them twice.
struct Votes<'a> {
    /// `(hash, query frame)`, sorted and distinct.
    landmarks: &'a [(u64, u32)],
    /// One list per distinct hash of `landmarks`, in the same order.
    lists: &'a PostingLists,
}

impl Votes<'_> {
    /// Calls `visit` for every vote: each landmark meets each posting of its hash.
    fn for_each(&self, mut visit: impl FnMut(Vote)) {
        let mut at = 0;
        for list in self.lists.iter() {
            let Some(&(hash, _)) = self.landmarks.get(at) else {
                return;
            };
            let start = at;
            while at < self.landmarks.len() && self.landmarks[at].0 == hash {
                at += 1;
            }
            for &(_, query_frame) in &self.landmarks[start..at] {
                for p in list {
                    visit(Vote {
                        track: p.track,
                        offset: i64::from(p.frame) - i64::from(query_frame),
                        query_frame,
                        hash,
                    });
                }
            }
        }
    }
}

/// Offsets are stored biased by this in the low half of a [`vote_key`].
const OFFSET_BIAS: i64 = 1 << 31;

/// A vote's track and offset in one `u64` that sorts like `(track, offset)`: sorting
/// these is several times cheaper than sorting whole votes, and candidates need no more.
fn vote_key(track: u32, offset: i64) -> u64 {
    let biased = (offset + OFFSET_BIAS).clamp(0, i64::from(u32::MAX));
    (u64::from(track) << 32) | biased as u64
}

fn key_track(key: u64) -> u32 {
    (key >> 32) as u32
}

fn key_offset(key: u64) -> i64 {
    i64::from(key as u32) - OFFSET_BIAS
}

/// Hashes looked up per store call.
const LOOKUP_BATCH: usize = 4096;

/// Identifies the catalog tracks in a query given as one or more fingerprints of the
/// same audio (sub-hop shifted analyses, see
/// [`earmark_core::StreamFingerprinter::finish_shifts`]).
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
    let query_s = prints
        .iter()
        .map(Fingerprint::duration_s)
        .fold(0.0, f64::max);

    let mut landmarks: Vec<(u64, u32)> = prints
        .iter()
        .flat_map(|p| p.query_landmarks(hash_config))
        .map(|l| (l.hash, l.frame))
        .collect();
    landmarks.sort_unstable();
    landmarks.dedup();
    let mut hashes: Vec<u64> = landmarks.iter().map(|&(h, _)| h).collect();
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
    let votes = Votes {
        landmarks: &landmarks,
        lists: &lists,
    };
    let mut keys: Vec<u64> = Vec::with_capacity(lists.total_postings());
    let mut max_track = 0;
    votes.for_each(|v| {
        max_track = max_track.max(v.track);
        keys.push(vote_key(v.track, v.offset));
    });
    let candidates = if counts_by_track(max_track, keys.len()) {
        best_offsets_by_track(&keys, max_track, config)
    } else {
        keys.sort_unstable();
        best_offsets(&keys, config)
    };
    drop(keys);

    let mut verified: Vec<(u32, u32, i64, u32, u32)> = Vec::new(); // track, score, offset, first, last
    for ((track, offset), aligned) in
        candidates
            .iter()
            .zip(aligned_votes(&votes, &candidates, config))
    {
        if let Some((score, first_frame, last_frame)) = verify(&aligned, config, frame_s, query_s) {
            verified.push((*track, score, *offset, first_frame, last_frame));
        }
    }
    verified.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    verified.truncate(config.max_matches);

    let idx: Vec<u32> = verified.iter().map(|v| v.0).collect();
    let records = store.tracks_by_idx(&idx)?;
    Ok(verified
        .into_iter()
        .zip(records)
        // A track deleted between lookup and now is simply not reported.
        .filter_map(|((_, score, offset, first_frame, last_frame), record)| {
            let track = record?;
            let query_offset_s = f64::from(first_frame) * frame_s;
            Some(Match {
                track,
                score,
                confidence: confidence(score, config),
                query_offset_s,
                track_offset_s: ((i64::from(first_frame) + offset) as f64 * frame_s).max(0.0),
                matched_duration_s: f64::from(last_frame - first_frame + 1) * frame_s,
            })
        })
        .collect())
}

/// Whether [`best_offsets_by_track`] may count votes in an array indexed by track: a
/// catalog's track indexes are dense, and the array stays within a few times the
/// votes; anything else (a corrupt posting naming track 4 billion) takes the sort.
fn counts_by_track(max_track: u32, votes: usize) -> bool {
    let tracks = max_track as usize + 1;
    votes < u32::MAX as usize && tracks <= votes.saturating_mul(4).saturating_add(1 << 16)
}

/// The same candidates as [`best_offsets`], from unsorted `keys`, without sorting them
/// all: a counting pass groups the votes by track, tracks with fewer than `min_score`
/// votes in all are dropped (no window of theirs can reach it), and only each kept
/// track's offsets are sorted. At 10k catalog tracks the sort of all keys was over a
/// third of lookup + alignment.
/// `max_track` is the largest track of `keys`, within [`counts_by_track`]'s bounds.
fn best_offsets_by_track(keys: &[u64], max_track: u32, config: &MatchConfig) -> Vec<(u32, i64)> {
    let min = (config.min_score as usize).max(1);
    // Votes per track, then where each kept track's offsets go (`DROPPED` if it is not).
    const DROPPED: u32 = u32::MAX;
    let mut cursor = vec![0u32; max_track as usize + 1];
    for &key in keys {
        cursor[key_track(key) as usize] += 1;
    }
    let mut kept: Vec<(u32, usize, usize)> = Vec::new(); // track, start, votes
    let mut total = 0usize;
    for (track, slot) in cursor.iter_mut().enumerate() {
        let votes = *slot as usize;
        if votes >= min {
            kept.push((track as u32, total, votes));
            *slot = total as u32;
            total += votes;
        } else {
            *slot = DROPPED;
        }
    }
    let mut offsets = vec![0u32; total]; // biased, as in the keys
    for &key in keys {
        let slot = &mut cursor[key_track(key) as usize];
        if *slot != DROPPED {
            offsets[*slot as usize] = key as u32;
            *slot += 1;
        }
    }
    let tol = config.offset_tolerance_frames;
    let mut best: Vec<(usize, u32, i64)> = Vec::new(); // votes, track, offset
    for (track, start, votes) in kept {
        let run = &mut offsets[start..start + votes];
        if window_bound(run, tol) < config.min_score as usize {
            continue;
        }
        run.sort_unstable();
        let (count, offset) = densest_window(run.len(), |i| key_offset(u64::from(run[i])), tol);
        if count >= config.min_score as usize {
            best.push((count, track, offset));
        }
    }
    strongest(best, config)
}

/// Buckets of [`window_bound`]: few enough to clear and scan in less time than a
/// chance track's offsets take to sort.
const BOUND_BUCKETS: usize = 64;

/// An upper bound of [`densest_window`]'s count over one track's biased offsets `run`,
/// in any order, without sorting them. Offsets are counted in bins of a power of two
/// frames, at least a window wide, folded onto [`BOUND_BUCKETS`] buckets: a window
/// lies within two neighbouring bins, and folding only adds votes, so no window holds
/// more than the fullest pair of neighbouring buckets. At 10k catalog tracks most
/// tracks that pass the vote count are chance, and a bound under `min_score` spares
/// their sort.
fn window_bound(run: &[u32], tol: i64) -> usize {
    let Some(width) = u64::try_from(tol)
        .ok()
        .and_then(|t| t.checked_mul(2)?.checked_add(1))
    else {
        return run.len();
    };
    let shift = width.next_power_of_two().trailing_zeros();
    if shift >= 32 {
        return run.len();
    }
    let mut buckets = [0u32; BOUND_BUCKETS];
    for &o in run {
        buckets[(o >> shift) as usize % BOUND_BUCKETS] += 1;
    }
    (0..BOUND_BUCKETS)
        .map(|b| buckets[b] as usize + buckets[(b + 1) % BOUND_BUCKETS] as usize)
        .max()
        .unwrap_or(0)
}

/// For each track, the offset whose window of `± tolerance` frames holds the most
/// votes; the strongest `max_candidates` tracks with at least `min_score` votes.
/// `keys` are [`vote_key`]s, sorted.
fn best_offsets(keys: &[u64], config: &MatchConfig) -> Vec<(u32, i64)> {
    let tol = config.offset_tolerance_frames;
    let mut best: Vec<(usize, u32, i64)> = Vec::new(); // votes, track, offset
    for run in keys.chunk_by(|a, b| key_track(*a) == key_track(*b)) {
        let (count, offset) = densest_window(run.len(), |i| key_offset(run[i]), tol);
        if count >= config.min_score as usize {
            best.push((count, key_track(run[0]), offset));
        }
    }
    strongest(best, config)
}

/// The most votes in a window `[offset - tol, offset + tol]` over `len` offsets sorted
/// ascending, with the window's centre (the first such window on ties).
fn densest_window(len: usize, offset_at: impl Fn(usize) -> i64, tol: i64) -> (usize, i64) {
    // Two pointers: window [offset_at(lo), offset_at(lo) + 2 tol].
    let (mut lo, mut top) = (0, (0usize, 0i64));
    for hi in 0..len {
        while offset_at(hi) - offset_at(lo) > 2 * tol {
            lo += 1;
        }
        let count = hi - lo + 1;
        if count > top.0 {
            top = (count, offset_at(lo) + tol);
        }
    }
    top
}

/// `(votes, track, offset)` ranked by votes, then track; the first `max_candidates`.
fn strongest(mut best: Vec<(usize, u32, i64)>, config: &MatchConfig) -> Vec<(u32, i64)> {
    best.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    best.truncate(config.max_candidates);
    best.into_iter().map(|(_, t, o)| (t, o)).collect()
}

/// For each candidate `(track, offset)`, the distinct `(hash, query frame)` pairs of the
/// votes within `± tolerance` of its offset: one pass over the votes for all of them.
fn aligned_votes(
    votes: &Votes<'_>,
    candidates: &[(u32, i64)],
    config: &MatchConfig,
) -> Vec<Vec<(u64, u32)>> {
    let tol = config.offset_tolerance_frames;
    // A few dozen candidates at most: a sorted list and a binary search per vote are
    // cheaper than hashing every vote's track.
    let mut by_track: Vec<(u32, usize)> = candidates
        .iter()
        .enumerate()
        .map(|(i, &(track, _))| (track, i))
        .collect();
    by_track.sort_unstable();
    let mut aligned: Vec<Vec<(u64, u32)>> = vec![Vec::new(); candidates.len()];
    // Most votes are chance votes for other tracks: one bit test skips them. Only for
    // candidate tracks numbered within a few times the postings read (a catalog's dense
    // numbering), like the vote count's array; otherwise every vote takes the search.
    let highest = by_track.last().map_or(0, |&(track, _)| track);
    let dense = counts_by_track(highest, votes.lists.total_postings());
    let candidate_bits: Option<Vec<u64>> = dense.then(|| {
        let highest = highest as usize;
        let mut bits = vec![0u64; highest / 64 + 1];
        for &(track, _) in &by_track {
            bits[track as usize / 64] |= 1 << (track % 64);
        }
        bits
    });
    votes.for_each(|v| {
        if let Some(bits) = &candidate_bits {
            let word = bits.get(v.track as usize / 64).copied().unwrap_or(0);
            if word & (1 << (v.track % 64)) == 0 {
                return;
            }
        }
        let start = by_track.partition_point(|&(track, _)| track < v.track);
        for &(_, i) in by_track[start..].iter().take_while(|&&(t, _)| t == v.track) {
            if (v.offset - candidates[i].1).abs() <= tol {
                aligned[i].push((v.hash, v.query_frame));
            }
        }
    });
    for pairs in &mut aligned {
        // Each query landmark counts once, however many nearby postings it met.
        pairs.sort_unstable();
        pairs.dedup();
    }
    aligned
}

/// Checks one candidate from its aligned `(hash, query frame)` pairs in a query of
/// `query_s` seconds; returns `(score, first query frame, last query frame)` when it
/// passes.
fn verify(
    aligned: &[(u64, u32)],
    config: &MatchConfig,
    frame_s: f64,
    query_s: f64,
) -> Option<(u32, u32, u32)> {
    let score = u32::try_from(aligned.len()).unwrap_or(u32::MAX);
    if score < config.min_score {
        return None;
    }
    let mut frames: Vec<u32> = aligned.iter().map(|&(_, f)| f).collect();
    frames.sort_unstable();
    let (first, last) = (*frames.first()?, *frames.last()?);
    let span_s = f64::from(last - first + 1) * frame_s;
    let required_span_s = (config.min_span_share * query_s)
        .min(config.max_required_span_s)
        .max(config.min_matched_duration_s);
    if span_s < required_span_s || f64::from(score) < config.min_score_per_s * span_s {
        return None;
    }
    let seconds_per_bin = (1.0 / frame_s).round().max(1.0) as u32;
    let bins = (last - first) / seconds_per_bin + 1;
    let mut occupied: Vec<u32> = frames
        .iter()
        .map(|f| (f - first) / seconds_per_bin)
        .collect();
    occupied.dedup();
    if (occupied.len() as f64) < config.min_spread * f64::from(bins) {
        return None;
    }
    let middle = first + (last - first) / 2;
    let early = frames.iter().filter(|&&f| f <= middle).count() as f64;
    let late = frames.len() as f64 - early;
    let min_half = config.min_half_share * f64::from(score);
    if early < min_half || late < min_half {
        return None;
    }
    Some((score, first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream from `seed`: each call gives a number
    /// below its argument.
    fn below(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut state = seed;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        }
    }

    fn vote(track: u32, offset: i64, query_frame: u32, hash: u64) -> Vote {
        Vote {
            track,
            offset,
            query_frame,
            hash,
        }
    }

    /// [`aligned_votes`] of exactly `votes`, walked from landmarks and posting lists
    /// built for them; the votes of one hash must share a query frame.
    fn aligned_of(
        votes: &[Vote],
        candidates: &[(u32, i64)],
        config: &MatchConfig,
    ) -> Vec<Vec<(u64, u32)>> {
        let mut by_hash: Vec<Vote> = votes.to_vec();
        by_hash.sort_by_key(|v| v.hash);
        let mut landmarks: Vec<(u64, u32)> = Vec::new();
        let mut lists = PostingLists::new();
        for group in by_hash.chunk_by(|a, b| a.hash == b.hash) {
            let query_frame = group[0].query_frame;
            assert!(group.iter().all(|v| v.query_frame == query_frame));
            landmarks.push((group[0].hash, query_frame));
            lists.push(group.iter().map(|v| crate::Posting {
                track: v.track,
                frame: u32::try_from(v.offset + i64::from(query_frame)).expect("frame"),
            }));
        }
        let walked = Votes {
            landmarks: &landmarks,
            lists: &lists,
        };
        let mut seen = Vec::new();
        walked.for_each(|v| seen.push(v));
        seen.sort_unstable();
        let mut expected = votes.to_vec();
        expected.sort_unstable();
        assert_eq!(seen, expected, "the walk casts exactly the votes");
        aligned_votes(&walked, candidates, config)
    }

    #[test]
    fn counting_by_track_finds_what_sorting_finds() {
        // Pseudo-random votes: clusters at one offset per even track over a spray of
        // chance votes, negative offsets, tracks with few votes, ties between tracks;
        // odd tracks of the last round pass the vote count, but not the window bound.
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        for (round, min_score) in [0u32, 1, 5, 40].into_iter().enumerate() {
            let config = MatchConfig {
                min_score,
                max_candidates: 8 + round,
                ..MatchConfig::default()
            };
            let mut keys = Vec::new();
            let tracks = if min_score == 40 {
                100
            } else {
                1 + next(300) as u32
            };
            for _ in 0..20_000 {
                let track = next(u64::from(tracks)) as u32;
                let offset = if track.is_multiple_of(2) && next(4) == 0 {
                    i64::from(track % 97) * 3 - 50 + next(3) as i64
                } else {
                    next(20_000) as i64 - 1_000
                };
                keys.push(vote_key(track, offset));
            }
            let max_track = keys.iter().map(|&k| key_track(k)).max().unwrap_or(0);
            assert!(counts_by_track(max_track, keys.len()));
            let counted = best_offsets_by_track(&keys, max_track, &config);
            keys.sort_unstable();
            let sorted = best_offsets(&keys, &config);
            assert!(!sorted.is_empty());
            assert_eq!(counted, sorted, "min_score {min_score}");
            if min_score == 40 {
                let bounded_out = keys
                    .chunk_by(|a, b| key_track(*a) == key_track(*b))
                    .filter(|run| run.len() >= 40)
                    .filter(|run| {
                        let offsets: Vec<u32> = run.iter().map(|&k| k as u32).collect();
                        window_bound(&offsets, config.offset_tolerance_frames) < 40
                    })
                    .count();
                assert!(
                    bounded_out > 50,
                    "the bound dropped only {bounded_out} tracks"
                );
            }
        }
    }

    #[test]
    fn aligned_votes_are_the_votes_near_each_candidate() {
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let config = MatchConfig::default();
        // Dense track numbers take the candidate bit test; a candidate numbered far
        // beyond the votes cast (a damaged posting) takes the search for every vote.
        for far in [None, Some(3_000_000_000u32)] {
            let mut votes = Vec::new();
            for hash in 0..3_000u64 {
                let query_frame = 20 + next(300) as u32;
                for _ in 0..1 + next(4) {
                    let track = if next(10) == 0 {
                        far.unwrap_or(7)
                    } else {
                        // Beyond the highest candidate too: past the bit set's end.
                        next(300) as u32
                    };
                    votes.push(vote(track, next(40) as i64 - 20, query_frame, hash));
                }
            }
            let mut candidates = vec![(7, 3), (150, -2), (7, -15), (199, 0)];
            if let Some(track) = far {
                candidates.push((track, 5));
            }
            let aligned = aligned_of(&votes, &candidates, &config);
            for (&(track, offset), got) in candidates.iter().zip(&aligned) {
                let mut expected: Vec<(u64, u32)> = votes
                    .iter()
                    .filter(|v| v.track == track && (v.offset - offset).abs() <= 1)
                    .map(|v| (v.hash, v.query_frame))
                    .collect();
                expected.sort_unstable();
                expected.dedup();
                assert!(!expected.is_empty());
                assert_eq!(got, &expected, "track {track} at {offset}");
            }
        }
    }

    #[test]
    fn the_window_bound_is_never_below_the_densest_window() {
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        let mut below_60 = 0;
        for round in 0..2_000 {
            let tol = [0, 1, 1, 2, 7][round % 5];
            let votes = 1 + next(400) as usize;
            let span = 1 + next(20_000) as u32;
            let base = OFFSET_BIAS as u32 - 10_000 + next(20_000) as u32;
            let mut run: Vec<u32> = (0..votes)
                .map(|_| base + next(u64::from(span)) as u32)
                .collect();
            if round % 2 == 0 {
                let at = base + next(u64::from(span)) as u32;
                run.extend((0..next(100)).map(|i| at + (i % 3) as u32));
            }
            let bound = window_bound(&run, tol);
            run.sort_unstable();
            let (count, _) = densest_window(run.len(), |i| key_offset(u64::from(run[i])), tol);
            assert!(bound >= count, "round {round}: bound {bound} < {count}");
            if bound < 60 && votes >= 60 {
                below_60 += 1;
            }
        }
        assert!(below_60 > 100, "the bound spared only {below_60} sorts");
        assert_eq!(window_bound(&[1, 2, 3], -1), 3, "no bound without a window");
        // The ends of the offset range, and windows so wide that few bins remain.
        for (run, tol) in [
            (vec![0, 1, 2, 3, 200, 201, 4_000], 1),
            (
                vec![u32::MAX - 2, u32::MAX - 1, u32::MAX, u32::MAX - 700],
                1,
            ),
            (vec![0, 1 << 28, 3 << 28, u32::MAX, 7, 5 << 28], 1 << 28),
            (vec![0, 1 << 31, u32::MAX], 1 << 31),
        ] {
            let bound = window_bound(&run, tol);
            let mut sorted = run.clone();
            sorted.sort_unstable();
            let (count, _) =
                densest_window(sorted.len(), |i| key_offset(u64::from(sorted[i])), tol);
            assert!(
                bound >= count,
                "{run:?} at tol {tol}: bound {bound} < {count}"
            );
        }
    }

    #[test]
    fn sparse_track_indexes_take_the_sort() {
        assert!(counts_by_track(10, 0));
        assert!(counts_by_track(99_999, 30_000));
        assert!(!counts_by_track(u32::MAX, 5_000));
        assert!(!counts_by_track(50_000_000, 1_000_000));
    }

    #[test]
    fn the_densest_offset_window_wins() {
        let config = MatchConfig {
            min_score: 3,
            ..MatchConfig::default()
        };
        let votes = [
            vote(1, 100, 0, 1),
            vote(1, 101, 5, 2),
            vote(1, 100, 9, 3),
            vote(1, 400, 1, 4),
            vote(2, 7, 5, 5),
            vote(2, -3, 5, 5),
        ];
        let mut keys: Vec<u64> = votes.iter().map(|v| vote_key(v.track, v.offset)).collect();
        keys.sort_unstable();
        assert_eq!(best_offsets(&keys, &config), vec![(1, 101)]);
        let aligned = aligned_of(&votes, &[(1, 101), (2, -3)], &config);
        assert_eq!(aligned[0].len(), 3);
        assert_eq!(aligned[1], vec![(5, 5)]);
    }

    #[test]
    fn bunched_votes_fail_verification() {
        let config = MatchConfig {
            min_score: 5,
            min_score_per_s: 0.5,
            ..MatchConfig::default()
        };
        let frame_s = 0.032;
        // Twenty aligned landmarks, all within a few frames but one far away: the span
        // is long, the spread is not.
        let mut votes: Vec<Vote> = (0..20).map(|i| vote(1, 50, i % 4, u64::from(i))).collect();
        votes.push(vote(1, 50, 600, 99));
        let aligned = aligned_of(&votes, &[(1, 50)], &config);
        assert_eq!(verify(&aligned[0], &config, frame_s, 20.0), None);
        // Spread evenly, the same count passes.
        let spread: Vec<Vote> = (0..20).map(|i| vote(1, 50, i * 30, u64::from(i))).collect();
        let aligned = aligned_of(&spread, &[(1, 50)], &config);
        assert!(verify(&aligned[0], &config, frame_s, 20.0).is_some());
    }

    #[test]
    fn thin_or_short_alignments_fail_verification() {
        let config = MatchConfig {
            min_score: 5,
            ..MatchConfig::default()
        };
        let frame_s = 0.032;
        // 60 landmarks spread over 60 s: one per second, the density of chance.
        let thin: Vec<Vote> = (0..60).map(|i| vote(1, 50, i * 31, u64::from(i))).collect();
        let aligned = aligned_of(&thin, &[(1, 50)], &config);
        assert_eq!(verify(&aligned[0], &config, frame_s, 120.0), None);
        // 40 landmarks in 1.3 s of a 10 s query: dense, but too short a span.
        let burst: Vec<Vote> = (0..40).map(|i| vote(1, 50, i, u64::from(i))).collect();
        let aligned = aligned_of(&burst, &[(1, 50)], &config);
        assert_eq!(verify(&aligned[0], &config, frame_s, 10.0), None);
        // The same burst is the whole of a 1.5 s query: it passes.
        assert!(verify(&aligned[0], &config, frame_s, 1.5).is_some());
    }

    #[test]
    fn vote_keys_sort_like_track_then_offset() {
        let pairs = [
            (0, -5_000_000),
            (0, -1),
            (0, 0),
            (0, 7),
            (1, -9),
            (u32::MAX, 3),
        ];
        for w in pairs.windows(2) {
            assert!(vote_key(w[0].0, w[0].1) < vote_key(w[1].0, w[1].1));
        }
        for &(t, o) in &pairs {
            let k = vote_key(t, o);
            assert_eq!((key_track(k), key_offset(k)), (t, o));
        }
    }

    #[test]
    fn confidence_is_one_half_at_the_threshold() {
        let config = MatchConfig::default();
        assert!((confidence(config.min_score, &config) - 0.5).abs() < 1e-9);
        assert!(confidence(4 * config.min_score, &config) > 0.9);
        assert!(confidence(0, &config).abs() < 1e-9);
    }
}
