#!/usr/bin/env python3
"""Run the whole evaluation on one evaluation set: Earmark and the peer systems side by side.

  datasets/run-eval.py [--eval-dir DIR] [--earmark BIN] [--peers audfprint2,fpcalc|none]
                       [--out DIR] [--title TEXT]

Steps, each timed and reported as it runs:
  1. a fresh Earmark index from the set's catalog.csv (`earmark ingest`): ingest speed as
     times real time, index bytes per hour of audio (`earmark stats`), peak memory;
  2. every query of truth.csv through `earmark query --json` in one process, peak memory;
  3. each peer through peers.py (its own database, cached between runs);
  4. score.py per system, compare.py for the side-by-side table, plot.py for the plots.

Writes into --out (default docs/eval/<set name>): score-<system>.json, compare.md, the
SVG plots, and results.json / summary.md with the date, the machine and Earmark's ingest,
size, memory and query-time figures. Answers stay in the evaluation folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def log(msg: str) -> None:
    print(f"run-eval: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], stdout=None) -> tuple[float, int]:
    """Runs cmd; returns (wall seconds, peak resident KiB of that process)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    # `earmark query` exits 1 when a query file failed; score.py counts those as errors.
    if proc.returncode not in (0, 1):
        sys.exit(f"run-eval: {' '.join(cmd[:3])} ... failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.machine()}"


def main() -> None:
    data = Path(os.environ.get("EARMARK_DATA", ROOT / "target" / "earmark-data"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir", type=Path, default=data / "eval")
    ap.add_argument("--earmark", type=Path, help="the binary (default: release build, else debug)")
    ap.add_argument("--peers", default="audfprint2,fpcalc", help="comma-separated, or none")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--title", help="plot title prefix (default: the set's folder name)")
    args = ap.parse_args()

    eval_dir = args.eval_dir.resolve()
    name = eval_dir.name
    out = (args.out or ROOT / "docs" / "eval" / name).resolve()
    out.mkdir(parents=True, exist_ok=True)
    earmark = args.earmark
    if earmark is None:
        for profile in ("release", "debug"):
            candidate = ROOT / "target" / profile / "earmark"
            if candidate.exists():
                earmark = candidate
                break
    if earmark is None or not Path(earmark).exists():
        sys.exit("run-eval: no earmark binary: cargo build --release")
    peers = [p for p in args.peers.split(",") if p and p != "none"]

    truth = eval_dir / "truth.csv"
    queries = [line.split(",", 1)[0] for line in truth.read_text().splitlines()[1:] if line]
    log(f"{name}: {len(queries)} queries; Earmark binary {earmark}")

    index = eval_dir / "earmark-index"
    shutil.rmtree(index, ignore_errors=True)
    log("1/4 Earmark ingest")
    ingest_s, ingest_kib = run([str(earmark), "ingest", "--db", str(index),
                                "--manifest", str(eval_dir / "catalog.csv")])
    stats_text = subprocess.run([str(earmark), "stats", "--db", str(index)], check=True,
                                capture_output=True, text=True).stdout
    stats = {}
    for line in stats_text.splitlines():
        key, _, value = line.rpartition(" ")
        stats[key.strip()] = value
    hours = float(stats["hours of audio"])

    log(f"2/4 Earmark queries ({len(queries)} in one process)")
    answers = eval_dir / "answers.jsonl"
    with open(answers, "w") as f:
        query_s, query_kib = run([str(earmark), "query", "--db", str(index), "--json", *queries], stdout=f)

    for i, peer in enumerate(peers):
        log(f"3/4 peer {peer} ({i + 1}/{len(peers)})")
        subprocess.run([sys.executable, str(HERE / "peers.py"), "--system", peer,
                        "--eval-dir", str(eval_dir)], check=True)

    log("4/4 scoring, table and plots")
    systems = {"earmark": answers} | {p: eval_dir / f"answers-{p}.jsonl" for p in peers}
    scores = {}
    for system, path in systems.items():
        scores[system] = out / f"score-{system}.json"
        subprocess.run([sys.executable, str(HERE / "score.py"), str(truth), str(path),
                        "--json", str(scores[system])], check=True, stdout=subprocess.DEVNULL)
    specs = [f"{s}={p}" for s, p in scores.items()]
    metas = [f"--meta={p}={eval_dir / f'answers-{p}.meta.json'}" for p in peers]
    subprocess.run([sys.executable, str(HERE / "compare.py"), *specs, *metas,
                    "--out", str(out / "compare.md")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, str(HERE / "plot.py"), *specs, "--out", str(out),
                    "--title", args.title or name], check=True)

    results = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "eval_set": name,
        "queries": len(queries),
        "earmark": {
            "binary": Path(earmark).parent.name,
            "hash_config": stats["hash config"],
            "catalog_hours": hours,
            "ingest_s": round(ingest_s, 2),
            "ingest_x_real_time": round(hours * 3600 / ingest_s, 1),
            "index_bytes_per_hour": int(stats["bytes per hour"]),
            "ingest_peak_mib": round(ingest_kib / 1024, 1),
            "query_all_s": round(query_s, 2),
            "query_peak_mib": round(query_kib / 1024, 1),
        },
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    e = results["earmark"]
    summary = (
        f"Run on {results['date']}, {results['machine']}; set `{name}`, {len(queries)} queries; "
        f"Earmark {e['binary']} build, hash configuration {e['hash_config']}.\n\n"
        f"Earmark: ingest {e['catalog_hours']:.2f} h of catalog audio in {e['ingest_s']:.1f} s "
        f"({e['ingest_x_real_time']:.0f}x real time on all cores, decode included), index "
        f"{e['index_bytes_per_hour'] / 1e6:.2f} MB per hour of audio, peak memory "
        f"{e['ingest_peak_mib']:.0f} MiB ingesting and {e['query_peak_mib']:.0f} MiB querying.\n"
    )
    (out / "summary.md").write_text(summary)
    print(summary)
    print((out / "compare.md").read_text())
    log(f"results in {out}")


if __name__ == "__main__":
    main()
