#!/usr/bin/env python3
"""Check an evaluation set made by build-eval.py: files decode and truth offsets are right.

  datasets/check-eval.py [--eval DIR] [--samples 12] [--seed 1] [--conditions a,b] [--decode-all]

For a seeded sample of catalog queries it cuts the source track around truth.csv's
offset_s and finds the lag that best correlates the query's first seconds with that cut;
the lag should equal the pre-roll cut in front of the expected offset (the query's own
2 s of leading silence are skipped). For speed, tempo and pitch the source is instead cut
exactly at offset_s and put through the same sox effect, behind a pre-roll of silence:
their output depends on where the cut starts, so only the same cut lines up exactly.
Prints the error in milliseconds with the correlation; exits non-zero when an offset is
off by more than --tolerance-ms, the correlation is too weak to trust, or a file does
not decode. Noisy conditions correlate weakly even when aligned, hence a lower bar.
"""

from __future__ import annotations

import argparse
import array
import csv
import math
import os
import random
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = 2000  # correlation rate: ample for timing to the millisecond, cheap in pure Python
PRE_ROLL_S = 0.5
WINDOW_S = 1.5
# Conditions made with a time or pitch effect, and that effect.
TIME_FX = {
    "speed+2": ["speed", "1.02"], "speed-2": ["speed", "0.98"], "speed+5": ["speed", "1.05"],
    "speed-5": ["speed", "0.95"], "speed+10": ["speed", "1.1"], "speed-10": ["speed", "0.9"],
    "tempo+5": ["tempo", "-m", "1.05"], "tempo-5": ["tempo", "-m", "0.95"],
    "tempo+10": ["tempo", "-m", "1.1"], "tempo-10": ["tempo", "-m", "0.9"],
    "pitch+1": ["pitch", "100"], "pitch-1": ["pitch", "-100"],
    "pitch+2": ["pitch", "200"], "pitch-2": ["pitch", "-200"],
}
# Linear filters are applied to the source cut as well, or its bass would swamp the match.
FILTER_FX = {"telephone": ["sinc", "300-3400"]}
NOISY = ("white-noise-", "pink-noise-", "song-underneath", "pitch", "tempo")


def data_dir() -> Path:
    return Path(os.environ.get("EARMARK_DATA") or HERE.parent / "target" / "earmark-data")


def pcm(cmd: list[str]) -> list[float]:
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    a = array.array("h")
    a.frombytes(raw[: len(raw) // 2 * 2])
    if sys.byteorder == "big":
        a.byteswap()
    return [x / 32768 for x in a]


def decode_query(path: str, start_s: float, length_s: float) -> list[float]:
    return pcm(["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{start_s}", "-t", f"{length_s}",
                "-i", path, "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"])


def decode_source(path: str, start_s: float, length_s: float, fx: list[str]) -> list[float]:
    return pcm(["sox", "-R", "-V1", path, "-t", "raw", "-e", "signed-integer", "-b", "16",
                "-c", "1", "-r", str(RATE), "-", "trim", f"{start_s}", f"{length_s}", *fx])


def best_lag(q: list[float], s: list[float]) -> tuple[int, float]:
    """Lag of q inside s with the highest normalised correlation."""
    n = len(q)
    qm = sum(q) / n
    q = [x - qm for x in q]
    qn = math.sqrt(sum(x * x for x in q)) or 1.0
    best, best_r = 0, -2.0
    for lag in range(0, len(s) - n + 1):
        seg = s[lag:lag + n]
        sm = sum(seg) / n
        num = sum(a * b for a, b in zip(q, seg)) - sm * sum(q)
        den = math.sqrt(max(sum(x * x for x in seg) - n * sm * sm, 1e-12)) * qn
        r = num / den
        if r > best_r:
            best, best_r = lag, r
    return best, best_r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--eval", type=Path, default=None, help="evaluation folder (default <data>/eval)")
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tolerance-ms", type=float, default=5.0)
    ap.add_argument("--conditions", help="comma-separated conditions to sample from (default: all)")
    ap.add_argument("--decode-all", action="store_true", help="also decode every query and catalog file")
    args = ap.parse_args()
    ev = args.eval or data_dir() / "eval"

    with (ev / "truth.csv").open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    with (ev / "catalog.csv").open(newline="") as fh:
        catalog = list(csv.DictReader(fh))
    tracks_csv = data_dir() / "music" / "tracks.csv"
    with tracks_csv.open(newline="") as fh:
        source_of = {r["track_id"]: r["path"] for r in csv.DictReader(fh)}

    bad = 0
    if args.decode_all:
        files = [r["query"] for r in truth] + [r["path"] for r in catalog]
        for f in files:
            p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", f, "-f", "null", "-"],
                               capture_output=True, text=True)
            if p.returncode != 0 or p.stderr.strip():
                bad += 1
                print(f"check-eval: DECODE {f}: {p.stderr.strip()[:200]}")
        print(f"check-eval: decoded {len(files)} files, {bad} with errors")

    wanted = set(args.conditions.split(",")) if args.conditions else None
    testable = [r for r in truth if r["track_id"] and r["length_s"] not in ("1", "2")
                and (wanted is None or r["condition"] in wanted)]
    rng = random.Random(args.seed)
    picks = rng.sample(testable, min(args.samples, len(testable)))
    for r in sorted(picks, key=lambda r: r["query"]):
        cond = r["condition"]
        lead = 2.0 if cond == "leading-silence" else 0.0
        offset = float(r["offset_s"])
        src = source_of[r["track_id"]]
        if cond in TIME_FX:
            pre = PRE_ROLL_S
            cut_s = min(float(r["length_s"]), 4.0)  # the first seconds do not depend on the rest
            s = [0.0] * int(pre * RATE) + decode_source(src, offset, cut_s, TIME_FX[cond])
        else:
            pre = min(PRE_ROLL_S, offset)
            s = decode_source(src, offset - pre, pre + WINDOW_S + PRE_ROLL_S, FILTER_FX.get(cond, []))
        q = decode_query(r["query"], lead, WINDOW_S)
        lag, corr = best_lag(q, s)
        err_ms = (lag / RATE - pre) * 1000
        ok = abs(err_ms) <= args.tolerance_ms and corr > (0.1 if cond.startswith(NOISY) else 0.5)
        bad += not ok
        print(f"check-eval: {'ok ' if ok else 'BAD'} {Path(r['query']).name} {cond:16} "
              f"{r['length_s']:>4}s offset {offset:9.3f}: error {err_ms:+6.1f} ms, correlation {corr:.2f}")
    print(f"check-eval: {len(picks)} offsets checked, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
