#!/usr/bin/env python3
"""List the music tracks of the extracted packages, with licence and duration.

Called by fetch-music.sh after it has extracted packages into <data>/extracted/<package>/.
For each extracted package it writes <data>/music/<package>.csv (kept while the package's
stamp is unchanged, so durations are measured once), then concatenates them all into
<data>/music/tracks.csv with the header path,track_id,package,licence,duration_s.

Licences come from usr/share/doc/<package>/copyright. Machine-readable files (Debian
copyright format 1.0) are matched per track against their `Files:` globs; since those
globs name paths in the upstream source tree, not the installed paths, a glob also
matches when it lines up with the tail of the installed path (`data/music/*` matches
`usr/share/games/supertux2/music/forest/x.ogg`). Free-form files give one package-wide
licence guessed from the wording.

Tracks are the .ogg and .opus files of the music folder. Durations come from `soxi -D`, with
ffprobe as a fallback; Opus, which sox cannot read, is measured by ffprobe only.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

# Where each known package keeps its music, the short name used in track ids, and
# optionally a file-name glob for folders that mix music with sound effects.
KNOWN = {
    # The evaluation set (build-eval.py's default packages).
    "wesnoth-1.16-music": ("wesnoth", "usr/share/games/wesnoth/1.16/data/core/music"),
    "supertux-data": ("supertux", "usr/share/games/supertux2/music"),
    "hedgewars-data": ("hedgewars", "usr/share/games/hedgewars/Data/Music"),
    # Held-out music (heldout.py): never used to build or tune anything.
    "freedroidrpg-data": ("freedroid", "usr/share/freedroidrpg/data/sound/music"),
    "frozen-bubble-data": ("frozenbubble", "usr/share/games/frozen-bubble/snd", "*zik*"),
    "lincity-ng-data": ("lincity", "usr/share/games/lincity-ng/music"),
    "warzone2100-music": ("warzone", "usr/share/games/warzone2100/music"),
}
AUDIO_SUFFIXES = {".ogg", ".opus"}
# Formats sox cannot read: their durations come from ffprobe only.
FFPROBE_ONLY = {".opus"}
HEADER = ["path", "track_id", "package", "licence", "duration_s"]
STAMP_NAME = ".earmark-stamp"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def short_name(package: str) -> str:
    if package in KNOWN:
        return KNOWN[package][0]
    return slug(package.split("-")[0])


def music_dir(root: Path, package: str) -> Path | None:
    if package in KNOWN:
        return root / KNOWN[package][1]
    # Unknown package: the first folder named "music" (any case) that holds audio.
    for d in sorted(p for p in root.rglob("*") if p.is_dir() and p.name.lower() == "music"):
        if any(f.suffix.lower() in AUDIO_SUFFIXES for f in d.rglob("*")):
            return d
    return None


# --- copyright parsing -------------------------------------------------------------


def parse_paragraphs(text: str) -> list[dict[str, str]]:
    """Split a deb822 file into paragraphs of field -> value (continuations joined)."""
    paragraphs, fields, last = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            last, value = line.split(":", 1)
            last = last.strip().lower()
            fields[last] = value.strip()
    if fields:
        paragraphs.append(fields)
    return paragraphs


def glob_regex(pattern: str) -> re.Pattern[str]:
    # Copyright-format globs: `*` matches anything including `/`, `?` one character.
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_matches(pattern: str, installed: str) -> bool:
    """Whether a source-tree glob covers an installed path (see the module doc)."""
    parts = installed.split("/")
    suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
    glob_parts = pattern.strip("/").split("/")
    variants = [pattern.strip("/")]
    # Drop leading source folders (e.g. `data/`), but keep at least one literal folder
    # so that `Sounds/*` can never shrink to a bare `*` and match everything.
    for k in range(1, len(glob_parts) - 1):
        rest = glob_parts[k:]
        if not any(ch in rest[0] for ch in "*?["):
            variants.append("/".join(rest))
    for v in variants:
        rx = glob_regex(v)
        if any(rx.fullmatch(s) for s in suffixes):
            return True
    return False


def guess_freeform_licence(text: str) -> str:
    """A short licence name from free-form copyright prose, or 'unknown'."""
    flat = " ".join(text.split())
    # Prefer the text after the first "License:" heading: that is the package's own grant.
    at = flat.lower().find("license:")
    head = flat[at:at + 1500] if at >= 0 else flat[:3000]
    m = re.search(r"(Lesser|Library)? ?General Public License,? (?:as published by the "
                  r"Free Software Foundation;? )?(?:either )?version (\d(?:\.\d)?)",
                  head, re.IGNORECASE)
    if m:
        name = "LGPL" if m.group(1) else "GPL"
        later = "later version" in head[m.end():m.end() + 200].lower()
        return f"{name}-{m.group(2)}{'+' if later else ''}"
    for rx, name in [(r"Creative Commons Attribution[- ]Share[- ]?Alike", "CC-BY-SA"),
                     (r"Creative Commons Attribution", "CC-BY"),
                     (r"public domain", "public-domain")]:
        if re.search(rx, head, re.IGNORECASE):
            return name
    return "unknown"


class Licences:
    """Per-file licence lookup for one package's copyright file."""

    def __init__(self, copyright_path: Path):
        self.stanzas: list[tuple[list[str], str]] = []
        self.default = "unknown"
        if not copyright_path.is_file():
            return
        text = copyright_path.read_text(encoding="utf-8", errors="replace")
        paragraphs = parse_paragraphs(text)
        if paragraphs and "copyright-format" in paragraphs[0].get("format", ""):
            for p in paragraphs:
                if "files" in p and "license" in p:
                    synopsis = p["license"].split("\n", 1)[0].strip()
                    self.stanzas.append((p["files"].split(), synopsis))
            for globs, synopsis in self.stanzas:
                if "*" in globs:
                    self.default = synopsis
        else:
            self.default = guess_freeform_licence(text)

    def lookup(self, installed: str) -> str:
        found = self.default
        # As in the format's rules, the last stanza that matches wins.
        for globs, synopsis in self.stanzas:
            if any(glob_matches(g, installed) for g in globs):
                found = synopsis
        return found or "unknown"


# --- durations ---------------------------------------------------------------------


def duration_s(path: Path) -> float:
    soxi = ["soxi", "-D", str(path)]
    ffprobe = ["ffprobe", "-v", "error", "-show_entries", "format=duration",
               "-of", "default=nw=1:nk=1", str(path)]
    cmds = [ffprobe] if path.suffix.lower() in FFPROBE_ONLY else [soxi, ffprobe]
    for cmd in cmds:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            return float(out.strip())
        except (OSError, subprocess.CalledProcessError, ValueError):
            continue
    need = "ffprobe (ffmpeg)" if path.suffix.lower() in FFPROBE_ONLY else "soxi or ffprobe"
    raise RuntimeError(f"cannot measure the duration of {path} (with {need})")


# --- manifests ---------------------------------------------------------------------


def package_rows(data: Path, package: str) -> list[dict[str, str]]:
    root = data / "extracted" / package
    folder = music_dir(root, package)
    if folder is None or not folder.is_dir():
        print(f"music_manifest: no music folder found in {package}", file=sys.stderr)
        return []
    licences = Licences(root / "usr/share/doc" / package / "copyright")
    short = short_name(package)
    pattern = KNOWN[package][2] if len(KNOWN.get(package, ())) > 2 else "*"
    files = sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES
                   and fnmatch.fnmatchcase(f.name, pattern))
    # Track ids use the file stem; a stem found in two subfolders gets its folder too.
    stems: dict[str, int] = {}
    for f in files:
        stems[slug(f.stem)] = stems.get(slug(f.stem), 0) + 1
    rows = []
    for f in files:
        rel = f.relative_to(folder)
        name = slug(f.stem) if stems[slug(f.stem)] == 1 else slug(str(rel.with_suffix("")))
        rows.append({
            "path": str(f.resolve()),
            "track_id": f"{short}-{name}",
            "package": package,
            "licence": licences.lookup(str(f.relative_to(root))),
            "duration_s": f"{duration_s(f):.3f}",
        })
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(".csv.partial")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, required=True, help="data directory")
    args = ap.parse_args()
    data: Path = args.data.resolve()
    music = data / "music"
    music.mkdir(parents=True, exist_ok=True)

    all_rows: list[dict[str, str]] = []
    extracted = sorted(p for p in (data / "extracted").iterdir()
                       if (p / STAMP_NAME).is_file()) if (data / "extracted").is_dir() else []
    for root in extracted:
        package = root.name
        stamp = (root / STAMP_NAME).read_text().strip()
        manifest = music / f"{package}.csv"
        stamp_file = music / f"{package}.stamp"
        # The stamp also records where the data lives: paths in the CSV are absolute.
        key = f"{stamp}\n{root}"
        if manifest.is_file() and stamp_file.is_file() and stamp_file.read_text() == key:
            rows = read_csv(manifest)
        else:
            rows = package_rows(data, package)
            write_csv(manifest, rows)
            stamp_file.write_text(key)
        licences = sorted({r["licence"] for r in rows})
        hours = sum(float(r["duration_s"]) for r in rows) / 3600
        print(f"music_manifest: {package}: {len(rows)} tracks, {hours:.2f} h, "
              f"licence {', '.join(licences) or '-'}")
        all_rows.extend(rows)

    ids = [r["track_id"] for r in all_rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        print(f"music_manifest: duplicate track ids: {', '.join(dupes)}", file=sys.stderr)
        return 1
    write_csv(music / "tracks.csv", all_rows)
    print(f"music_manifest: {len(all_rows)} tracks in {music / 'tracks.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
