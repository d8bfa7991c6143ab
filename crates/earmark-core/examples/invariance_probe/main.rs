//! Research probe: how many invariant group hashes survive speed, tempo and pitch
//! changes on real music, and how selective their keys are.
//!
//! `cargo run --release -p earmark-core --example invariance_probe -- EVAL_DIR [key=value ...]`

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

/// Errors from the helpers; `Send` so that rayon can collect them.
type Error = Box<dyn std::error::Error + Send + Sync>;

mod analysis;
mod groups;

use analysis::{HOP, P, RATE, load, peaks, spectrogram};
use groups::{Quad, key, probe_keys, quads};

/// Tunable knobs of peak picking, grouping, hashing and voting.
pub(crate) struct Params {
    pub(crate) cps: f32, // log cells per semitone for picking
    pub(crate) nf: usize,
    pub(crate) nc: usize,
    pub(crate) keep_ref: usize,
    pub(crate) keep_query: usize,
    pub(crate) win: usize,
    pub(crate) w: f32,
    pub(crate) tmin: f32,
    pub(crate) tmax: f32,
    pub(crate) span_min: f32,
    pub(crate) k_ref: usize,
    pub(crate) k_query: usize,
    pub(crate) qd: f32,
    pub(crate) qr: f32,
    pub(crate) band: f32,  // semitones per p_A band cell, 0 = none
    pub(crate) lspan: f32, // ln-span cell width, 0 = none
    pub(crate) group: usize,
    pub(crate) octaves: f32,
    /// Share of catalog groups indexed, chosen by key.
    pub(crate) keep: f32,
    /// Share of peaks, the strongest around each, that anchor groups.
    pub(crate) anchors: f32,
    pub(crate) margin: f32,
    pub(crate) max_probe_fields: usize,
    pub(crate) vote_ln_s: f32,
    pub(crate) vote_pi: f32,
    pub(crate) vote_off: f32,
}

/// The value of the first `k=value` argument, or `d` if there is none.
pub(crate) fn arg(args: &[String], k: &str, d: f32) -> Result<f32, Error> {
    let prefix = format!("{k}=");
    match args.iter().find_map(|a| a.strip_prefix(&prefix)) {
        Some(v) => v
            .parse()
            .map_err(|e| format!("bad value for `{k}`: `{v}` ({e})").into()),
        None => Ok(d),
    }
}

/// One reference quad in the index: its track and anchor.
struct Posting {
    track: u32,
    t_a: f32,
    p_a: f32,
    span: f32,
}

/// A reference track: its peaks (for verification) and its quads (for the index).
struct RefTrack {
    peaks: Vec<P>,
    quads: Vec<Quad>,
}

/// One row of `truth.csv`: a query file, its condition and where it comes from.
struct Truth {
    path: String,
    cond: String,
    track_id: String,
    offset: f64,
}

/// One vote of a query quad for a reference track: the implied transform.
#[derive(Clone, Copy)]
struct Hit {
    track: u32,
    ln_s: f32,
    pi: f32,
    off: f32,
    anchor: u32,
}

/// What one query found, for the per-condition table.
struct QueryResult {
    cond: String,
    /// The query's track is in the catalog.
    positive: bool,
    /// The top-voted track is the true one.
    found: bool,
    true_score: u32,
    false_score: u32,
    /// Relative error of the estimated time scale.
    es: f64,
    /// Error of the estimated pitch offset (semitones).
    ep: f64,
    /// Error of the estimated offset (seconds).
    eo: f64,
    looked: usize,
    touched: usize,
    /// The top verified track is the true one.
    vfound: bool,
    vtrue: u32,
    vfalse: u32,
}

/// Runs the probe; see the module documentation.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Widen the thread-safe error type that the rayon closures need.
    run().map_err(|e| -> Box<dyn std::error::Error> { e })
}

/// Indexes the catalog, runs every query against it and prints a table per condition.
fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, a @ ..] = args.as_slice() else {
        return Err("usage: invariance_probe EVAL_DIR [key=value ...]".into());
    };
    let prm = Params {
        cps: arg(a, "cps", 3.0)?,
        nf: arg(a, "nf", 4.0)? as usize,
        nc: arg(a, "nc", 4.0)? as usize,
        keep_ref: arg(a, "keep_ref", 24.0)? as usize,
        keep_query: arg(a, "keep_query", 32.0)? as usize,
        win: arg(a, "win", 31.0)? as usize,
        w: arg(a, "w", 8.0)?,
        tmin: arg(a, "tmin", 1.0)?,
        tmax: arg(a, "tmax", 63.0)?,
        span_min: arg(a, "span_min", 4.0)?,
        k_ref: arg(a, "k_ref", 4.0)? as usize,
        k_query: arg(a, "k_query", 7.0)? as usize,
        qd: arg(a, "qd", 0.5)?,
        qr: arg(a, "qr", 0.1)?,
        band: arg(a, "band", 0.0)?,
        lspan: arg(a, "lspan", 0.0)?,
        group: arg(a, "group", 4.0)? as usize,
        octaves: arg(a, "octaves", 0.0)?,
        keep: arg(a, "keep", 1.0)?,
        anchors: arg(a, "anchors", 1.0)?,
        margin: arg(a, "margin", 0.2)?,
        max_probe_fields: arg(a, "probe", 2.0)? as usize,
        vote_ln_s: arg(a, "vote_ln_s", 0.01)?,
        vote_pi: arg(a, "vote_pi", 0.25)?,
        vote_off: arg(a, "vote_off", 2.0)?,
    };
    if prm.group < 2 {
        return Err(format!("group must be at least 2, not {}", prm.group).into());
    }
    let limit = arg(a, "limit", 1e9)? as usize;
    let nver = arg(a, "nver", 10.0)? as usize;
    let vt = arg(a, "vt", 1.0)?;
    let vp = arg(a, "vp", 0.3)?;
    let only = a.iter().find_map(|x| x.strip_prefix("cond=")).unwrap_or("");

    // Catalog.
    let path = format!("{dir}/catalog.csv");
    let raw = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let header: Vec<&str> = raw
        .lines()
        .next()
        .ok_or_else(|| format!("{path} is empty"))?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("{path} has no `{name}` column"))
    };
    let (ip, ii) = (column("path")?, column("track_id")?);
    let catalog: Vec<(String, String)> = raw
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            match (f.get(ii), f.get(ip)) {
                (Some(id), Some(p)) => Ok(((*id).to_owned(), (*p).to_owned())),
                _ => Err(format!("{path}: too few fields in `{l}`")),
            }
        })
        .collect::<Result<_, _>>()?;

    let t0 = std::time::Instant::now();
    let refs: Vec<RefTrack> = catalog
        .par_iter()
        .map(|(_, path)| -> Result<RefTrack, Error> {
            let lin = spectrogram(&load(path)?)?;
            let ps = peaks(&lin, &prm, prm.keep_ref);
            Ok(RefTrack {
                quads: quads(&ps, &prm, prm.k_ref),
                peaks: ps,
            })
        })
        .collect::<Result<_, _>>()?;
    let mut index: HashMap<u64, Vec<Posting>> = HashMap::new();
    let mut total = 0usize;
    let mut secs = 0.0f64;
    let mut npeaks = 0usize;
    for (i, r) in refs.iter().enumerate() {
        npeaks += r.peaks.len();
        for q in &r.quads {
            let k = key(q, &prm);
            // A seeded share of the groups: the query finds the kept ones, as it
            // looks up all of its own.
            if ((k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as f32) >= prm.keep * 1024.0 {
                continue;
            }
            index.entry(k).or_default().push(Posting {
                track: i as u32,
                t_a: q.t_a,
                p_a: q.p_a,
                span: q.span,
            });
            total += 1;
        }
        secs += r
            .quads
            .last()
            .map_or(0.0, |q| q.t_a as f64 * HOP as f64 / RATE as f64);
    }
    let collision: f64 = index
        .values()
        .map(|v| (v.len() as f64 / total as f64).powi(2))
        .sum();
    eprintln!(
        "catalog {} tracks {:.2} h, {:.1} peaks/s, {:.1} quads/s, {} keys, collision prob {:.3e} \
         -> postings per lookup at 100k tracks (4 min): {:.1}; {:.0}s",
        catalog.len(),
        secs / 3600.0,
        npeaks as f64 / secs,
        total as f64 / secs,
        index.len(),
        collision,
        collision * 100_000.0 * 240.0 * total as f64 / secs,
        t0.elapsed().as_secs_f64()
    );

    // Queries.
    let path = format!("{dir}/truth.csv");
    let raw = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let ids: HashMap<&str, u32> = catalog
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i as u32))
        .collect();
    let rows: Vec<Truth> = raw
        .lines()
        .skip(1)
        .map(|l| match l.split(',').collect::<Vec<_>>().as_slice() {
            [query, cond, _, track_id, offset, ..] => Ok(Truth {
                path: (*query).to_owned(),
                cond: (*cond).to_owned(),
                track_id: (*track_id).to_owned(),
                offset: offset.parse().unwrap_or(0.0),
            }),
            _ => Err(format!("{path}: too few fields in `{l}`")),
        })
        // Keep malformed rows so that collecting reports them.
        .filter(|r| match r {
            Ok(t) => only.is_empty() || t.cond == only,
            Err(_) => true,
        })
        .take(limit)
        .collect::<Result<_, _>>()?;
    let results: Vec<QueryResult> = rows
        .par_iter()
        .map(|row| -> Result<QueryResult, Error> {
            let cond = row.cond.clone();
            let truth = ids.get(row.track_id.as_str()).copied();
            let offset = row.offset;
            let (s_true, pi_true) = factors(&cond)?;
            let lin = spectrogram(&load(&row.path)?)?;
            let ps = peaks(&lin, &prm, prm.keep_query);
            let qs = quads(&ps, &prm, prm.k_query);
            let mut keys = Vec::new();
            let mut hits: Vec<Hit> = Vec::new();
            let mut looked = 0usize;
            let mut touched = 0usize;
            for q in &qs {
                keys.clear();
                probe_keys(q, &prm, &mut keys);
                looked += keys.len();
                for k in &keys {
                    if let Some(list) = index.get(k) {
                        touched += list.iter().filter(|p| Some(p.track) != truth).count();
                        for po in list {
                            let s = q.span / po.span;
                            let pi = q.p_a - po.p_a;
                            if !(0.85..=1.18).contains(&s) || pi.abs() > 2.6 {
                                continue;
                            }
                            let off = po.t_a - q.t_a / s;
                            hits.push(Hit {
                                track: po.track,
                                ln_s: s.ln(),
                                pi,
                                off,
                                anchor: (q.t_a * 8.0) as u32,
                            });
                        }
                    }
                }
            }
            // Vote per (track, offset cell, ln s cell, pi cell), each hit into 2x2x2 cells.
            let mut votes: HashMap<(u32, i32, i32, i32), Vec<usize>> = HashMap::new();
            for (h, hit) in hits.iter().enumerate() {
                let co = (hit.off / prm.vote_off).floor() as i32;
                let cs = (hit.ln_s / prm.vote_ln_s).floor() as i32;
                let cp = (hit.pi / prm.vote_pi).floor() as i32;
                for a in 0..2 {
                    for b in 0..2 {
                        for c in 0..2 {
                            votes
                                .entry((hit.track, co - a, cs - b, cp - c))
                                .or_default()
                                .push(h);
                        }
                    }
                }
            }
            // Best cell per track by distinct anchors.
            let mut best: HashMap<u32, (u32, (i32, i32, i32))> = HashMap::new();
            for (&(tr, co, cs, cp), hs) in &votes {
                let mut an: Vec<u32> = hs.iter().map(|&h| hits[h].anchor).collect();
                an.sort_unstable();
                an.dedup();
                let n = an.len() as u32;
                let e = best.entry(tr).or_insert((0, (0, 0, 0)));
                if n > e.0 || (n == e.0 && (co, cs, cp) < e.1) {
                    *e = (n, (co, cs, cp));
                }
            }
            let mut ranked: Vec<(u32, u32, (i32, i32, i32))> =
                best.iter().map(|(&t, &(n, c))| (t, n, c)).collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            // Verify the strongest candidates against the catalog peaks.
            let qdur = ps.last().map_or(0.0, |p| p.t);
            let mut verified: Vec<(u32, u32)> = Vec::new();
            for &(tr, n, cell) in ranked.iter().take(nver) {
                if n < 2 {
                    break;
                }
                let hs = &votes[&(tr, cell.0, cell.1, cell.2)];
                let sc = median(hs.iter().map(|&h| hits[h].ln_s).collect()).exp();
                let pi = median(hs.iter().map(|&h| hits[h].pi).collect());
                let off = median(hs.iter().map(|&h| hits[h].off).collect());
                let refp = &refs[tr as usize].peaks;
                let mut score = 0;
                for r in refp {
                    let tq = (r.t - off) * sc;
                    if tq < 0.0 || tq > qdur {
                        continue;
                    }
                    let pq = r.p + pi;
                    let lo = ps.partition_point(|x| x.t < tq - vt);
                    if ps[lo..]
                        .iter()
                        .take_while(|x| x.t <= tq + vt)
                        .any(|x| (x.p - pq).abs() <= vp)
                    {
                        score += 1;
                    }
                }
                verified.push((tr, score));
            }
            verified.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let vfound = verified.first().is_some_and(|v| Some(v.0) == truth);
            let vtrue = verified
                .iter()
                .find(|v| Some(v.0) == truth)
                .map_or(0, |v| v.1);
            let vfalse = verified
                .iter()
                .find(|v| Some(v.0) != truth)
                .map_or(0, |v| v.1);
            let top = ranked.first().copied();
            let found = match (top, truth) {
                (Some((t, _, _)), Some(tt)) => t == tt,
                _ => false,
            };
            let true_score = truth
                .and_then(|tt| ranked.iter().find(|r| r.0 == tt))
                .map_or(0, |r| r.1);
            let false_score = ranked
                .iter()
                .find(|r| Some(r.0) != truth)
                .map_or(0, |r| r.1);
            // Estimates from the true track's best cell: medians of its hits.
            let (mut es, mut ep, mut eo) = (f64::NAN, f64::NAN, f64::NAN);
            if let (Some(tt), true) = (truth, found) {
                let (_, _, (co, cs, cp)) = ranked[0];
                let hs = &votes[&(tt, co, cs, cp)];
                let of = |field: fn(&Hit) -> f32| {
                    f64::from(median(hs.iter().map(|&h| field(&hits[h])).collect()))
                };
                es = of(|h| h.ln_s).exp() / s_true - 1.0;
                ep = of(|h| h.pi) - pi_true;
                eo = of(|h| h.off) * HOP as f64 / RATE as f64 - offset;
            }
            Ok(QueryResult {
                cond,
                positive: truth.is_some(),
                found,
                true_score,
                false_score,
                es,
                ep,
                eo,
                looked,
                touched,
                vfound,
                vtrue,
                vfalse,
            })
        })
        .collect::<Result<_, _>>()?;

    let mut by: BTreeMap<&str, Vec<&QueryResult>> = BTreeMap::new();
    for r in &results {
        by.entry(r.cond.as_str()).or_default().push(r);
    }
    println!(
        "cond n found(score>=th 10/20) med_true max_false med|es|% med|ep| med|eo|s lookups touched | vfound med_vtrue max_vfalse"
    );
    for (cond, rs) in &by {
        let pos: Vec<_> = rs.iter().filter(|r| r.positive).collect();
        let med = |mut v: Vec<f64>| {
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let f10 = pos.iter().filter(|r| r.found && r.true_score >= 10).count();
        let f20 = pos.iter().filter(|r| r.found && r.true_score >= 20).count();
        println!(
            "{cond:16} {:3} {:5.1}% ({:5.1}/{:5.1}) {:6.0} {:4} {:6.3} {:5.3} {:6.3} {:7.0} {:8.0} | {:5.1}% {:5.0} {:4}",
            rs.len(),
            100.0 * pos.iter().filter(|r| r.found).count() as f64 / pos.len().max(1) as f64,
            100.0 * f10 as f64 / pos.len().max(1) as f64,
            100.0 * f20 as f64 / pos.len().max(1) as f64,
            med(pos.iter().map(|r| r.true_score as f64).collect()),
            rs.iter().map(|r| r.false_score).max().unwrap_or(0),
            100.0 * med(pos.iter().map(|r| r.es.abs()).collect()),
            med(pos.iter().map(|r| r.ep.abs()).collect()),
            med(pos.iter().map(|r| r.eo.abs()).collect()),
            med(rs.iter().map(|r| r.looked as f64).collect()),
            med(rs.iter().map(|r| r.touched as f64).collect()),
            100.0 * pos.iter().filter(|r| r.vfound).count() as f64 / pos.len().max(1) as f64,
            med(pos.iter().map(|r| r.vtrue as f64).collect()),
            rs.iter().map(|r| r.vfalse).max().unwrap_or(0),
        );
    }
    Ok(())
}

/// The upper median of `v`, which is not empty (every vote cell holds a hit).
fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// (time scale s, pitch offset) of a condition.
fn factors(cond: &str) -> Result<(f64, f64), Error> {
    let num = |s: &str| {
        s.parse::<f64>()
            .map_err(|e| format!("bad number in condition `{cond}`: {e}"))
    };
    Ok(if let Some(x) = cond.strip_prefix("speed") {
        let r = 1.0 + num(x)? / 100.0;
        (1.0 / r, 12.0 * r.log2())
    } else if let Some(x) = cond.strip_prefix("tempo") {
        (1.0 / (1.0 + num(x)? / 100.0), 0.0)
    } else if let Some(x) = cond.strip_prefix("pitch") {
        (1.0, num(x)?)
    } else {
        (1.0, 0.0)
    })
}
