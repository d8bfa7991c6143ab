#!/usr/bin/env python3
"""Build the evaluation set: a catalog to ingest and degraded queries with ground truth.

Tracks come from <data>/music/tracks.csv (fetch-music.sh is run for missing packages).
Each track is put on one side by a seeded hash of its duplicate group (or of its id):
about --catalog-fraction go to the catalog, the rest are negatives, never ingested.
Tracks that share audio (datasets/dup-groups.csv, made by find-dups.py) stay together.

Writes into <data>/eval/ (or --out):
  catalog/<track_id>.{flac,wav,mp3,ogg}  catalog tracks, formats round-robin
  catalog.csv    path,track_id,title,artist,album,isrc,rights_holder,policy
  queries/qNNNNN.{mp3,m4a,wav}
  truth.csv      query,condition,length_s,track_id,offset_s,format,source
                 track_id is empty for negatives; offset_s is where in the original
                 track the excerpt starts, before any speed change or prepended silence
                 (empty for negatives); source names the track the audio came from
  split.csv      track_id,side,group       side: catalog | negative | excluded
  conditions.csv condition,family,description

Every run is seeded; the same inputs, arguments and tool versions give the same files. A
stamp skips a finished build; an interrupted one resumes, keeping finished files.
--catalog-only writes only catalog/, catalog.csv and split.csv of the build that the other
arguments describe; the same command without it later adds the queries to them.
"""

from __future__ import annotations

import argparse
import array
import csv
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import wave
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PACKAGES = ["wesnoth-1.16-music", "supertux-data", "hedgewars-data"]
LENGTHS = ["1", "2", "3", "5", "10", "20", "full"]
RATE = 44100  # every intermediate file is 16-bit stereo at this rate
ENV_RATE = 4000  # loudness envelopes are measured on a mono copy at this rate
ENV_BLOCK_S = 0.5
NOISE_BED_S = 60
CATALOG_FORMATS = ["flac", "wav", "mp3", "ogg"]
POLICIES = ["allow", "block", "monitor"]


def _conditions() -> dict[str, dict]:
    """Every condition: family, description, sox effects, mix, final encoding."""
    c: dict[str, dict] = {}

    def add(name, family, desc, fx=(), enc="mp3-128k", mix=None):
        c[name] = {"family": family, "desc": desc, "fx": list(fx), "enc": enc, "mix": mix}

    add("clean", "clean", "MP3 128 kbit/s re-encode only")
    add("mp3-32k-mono", "codec", "MP3 32 kbit/s mono", enc="mp3-32k-mono")
    add("aac-48k", "codec", "AAC 48 kbit/s stereo in MP4", enc="aac-48k")
    add("telephone", "codec", "band-pass 300-3400 Hz, 8 kHz mono, through GSM 06.10; WAV",
        enc="telephone")
    for colour in ("white", "pink"):
        for snr in (10, 5, 0, -5):
            tag = f"{snr}dB" if snr >= 0 else f"m{-snr}dB"
            add(f"{colour}-noise-{tag}", "noise",
                f"{colour} noise at {snr} dB SNR against the excerpt's own RMS",
                mix={"kind": "noise", "colour": colour, "snr_db": snr})
    add("song-underneath", "mix", "another negative track mixed 6 dB below the excerpt",
        mix={"kind": "song", "snr_db": 6})
    # gain -h/-r give the filters headroom and take back what was not used: no clipping.
    add("reverb", "filter", "sox reverb 50% reverberance",
        fx=["gain", "-h", "reverb", "50", "50", "100", "gain", "-r"])
    add("lowpass-3k", "filter", "low-pass at 3 kHz", fx=["lowpass", "3000"])
    add("eq", "filter", "equalizer +6 dB at 120 Hz, -8 dB at 2.5 kHz, +5 dB at 8 kHz",
        fx=["gain", "-h", "equalizer", "120", "1q", "+6", "equalizer", "2500", "2q", "-8",
            "equalizer", "8000", "1q", "+5", "gain", "-r"])
    for pct in (2, 5, 10):
        for sign in (1, -1):
            factor = 1 + sign * pct / 100
            add(f"speed{'+' if sign > 0 else '-'}{pct}", "speed",
                f"speed x{factor:g}: tempo and pitch change together", fx=["speed", f"{factor:g}"])
    for pct in (5, 10):
        for sign in (1, -1):
            factor = 1 + sign * pct / 100
            add(f"tempo{'+' if sign > 0 else '-'}{pct}", "tempo",
                f"tempo x{factor:g}, pitch kept", fx=["tempo", "-m", f"{factor:g}"])
    for semis in (1, 2):
        for sign in (1, -1):
            add(f"pitch{'+' if sign > 0 else '-'}{semis}", "pitch",
                f"pitch {sign * semis:+d} semitone(s), tempo kept",
                fx=["pitch", str(sign * semis * 100)])
    add("leading-silence", "edit", "2 s of digital silence prepended", fx=["pad", "2"])
    add("cropped-full", "edit", "whole track without its first and last 5%")
    return c


CONDITIONS = _conditions()
QUICK_CONDITIONS = ["clean", "white-noise-0dB", "speed+5", "tempo-10", "pitch-2"]


# --- small helpers --------------------------------------------------------------------


def data_dir() -> Path:
    return Path(os.environ.get("EARMARK_DATA") or HERE.parent / "target" / "earmark-data")


def run(cmd: list[str]) -> str:
    # A session of its own keeps Ctrl-C away from the tools: sox treats SIGINT as "stop
    # here", ends the file early and exits 0, which would pass a truncated file as done.
    proc = subprocess.run(cmd, capture_output=True, text=True, start_new_session=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stderr.strip()}")
    return proc.stdout


def sox(*args: str) -> None:
    # -R: sox's own random generators (dither, noise) start from a fixed seed.
    run(["sox", "-R", "-V1", *args])


def ffmpeg(src: Path, dst: Path, *opts: str) -> None:
    run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
         "-fflags", "+bitexact", "-flags:a", "+bitexact", *opts, str(dst)])


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    tmp.replace(path)


def unit_hash(*parts) -> float:
    """A seeded, platform-independent number in [0, 1)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


def read_pcm16(path: Path) -> array.array:
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise RuntimeError(f"{path}: expected 16-bit PCM")
        data = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        data.byteswap()
    return data


def rms_peak(samples: array.array) -> tuple[float, float]:
    """RMS and peak of 16-bit samples, as fractions of full scale."""
    if not samples:
        return 0.0, 0.0
    rms = math.sqrt(sum(x * x for x in samples) / len(samples)) / 32768
    peak = max(max(samples), -min(samples)) / 32768
    return rms, peak


# --- per-track analysis ---------------------------------------------------------------


def analyse(job: dict) -> dict:
    """Sample rate, length, tags and a loudness envelope of one track (cached)."""
    path = job["path"]
    st = os.stat(path)
    key = f"{path} {st.st_size} {int(st.st_mtime)} {ENV_RATE} {ENV_BLOCK_S}"
    cache = Path(job["cache"])
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return cached
    rate = int(run(["soxi", "-r", path]).strip())
    frames = int(run(["soxi", "-s", path]).strip())
    raw = subprocess.run(["sox", "-R", "-V1", path, "-t", "raw", "-e", "signed-integer",
                          "-b", "16", "-c", "1", "-r", str(ENV_RATE), "-"],
                         capture_output=True, check=True, start_new_session=True).stdout
    pcm = array.array("h")
    pcm.frombytes(raw[: len(raw) // 2 * 2])
    if abs(len(pcm) - frames * ENV_RATE / rate) > ENV_RATE / 10:
        raise RuntimeError(f"{path}: decoded {len(pcm) / ENV_RATE:.1f}s of {frames / rate:.1f}s")
    if sys.byteorder == "big":
        pcm.byteswap()
    block = int(ENV_RATE * ENV_BLOCK_S)
    env = []
    for i in range(0, len(pcm), block):
        chunk = pcm[i:i + block]
        power = sum(x * x for x in chunk) / len(chunk) / 32768**2
        env.append(round(10 * math.log10(power + 1e-12), 2))
    probe = json.loads(run(["ffprobe", "-v", "error", "-of", "json", "-show_entries",
                            "format_tags:stream_tags", path]))
    tags: dict[str, str] = {}
    for holder in [probe.get("format", {})] + probe.get("streams", []):
        for k, v in holder.get("tags", {}).items():
            tags.setdefault(k.lower(), v)
    info = {"key": key, "rate": rate, "frames": frames, "env": env,
            "artist": tags.get("artist", ""), "album": tags.get("album", "")}
    tmp = cache.with_suffix(".partial")
    tmp.write_text(json.dumps(info))
    tmp.replace(cache)
    return info


def window_db(env: list[float], start_s: float, length_s: float) -> tuple[float, float]:
    """Mean level (dBFS) of a stretch and the share of its blocks that are near-silent."""
    a = int(start_s / ENV_BLOCK_S)
    b = max(a + 1, math.ceil((start_s + length_s) / ENV_BLOCK_S))
    blocks = env[a:b] or [-120.0]
    mean = 10 * math.log10(sum(10 ** (d / 10) for d in blocks) / len(blocks) + 1e-12)
    quiet = sum(d < -55 for d in blocks) / len(blocks)
    return mean, quiet


def pick_offset(info: dict, length_s: float, rng: random.Random) -> int:
    """A random start (in source frames) whose excerpt is not mostly silence."""
    rate, frames = info["rate"], info["frames"]
    span = frames - int(round(length_s * rate))
    if span <= 0:
        return 0
    best, best_db = 0, -1e9
    for _ in range(40):
        start = rng.randrange(span + 1)
        level, quiet = window_db(info["env"], start / rate, length_s)
        if level > -40 and quiet <= 0.25:
            return start
        if level > best_db:
            best, best_db = start, level
    return best


# --- jobs run in the pool -------------------------------------------------------------


def encode(src_wav: Path, dst: Path, enc: str, work: Path) -> None:
    if enc == "mp3-128k":
        ffmpeg(src_wav, dst, "-c:a", "libmp3lame", "-b:a", "128k")
    elif enc == "mp3-32k-mono":
        ffmpeg(src_wav, dst, "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k")
    elif enc == "aac-48k":
        ffmpeg(src_wav, dst, "-c:a", "aac", "-b:a", "48k", "-f", "mp4")
    elif enc == "telephone":
        gsm = work / "phone.gsm"
        sox(str(src_wav), "-r", "8000", "-c", "1", str(gsm), "sinc", "300-3400")
        sox(str(gsm), "-b", "16", "-e", "signed-integer", "-t", "wav", str(dst))
    else:
        raise ValueError(f"unknown encoding {enc}")


def cut(src: str, dst: Path, start: int, frames: int | None, fx: list[str]) -> None:
    trim = ["trim", f"{start}s"] + ([f"{frames}s"] if frames is not None else [])
    sox(src, "-b", "16", "-e", "signed-integer", "-c", "2", "-r", str(RATE), str(dst), *trim, *fx)


def make_query(job: dict) -> None:
    work = Path(job["work"])
    cond = CONDITIONS[job["condition"]]
    base = work / "excerpt.wav"
    cut(job["src"], base, job["start"], job["frames"], cond["fx"])
    if cond["family"] not in ("speed", "tempo", "edit"):
        # A cheap guard against short reads: the excerpt must have the planned length.
        with wave.open(str(base)) as w:
            got = w.getnframes()
        want = job["frames"] if job["frames"] is not None else job["src_frames"]
        if abs(got - round(want * RATE / job["rate"])) > 1:
            raise RuntimeError(f"{job['src']}: excerpt has {got} frames, expected {want}")
    mix = cond["mix"]
    if mix:
        x = read_pcm16(base)
        n_frames = len(x) // 2
        other = work / "other.wav"
        if mix["kind"] == "noise":
            cut(job["noise_bed"], other, job["mix_start"], n_frames, [])
        else:
            cut(job["mix_src"], other, job["mix_start"], job["mix_frames"], [])
        y = read_pcm16(other)
        rms_x, peak_x = rms_peak(x)
        rms_y, peak_y = rms_peak(y)
        # Noise gain for the SNR asked; a common scale on both keeps the sum unclipped.
        g = max(rms_x, 1e-4) / max(rms_y, 1e-9) * 10 ** (-mix["snr_db"] / 20)
        a = min(1.0, 0.97 / max(peak_x + g * peak_y, 1e-9))
        mixed = work / "mixed.wav"
        sox("-m", "-v", f"{a:.6f}", str(base), "-v", f"{a * g:.6f}", str(other),
            "-b", "16", str(mixed), "trim", "0s", f"{n_frames}s")
        base = mixed
    tmp = work / ("out" + Path(job["out"]).suffix)
    encode(base, tmp, cond["enc"], work)
    tmp.replace(job["out"])


def make_catalog(job: dict) -> None:
    work = Path(job["work"])
    tmp = work / ("out" + Path(job["out"]).suffix)
    fmt = job["format"]
    if fmt == "ogg":
        shutil.copyfile(job["src"], tmp)  # the source is Ogg Vorbis already: no generation loss
    elif fmt == "flac":
        # The decoder hands out floats; without s16 the encoder would keep 24 bits.
        ffmpeg(Path(job["src"]), tmp, "-c:a", "flac", "-sample_fmt", "s16")
    elif fmt == "wav":
        ffmpeg(Path(job["src"]), tmp, "-c:a", "pcm_s16le")
    elif fmt == "mp3":
        ffmpeg(Path(job["src"]), tmp, "-c:a", "libmp3lame", "-b:a", "320k")
    tmp.replace(job["out"])


def run_job(job: dict) -> tuple[str, float, str | None]:
    t0 = time.monotonic()
    work = Path(job["work"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        (make_query if job["type"] == "query" else make_catalog)(job)
        return job["id"], time.monotonic() - t0, None
    except Exception as e:  # reported by the parent, which then fails the build
        return job["id"], time.monotonic() - t0, str(e)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- planning -------------------------------------------------------------------------


def load_tracks(packages: list[str]) -> list[dict]:
    tracks_csv = data_dir() / "music" / "tracks.csv"

    def read() -> list[dict]:
        if not tracks_csv.is_file():
            return []
        with tracks_csv.open(newline="") as fh:
            return list(csv.DictReader(fh))

    rows = read()
    missing = [p for p in packages if not any(r["package"] == p for r in rows)]
    if missing:
        print(f"build-eval: fetching {' '.join(missing)}", flush=True)
        subprocess.run([str(HERE / "fetch-music.sh"), "--packages", " ".join(missing)], check=True)
        rows = read()
    rows = [r for r in rows if r["package"] in packages]
    return sorted(rows, key=lambda r: r["track_id"])


def load_groups(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    with path.open(newline="") as fh:
        return {r["track_id"]: r["group"] for r in csv.DictReader(fh) if r.get("track_id")}


def title_from_stem(path: str) -> str:
    return " ".join(w.capitalize() for w in Path(path).stem.replace("_", " ").replace("-", " ").split())


def plan(args, tracks: list[dict], infos: dict[str, dict], groups: dict[str, str], out: Path):
    """Split, catalog jobs and query jobs; deterministic for a given seed."""
    seed = args.seed
    eligible, split_rows = [], []
    for t in tracks:
        info = infos[t["track_id"]]
        seconds = info["frames"] / info["rate"]
        loud, _ = window_db(info["env"], 0, seconds)
        group = groups.get(t["track_id"], "")
        if seconds < args.min_track_s or loud < -50:
            split_rows.append([t["track_id"], "excluded", group])
        else:
            eligible.append(t)

    def side_of(t) -> str:
        key = groups.get(t["track_id"], t["track_id"])
        return "catalog" if unit_hash(seed, "split", key) < args.catalog_fraction else "negative"

    catalog = [t for t in eligible if side_of(t) == "catalog"]
    negatives = [t for t in eligible if side_of(t) == "negative"]
    if args.quick:
        # The same split, cut down to a few tracks in a seeded order.
        catalog = sorted(catalog, key=lambda t: unit_hash(seed, "quick", t["track_id"]))[:8]
        negatives = sorted(negatives, key=lambda t: unit_hash(seed, "quick", t["track_id"]))[:4]
        catalog.sort(key=lambda t: t["track_id"])
        negatives.sort(key=lambda t: t["track_id"])
    for t in eligible:
        side = "catalog" if t in catalog else "negative" if t in negatives else "unused"
        split_rows.append([t["track_id"], side, groups.get(t["track_id"], "")])
    split_rows.sort()

    catalog_jobs, catalog_rows = [], []
    for i, t in enumerate(catalog):
        fmt = CATALOG_FORMATS[i % len(CATALOG_FORMATS)]
        dst = out / "catalog" / f"{t['track_id']}.{fmt}"
        info = infos[t["track_id"]]
        catalog_jobs.append({"type": "catalog", "id": f"catalog:{t['track_id']}", "src": t["path"],
                             "format": fmt, "out": str(dst)})
        catalog_rows.append([str(dst), t["track_id"], title_from_stem(t["path"]), info["artist"],
                             info["album"] or t["package"], "", t["package"],
                             POLICIES[i % len(POLICIES)]])

    conditions = args.conditions
    lengths = args.lengths
    queries = []  # (spec dict, truth fields)
    negative_ids = {t["track_id"] for t in negatives}

    def add(t, condition, length, k):
        info = infos[t["track_id"]]
        rate, frames = info["rate"], info["frames"]
        rng = random.Random(f"{seed}|{t['track_id']}|{condition}|{length}|{k}")
        spec = {"type": "query", "condition": condition, "src": t["path"], "rate": rate,
                "src_frames": frames}
        if length == "full":
            start = 0
            n = None
            if condition == "cropped-full":
                start = int(round(frames * 0.05))
                n = frames - 2 * start
        else:
            seconds = float(length)
            if frames < seconds * rate:
                return
            start = pick_offset(info, seconds, rng)
            n = int(round(seconds * rate))
        spec.update(start=start, frames=n)
        mix = CONDITIONS[condition]["mix"]
        if mix and mix["kind"] == "noise":
            n_out = n if n is not None else frames
            spec["mix_start"] = rng.randrange(max(1, args.noise_bed_s * RATE - n_out))
        elif mix:
            pool = [u for u in negatives if u["track_id"] != t["track_id"]
                    and infos[u["track_id"]]["frames"] >= (n or frames)]
            if not pool:
                return
            u = pool[rng.randrange(len(pool))]
            uinfo = infos[u["track_id"]]
            # The other song is cut at its own rate, to the excerpt's duration.
            ulen = (n or frames) / rate
            spec.update(mix_src=u["path"], mix_frames=int(round(ulen * uinfo["rate"])),
                        mix_start=pick_offset(uinfo, ulen, rng))
        is_catalog = t["track_id"] not in negative_ids
        truth = {"condition": condition, "length_s": length,
                 "track_id": t["track_id"] if is_catalog else "",
                 "offset_s": f"{start / rate:.6f}" if is_catalog else "",
                 "source": t["track_id"]}
        queries.append((spec, truth))

    for t in sorted(catalog + negatives, key=lambda t: t["track_id"]):
        if "clean" in conditions:
            for length in lengths:
                add(t, "clean", length, 0)
        for condition in conditions:
            if condition in ("clean", "cropped-full"):
                continue
            for k in range(args.per_track):
                add(t, condition, str(args.excerpt_s), k)
            if CONDITIONS[condition]["family"] == "noise":
                for k in range(args.noise_per_track):
                    add(t, condition, str(args.noise_excerpt_s), k)
        if "cropped-full" in conditions:
            add(t, "cropped-full", "full", 0)

    if len(queries) > args.max_queries:
        # Keep every clean query; drop a seeded random share of the others.
        rng = random.Random(f"{seed}|cap")
        clean = [q for q in queries if q[1]["condition"] == "clean"]
        rest = [q for q in queries if q[1]["condition"] != "clean"]
        keep = max(0, args.max_queries - len(clean))
        print(f"build-eval: {len(queries)} queries planned, keeping {len(clean) + min(keep, len(rest))} "
              f"(--max-queries {args.max_queries})", flush=True)
        queries = clean + rng.sample(rest, min(keep, len(rest)))

    # Shuffled so that query numbers say nothing about track or condition.
    queries.sort(key=lambda q: unit_hash(seed, "order", json.dumps(q[0], sort_keys=True)))
    query_jobs, truth_rows = [], []
    bed = {c: str(noise_bed(out, c, args)) for c in ("white", "pink")}
    for i, (spec, truth) in enumerate(queries, 1):
        cond = CONDITIONS[spec["condition"]]
        ext = {"mp3-128k": "mp3", "mp3-32k-mono": "mp3", "aac-48k": "m4a", "telephone": "wav"}[cond["enc"]]
        dst = out / "queries" / f"q{i:05d}.{ext}"
        spec.update(id=f"query:{i}", out=str(dst))
        if cond["mix"] and cond["mix"]["kind"] == "noise":
            spec["noise_bed"] = bed[cond["mix"]["colour"]]
        query_jobs.append(spec)
        truth_rows.append([str(dst), truth["condition"], truth["length_s"], truth["track_id"],
                           truth["offset_s"], ext, truth["source"]])
    return split_rows, catalog_jobs, catalog_rows, query_jobs, truth_rows


# --- driver ---------------------------------------------------------------------------


def noise_bed(out: Path, colour: str, args) -> Path:
    return out / ".cache" / f"noise-{colour}-{args.noise_bed_s}s.wav"


def ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; workers finish their file and the parent
    # cancels the rest, instead of a worker dying mid-write and the pool hanging.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_pool(jobs: list[dict], workers: int, label: str, fn) -> list:
    """Run jobs in a process pool with a progress line; returns results in job order."""
    results: dict[int, object] = {}
    t0 = time.monotonic()
    last = 0.0
    pool = ProcessPoolExecutor(workers, initializer=ignore_sigint)
    try:
        pending = {pool.submit(fn, j): i for i, j in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                results[pending.pop(f)] = f.result()
            now = time.monotonic()
            if now - last > 5 or not pending:
                last = now
                n = len(results)
                eta = (now - t0) / n * (len(jobs) - n)
                print(f"build-eval: {label} {n}/{len(jobs)} ({100 * n / len(jobs):.0f}%), "
                      f"{now - t0:.0f}s elapsed, ~{eta:.0f}s left", flush=True)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the shutdown
        print("build-eval: interrupted; finished files are kept and a rerun resumes", flush=True)
        pool.shutdown(wait=True, cancel_futures=True)
        raise SystemExit(130)
    pool.shutdown()
    return [results[i] for i in range(len(jobs))]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--packages", default=" ".join(DEFAULT_PACKAGES),
                    help="space- or comma-separated Debian packages (default: all three)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true",
                    help="8 catalog tracks, 4 negatives, clean and white-noise-0dB, 10 s only")
    ap.add_argument("--dup-groups", type=Path, default=HERE / "dup-groups.csv",
                    help="CSV track_id,group: each group goes to one side (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="output folder (default <data>/eval)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--catalog-fraction", type=float, default=0.75)
    ap.add_argument("--min-track-s", type=float, default=15.0,
                    help="shorter tracks (and silent ones) are left out")
    ap.add_argument("--conditions", help="comma-separated subset, or 'all' (default: all; quick: "
                                         f"{','.join(QUICK_CONDITIONS)})")
    ap.add_argument("--lengths", help=f"comma-separated clean excerpt lengths (default {','.join(LENGTHS)})")
    ap.add_argument("--per-track", type=int, default=None,
                    help="excerpts per track for each non-clean condition (default 1, quick 3)")
    ap.add_argument("--excerpt-s", type=float, default=10, help="their length")
    ap.add_argument("--noise-per-track", type=int, default=None,
                    help="extra excerpts per track for each noise condition (default 1, quick 0)")
    ap.add_argument("--noise-excerpt-s", type=float, default=5, help="their length")
    ap.add_argument("--max-queries", type=int, default=6000)
    ap.add_argument("--dry-run", action="store_true", help="plan and print counts, write nothing")
    ap.add_argument("--catalog-only", action="store_true",
                    help="write the catalog and split.csv only, no queries")
    ap.add_argument("--list-conditions", action="store_true", help="print the conditions and exit")
    args = ap.parse_args(argv)

    args.packages = sorted(set(args.packages.replace(",", " ").split()))
    if args.conditions == "all":
        args.conditions = list(CONDITIONS)
    elif args.conditions:
        args.conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    else:
        args.conditions = QUICK_CONDITIONS if args.quick else list(CONDITIONS)
    unknown = [c for c in args.conditions if c not in CONDITIONS]
    if unknown:
        ap.error(f"unknown conditions: {', '.join(unknown)} (see --list-conditions)")
    if args.lengths:
        args.lengths = [x.strip() for x in args.lengths.split(",") if x.strip()]
    else:
        args.lengths = ["10"] if args.quick else LENGTHS
    for x in args.lengths:
        if x != "full":
            float(x)
    if args.per_track is None:
        args.per_track = 3 if args.quick else 1
    if args.noise_per_track is None:
        args.noise_per_track = 0 if args.quick else 1
    for name in ("excerpt_s", "noise_excerpt_s"):
        v = getattr(args, name)
        setattr(args, name, int(v) if float(v).is_integer() else v)
    # Noise is cut from a fixed bed at a random point: the bed must outlast any excerpt.
    args.noise_bed_s = max(NOISE_BED_S, math.ceil(max(args.excerpt_s, args.noise_excerpt_s)) + 10)
    return args


def tool_versions() -> str:
    sox_v = run(["sox", "--version"]).strip()
    ff_v = run(["ffmpeg", "-version"]).splitlines()[0]
    return f"{sox_v} | {ff_v}"


def summarise(truth_rows: list[list], catalog_rows: list[list], infos: dict[str, dict]) -> None:
    """What a build would write: queries per condition and length, hours of audio."""
    by_cond: dict[str, dict[str, int]] = {}
    seconds = 0.0
    for _, cond, length, track_id, _, _, source in truth_rows:
        by_cond.setdefault(cond, {}).setdefault(length, 0)
        by_cond[cond][length] += 1
        info = infos[source]
        seconds += info["frames"] / info["rate"] * (0.9 if cond == "cropped-full" else 1) \
            if length == "full" else float(length)
    lengths = sorted({length for c in by_cond.values() for length in c},
                     key=lambda x: float("inf") if x == "full" else float(x))
    print(f"{'condition':18}" + "".join(f"{x:>6}" for x in lengths) + f"{'all':>7}")
    for cond, counts in sorted(by_cond.items(), key=lambda kv: list(CONDITIONS).index(kv[0])):
        print(f"{cond:18}" + "".join(f"{counts.get(x, 0):>6}" for x in lengths) + f"{sum(counts.values()):>7}")
    catalog_s = sum(infos[r[1]]["frames"] / infos[r[1]]["rate"] for r in catalog_rows)
    print(f"build-eval: dry run: {len(truth_rows)} queries ({seconds / 3600:.1f} h, "
          f"~{seconds * 16 / 1000:.0f} MB as MP3 128k), {len(catalog_rows)} catalog tracks "
          f"({catalog_s / 3600:.1f} h)")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_conditions:
        for name, c in CONDITIONS.items():
            print(f"{name:18} {c['family']:7} {c['desc']}")
        return 0
    for tool in ("sox", "soxi", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            print(f"build-eval: {tool} is required", file=sys.stderr)
            return 1
    t_start = time.monotonic()
    out = (args.out or data_dir() / "eval").resolve()
    tracks = load_tracks(args.packages)
    if not tracks:
        print("build-eval: no tracks", file=sys.stderr)
        return 1
    groups = load_groups(args.dup_groups)

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("workers", "list_conditions", "out", "dry_run", "catalog_only")}
    key_src = json.dumps({
        "settings": settings, "out": str(out), "groups": sorted(groups.items()),
        "tracks": [[t["path"], t["track_id"], t["duration_s"]] for t in tracks],
        "script": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "tools": tool_versions()}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()
    stamp, plan_file = out / ".stamp", out / ".plan"
    if stamp.is_file() and stamp.read_text() == key and (out / "truth.csv").is_file():
        print(f"build-eval: up to date in {out}")
        return 0
    (out / ".cache" / "tracks").mkdir(parents=True, exist_ok=True)

    print(f"build-eval: {len(tracks)} tracks from {', '.join(args.packages)}; "
          f"{sum(t['track_id'] in groups for t in tracks)} in duplicate groups; seed {args.seed}", flush=True)
    jobs = [{"path": t["path"], "cache": str(out / ".cache" / "tracks" / f"{t['track_id']}.json")}
            for t in tracks]
    infos = dict(zip([t["track_id"] for t in tracks], run_pool(jobs, args.workers, "analyse", analyse)))

    for colour in ("white", "pink"):
        bed = noise_bed(out, colour, args)
        if not bed.is_file():
            # sox -R fixes the generator's seed: the bed is the same on every machine, and
            # each query takes its own seeded stretch of it.
            tmp = bed.with_suffix(".partial.wav")
            sox("-r", str(RATE), "-c", "2", "-n", "-b", "16", str(tmp),
                "synth", str(args.noise_bed_s), f"{colour}noise", "vol", "0.5")
            tmp.replace(bed)

    split_rows, catalog_jobs, catalog_rows, query_jobs, truth_rows = plan(args, tracks, infos, groups, out)
    n_cat = sum(r[1] == "catalog" for r in split_rows)
    n_neg = sum(r[1] == "negative" for r in split_rows)
    n_exc = [r[0] for r in split_rows if r[1] == "excluded"]
    print(f"build-eval: {n_cat} catalog tracks, {n_neg} negatives, excluded: {', '.join(n_exc) or 'none'}; "
          f"{len(query_jobs)} queries", flush=True)

    if args.dry_run:
        summarise(truth_rows, catalog_rows, infos)
        return 0
    if not (plan_file.is_file() and plan_file.read_text() == key):
        # Different inputs or arguments: start over. Same ones: resume, keep finished files.
        for name in ("catalog", "queries", ".work", "catalog.csv", "truth.csv", "split.csv",
                     "conditions.csv", ".stamp"):
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    for d in ("catalog", "queries", ".work"):
        (out / d).mkdir(parents=True, exist_ok=True)
    plan_file.write_text(key)

    if args.catalog_only:
        # Same key and plan as the full build: a later run without the flag resumes from here.
        query_jobs = []
    todo = [j for j in catalog_jobs + query_jobs if not Path(j["out"]).is_file()]
    for i, j in enumerate(todo):
        j["work"] = str(out / ".work" / f"{i % 100000:05d}")
    if len(todo) < len(catalog_jobs) + len(query_jobs):
        print(f"build-eval: resuming, {len(catalog_jobs) + len(query_jobs) - len(todo)} files already made",
              flush=True)
    # Long jobs first so that the pool does not end on one straggler.
    todo.sort(key=lambda j: -(j.get("frames") or 10**12) if j["type"] == "query" else -10**13)
    failures = [r for r in run_pool(todo, args.workers, "write", run_job) if r[2]] if todo else []
    if failures:
        for job_id, _, err in failures[:10]:
            print(f"build-eval: {job_id} failed: {err}", file=sys.stderr)
        print(f"build-eval: {len(failures)} jobs failed", file=sys.stderr)
        return 1

    write_csv(out / "split.csv", ["track_id", "side", "group"], split_rows)
    write_csv(out / "catalog.csv", ["path", "track_id", "title", "artist", "album", "isrc",
                                    "rights_holder", "policy"], catalog_rows)
    if args.catalog_only:
        shutil.rmtree(out / ".work", ignore_errors=True)
        print(f"build-eval: catalog only, done in {time.monotonic() - t_start:.0f}s: "
              f"{len(catalog_rows)} catalog files and catalog.csv in {out}")
        return 0
    write_csv(out / "truth.csv", ["query", "condition", "length_s", "track_id", "offset_s",
                                  "format", "source"], truth_rows)
    write_csv(out / "conditions.csv", ["condition", "family", "description"],
              [[n, c["family"], c["desc"]] for n, c in CONDITIONS.items() if n in args.conditions])
    shutil.rmtree(out / ".work", ignore_errors=True)
    stamp.write_text(key)

    size = sum(p.stat().st_size for d in ("catalog", "queries") for p in (out / d).iterdir())
    print(f"build-eval: done in {time.monotonic() - t_start:.0f}s: {len(catalog_rows)} catalog files, "
          f"{len(truth_rows)} queries, {size / 1e6:.0f} MB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
