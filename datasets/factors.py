#!/usr/bin/env python3
"""How far the reported time scale and pitch shift lie from the truth, per condition.

    datasets/factors.py truth.csv answers.jsonl

For every positive found (right track first), the condition's true change is read from
its name as build-eval.py makes it: `speed+5` plays 5 % faster and 12 * log2(1.05)
semitones higher, `tempo-10` 10 % slower at the same pitch, `pitch+2` two semitones
higher at the same tempo; every other condition is unaltered. `time_scale` is query
seconds per catalog second, so the truth for speed+5 is 1 / 1.05. Prints the median and
worst relative time scale error (in %) and absolute pitch error (in semitones) per
condition, and how many matches miss 0.5 % and 0.2 semitone. Standard library only.
"""
import csv
import json
import math
import re
import statistics
import sys


def truth_of(condition):
    """(track seconds per query second, semitones) that the condition applied."""
    m = re.fullmatch(r"(speed|tempo|pitch)([+-]\d+)", condition)
    if not m:
        return 1.0, 0.0
    kind, value = m.group(1), int(m.group(2))
    if kind == "pitch":
        return 1.0, float(value)
    factor = 1 + value / 100
    return factor, 12 * math.log2(factor) if kind == "speed" else 0.0


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    truth = {r["query"]: r for r in csv.DictReader(open(sys.argv[1], newline=""))}
    errors = {}
    for line in open(sys.argv[2]):
        answer = json.loads(line)
        row = truth.get(answer["file"])
        matches = answer.get("matches") or []
        if not row or not row["track_id"] or not matches or matches[0]["track_id"] != row["track_id"]:
            continue
        factor, semitones = truth_of(row["condition"])
        best = matches[0]
        scale_error = abs(best["time_scale"] * factor - 1) * 100
        pitch_error = abs(best["pitch_shift_semitones"] - semitones)
        errors.setdefault(row["condition"], []).append((scale_error, pitch_error))
    print("| condition | found | time scale error % median / worst | pitch error median / worst |")
    print("|---|---|---|---|")
    scale_misses = pitch_misses = total = 0
    for condition, pairs in sorted(errors.items()):
        scales = [s for s, _ in pairs]
        pitches = [p for _, p in pairs]
        total += len(pairs)
        scale_misses += sum(s > 0.5 for s in scales)
        pitch_misses += sum(p > 0.2 for p in pitches)
        print(f"| {condition} | {len(pairs)} | {statistics.median(scales):.3f} / {max(scales):.3f} "
              f"| {statistics.median(pitches):.3f} / {max(pitches):.3f} |")
    print(f"\n{total} found; time scale more than 0.5 % off: {scale_misses}; "
          f"pitch more than 0.2 semitone off: {pitch_misses}")


if __name__ == "__main__":
    main()
