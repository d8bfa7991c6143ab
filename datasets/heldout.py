#!/usr/bin/env python3
"""Held-out false-positive check: music Earmark was never tuned on, against the catalog.

The matcher's verification thresholds were chosen on the full evaluation set (build-eval.py
over its three default packages). This script takes music from other Debian packages
(default: freedroidrpg-data, frozen-bubble-data, lincity-ng-data, warzone2100-music), makes
queries from every track and asks `earmark query` about them against an index of the full
set's catalog. None of this music is in that catalog, so every match reported is a false
positive.

Queries per track, by kind:
  full              the whole file as shipped (Opus: its FLAC decode, see below)
  excerpt           --excerpts (3) clean excerpts of --excerpt-s (10 s) at seeded offsets
  white-noise-0dB   --degraded-per-track (1) excerpt in white noise at 0 dB SNR
  mp3-32k-mono      ... re-encoded as MP3 32 kbit/s mono
  speed+5, speed-5  ... 5% faster / slower (tempo and pitch together)
Excerpts are MP3 128 kbit/s unless the kind says otherwise, made by build-eval.py's own
code (same conditions, noise bed, offset picking and tools).

Tracks sox cannot read whole are used through ffmpeg's lossless decode to 16-bit FLAC at
their own rate (in <out>/.cache/sources/): Opus, which neither sox nor Earmark decodes, for
every query including the whole file; a file sox reads short, for its excerpts only.

Writes into --out (default <data>/heldout): queries/, queries.csv, answers.jsonl,
results.json and summary.md, and prints the summary. Exits 0 whatever it finds (it is a
measurement, not a test); 1 only when it cannot run. Built queries are kept and reused
while the inputs, the arguments and the scripts are unchanged.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PACKAGES = ["freedroidrpg-data", "frozen-bubble-data", "lincity-ng-data",
                    "warzone2100-music"]
# Formats neither sox nor Earmark's decoder reads: every query is made from a FLAC decode.
UNREADABLE = {".opus"}
DEGRADED = ["white-noise-0dB", "mp3-32k-mono", "speed+5", "speed-5"]


def _load_build_eval():
    # build-eval.py is a script (its name has a hyphen): load it as a module by path.
    spec = importlib.util.spec_from_file_location("build_eval", HERE / "build-eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


be = _load_build_eval()


def log(msg: str) -> None:
    print(f"heldout: {msg}", file=sys.stderr, flush=True)


def kinds(args) -> list[tuple[str, str, int]]:
    """(kind, build-eval condition, queries per track); "full" is the file itself."""
    return ([("full", "", 1), ("excerpt", "clean", args.excerpts)]
            + [(c, c, args.degraded_per_track) for c in DEGRADED])


def describe(kind: str, args) -> str:
    if kind == "full":
        return "whole file as shipped (Opus: its FLAC decode)"
    if kind == "excerpt":
        return f"clean {args.excerpt_s:g} s excerpt, MP3 128 kbit/s"
    return f"{args.excerpt_s:g} s excerpt, {be.CONDITIONS[kind]['desc']}"


# --- building the queries -------------------------------------------------------------


def noise_bed(out: Path) -> Path:
    """The same white-noise bed build-eval.py makes (sox -R: a fixed seed)."""
    bed = out / ".cache" / f"noise-white-{be.NOISE_BED_S}s.wav"
    if not bed.is_file():
        tmp = bed.with_suffix(".partial.wav")
        be.sox("-r", str(be.RATE), "-c", "2", "-n", "-b", "16", str(tmp),
               "synth", str(be.NOISE_BED_S), "whitenoise", "vol", "0.5")
        tmp.replace(bed)
    return bed


def flac_decode(t: dict, out: Path) -> str:
    """ffmpeg's decode of a track to 16-bit FLAC at its own rate, made once per source file."""
    flac = out / ".cache" / "sources" / f"{t['track_id']}.flac"
    st = Path(t["path"]).stat()
    key_file = flac.with_name(flac.name + ".key")
    key = f"{t['path']} {st.st_size} {int(st.st_mtime)}"
    if not (flac.is_file() and key_file.is_file() and key_file.read_text() == key):
        flac.parent.mkdir(parents=True, exist_ok=True)
        tmp = flac.with_suffix(".partial.flac")
        # The decoders hand out floats; without s16 the encoder would keep 24 bits.
        be.ffmpeg(Path(t["path"]), tmp, "-c:a", "flac", "-sample_fmt", "s16")
        tmp.replace(flac)
        key_file.write_text(key)
    return str(flac)


def analyse(t: dict, out: Path) -> dict:
    """build-eval.py's analysis of a track. Sets t["src"], the file excerpts are cut from,
    and t["full"], the whole-file query: the file as shipped when sox reads it whole, else
    its FLAC decode (for the whole file too only when Earmark cannot read the format)."""
    cache = out / ".cache" / "tracks" / f"{t['track_id']}.json"
    t["src"] = t["full"] = t["path"]
    unreadable = Path(t["path"]).suffix.lower() in UNREADABLE
    if not unreadable:
        try:
            return be.analyse({"path": t["src"], "cache": str(cache)})
        except RuntimeError as e:
            # sox decodes some files shorter than their header says (one lincity-ng track
            # ends 0.4 s early): cut the excerpts from ffmpeg's decode instead.
            log(f"{t['track_id']}: {str(e).splitlines()[0].rsplit(': ', 1)[-1]} by sox; "
                "cutting its excerpts from an ffmpeg decode to FLAC")
    t["src"] = flac_decode(t, out)
    if unreadable:
        t["full"] = t["src"]
    return be.analyse({"path": t["src"], "cache": str(cache)})


def plan(args, tracks: list[dict], infos: dict[str, dict], out: Path, bed: Path):
    """Query rows (for queries.csv) and the build-eval jobs that make the excerpt files."""
    rows, jobs = [], []
    for t in tracks:
        info = infos[t["track_id"]]
        rate, frames = info["rate"], info["frames"]
        for kind, condition, count in kinds(args):
            for k in range(count):
                row = {"query": t["full"], "kind": kind, "length_s": "full", "offset_s": "0",
                       "source": t["track_id"], "package": t["package"]}
                if kind != "full":
                    n = int(round(args.excerpt_s * rate))
                    if n > frames:
                        continue
                    rng = random.Random(f"{args.seed}|heldout|{t['track_id']}|{kind}|{k}")
                    start = be.pick_offset(info, args.excerpt_s, rng)
                    dst = out / "queries" / f"{t['track_id']}.{kind}-{k + 1}.mp3"
                    job = {"type": "query", "id": dst.name, "condition": condition,
                           "src": t["src"], "rate": rate, "src_frames": frames,
                           "start": start, "frames": n, "out": str(dst),
                           "work": str(out / ".work")}
                    if be.CONDITIONS[condition]["mix"]:
                        n_out = int(round(args.excerpt_s * be.RATE))
                        job.update(noise_bed=str(bed),
                                   mix_start=rng.randrange(max(1, be.NOISE_BED_S * be.RATE - n_out)))
                    jobs.append(job)
                    row.update(query=str(dst), length_s=f"{args.excerpt_s:g}",
                               offset_s=f"{start / rate:.6f}")
                rows.append(row)
    return rows, jobs


def build(args, out: Path) -> tuple[list[dict], list[dict]]:
    """Fetches the packages if needed, makes every query file; returns (tracks, rows)."""
    tracks = be.load_tracks(args.packages)
    found = {t["package"] for t in tracks}
    missing = [p for p in args.packages if p not in found]
    if missing:
        raise SystemExit(f"heldout: no tracks from {', '.join(missing)}")
    key = hashlib.sha256(json.dumps({
        "args": [args.packages, args.seed, args.excerpts, args.degraded_per_track, args.excerpt_s],
        "tracks": [[t["path"], t["track_id"], t["duration_s"]] for t in tracks],
        "scripts": [hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in (Path(__file__), HERE / "build-eval.py")],
        "tools": be.tool_versions()}, sort_keys=True).encode()).hexdigest()
    plan_file = out / ".plan"
    if not (plan_file.is_file() and plan_file.read_text() == key):
        # Other inputs or arguments: start over. The same ones: keep the files made.
        for name in ("queries", ".work", "queries.csv"):
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    (out / "queries").mkdir(parents=True, exist_ok=True)
    (out / ".cache" / "tracks").mkdir(parents=True, exist_ok=True)
    plan_file.write_text(key)

    log(f"{len(tracks)} tracks from {', '.join(args.packages)}; analysing")
    infos = {t["track_id"]: analyse(t, out) for t in tracks}
    rows, jobs = plan(args, tracks, infos, out, noise_bed(out))
    todo = [j for j in jobs if not Path(j["out"]).is_file()]
    if todo:
        log(f"making {len(todo)} of {len(jobs)} excerpt files (one at a time)")
    failures = []
    for i, job in enumerate(todo, 1):
        _, _, err = be.run_job(job)
        if err:
            failures.append(f"{job['id']}: {err}")
        if i % 25 == 0 or i == len(todo):
            log(f"made {i}/{len(todo)}")
    if failures:
        raise SystemExit("heldout: " + "\nheldout: ".join(failures[:10])
                         + f"\nheldout: {len(failures)} query files failed")
    shutil.rmtree(out / ".work", ignore_errors=True)
    header = list(rows[0])
    be.write_csv(out / "queries.csv", header, [[r[k] for k in header] for r in rows])
    return tracks, rows


# --- querying and counting ------------------------------------------------------------


def earmark_json(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"heldout: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def query_all(args, rows: list[dict], out: Path) -> dict[str, dict]:
    """Every query through `earmark query --json`, in batches; answers by file name."""
    answers: dict[str, dict] = {}
    partial = out / "answers.jsonl.partial"
    with partial.open("w") as fh:
        for i in range(0, len(rows), args.batch):
            files = [r["query"] for r in rows[i:i + args.batch]]
            proc = subprocess.run([str(args.earmark), "query", "--db", str(args.catalog_db),
                                   "--json", *files], capture_output=True, text=True)
            # 1: some input failed (its line says why); anything else: the run itself failed.
            if proc.returncode not in (0, 1):
                raise SystemExit(f"heldout: earmark query failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}")
            for line in proc.stdout.splitlines():
                if line.strip():
                    answer = json.loads(line)
                    answers[answer["file"]] = answer
                    fh.write(line.rstrip("\n") + "\n")
            log(f"queried {min(i + args.batch, len(rows))}/{len(rows)}")
    partial.replace(out / "answers.jsonl")
    return answers


def upper_bound(k: int, n: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen k times in n."""
    if n == 0 or k >= n:
        return 1.0
    alpha = 1 - level

    def cdf(p: float) -> float:  # P(X <= k) for X ~ Binomial(n, p)
        return sum(math.comb(n, i) * p**i * (1 - p)**(n - i) for i in range(k + 1))

    lo, hi = k / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > alpha else (lo, mid)
    return hi


def tally(args, rows: list[dict], answers: dict[str, dict]) -> dict:
    per_kind, fps, errors, elapsed = {}, [], [], {}
    for kind, _, _ in kinds(args):
        per_kind[kind] = {"description": describe(kind, args), "queries": 0, "false_positives": 0,
                          "errors": 0}
    for r in rows:
        kind = per_kind[r["kind"]]
        kind["queries"] += 1
        a = answers.get(r["query"])
        if a is None or "error" in a:
            kind["errors"] += 1
            errors.append({"query": Path(r["query"]).name, "kind": r["kind"],
                           "source": r["source"], "error": a["error"] if a else "no answer"})
            continue
        elapsed.setdefault(r["kind"], []).append(a.get("elapsed_ms", 0.0))
        if a["matches"]:
            kind["false_positives"] += 1
        for m in a["matches"]:
            fps.append({"query": Path(r["query"]).name, "kind": r["kind"], "source": r["source"],
                        "offset_s": r["offset_s"], "track_id": m["track_id"],
                        "score": m["score"], "confidence": m["confidence"],
                        "query_offset_s": m["query_offset_s"],
                        "track_offset_s": m["track_offset_s"],
                        "matched_duration_s": m["matched_duration_s"]})
    for name, kind in per_kind.items():
        scored = kind["queries"] - kind["errors"]
        kind["rate"] = kind["false_positives"] / scored if scored else None
        kind["upper_95"] = upper_bound(kind["false_positives"], scored) if scored else None
        kind["median_ms"] = statistics.median(elapsed[name]) if elapsed.get(name) else None
    n = sum(k["queries"] - k["errors"] for k in per_kind.values())
    k_all = sum(k["false_positives"] for k in per_kind.values())
    total = {"queries": sum(k["queries"] for k in per_kind.values()), "false_positives": k_all,
             "errors": len(errors), "rate": k_all / n if n else None,
             "upper_95": upper_bound(k_all, n) if n else None}
    return {"per_kind": per_kind, "all": total, "false_positives": fps, "errors": errors}


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def summary_md(res: dict) -> str:
    cat = res["catalog"]
    lines = [
        "# Held-out false-positive check",
        "",
        f"Run on {res['date']}; `{res['earmark_version']}`; catalog index of {cat['tracks']} "
        f"tracks ({cat['hours']:.2f} h, hash configuration {cat.get('hash_config', '?')}). Held-out music, never ingested and never used for "
        f"tuning: {res['tracks']} tracks, {res['hours']:.2f} h, from "
        + ", ".join(f"`{p['package']}` ({p['tracks']} tracks, {p['hours']:.2f} h, "
                    f"{p['licence']})" for p in res["packages"])
        + f"; seed {res['seed']}. Every match is a false positive.",
        "",
        "| kind | what | queries | with a match | rate | 95 % upper bound | errors | median ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, k in res["per_kind"].items():
        ms = "-" if k["median_ms"] is None else f"{k['median_ms']:.0f}"
        lines.append(f"| {name} | {k['description']} | {k['queries']} | {k['false_positives']} | "
                     f"{pct(k['rate'])} | {pct(k['upper_95'])} | {k['errors']} | {ms} |")
    a = res["all"]
    lines.append(f"| **all** | | {a['queries']} | **{a['false_positives']}** | {pct(a['rate'])} | "
                 f"{pct(a['upper_95'])} | {a['errors']} | |")
    lines.append("")
    if res["false_positives"]:
        lines += ["False positives (one row per reported match):", "",
                  "| query | kind | held-out track | matched track | score | confidence "
                  "| matched s | query s | track s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for f in res["false_positives"]:
            lines.append(f"| `{f['query']}` | {f['kind']} | {f['source']} | {f['track_id']} | "
                         f"{f['score']} | "
                         f"{f['confidence']:.3f} | {f['matched_duration_s']:.2f} | "
                         f"{f['query_offset_s']:.2f} | {f['track_offset_s']:.2f} |")
    else:
        lines.append("False positives: none.")
    if res["errors"]:
        lines += ["", "Errors (not counted in the rates):", ""]
        lines += [f"- `{e['query']}` ({e['kind']}, {e['source']}): {e['error']}"
                  for e in res["errors"]]
    return "\n".join(lines) + "\n"


# --- driver ---------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--catalog-db", type=Path,
                    help="Earmark index of the full set's catalog.csv (required unless --build-only)")
    ap.add_argument("--earmark", type=Path, default=ROOT / "target" / "release" / "earmark",
                    help="the earmark binary (default: target/release/earmark in the repository)")
    ap.add_argument("--packages", default=" ".join(DEFAULT_PACKAGES),
                    help="space- or comma-separated held-out Debian packages (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="output folder (default <data>/heldout)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--excerpts", type=int, default=3, help="clean excerpts per track")
    ap.add_argument("--degraded-per-track", type=int, default=1,
                    help=f"excerpts per track for each of {', '.join(DEGRADED)}")
    ap.add_argument("--excerpt-s", type=float, default=10.0, help="excerpt length in seconds")
    ap.add_argument("--batch", type=int, default=64, help="files per earmark query process")
    ap.add_argument("--build-only", action="store_true",
                    help="fetch the music and make the queries, then stop before querying")
    args = ap.parse_args(argv)
    args.packages = sorted(set(args.packages.replace(",", " ").split()))
    tuned = [p for p in args.packages if p in be.DEFAULT_PACKAGES]
    if tuned:
        ap.error(f"{', '.join(tuned)}: part of the evaluation set the thresholds were tuned on")
    if not args.build_only and args.catalog_db is None:
        ap.error("--catalog-db is required (or --build-only)")
    if args.batch < 1 or args.excerpts < 0 or args.degraded_per_track < 0 or args.excerpt_s <= 0:
        ap.error("--batch, --excerpts, --degraded-per-track and --excerpt-s must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("sox", "soxi", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            log(f"{tool} is required")
            return 1
    if not args.build_only:
        # Checked before the (long) build, so that a typo does not cost the whole build.
        if not args.earmark.is_file():
            log(f"no earmark binary at {args.earmark} (cargo build --release, or --earmark)")
            return 1
        if not args.catalog_db.is_dir():
            log(f"no index at {args.catalog_db} (earmark ingest --db DIR --manifest catalog.csv)")
            return 1
    out = (args.out or be.data_dir() / "heldout").resolve()
    out.mkdir(parents=True, exist_ok=True)
    tracks, rows = build(args, out)

    counts: dict[str, int] = {}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    log(f"{len(rows)} queries in {out / 'queries.csv'}: "
        + ", ".join(f"{k} {n}" for k, n in counts.items()))
    if args.build_only:
        return 0

    version = subprocess.run([str(args.earmark), "--version"], capture_output=True,
                             text=True).stdout.strip().splitlines()
    stats = earmark_json([str(args.earmark), "stats", "--db", str(args.catalog_db), "--json"])
    log(f"catalog index: {stats.get('tracks')} tracks, {stats.get('hours', 0):.2f} h")
    answers = query_all(args, rows, out)
    res = tally(args, rows, answers)

    packages = []
    for p in args.packages:
        own = [t for t in tracks if t["package"] == p]
        packages.append({"package": p, "tracks": len(own),
                         "hours": round(sum(float(t["duration_s"]) for t in own) / 3600, 3),
                         "licence": ", ".join(sorted({t["licence"] for t in own}))})
    results = {
        "date": datetime.date.today().isoformat(),
        "earmark_version": version[0] if version else str(args.earmark),
        "catalog": {"db": str(args.catalog_db), "tracks": stats.get("tracks"),
                    "hours": stats.get("hours", 0.0),
                    "hash_config": stats.get("hash_config")},
        "packages": packages,
        "tracks": len(tracks),
        "hours": round(sum(float(t["duration_s"]) for t in tracks) / 3600, 3),
        "seed": args.seed,
        "excerpt_s": args.excerpt_s,
        **res,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = summary_md(results)
    (out / "summary.md").write_text(text)
    print(text)
    log(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
