//! Peaks on a log-frequency axis with refined positions.

use std::process::Command;

use realfft::RealFftPlanner;

use crate::{Error, Params};

/// One spectral peak: a landmark in time, pitch and strength.
#[derive(Clone, Copy, Debug)]
pub(crate) struct P {
    pub(crate) t: f32, // frames, fractional
    pub(crate) p: f32, // semitones above F_LO, fractional
    pub(crate) s: f32, // dB
}

pub(crate) const RATE: f32 = 8000.0;
pub(crate) const N: usize = 1024;
pub(crate) const HOP: usize = 256;
pub(crate) const F_LO: f32 = 250.0;
pub(crate) const F_HI: f32 = 3875.0;

/// Decodes a file with ffmpeg to mono 8 kHz samples.
pub(crate) fn load(path: &str) -> Result<Vec<f32>, Error> {
    let out = Command::new("ffmpeg")
        .args([
            "-v", "quiet", "-i", path, "-ac", "1", "-ar", "8000", "-f", "f32le", "-",
        ])
        .output()
        .map_err(|e| format!("cannot run ffmpeg on {path}: {e}"))?;
    if !out.status.success() {
        return Err(format!("ffmpeg failed to decode {path}: {}", out.status).into());
    }
    Ok(out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Power spectrogram in dB relative to a full-scale sine, one row per hop.
pub(crate) fn spectrogram(x: &[f32]) -> Result<Vec<Vec<f32>>, Error> {
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N);
    let win: Vec<f32> = (0..N)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N as f32).cos())
        .collect();
    let mut out = Vec::new();
    let mut buf = vec![0.0f32; N];
    let mut spec = fft.make_output_vec();
    let full = (N as f32 / 4.0).powi(2);
    let mut start = 0;
    while start + N <= x.len() {
        for ((b, &xi), &wi) in buf.iter_mut().zip(&x[start..start + N]).zip(&win) {
            *b = xi * wi;
        }
        fft.process(&mut buf, &mut spec)?;
        out.push(
            spec.iter()
                .map(|c| 10.0 * ((c.norm_sqr() / full) + 1e-12).log10())
                .collect(),
        );
        start += HOP;
    }
    Ok(out)
}

/// Where the parabola through `(-1, l)`, `(0, m)`, `(1, r)` peaks, within half a
/// step of the middle; 0 when it does not curve down.
fn parabola_vertex(l: f32, m: f32, r: f32) -> f32 {
    let den = l - 2.0 * m + r;
    if den < 0.0 {
        (0.5 * (l - r) / den).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

/// Width of the analysed band in semitones.
fn semitones() -> f32 {
    12.0 * (F_HI / F_LO).log2()
}

/// Width of one linear FFT bin in Hz.
pub(crate) fn bin_hz() -> f32 {
    RATE / N as f32
}

/// Log-frequency rows: per cell the value and the refined semitone position.
pub(crate) fn log_rows(lin: &[Vec<f32>], cps: f32) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let cells = (semitones() * cps).floor() as usize;
    let mut ranges = Vec::new();
    for c in 0..cells {
        let centre = F_LO * 2f32.powf(c as f32 / (12.0 * cps));
        let lo = centre * 2f32.powf(-0.5 / (12.0 * cps)) / bin_hz();
        let hi = centre * 2f32.powf(0.5 / (12.0 * cps)) / bin_hz();
        let (a, b) = (lo.ceil() as usize, hi.floor() as usize);
        ranges.push((centre / bin_hz(), a, b));
    }
    let mut vals = Vec::new();
    let mut pos = Vec::new();
    for row in lin {
        let mut v = Vec::with_capacity(cells);
        let mut ps = Vec::with_capacity(cells);
        for &(cb, a, b) in &ranges {
            let (val, k0) = if a <= b {
                // The strongest bin in a..=b, the last one on ties (as `max_by`).
                let k = (a + 1..=b).fold(a, |k, i| {
                    if row[i].total_cmp(&row[k]).is_ge() {
                        i
                    } else {
                        k
                    }
                });
                (row[k], k)
            } else {
                let k = cb.floor() as usize;
                let f = cb - k as f32;
                (
                    row[k] * (1.0 - f) + row[k + 1] * f,
                    if f < 0.5 { k } else { k + 1 },
                )
            };
            // Refine at the nearest linear local maximum.
            let mut k = k0;
            while k + 2 < row.len() && row[k + 1] > row[k] {
                k += 1;
            }
            while k > 1 && row[k - 1] > row[k] {
                k -= 1;
            }
            let d = parabola_vertex(row[k - 1], row[k], row[k + 1]);
            let f = (k as f32 + d) * bin_hz();
            ps.push(12.0 * (f / F_LO).log2());
            v.push(val);
        }
        vals.push(v);
        pos.push(ps);
    }
    (vals, pos)
}

/// Local maxima of the log-frequency spectrogram, thinned to the strongest `keep`
/// per window (spread over octave bands if `prm.octaves` is set).
pub(crate) fn peaks(lin: &[Vec<f32>], prm: &Params, keep: usize) -> Vec<P> {
    let (v, pos) = log_rows(lin, prm.cps);
    let nt = v.len();
    if nt == 0 {
        return vec![];
    }
    let nc = v[0].len();
    let mut cands = Vec::new();
    for t in 0..nt {
        for c in 0..nc {
            let x = v[t][c];
            if x < -70.0 {
                continue;
            }
            let mut is_max = true;
            let (t0, t1) = (t.saturating_sub(prm.nf), (t + prm.nf + 1).min(nt));
            let (c0, c1) = (c.saturating_sub(prm.nc), (c + prm.nc + 1).min(nc));
            'o: for (tt, row) in (t0..t1).zip(&v[t0..t1]) {
                for (cc, &y) in (c0..c1).zip(&row[c0..c1]) {
                    if y > x || (y == x && (tt, cc) < (t, c)) {
                        is_max = false;
                        break 'o;
                    }
                }
            }
            if is_max {
                // Sub-frame time.
                let dt = if t > 0 && t + 1 < nt {
                    parabola_vertex(v[t - 1][c], x, v[t + 1][c])
                } else {
                    0.0
                };
                cands.push(P {
                    t: t as f32 + dt,
                    p: pos[t][c],
                    s: x,
                });
            }
        }
    }
    // Keep the strongest `keep` per window of `win` frames around each candidate,
    // shared evenly by bands of `prm.octaves` octaves when it is set.
    let band = |x: &P| {
        if prm.octaves > 0.0 {
            (x.p / (12.0 * prm.octaves)) as i32
        } else {
            0
        }
    };
    let bands = if prm.octaves > 0.0 {
        (semitones() / (12.0 * prm.octaves)).ceil() as usize
    } else {
        1
    };
    let half = prm.win as f32 / 2.0;
    let mut out = Vec::new();
    let mut lo = 0;
    for i in 0..cands.len() {
        while cands[lo].t < cands[i].t - half {
            lo += 1;
        }
        let mut hi = i;
        while hi < cands.len() && cands[hi].t <= cands[i].t + half {
            hi += 1;
        }
        let rank = cands[lo..hi]
            .iter()
            .filter(|c| c.s > cands[i].s && band(c) == band(&cands[i]))
            .count();
        if rank < keep.div_ceil(bands) {
            out.push(cands[i]);
        }
    }
    out.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.p.total_cmp(&b.p)));
    out
}
