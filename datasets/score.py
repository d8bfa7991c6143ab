#!/usr/bin/env python3
"""Score `earmark query --json` answers against an evaluation set's truth.csv.

    earmark query --db DB --json $(cut -d, -f1 truth.csv | tail -n +2) > answers.jsonl
    datasets/score.py truth.csv answers.jsonl [--json out.json] [--markdown out.md]

Per condition and excerpt length: true-positive rate (right track first, offset within
0.5 s), wrong-track rate, false-positive rate on negatives (any match for audio that is
not in the catalog), offset accuracy among right answers, errors, and query time
(median and p95).

The offset test follows truth.csv's time mapping: query time t is track time
offset_s + f * (t - lead), where f is the speed or tempo factor (1.05 for speed+5 and
tempo+5, 1 otherwise) and lead is the silence put in front (2 s for leading-silence, 0
otherwise). The reported track_offset_s must lie within 0.5 s of that mapping at the
reported query_offset_s.

An answer {"file": ..., "not_applicable": "why"} (a peer system that cannot do that kind
of query, see peers.py) is left out of the rates; a group with no other answers shows n/a
and its JSON row has null rates and a `not_applicable` count.
"""
import argparse
import csv
import json
import re
import statistics
import sys
from collections import defaultdict

LEAD_S = {"leading-silence": 2.0}  # digital silence prepended to the excerpt


def time_map(condition):
    """(factor, lead): query time t is track time offset_s + factor * (t - lead)."""
    m = re.fullmatch(r"(speed|tempo)([+-])(\d+)", condition)
    factor = 1 + (1 if m.group(2) == "+" else -1) * int(m.group(3)) / 100 if m else 1.0
    return factor, LEAD_S.get(condition, 0.0)


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
        if a is not None and "not_applicable" in a:
            g["not_applicable"].append(query)
            continue
        if a is None or "error" in a:
            g["errors"].append(query)
            g["positives" if positive else "negatives"].append(query)
            continue
        g["times"].append(a.get("elapsed_ms", 0.0))
        matches = a.get("matches", [])
        if positive:
            g["positives"].append(query)
            if matches and matches[0]["track_id"] == row["track_id"]:
                factor, lead = time_map(row["condition"])
                q = matches[0]["query_offset_s"]
                expected = float(row["offset_s"] or 0) + factor * (q - lead)
                if abs(matches[0]["track_offset_s"] - expected) <= 0.5:
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
            "not_applicable": len(g["not_applicable"]),
        })

    def pct(x, na=False):
        return ("n/a" if na else "-") if x is None else f"{100 * x:.1f}%"

    def ms(x, na=False):
        return ("n/a" if na else "-") if x is None else f"{x:.1f}"

    # The n/a column only appears for answers that have such rows (peer systems).
    any_na = any(r["not_applicable"] for r in rows)
    lines = [
        "| condition | length s | positives | top-1 TP | wrong track | offset > 0.5 s | negatives | FP | errors | median ms | p95 ms |"
        + (" n/a |" if any_na else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if any_na else ""),
    ]
    for r in rows:
        na = r["not_applicable"] > 0
        lines.append(
            f"| {r['condition']} | {r['length_s']} | {r['positives']} | {pct(r['tp_rate'], na)} | "
            f"{pct(r['wrong_track_rate'], na)} | {pct(r['offset_off_rate'], na)} | {r['negatives']} | "
            f"{pct(r['fp_rate'], na)} | {r['errors']} | {ms(r['median_ms'], na)} | {ms(r['p95_ms'], na)} |"
            + (f" {r['not_applicable']} |" if any_na else "")
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
