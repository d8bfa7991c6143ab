//! Tests of the matcher: the vote, the verification and the whole path on synthetic
//! peaks under known changes of speed and pitch.

use earmark_core::config::{PITCH_STEPS_PER_SEMITONE, TICKS_PER_FRAME};
use earmark_core::synthetic::{self, peaks};
use earmark_core::{AnalysisConfig, Aux, Peak, QueryGroup};

use super::vote::{Cells, Hit};
use super::*;
use crate::posting::Posting;
use crate::{MemoryStore, NewTrack, TrackId, TrackMeta};

const STEPS: f64 = PITCH_STEPS_PER_SEMITONE as f64;

/// The part of `peaks` from `from_s` for `len_s` seconds, as heard after time scale
/// `scale` (query seconds per original second) and a pitch shift of `semitones`.
fn altered(peaks: &[Peak], from_s: f64, len_s: f64, scale: f64, semitones: f64) -> Vec<Peak> {
    let tick_s = AnalysisConfig::V2.tick_duration_s();
    let first = (from_s / tick_s).round() as u32;
    let last = ((from_s + len_s) / tick_s).round() as u32;
    let excerpt: Vec<Peak> = peaks
        .iter()
        .filter(|p| (first..last).contains(&p.tick))
        .map(|p| Peak {
            tick: p.tick - first,
            ..*p
        })
        .collect();
    synthetic::altered(&excerpt, scale, semitones)
}

fn print(peaks: Vec<Peak>, duration_s: f64) -> Fingerprint {
    Fingerprint::new(2, (duration_s * 1000.0) as u32, peaks).expect("valid peaks")
}

fn id(text: &str) -> TrackId {
    TrackId::new(text).expect("valid id")
}

#[test]
fn confidence_is_one_half_at_the_threshold() {
    let config = MatchConfig::default();
    assert!((confidence(config.min_score, &config) - 0.5).abs() < 1e-9);
    assert!(confidence(4 * config.min_score, &config) > 0.9);
    assert!(confidence(0, &config).abs() < 1e-9);
}

#[test]
fn a_hit_estimates_its_change_and_is_dropped_outside_the_supported_range() {
    let hash = HashConfig::DEFAULT;
    // A catalog group of a 20-frame span anchored at 12 semitones, frame 500.
    let aux = Aux::encode(20 * TICKS_PER_FRAME, (12.0 * STEPS) as u16, &hash);
    let posting = Posting {
        track: 3,
        frame: 500,
        aux,
    };
    let group = |span_frames: f64, semitones: f64| QueryGroup {
        tick: 100 * TICKS_PER_FRAME,
        pitch: (semitones * STEPS).round() as u16,
        span_ticks: (span_frames * f64::from(TICKS_PER_FRAME)).round() as u32,
    };
    // 5 % slower and a semitone up: both within the supported range.
    let hit = vote::hit(&group(21.0, 13.0), &posting, &hash).expect("in range");
    assert_eq!(hit.track, 3);
    assert!((hit.ln_scale.exp() - 1.05).abs() < 0.01, "{hit:?}");
    assert!((hit.pitch - 1.0).abs() < 0.25, "{hit:?}");
    // The query's frame 100 is the catalog's frame 500: frame 0 maps to 500 - 100 / 1.05.
    assert!((hit.offset - (500.0 - 100.0 / 1.05)).abs() < 1.0, "{hit:?}");
    assert_eq!(hit.anchor, 100 * TICKS_PER_FRAME);
    // Beyond the supported time scale either way, or the pitch shift: no hit.
    assert_eq!(vote::hit(&group(26.0, 12.0), &posting, &hash), None);
    assert_eq!(vote::hit(&group(16.0, 12.0), &posting, &hash), None);
    assert_eq!(vote::hit(&group(20.0, 16.0), &posting, &hash), None);
    assert_eq!(vote::hit(&group(20.0, 8.0), &posting, &hash), None);
}

#[test]
fn the_densest_vote_window_wins_and_an_anchor_counts_once() {
    let cells = Cells {
        offset_frames: 2.0,
        ln_scale: 0.01,
        pitch_semitones: 0.25,
    };
    let hit = |track: u32, offset: f64, anchor: u32| Hit {
        track,
        ln_scale: 0.003,
        pitch: 0.1,
        offset,
        anchor,
    };
    let mut hits = Vec::new();
    // Track 1: ten anchors at one alignment, two strays elsewhere.
    hits.extend((0..10).map(|a| hit(1, 100.5, a)));
    hits.push(hit(1, 400.0, 50));
    hits.push(hit(1, 900.0, 51));
    // Track 2: six anchors, each hitting many times: six votes, not thirty.
    for a in 0..6 {
        hits.extend((0..5).map(|_| hit(2, 30.0, a)));
    }
    // Track 3: three anchors only.
    hits.extend((0..3).map(|a| hit(3, 7.0, a)));

    let found = vote::candidates(&hits, &cells, 4, 8);
    let tracks: Vec<u32> = found.iter().map(|c| c.track).collect();
    assert_eq!(tracks, [1, 2], "best first, track 3 below the least votes");
    assert_eq!(
        found[0].hits.len(),
        10,
        "only the hits of the winning window"
    );
    assert!(found[0].hits.iter().all(|h| h.offset == 100.5));
    assert_eq!(found[1].hits.len(), 30);
    assert_eq!(vote::candidates(&hits, &cells, 4, 1).len(), 1);
}

#[test]
fn verification_counts_the_catalog_peaks_the_query_answers_and_refines_the_alignment() {
    let catalog = peaks(60, 7);
    let (scale, semitones) = (1.04, -1.5);
    let query = altered(&catalog, 20.0, 10.0, scale, semitones);
    let query_frames = 10.0 * scale / AnalysisConfig::V2.frame_duration_s();
    let tolerance = Tolerance {
        frames: 1.0,
        semitones: 0.3,
    };
    // The vote's estimate: a little off in every direction.
    let truth_offset = 20.0 / AnalysisConfig::V2.frame_duration_s();
    let start = Alignment {
        scale: scale * 1.004,
        pitch: semitones + 0.1,
        offset: truth_offset + 0.6,
    };
    let v = verify::verify(&query, query_frames, &catalog, start, &tolerance);
    assert!(
        f64::from(v.matched) > 0.9 * query.len() as f64,
        "{} of {} query peaks matched",
        v.matched,
        query.len()
    );
    let a = v.alignment;
    assert!((a.scale / scale - 1.0).abs() < 0.002, "{a:?}");
    assert!((a.pitch - semitones).abs() < 0.05, "{a:?}");
    assert!((a.offset - truth_offset).abs() < 0.3, "{a:?}");
    assert!(
        v.query_frames.0 < 5.0 && v.query_frames.1 > query_frames - 5.0,
        "{v:?}"
    );

    // The same alignment against other music: a few chance partners.
    let other = altered(&peaks(60, 99), 20.0, 10.0, scale, semitones);
    let v = verify::verify(&other, query_frames, &catalog, start, &tolerance);
    assert!(
        f64::from(v.matched) < 0.1 * f64::from(v.considered),
        "{} of {} matched by chance",
        v.matched,
        v.considered
    );
}

/// A store of three tracks, each indexed from its fingerprint.
fn catalog_store() -> (MemoryStore, Vec<Vec<Peak>>) {
    let hash = HashConfig::DEFAULT;
    let store = MemoryStore::new(hash.id);
    let mut all = Vec::new();
    for seed in 1..=3u32 {
        let p = peaks(90, seed * 1_000 + 7);
        let track = NewTrack::from_fingerprint(
            id(&format!("t{seed}")),
            TrackMeta::default(),
            None,
            print(p.clone(), 90.0),
            &hash,
        );
        store.put_track(&track).expect("put");
        all.push(p);
    }
    (store, all)
}

#[test]
fn an_altered_excerpt_is_found_with_its_offset_scale_and_pitch() {
    let hash = HashConfig::DEFAULT;
    let config = MatchConfig::default();
    let (store, catalog) = catalog_store();
    for (scale, semitones) in [
        (1.0, 0.0),
        (1.0 / 1.05, 12.0 * 1.05f64.log2()),
        (1.08, 0.0),
        (1.0, -2.0),
    ] {
        let from_s = 37.0;
        let query = print(
            altered(&catalog[1], from_s, 10.0, scale, semitones),
            10.0 * scale,
        );
        let matches =
            identify(&store, std::slice::from_ref(&query), &hash, &config).expect("identifies");
        let label = format!("scale {scale:.3}, {semitones:+.2} semitones");
        assert_eq!(matches.len(), 1, "{label}: {matches:?}");
        let m = &matches[0];
        assert_eq!(m.track.id, id("t2"), "{label}");
        assert!(
            m.score >= 2 * config.min_score,
            "{label}: score {}",
            m.score
        );
        assert!((m.time_scale / scale - 1.0).abs() < 0.005, "{label}: {m:?}");
        assert!(
            (m.pitch_shift_semitones - semitones).abs() < 0.1,
            "{label}: {m:?}"
        );
        // Where the match starts in the query, mapped back into the track.
        let start = m.track_offset_s - m.query_offset_s / m.time_scale;
        assert!(
            (start - from_s).abs() < 0.1,
            "{label}: starts at {start:.3} s"
        );
        assert!(m.matched_duration_s > 8.0, "{label}: {m:?}");
    }
    // Other music: nothing, not the nearest track.
    let unrelated = print(altered(&peaks(90, 4_242), 10.0, 10.0, 1.0, 0.0), 10.0);
    let matches = identify(&store, &[unrelated], &hash, &config).expect("identifies");
    assert_eq!(matches, []);
}

#[test]
fn a_track_indexed_without_its_fingerprint_is_never_identified() {
    let hash = HashConfig::DEFAULT;
    let config = MatchConfig::default();
    let store = MemoryStore::new(hash.id);
    let p = peaks(60, 5);
    let mut track = NewTrack::from_fingerprint(
        id("bare"),
        TrackMeta::default(),
        None,
        print(p.clone(), 60.0),
        &hash,
    );
    track.fingerprint = None;
    store.put_track(&track).expect("put");
    // Every hash of the query is in the index, but there is nothing to verify against.
    let query = print(altered(&p, 10.0, 10.0, 1.0, 0.0), 10.0);
    let matches = identify(&store, &[query], &hash, &config).expect("identifies");
    assert_eq!(matches, []);
}

#[test]
fn an_index_of_another_configuration_is_refused() {
    let hash = HashConfig::DEFAULT;
    let store = MemoryStore::new(1);
    let query = print(peaks(5, 3), 5.0);
    let err = identify(&store, &[query], &hash, &MatchConfig::default()).expect_err("retired");
    assert!(
        matches!(err, Error::ConfigMismatch { index: 1, query } if query == hash.id),
        "{err}"
    );
}
