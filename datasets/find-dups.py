#!/usr/bin/env python3
"""Find tracks that share audio, so that a dataset split keeps them on one side.

Game soundtracks reuse material: an intro cut from a full theme, a loop, an old and a
new mix built from the same stems. If one copy is in the catalog and the other is a
"never ingested" negative, a correct match is scored as a false positive. This script
groups such tracks with a cheap, independent detector, Chromaprint's raw fingerprints
(`fpcalc -raw`, one 32-bit word per ~0.124 s):

1. candidate alignments: fingerprint words of two tracks that agree exactly in their high
   or low 16 bits vote for the time offset between them; very common words (silence,
   steady tones) are ignored;
2. verification: at each well-supported offset, the bit error rate (BER) of the aligned
   words is computed over sliding windows. Unrelated audio sits near 0.5, the same
   recording re-encoded near 0.05. A pair is a duplicate when a window of --min-seconds
   stays under --max-ber (shared audio), or a window of --long-seconds under
   --long-max-ber (a remix that follows the original bar by bar). Windows that are
   one repeated word (silence, a held note) do not count;
3. duplicates are joined transitively into groups named after their first track id.

Writes CSV `track_id,group` (only tracks that have a duplicate) to --out, by default
datasets/dup-groups.csv beside this script, which build-eval.py reads. Fingerprints are
cached under <data>/music/fpcalc/.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ITEM_S = 4096 / 11025 / 3  # Chromaprint: frames of 4096 at 11025 Hz, hop a third of that


def data_dir() -> Path:
    return Path(os.environ.get("EARMARK_DATA") or HERE.parent / "target" / "earmark-data")


def fingerprint(job: tuple[str, str]) -> tuple[str, list[int]]:
    """Raw fingerprint of a whole track, cached by the track file's size and mtime."""
    path, cache = job
    st = os.stat(path)
    key = f"{path} {st.st_size} {int(st.st_mtime)}"
    cache_p = Path(cache)
    if cache_p.is_file():
        head, _, body = cache_p.read_text().partition("\n")
        if head == key:
            return path, [int(x) for x in body.split(",") if x]
    # -length 0: the whole track. fpcalc then reports an end-of-file "error" with a
    # non-zero status although the fingerprint is complete, so read its output anyway.
    proc = subprocess.run(["fpcalc", "-raw", "-length", "0", path], capture_output=True, text=True)
    words = []
    for line in proc.stdout.splitlines():
        if line.startswith("FINGERPRINT="):
            words = [int(x) for x in line.split("=", 1)[1].split(",") if x]
    if not words:
        raise RuntimeError(f"fpcalc gave no fingerprint for {path}: {proc.stderr.strip()}")
    tmp = cache_p.with_suffix(".partial")
    tmp.write_text(key + "\n" + ",".join(map(str, words)))
    tmp.replace(cache_p)
    return path, words


def best_window(a: list[int], b: list[int], shift: int, window: int) -> tuple[float, int]:
    """Lowest mean bit error rate over `window` aligned words (b[i + shift] ~ a[i]).

    Windows whose words in `a` are mostly one repeated value are skipped: silence and
    held notes agree between any two tracks.
    """
    lo, hi = max(0, -shift), min(len(a), len(b) - shift)
    if hi - lo < window:
        return 1.0, 0
    errs = [(a[i] ^ b[i + shift]).bit_count() for i in range(lo, hi)]
    best, best_at = 1.0, 0
    total = sum(errs[:window])
    for k in range(0, len(errs) - window + 1):
        if k:
            total += errs[k + window - 1] - errs[k - 1]
        ber = total / (32 * window)
        if ber < best:
            seg = a[lo + k: lo + k + window]
            if Counter(seg).most_common(1)[0][1] < window // 2:
                best, best_at = ber, lo + k
    return best, best_at


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--tracks", type=Path, help="tracks.csv (default <data>/music/tracks.csv)")
    ap.add_argument("--out", type=Path, default=HERE / "dup-groups.csv")
    ap.add_argument("--min-seconds", type=float, default=10.0, help="shortest shared stretch")
    ap.add_argument("--max-ber", type=float, default=0.2, help="bit error rate that counts as shared")
    ap.add_argument("--long-seconds", type=float, default=20.0, help="stretch for the remix test")
    ap.add_argument("--long-max-ber", type=float, default=0.29, help="BER limit of the remix test")
    ap.add_argument("--min-votes", type=int, default=8, help="word agreements to try an offset")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report", action="store_true", help="print every verified candidate pair")
    args = ap.parse_args()

    tracks_csv = args.tracks or data_dir() / "music" / "tracks.csv"
    with tracks_csv.open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["track_id"])
    cache = data_dir() / "music" / "fpcalc"
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(r["path"], str(cache / f"{r['track_id']}.raw")) for r in rows]
    with ProcessPoolExecutor(args.workers) as pool:
        prints = dict(pool.map(fingerprint, jobs))
    ids = [r["track_id"] for r in rows]
    fps = [prints[r["path"]] for r in rows]
    print(f"find-dups: {len(ids)} fingerprints ({sum(map(len, fps))} words)")

    # Inverted index on both 16-bit halves of each word.
    index: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for t, words in enumerate(fps):
        for pos, w in enumerate(words):
            index[(0, w >> 16)].append((t, pos))
            index[(1, w & 0xFFFF)].append((t, pos))
    votes: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for postings in index.values():
        if len(postings) > 200:  # silence and other stop words
            continue
        for i, (ta, pa) in enumerate(postings):
            for tb, pb in postings[i + 1:]:
                if ta != tb:
                    pair = (ta, tb) if ta < tb else (tb, ta)
                    shift = (pb - pa) if ta < tb else (pa - pb)
                    votes[pair][shift] += 1

    window = max(1, round(args.min_seconds / ITEM_S))
    long_window = max(1, round(args.long_seconds / ITEM_S))
    parent = list(range(len(ids)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    found = 0
    for (ta, tb), counter in sorted(votes.items()):
        # Merge neighbouring shifts: the two tracks' frame grids rarely line up exactly.
        merged = Counter()
        for shift, n in counter.items():
            for d in (-1, 0, 1):
                merged[shift + d] += n
        candidates = [s for s, n in merged.most_common(5) if n >= args.min_votes]
        if not candidates:
            continue
        short_best = min((*best_window(fps[ta], fps[tb], s, window), s) for s in candidates)
        long_best = min((*best_window(fps[ta], fps[tb], s, long_window), s) for s in candidates)
        dup = short_best[0] <= args.max_ber or long_best[0] <= args.long_max_ber
        if args.report or dup:
            desc = []
            for label, (ber, at, shift) in (("short", short_best), ("long", long_best)):
                if ber >= 1.0:
                    desc.append(f"{label}: overlap too short")
                else:
                    desc.append(f"{label} ber {ber:.3f} at {at * ITEM_S:.1f}s/{(at + shift) * ITEM_S:.1f}s "
                                f"(votes {merged[shift]})")
            print(f"find-dups: {'DUP ' if dup else '    '}{ids[ta]} ~ {ids[tb]}: {'; '.join(desc)}")
        if dup:
            found += 1
            parent[find(ta)] = find(tb)

    groups: dict[int, list[str]] = defaultdict(list)
    for t, tid in enumerate(ids):
        groups[find(t)].append(tid)
    out_rows = []
    for members in groups.values():
        if len(members) > 1:
            name = sorted(members)[0]
            out_rows += [(m, name) for m in sorted(members)]
    out_rows.sort(key=lambda r: (r[1], r[0]))
    tmp = args.out.with_suffix(".partial")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["track_id", "group"])
        w.writerows(out_rows)
    tmp.replace(args.out)
    n_groups = len({g for _, g in out_rows})
    print(f"find-dups: {found} duplicate pairs, {n_groups} groups, {len(out_rows)} tracks -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
