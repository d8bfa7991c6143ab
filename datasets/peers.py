#!/usr/bin/env python3
"""Run a peer fingerprinting system on an evaluation set and answer as `earmark query --json`.

  datasets/peers.py --system audfprint2 [--eval-dir DIR] [--out FILE] [--jobs N]
  datasets/peers.py --system fpcalc [--fpcalc-excerpts] [--fpcalc-max-ber 0.25] ...
  datasets/score.py DIR/truth.csv DIR/answers-audfprint2.jsonl --json score-audfprint2.json

Writes one JSON line per query of truth.csv, in its order and with its `query` as `file`,
so that score.py scores every system alike, and a `.meta.json` beside the answers with the
system's version and settings, its database build time (ingest speed as x real time) and
its database size per hour of catalog audio.

Systems:
  audfprint2  landmark pairs (Ellis's audfprint, the audfprint2 package). Its defaults
              except --maxtimebits 16, because the default 14 bits wrap track times after
              380 s and the catalog has longer tracks. The database is built from
              catalog.csv once and kept under <data>/peers/audfprint2/.
  fpcalc      Chromaprint. Whole-file identification: raw fingerprints of the catalog
              tracks (cached under <data>/peers/fpcalc/) and of each query (fpcalc's
              default first 120 s) are compared at every relative alignment; the best
              alignment's bit error rate over an overlap of at least --fpcalc-min-overlap-s
              decides. Queries that are excerpts (length_s other than `full`) are answered
              {"not_applicable": ...}, which score.py reports as n/a, unless
              --fpcalc-excerpts runs them anyway.

Runs in the virtualenv <data>/peers/venv (made on first use, see peer_venv.py). Finished
work is skipped: the database and fingerprints are keyed on the catalog files, settings,
tool versions and this script; answers go to FILE.partial as they come, so an interrupted
run resumes, and a rerun with the same inputs returns at once.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peer_venv  # noqa: E402

PROG = "peers"
SYSTEMS = ("audfprint2", "fpcalc")
# audfprint2 settings that differ from its defaults (see the module doc for why).
AUDFPRINT2_ARGS = ["--maxtimebits", "16"]
FP_ITEM_S = 4096 / 11025 / 3  # one Chromaprint word: frames of 4096 at 11025 Hz, hop a third
WHOLE = ("full", "whole")  # length_s of whole-file queries


def log(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def sha(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def file_key(path: str) -> list:
    st = os.stat(path)
    return [path, st.st_size, int(st.st_mtime)]


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def durations(paths: list[str]) -> dict[str, float]:
    """Audio length of each file by ffprobe, cached by path, size and mtime."""
    cache_p = peer_venv.data_dir() / "peers" / "durations.json"
    cache = json.loads(cache_p.read_text()) if cache_p.is_file() else {}
    out, changed = {}, False
    for p in paths:
        k = sha(file_key(p))
        if k not in cache:
            r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                "-of", "csv=p=0", p], capture_output=True, text=True, check=True)
            cache[k] = float(r.stdout.strip())
            changed = True
        out[p] = cache[k]
    if changed:
        cache_p.parent.mkdir(parents=True, exist_ok=True)
        write_json(cache_p, cache)
    return out


def pool_map(fn, items: list, jobs: int):
    """fn over items in order; with jobs > 1 in forked workers that share the parent's state."""
    if jobs <= 1:
        yield from map(fn, items)
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(fn, items)


class Progress:
    def __init__(self, what: str, total: int):
        self.what, self.total, self.done = what, total, 0
        self.t0 = self.last = time.monotonic()

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= 5 or self.done == self.total:
            self.last = now
            el = now - self.t0
            left = el / self.done * (self.total - self.done)
            log(f"{self.what} {self.done}/{self.total} ({100 * self.done // max(1, self.total)}%), "
                f"{el:.0f}s elapsed, ~{left:.0f}s left")


# --- audfprint2 -------------------------------------------------------------------------

def af_setup(cmd: str):
    """audfprint2's analyzer (and matcher) exactly as its CLI sets them up for `cmd`."""
    from audfprint2 import cli
    extra = ["--find-time-range"] if cmd == "match" else []  # reports times; counts unchanged
    a = cli.parse_args([cmd, "--dbase", "unused.hdf", *AUDFPRINT2_ARGS, *extra])
    analyzer = cli.setup_analyzer(a.density, cmd == "match", a.pks_per_frame, a.fanout, a.freq_sd,
                                  a.shifts, a.samplerate, a.continue_on_error, a.ffmpeg_path)
    matcher = None
    if cmd == "match":
        matcher = cli.setup_matcher(a.match_win, a.search_depth, a.min_count, a.max_matches,
                                    a.exact_count, a.find_time_range, a.time_quantile,
                                    a.sortbytime, False, False)
    return a, analyzer, matcher


def af_params() -> dict:
    a, an, m = af_setup("match")
    return {"density": a.density, "fanout": a.fanout, "pks_per_frame": a.pks_per_frame,
            "freq_sd": a.freq_sd, "hashbits": a.hashbits, "bucketsize": a.bucketsize,
            "maxtimebits": a.maxtimebits, "samplerate": a.samplerate,
            "shifts_ingest": 1, "shifts_match": an.shifts, "match_win": a.match_win,
            "min_count": a.min_count, "search_depth": a.search_depth,
            "max_matches": a.max_matches, "exact_count": a.exact_count,
            "cli_args": AUDFPRINT2_ARGS}


_AF: dict = {}  # state shared with forked workers


def _af_hashes(path: str):
    an = _AF["ingest_analyzer"]
    hashes = an.wavfile2hashes(path)
    return [(int(t), int(h)) for t, h in hashes.tolist()], an.soundfiledur


def af_build(catalog: list[dict], jobs: int) -> tuple[Path, dict]:
    import random
    from importlib.metadata import version

    import numpy as np
    from audfprint2.core import hash_table
    a, an, _ = af_setup("new")
    params = af_params()
    key = sha("audfprint2-db", version("audfprint2"), params,
              [file_key(r["path"]) + [r["track_id"]] for r in catalog])
    db_dir = peer_venv.data_dir() / "peers" / "audfprint2" / key[:16]
    db, info_p = db_dir / "catalog.hdf", db_dir / "build.json"
    if db.is_file() and info_p.is_file():
        info = json.loads(info_p.read_text())
        if info.get("key") == key:
            log(f"audfprint2: database up to date ({len(catalog)} tracks)")
            return db, info
    shutil.rmtree(db_dir, ignore_errors=True)
    db_dir.mkdir(parents=True)
    log(f"audfprint2: building the database of {len(catalog)} tracks with {jobs} job(s)")
    t0 = time.monotonic()
    ht = hash_table.HashTable(hashbits=a.hashbits, depth=a.bucketsize, maxtime=1 << a.maxtimebits)
    ht.params["samplerate"] = an.target_sr
    random.seed(0)  # a full bucket keeps a random sample of its entries: the same one each build
    _AF["ingest_analyzer"] = an
    paths = [r["path"] for r in catalog]
    progress = Progress("audfprint2: ingest", len(paths))
    audio_s = 0.0
    for path, (pairs, dur) in zip(paths, pool_map(_af_hashes, paths, jobs)):
        ht.store(path, pairs)
        audio_s += dur
        progress.step()
    tmp = db_dir / "catalog.partial.hdf"
    ht.save(str(tmp))
    tmp.replace(db)
    build_s = time.monotonic() - t0
    stored = int(ht.counts.sum())
    info = {"key": key, "build_s": round(build_s, 3), "build_jobs": jobs,
            "decoded_audio_s": round(audio_s, 3), "hashes": stored,
            "hashes_kept": int(np.minimum(ht.counts, ht.depth).sum()),
            "table_bytes_in_memory": int(ht.table.nbytes + ht.counts.nbytes)}
    write_json(info_p, info)
    log(f"audfprint2: {stored} hashes in {build_s:.1f}s -> {db.stat().st_size / 1e6:.1f} MB")
    return db, info


def _af_match(query: str) -> dict:
    an, matcher, ht, names = _AF["analyzer"], _AF["matcher"], _AF["ht"], _AF["names"]
    t_hop = an.n_hop / an.target_sr
    t0 = time.perf_counter()
    try:
        rslts, _, _ = matcher.match_file(an, ht, query)
    except Exception as e:  # a file that does not decode: reported as Earmark would
        return {"file": query, "error": f"{type(e).__name__}: {e}",
                "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}
    elapsed = (time.perf_counter() - t0) * 1000
    matches = []
    for tid, aligned, align, raw, _rank, t_min, t_max in rslts.tolist():
        # align = track time - query time, in hops, at the best-supported alignment; the time
        # range is that of the aligned hashes in the query.
        matches.append({"track_id": names[ht.names[tid]], "score": aligned, "confidence": None,
                        "query_offset_s": round(t_min * t_hop, 3),
                        "track_offset_s": round((t_min + align) * t_hop, 3),
                        "matched_duration_s": round((t_max - t_min) * t_hop, 3),
                        "raw_hashes": raw})
    return {"file": query, "matches": matches, "elapsed_ms": round(elapsed, 3)}


def run_audfprint2(args, catalog, queries, out):
    from importlib.metadata import version
    db, build = af_build(catalog, args.jobs)
    meta = {"system": "audfprint2", "version": version("audfprint2"), "params": af_params(),
            "decision": "audfprint2's own: a match is any track with more than min_count "
                        "time-aligned landmark hashes; the best one first",
            "db_file_bytes": db.stat().st_size, **{k: v for k, v in build.items() if k != "key"}}
    key = sha("audfprint2-answers", build["key"])

    def setup():
        from audfprint2.core import hash_table
        t0 = time.monotonic()
        _, an, matcher = af_setup("match")
        ht = hash_table.HashTable(str(db))
        _AF.update(analyzer=an, matcher=matcher, ht=ht,
                   names={r["path"]: r["track_id"] for r in catalog})
        meta["db_load_s"] = round(time.monotonic() - t0, 3)

    answer(args, queries, out, key, meta, setup, _af_match, "audfprint2: match")


# --- Chromaprint fpcalc ---------------------------------------------------------------

def fpcalc_version() -> str:
    """fpcalc's version line, e.g. 'fpcalc version 1.5.1 (FFmpeg Lavc59.18.100 ...)'."""
    r = subprocess.run(["fpcalc", "-version"], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def fpcalc_raw(path: str, length: int):
    """Raw fingerprint words (uint32) of a file's first `length` s (0: all) and the time taken."""
    import numpy as np
    t0 = time.perf_counter()
    # With -length 0 fpcalc reports an end-of-file "error" and a non-zero status although the
    # fingerprint is complete: read its output whatever the status.
    r = subprocess.run(["fpcalc", "-raw", "-length", str(length), path], capture_output=True, text=True)
    words = None
    for line in r.stdout.splitlines():
        if line.startswith("FINGERPRINT="):
            words = np.array([int(x) for x in line.split("=", 1)[1].split(",") if x], dtype=np.uint32)
    if words is None or not len(words):
        raise RuntimeError(f"fpcalc gave no fingerprint: {r.stderr.strip()[-300:]}")
    return words, time.perf_counter() - t0


def _fp_catalog_one(path: str):
    words, secs = fpcalc_raw(path, 0)
    return words.astype("<u4").tobytes(), secs


def fp_catalog(catalog: list[dict], jobs: int) -> tuple[list, dict]:
    """Whole-track fingerprints of the catalog, cached one file per track."""
    import numpy as np
    ver = fpcalc_version()
    cache = peer_venv.data_dir() / "peers" / "fpcalc" / "catalog"
    cache.mkdir(parents=True, exist_ok=True)
    keys = [sha("fpcalc-track", ver, file_key(r["path"])) for r in catalog]
    todo = [r["path"] for r, k in zip(catalog, keys)
            if not ((cache / f"{k}.u32").is_file() and (cache / f"{k}.json").is_file())]
    if todo:
        log(f"fpcalc: fingerprinting {len(todo)} of {len(catalog)} catalog tracks with {jobs} job(s)")
        progress = Progress("fpcalc: catalog", len(todo))
        by_path = dict(zip([r["path"] for r in catalog], keys))
        for path, (raw, secs) in zip(todo, pool_map(_fp_catalog_one, todo, jobs)):
            k = by_path[path]
            tmp = cache / f"{k}.partial"
            tmp.write_bytes(raw)
            tmp.replace(cache / f"{k}.u32")
            write_json(cache / f"{k}.json", {"path": path, "seconds": round(secs, 4), "jobs": jobs})
            progress.step()
    refs, build_s, db_bytes, words = [], 0.0, 0, 0
    for r, k in zip(catalog, keys):
        raw = (cache / f"{k}.u32").read_bytes()
        w = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
        refs.append((r["track_id"], w))
        build_s += json.loads((cache / f"{k}.json").read_text())["seconds"]
        db_bytes += len(raw)
        words += len(w)
    info = {"key": sha("fpcalc-catalog", keys), "build_s": round(build_s, 3),
            "build_note": "sum of the per-track fpcalc times (one process at a time)",
            "db_file_bytes": db_bytes, "words": words}
    return refs, info


def best_alignment(q, r, min_overlap: int):
    """Lowest bit error rate of query words q against reference words r over every relative
    shift s (q[i] against r[i + s]) whose overlap has at least min_overlap words.
    Returns (ber, shift, overlap), or None when no shift overlaps enough."""
    import numpy as np
    n, m = len(q), len(r)
    min_overlap = max(1, min(min_overlap, n, m))
    s_min, s_max = -(n - min_overlap), m - min_overlap
    errors = np.zeros(s_max - s_min + 1, dtype=np.int64)
    for i in range(n):  # one query word against every shift at once
        lo, hi = max(s_min, -i), min(s_max, m - 1 - i)
        if lo <= hi:
            errors[lo - s_min:hi - s_min + 1] += np.bitwise_count(q[i] ^ r[i + lo:i + hi + 1])
    shifts = np.arange(s_min, s_max + 1)
    overlap = np.minimum(n, m - shifts) - np.maximum(0, -shifts)
    ber = errors / (32.0 * overlap)
    k = int(np.argmin(ber))
    return float(ber[k]), int(shifts[k]), int(overlap[k])


_FP: dict = {}


def _fp_match(query: str) -> dict:
    if not _FP["applicable"][query]:
        return {"file": query, "not_applicable": "fpcalc identifies whole files, not excerpts"}
    t0 = time.perf_counter()
    try:
        q, _ = fpcalc_raw(query, _FP["query_length"])
    except Exception as e:
        return {"file": query, "error": str(e), "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}
    min_overlap = round(_FP["min_overlap_s"] / FP_ITEM_S)
    found = []
    for track_id, r in _FP["refs"]:
        ber, shift, overlap = best_alignment(q, r, min_overlap)
        if ber <= _FP["max_ber"]:
            # shift = where the query's first word lies in the track, in words.
            found.append({"track_id": track_id, "score": round(1 - ber, 4), "confidence": None,
                          "query_offset_s": round(max(0, -shift) * FP_ITEM_S, 3),
                          "track_offset_s": round(max(0, shift) * FP_ITEM_S, 3),
                          "matched_duration_s": round(overlap * FP_ITEM_S, 3),
                          "ber": round(ber, 4)})
    found.sort(key=lambda x: x["ber"])
    return {"file": query, "matches": found, "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}


def run_fpcalc(args, catalog, queries, out):
    refs, build = fp_catalog(catalog, args.jobs)
    params = {"max_ber": args.fpcalc_max_ber, "min_overlap_s": args.fpcalc_min_overlap_s,
              "query_length_s": args.fpcalc_query_length, "catalog_length_s": "whole track",
              "excerpts": args.fpcalc_excerpts, "item_s": FP_ITEM_S}
    ver = fpcalc_version()
    meta = {"system": "fpcalc", "version": ver.split()[2] if ver.startswith("fpcalc version ") else ver,
            "version_full": ver, "params": params,
            "decision": f"a match is a catalog track whose best alignment has a bit error rate "
                        f"<= {args.fpcalc_max_ber} over >= {args.fpcalc_min_overlap_s} s of overlap "
                        f"(or all of the shorter fingerprint); lowest BER first",
            "applies_to": "every query" if args.fpcalc_excerpts else "whole-file queries (length_s full)",
            **{k: v for k, v in build.items() if k != "key"}}
    key = sha("fpcalc-answers", build["key"], params)
    _FP.update(refs=refs, max_ber=args.fpcalc_max_ber, min_overlap_s=args.fpcalc_min_overlap_s,
               query_length=args.fpcalc_query_length,
               applicable={q["query"]: args.fpcalc_excerpts or q["length_s"] in WHOLE for q in queries})
    answer(args, queries, out, key, meta, lambda: None, _fp_match, "fpcalc: match")


# --- answers ------------------------------------------------------------------------------

def answer(args, queries, out: Path, key: str, meta: dict, setup, match_one, what: str) -> None:
    """Answer every query once: resume from out.partial, skip a finished run with this key."""
    key = sha(key, [q["query"] for q in queries], hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
    meta_p = meta_path(out)
    if not args.force and out.is_file() and meta_p.is_file():
        old = json.loads(meta_p.read_text())
        if old.get("answers_key") == key:
            log(f"answers up to date in {out}")
            return
    partial = out.with_name(out.name + ".partial")
    done: dict[str, dict] = {}
    if partial.is_file() and not args.force:
        lines = partial.read_text().splitlines()
        if lines and json.loads(lines[0]).get("key") == key:
            for line in lines[1:]:
                try:
                    a = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by an interruption
                    continue
                done[a["file"]] = a
            if done:
                log(f"resuming: {len(done)} of {len(queries)} queries already answered")
    with partial.open("w") as fh:
        fh.write(json.dumps({"key": key}) + "\n")
        for a in done.values():
            fh.write(json.dumps(a) + "\n")
    todo = [q["query"] for q in queries if q["query"] not in done]
    if todo:
        setup()
        progress = Progress(what, len(todo))
        t0 = time.monotonic()
        with partial.open("a") as fh:
            for a in pool_map(match_one, todo, args.jobs):
                done[a["file"]] = a
                fh.write(json.dumps(a) + "\n")
                fh.flush()
                progress.step()
        meta["query_wall_s"] = round(time.monotonic() - t0, 3)
        # Per-query times depend on what else the machine was doing: keep a trace of it.
        meta["cpu_count"] = os.cpu_count()
        meta["load_1min_after_queries"] = round(os.getloadavg()[0], 2)
    meta["query_jobs"] = args.jobs
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w") as fh:
        for q in queries:
            fh.write(json.dumps(done[q["query"]], separators=(",", ":")) + "\n")
    tmp.replace(out)
    partial.unlink()

    answered = [done[q["query"]] for q in queries]
    times = [a["elapsed_ms"] for a in answered if "matches" in a]
    meta.update({
        "answers_key": key,
        "queries": len(queries),
        "answered": sum("matches" in a for a in answered),
        "not_applicable": sum("not_applicable" in a for a in answered),
        "errors": sum("error" in a for a in answered),
        "query_ms_median": round(statistics.median(times), 3) if times else None,
    })
    write_json(meta_p, meta)
    log(f"{meta['answered']} answered, {meta['not_applicable']} not applicable, {meta['errors']} errors "
        f"-> {out}")


def meta_path(out: Path) -> Path:
    name = out.name[:-len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(name + ".meta.json")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--system", required=True, choices=SYSTEMS)
    ap.add_argument("--eval-dir", type=Path, help="evaluation set (default <data>/eval)")
    ap.add_argument("--out", type=Path, help="answers (default <eval-dir>/answers-<system>.jsonl)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes for the catalog and the queries (default 1: per-query "
                         "times then do not compete for cores)")
    ap.add_argument("--force", action="store_true", help="answer every query again")
    ap.add_argument("--fpcalc-excerpts", action="store_true",
                    help="run fpcalc on excerpt queries too instead of answering not_applicable")
    ap.add_argument("--fpcalc-max-ber", type=float, default=0.25,
                    help="bit error rate at or under which fpcalc's best alignment is a match")
    ap.add_argument("--fpcalc-min-overlap-s", type=float, default=30.0,
                    help="shortest overlap an alignment may have (shorter fingerprints: all of it)")
    ap.add_argument("--fpcalc-query-length", type=int, default=120,
                    help="seconds of each query that fpcalc fingerprints (its default, 120; 0: all)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    for tool in ("ffmpeg", "ffprobe") + (("fpcalc",) if args.system == "fpcalc" else ()):
        if shutil.which(tool) is None:
            log(f"{tool} is required")
            return 1
    peer_venv.ensure_venv(str(Path(__file__).resolve()), argv, PROG)

    eval_dir = (args.eval_dir or peer_venv.data_dir() / "eval").resolve()
    out = (args.out or eval_dir / f"answers-{args.system}.jsonl").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    catalog = read_csv(eval_dir / "catalog.csv")
    queries = read_csv(eval_dir / "truth.csv")
    log(f"{args.system}: {len(catalog)} catalog tracks, {len(queries)} queries in {eval_dir}")
    t_start = time.monotonic()
    (run_audfprint2 if args.system == "audfprint2" else run_fpcalc)(args, catalog, queries, out)

    # Sizes and speeds per catalog hour, from the audio lengths as ffprobe reports them.
    meta_p = meta_path(out)
    meta = json.loads(meta_p.read_text())
    audio_s = sum(durations([r["path"] for r in catalog]).values())
    meta.update({
        "catalog_tracks": len(catalog),
        "catalog_audio_s": round(audio_s, 3),
        "ingest_x_realtime": round(audio_s / meta["build_s"], 1) if meta.get("build_s") else None,
        "db_bytes_per_hour": round(meta["db_file_bytes"] / (audio_s / 3600)) if audio_s else None,
    })
    write_json(meta_p, meta)
    med = meta["query_ms_median"]
    log(f"done in {time.monotonic() - t_start:.0f}s: ingest {meta['ingest_x_realtime']}x real time, "
        f"{meta['db_bytes_per_hour'] / 1e6:.2f} MB per catalog hour, median query "
        f"{'n/a' if med is None else f'{med:.0f} ms'} -> {meta_p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
