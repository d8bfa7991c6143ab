#!/usr/bin/env python3
"""Score `earmark query --json` answers against an evaluation set's truth.csv.

    earmark query --db DB --json $(cut -d, -f1 truth.csv | tail -n +2) > answers.jsonl
    datasets/score.py truth.csv answers.jsonl [--json out.json] [--markdown out.md]

Per condition and excerpt length: true-positive rate (right track first, offset within
0.5 s), wrong-track rate, false-positive rate on negatives (any match for audio that is
not in the catalog), offset accuracy among right answers, errors, and query time
(median and p95).
"""
import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("truth")
    ap.add_argument("answers")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--markdown")
    args = ap.parse_args()

    truth = {}
    with open(args.truth, newline="") as f:
        for row in csv.DictReader(f):
            truth[row["query"]] = row
    answers = {}
    with open(args.answers) as f:
        for line in f:
            line = line.strip()
            if line:
                a = json.loads(line)
                answers[a["file"]] = a

    groups = defaultdict(lambda: defaultdict(list))
    for query, row in truth.items():
        g = groups[(row["condition"], row["length_s"])]
        a = answers.get(query)
        positive = bool(row["track_id"])
        if a is None or "error" in a:
            g["errors"].append(query)
            g["positives" if positive else "negatives"].append(query)
            continue
        g["times"].append(a.get("elapsed_ms", 0.0))
        matches = a.get("matches", [])
        if positive:
            g["positives"].append(query)
            if matches and matches[0]["track_id"] == row["track_id"]:
                start = matches[0]["track_offset_s"] - matches[0]["query_offset_s"]
                truth_offset = float(row["offset_s"] or 0)
                if abs(start - truth_offset) <= 0.5:
                    g["tp"].append(query)
                else:
                    g["offset_wrong"].append(query)
            elif matches:
                g["wrong"].append(query)
        else:
            g["negatives"].append(query)
            if matches:
                g["fp"].append(query)

    rows = []
    for (condition, length), g in sorted(groups.items()):
        pos, neg = len(g["positives"]), len(g["negatives"])
        rows.append({
            "condition": condition,
            "length_s": length,
            "positives": pos,
            "negatives": neg,
            "tp_rate": len(g["tp"]) / pos if pos else None,
            "wrong_track_rate": len(g["wrong"]) / pos if pos else None,
            "offset_off_rate": len(g["offset_wrong"]) / pos if pos else None,
            "fp_rate": len(g["fp"]) / neg if neg else None,
            "errors": len(g["errors"]),
            "median_ms": statistics.median(g["times"]) if g["times"] else None,
            "p95_ms": percentile(g["times"], 0.95) if g["times"] else None,
        })

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    def ms(x):
        return "-" if x is None else f"{x:.1f}"

    lines = [
        "| condition | length s | positives | top-1 TP | wrong track | offset > 0.5 s | negatives | FP | errors | median ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['length_s']} | {r['positives']} | {pct(r['tp_rate'])} | "
            f"{pct(r['wrong_track_rate'])} | {pct(r['offset_off_rate'])} | {r['negatives']} | "
            f"{pct(r['fp_rate'])} | {r['errors']} | {ms(r['median_ms'])} | {ms(r['p95_ms'])} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    missing = [q for q in truth if q not in answers]
    if missing:
        print(f"{len(missing)} queries have no answer", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
