#!/usr/bin/env python3
"""Put several systems' scores side by side in one markdown table.

  datasets/compare.py earmark=score.json audfprint2=score-audfprint2.json fpcalc=score-fpcalc.json \\
      [--meta audfprint2=answers-audfprint2.meta.json ...] [--out compare.md]

Each score file is score.py's --json output for one system on the same evaluation set (a
bare path takes its name from the file name). Rows are condition x excerpt length, columns
per system: top-1 true-positive rate, false-positive rate on negatives and median query
time. `n/a` marks a condition that the system does not attempt (not_applicable answers),
`-` one with no queries of that kind. A last row pools every scored query. --meta adds a
table of the peers.py .meta.json files: version, ingest speed, database size per hour.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# Row order: as build-eval.py lists the conditions; anything else after, by name.
ORDER = ["clean", "mp3-32k-mono", "aac-48k", "telephone", "white-noise-10dB", "white-noise-5dB",
         "white-noise-0dB", "white-noise-m5dB", "pink-noise-10dB", "pink-noise-5dB", "pink-noise-0dB",
         "pink-noise-m5dB", "song-underneath", "reverb", "lowpass-3k", "eq", "speed+2", "speed-2",
         "speed+5", "speed-5", "speed+10", "speed-10", "tempo+5", "tempo-5", "tempo+10", "tempo-10",
         "pitch+1", "pitch-1", "pitch+2", "pitch-2", "leading-silence", "cropped-full"]


def named(spec: str) -> tuple[str, Path]:
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name, Path(path)
    stem = re.sub(r"(\.meta)?$", "", Path(spec).stem)
    return re.sub(r"^(score|answers)-?", "", stem) or stem, Path(spec)


def length_key(x: str) -> float:
    try:
        return float(x)
    except ValueError:
        return float("inf")


def row_key(key: tuple[str, str]):
    cond, length = key
    return (ORDER.index(cond) if cond in ORDER else len(ORDER), cond, length_key(length), length)


def pct(x) -> str:
    return f"{100 * x:.1f}%"


def cells(r: dict | None) -> list[str]:
    if r is None:
        return ["-", "-", "-"]
    na = r.get("not_applicable", 0) > 0
    empty = "n/a" if na else "-"
    tp = pct(r["tp_rate"]) if r.get("tp_rate") is not None else empty
    fp = pct(r["fp_rate"]) if r.get("fp_rate") is not None else empty
    ms = f"{r['median_ms']:.0f}" if r.get("median_ms") is not None else empty
    return [tp, fp, ms]


def pooled(rows: list[dict]) -> list[str]:
    pos = sum(r["positives"] for r in rows if r.get("tp_rate") is not None)
    neg = sum(r["negatives"] for r in rows if r.get("fp_rate") is not None)
    tp = sum(r["tp_rate"] * r["positives"] for r in rows if r.get("tp_rate") is not None)
    fp = sum(r["fp_rate"] * r["negatives"] for r in rows if r.get("fp_rate") is not None)
    return [pct(tp / pos) if pos else "n/a", pct(fp / neg) if neg else "n/a", ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("scores", nargs="+", metavar="[NAME=]SCORE_JSON")
    ap.add_argument("--meta", action="append", default=[], metavar="[NAME=]META_JSON",
                    help="a peers.py .meta.json (repeat for each system)")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    args = ap.parse_args()

    systems = [named(s) for s in args.scores]
    tables: dict[str, dict[tuple[str, str], dict]] = {}
    for name, path in systems:
        tables[name] = {(r["condition"], str(r["length_s"])): r for r in json.loads(path.read_text())}
    keys = sorted({k for t in tables.values() for k in t}, key=row_key)

    head = ["condition", "length s", "pos", "neg"]
    for name in tables:
        head += [f"{name} TP", f"{name} FP", f"{name} ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in keys:
        rows = [t.get(k) for t in tables.values()]
        # Counts as truth.csv has them: a system that skipped a condition scored none of it.
        pos = max((r["positives"] for r in rows if r), default=0)
        neg = max((r["negatives"] for r in rows if r), default=0)
        line = [k[0], k[1], str(pos), str(neg)]
        for r in rows:
            line += cells(r)
        lines.append("| " + " | ".join(line) + " |")
    total = ["all scored", "", "", ""]
    for t in tables.values():
        total += pooled(list(t.values()))
    lines.append("| " + " | ".join(total) + " |")
    text = "\n".join(lines) + "\n"

    if args.meta:
        text += ("\n| system | version | catalog h | ingest x real time | database MB per catalog h "
                 "| median query ms | jobs | settings |\n|---|---|---|---|---|---|---|---|\n")
        for spec in args.meta:
            name, path = named(spec)
            m = json.loads(path.read_text())
            p = m.get("params", {})
            if m.get("system") == "audfprint2":
                settings = (f"density {p.get('density')}, fanout {p.get('fanout')}, "
                            f"{p.get('pks_per_frame')} peaks/frame, maxtimebits {p.get('maxtimebits')}, "
                            f"min count {p.get('min_count')}")
            elif m.get("system") == "fpcalc":
                settings = (f"BER <= {p.get('max_ber')} over >= {p.get('min_overlap_s')} s; "
                            f"{'excerpts too' if p.get('excerpts') else 'whole files only'}")
            else:
                settings = ""
            med = m.get("query_ms_median")
            text += (f"| {name} | {m.get('version', '')} | {m.get('catalog_audio_s', 0) / 3600:.2f} | "
                     f"{m.get('ingest_x_realtime')} | {m.get('db_bytes_per_hour', 0) / 1e6:.2f} | "
                     f"{'n/a' if med is None else f'{med:.0f}'} | {m.get('query_jobs', '')} | {settings} |\n")
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
