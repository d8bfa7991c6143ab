#!/usr/bin/env python3
"""Right track, other offset: are those answers a repeated passage of the track?

  datasets/repeats.py <eval dir> [--answers FILE] [--length 10] [--max-ber 0.25]

Game music loops, so a query's passage may recur elsewhere in its catalog track, and
a match at the other occurrence is the right recording at an offset `score.py` counts
as wrong. For every answer whose first match is the right track more than 0.5 s from
the truth, this cuts the catalog track at the true and at the answered start (sox,
10 s, mono 11,025 Hz), fingerprints both with Chromaprint (`fpcalc -raw`) and prints
their bit error rate; at most --max-ber counts as the same music. Then, per condition,
the share of queries whose first match is the right track whatever its offset.
Needs sox and fpcalc (Debian: sox, libchromaprint-tools).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import subprocess
import tempfile
from pathlib import Path


def chromaprint(path: str, start_s: float, length_s: float, work: Path) -> list[int]:
    wav = work / "segment.wav"
    subprocess.run(["sox", path, "-r", "11025", "-c", "1", str(wav), "trim",
                    f"{max(start_s, 0.0):.3f}", f"{length_s:.3f}"],
                   check=True, stderr=subprocess.DEVNULL)
    # fpcalc exits non-zero after decoding warnings at a file's end; its output stands.
    out = subprocess.run(["fpcalc", "-raw", "-plain", str(wav)],
                         capture_output=True, text=True).stdout
    return [int(x) for x in out.strip().split(",") if x]


def bit_error_rate(a: list[int], b: list[int]) -> float:
    n = min(len(a), len(b))
    if n == 0:
        return 1.0
    return sum(bin((x ^ y) & 0xFFFFFFFF).count("1") for x, y in zip(a[:n], b[:n])) / (32 * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--answers", type=Path, help="default <eval dir>/answers.jsonl")
    ap.add_argument("--length", default="10", help="query length to look at (truth.csv's length_s)")
    ap.add_argument("--max-ber", type=float, default=0.25)
    args = ap.parse_args()
    truth = {r["query"]: r for r in csv.DictReader(open(args.eval_dir / "truth.csv"))}
    catalog = {r["track_id"]: r for r in csv.DictReader(open(args.eval_dir / "catalog.csv"))}
    answers = args.answers or args.eval_dir / "answers.jsonl"
    queries: collections.Counter = collections.Counter()
    first: collections.Counter = collections.Counter()
    same = other = 0
    with tempfile.TemporaryDirectory() as tmp:
        for line in open(answers):
            answer = json.loads(line)
            t = truth[answer["file"]]
            if t["length_s"] != args.length or not t["track_id"]:
                continue
            queries[t["condition"]] += 1
            matches = answer["matches"]
            if not matches or matches[0]["track_id"] != t["track_id"]:
                continue
            first[t["condition"]] += 1
            m = matches[0]
            if abs(m["track_offset_s"] - float(t["offset_s"])) <= 0.5:
                continue
            path = catalog[t["track_id"]]["path"]
            answered_start = m["track_offset_s"] - m["query_offset_s"] / m["time_scale"]
            ber = bit_error_rate(
                chromaprint(path, float(t["offset_s"]), float(args.length), Path(tmp)),
                chromaprint(path, answered_start, float(args.length), Path(tmp)))
            repeated = ber <= args.max_ber
            same += repeated
            other += not repeated
            print(f"{t['condition']}\t{t['track_id']}\toffset {m['track_offset_s']:.1f} s, "
                  f"truth {float(t['offset_s']):.1f} s\tbit error rate {ber:.3f}"
                  f"\t{'same music' if repeated else 'other music'}")
    print(f"\nright track at another offset: {same + other}; the same music there: {same}, "
          f"other music: {other}")
    print("\n| condition | right track first, any offset |\n|---|---|")
    for condition in sorted(queries):
        print(f"| {condition} | {100 * first[condition] / queries[condition]:.1f} % |")


if __name__ == "__main__":
    main()
