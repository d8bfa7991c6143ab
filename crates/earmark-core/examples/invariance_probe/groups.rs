//! Groups of peaks, their invariant cells and the keys a query probes.

use crate::Params;
use crate::analysis::P;

/// A group of `prm.group` peaks: an anchor and its invariant shape.
#[derive(Clone)]
pub(crate) struct Quad {
    /// Intervals to the anchor of the g-1 others (semitones), then the time ratios of
    /// the g-2 before the last.
    pub(crate) shape: Vec<f32>,
    pub(crate) t_a: f32,
    pub(crate) p_a: f32,
    pub(crate) span: f32,
}

/// All `k`-subsets of `start..n`, in lexicographic order, appended to `out`.
pub(crate) fn combos(
    n: usize,
    k: usize,
    start: usize,
    cur: &mut Vec<usize>,
    out: &mut Vec<Vec<usize>>,
) {
    if cur.len() == k {
        out.push(cur.clone());
        return;
    }
    for i in start..n {
        cur.push(i);
        combos(n, k, i + 1, cur, out);
        cur.pop();
    }
}

/// Groups of an anchor with `prm.group - 1` of its first `k` target-zone peaks.
pub(crate) fn quads(ps: &[P], prm: &Params, k: usize) -> Vec<Quad> {
    let g = prm.group;
    let mut out = Vec::new();
    let mut e: Vec<P> = Vec::new();
    let mut sets = Vec::new();
    for (i, a) in ps.iter().enumerate() {
        if prm.anchors < 1.0 && !strong(ps, i, prm.anchors) {
            continue;
        }
        e.clear();
        for x in &ps[i + 1..] {
            if x.t - a.t > prm.tmax {
                break;
            }
            if x.t - a.t >= prm.tmin && (x.p - a.p).abs() <= prm.w {
                e.push(*x);
                if e.len() == k {
                    break;
                }
            }
        }
        sets.clear();
        combos(e.len(), g - 1, 0, &mut Vec::new(), &mut sets);
        for set in &sets {
            // `set` has `prm.group - 1 >= 1` members (checked in `main`).
            let Some(&last) = set.last() else {
                continue;
            };
            let b = e[last];
            let span = b.t - a.t;
            if span < prm.span_min {
                continue;
            }
            let mut shape: Vec<f32> = set.iter().map(|&j| e[j].p - a.p).collect();
            shape.extend(set[..set.len() - 1].iter().map(|&j| (e[j].t - a.t) / span));
            out.push(Quad {
                shape,
                t_a: a.t,
                p_a: a.p,
                span,
            });
        }
    }
    out
}

/// Cell coordinates: the shape's fields, then the p_A band and the ln-span cell.
pub(crate) fn cells(q: &Quad, prm: &Params) -> Vec<f32> {
    let g = prm.group;
    let mut c: Vec<f32> = q
        .shape
        .iter()
        .enumerate()
        .map(|(i, &x)| if i < g - 1 { x / prm.qd } else { x / prm.qr })
        .collect();
    c.push(if prm.band > 0.0 {
        q.p_a / prm.band
    } else {
        0.0
    });
    c.push(if prm.lspan > 0.0 {
        q.span.ln() / prm.lspan
    } else {
        0.0
    });
    c
}

/// FNV-1a hash of integer cell coordinates.
pub(crate) fn pack(c: &[i32]) -> u64 {
    let mut k = 0xcbf29ce484222325u64;
    for &v in c {
        k = (k ^ (v as i64 as u64)).wrapping_mul(0x100000001b3);
    }
    k
}

/// The index key of a reference quad: the hash of its cell.
pub(crate) fn key(q: &Quad, prm: &Params) -> u64 {
    let c: Vec<i32> = cells(q, prm).iter().map(|x| x.floor() as i32).collect();
    pack(&c)
}

/// Keys to look up for a query quad: its own and neighbours near cell edges, and
/// every band and span cell the supported pitch and scale range reaches.
pub(crate) fn probe_keys(q: &Quad, prm: &Params, out: &mut Vec<u64>) {
    let c = cells(q, prm);
    let n = c.len();
    let base: Vec<i32> = c.iter().map(|x| x.floor() as i32).collect();
    let mut near: Vec<(f32, usize, i32)> = Vec::new();
    for (i, x) in c.iter().enumerate().take(n - 2) {
        let fr = x - x.floor();
        if fr < prm.margin {
            near.push((fr, i, -1));
        } else if 1.0 - fr < prm.margin {
            near.push((1.0 - fr, i, 1));
        }
    }
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near.truncate(prm.max_probe_fields);
    let range = |x: f32, r: f32| ((x - r).floor() as i32)..=((x + r).floor() as i32);
    let bands = if prm.band > 0.0 {
        range(c[n - 2], 2.5 / prm.band)
    } else {
        0..=0
    };
    let spans = if prm.lspan > 0.0 {
        range(c[n - 1], 0.125 / prm.lspan)
    } else {
        0..=0
    };
    for mask in 0..(1u32 << near.len()) {
        let mut k = base.clone();
        for (j, &(_, i, d)) in near.iter().enumerate() {
            if mask & (1 << j) != 0 {
                k[i] += d;
            }
        }
        for b in bands.clone() {
            for sp in spans.clone() {
                k[n - 2] = b;
                k[n - 1] = sp;
                out.push(pack(&k));
            }
        }
    }
}

/// Whether peak `i` ranks in the strongest `share` of the peaks within half a second
/// of it: only those anchor groups.
fn strong(ps: &[P], i: usize, share: f32) -> bool {
    let t = ps[i].t;
    let lo = ps.partition_point(|x| x.t < t - 15.0);
    let hi = ps.partition_point(|x| x.t <= t + 15.0);
    let stronger = ps[lo..hi].iter().filter(|x| x.s > ps[i].s).count();
    (stronger as f32) < share * (hi - lo) as f32
}
