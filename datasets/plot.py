#!/usr/bin/env python3
"""Plot several systems' scores: true-positive rate against noise, excerpt length and speed.

  datasets/plot.py earmark=score.json audfprint2=score-audfprint2.json ... --out docs/eval/

Each input is score.py's --json output for one system (a bare path takes its name from the
file name). Writes SVG files into --out, one line per system:

  tpr-vs-snr.svg     white and pink noise conditions, TPR against SNR (one line style per
                     excerpt length)
  tpr-vs-length.svg  clean condition, TPR against excerpt length
  tpr-vs-factor.svg  speed, tempo and pitch conditions, TPR against the factor applied
                     (pitch: frequency ratio); factor 1 is the clean condition at the same
                     excerpt length

Only conditions present in the scores are drawn; a plot with nothing to draw is skipped
with a message. Points where a system does not attempt a condition (n/a) are left out.
Runs with matplotlib in the virtualenv <data>/peers/venv (see peer_venv.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peer_venv  # noqa: E402

SNRS = [("10dB", 10), ("5dB", 5), ("0dB", 0), ("m5dB", -5)]
FACTORS = {
    "speed": {f"speed{s}{p}": 1 + (1 if s == "+" else -1) * p / 100 for s in "+-" for p in (2, 5, 10)},
    "tempo": {f"tempo{s}{p}": 1 + (1 if s == "+" else -1) * p / 100 for s in "+-" for p in (5, 10)},
    "pitch": {f"pitch{s}{n}": 2 ** ((1 if s == "+" else -1) * n / 12) for s in "+-" for n in (1, 2)},
}
STYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v", "P"]


def named(spec: str) -> tuple[str, Path]:
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name, Path(path)
    stem = Path(spec).stem
    return re.sub(r"^(score|answers)-?", "", stem) or stem, Path(spec)


def length_key(x: str) -> float:
    try:
        return float(x)
    except ValueError:
        return float("inf")


def tpr(r: dict | None) -> float | None:
    return None if r is None or r.get("tp_rate") is None else 100 * r["tp_rate"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("scores", nargs="+", metavar="[NAME=]SCORE_JSON")
    ap.add_argument("--out", type=Path, required=True, help="folder for the SVG files")
    ap.add_argument("--title", default="", help="prefix for the plot titles (e.g. the evaluation set)")
    args = ap.parse_args(argv)
    peer_venv.ensure_venv(str(Path(__file__).resolve()), argv, "plot")

    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    # Same input, same SVG bytes: fixed element ids and no date.
    matplotlib.rcParams["svg.hashsalt"] = "earmark"
    matplotlib.rcParams["svg.fonttype"] = "none"

    systems = []
    for spec in args.scores:
        name, path = named(spec)
        systems.append((name, {(r["condition"], str(r["length_s"])): r for r in json.loads(path.read_text())}))
    colours = {name: f"C{i}" for i, (name, _) in enumerate(systems)}
    markers = {name: MARKERS[i % len(MARKERS)] for i, (name, _) in enumerate(systems)}
    # Systems often tie (100%): each is drawn a little to the side of the true x so that
    # none hides another. The offset is a fraction of the axis step.
    dodge = {name: (i - (len(systems) - 1) / 2) for i, (name, _) in enumerate(systems)}
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = f"{args.title}: " if args.title else ""
    written = []

    def save(fig, name: str) -> None:
        path = args.out / name
        fig.savefig(path, metadata={"Date": None})
        plt.close(fig)
        written.append(path)

    def note_na(ax, drawn: set[str], relevant) -> None:
        """A legend entry for each system that does not attempt these conditions at all."""
        for name, rows in systems:
            hits = [r for k, r in rows.items() if relevant(k)]
            if name not in drawn and hits and all(r.get("not_applicable", 0) for r in hits):
                ax.plot([], [], " ", label=f"{name}: n/a")

    def finish(ax, xlabel: str) -> None:
        ax.set_xlabel(xlabel)
        ax.set_ylabel("top-1 true positives, %")
        ax.set_ylim(-3, 103)
        ax.grid(True, alpha=0.3)

    # 1. Noise: one panel per colour, one line per system and excerpt length.
    panels = []
    for colour in ("white", "pink"):
        lines = []
        for name, rows in systems:
            lengths = sorted({k[1] for k in rows if k[0].startswith(f"{colour}-noise-")}, key=length_key)
            for li, length in enumerate(lengths):
                pts = [(snr, tpr(rows.get((f"{colour}-noise-{tag}", length)))) for tag, snr in SNRS]
                pts = [(x, y) for x, y in pts if y is not None]
                if pts:
                    lines.append((name, length, li, pts))
        if lines:
            panels.append((colour, lines))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
        for ax, (colour, lines) in zip(axes[0], panels):
            for name, length, li, pts in lines:
                xs, ys = zip(*pts)
                ax.plot([x + 0.12 * dodge[name] for x in xs], ys, STYLES[li % len(STYLES)],
                        marker=markers[name], color=colours[name], label=f"{name}, {length} s")
            note_na(ax, {line[0] for line in lines}, lambda k, c=colour: k[0].startswith(f"{c}-noise-"))
            ax.set_title(f"{prefix}{colour} noise")
            ax.set_xticks([snr for _, snr in SNRS])
            ax.invert_xaxis()  # left to right: harder
            finish(ax, "SNR, dB")
            ax.legend(fontsize="small")
        fig.tight_layout()
        save(fig, "tpr-vs-snr.svg")
    else:
        print("plot: no white- or pink-noise conditions: tpr-vs-snr.svg skipped", file=sys.stderr)

    # 2. Clean excerpt length. Lengths are categories: 1 2 3 5 10 20 full.
    lengths = sorted({k[1] for _, rows in systems for k in rows if k[0] == "clean"}, key=length_key)
    lines = []
    for name, rows in systems:
        pts = [(i, tpr(rows.get(("clean", length)))) for i, length in enumerate(lengths)]
        pts = [(x, y) for x, y in pts if y is not None]
        if pts:
            lines.append((name, pts))
    if lines:
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        for name, pts in lines:
            xs, ys = zip(*pts)
            ax.plot([x + 0.04 * dodge[name] for x in xs], ys, "-", marker=markers[name],
                    color=colours[name], label=name)
        note_na(ax, {line[0] for line in lines}, lambda k: k[0] == "clean")
        ax.set_xticks(range(len(lengths)), lengths)
        ax.set_xlim(-0.5, len(lengths) - 0.5)
        ax.set_title(f"{prefix}clean (MP3 128k) excerpts")
        finish(ax, "excerpt length, s")
        ax.legend(fontsize="small")
        fig.tight_layout()
        save(fig, "tpr-vs-length.svg")
    else:
        print("plot: no clean condition scored: tpr-vs-length.svg skipped", file=sys.stderr)

    # 3. Speed, tempo, pitch: one panel per family present.
    panels = []
    for family, conds in FACTORS.items():
        lines = []
        for name, rows in systems:
            lengths = sorted({k[1] for k in rows if k[0] in conds}, key=length_key)
            for li, length in enumerate(lengths):
                pts = [(f, tpr(rows.get((c, length)))) for c, f in conds.items()]
                pts.append((1.0, tpr(rows.get(("clean", length)))))
                pts = sorted((x, y) for x, y in pts if y is not None)
                if any(x != 1.0 for x, _ in pts):
                    lines.append((name, length, li, pts))
        if lines:
            panels.append((family, lines))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False)
        for ax, (family, lines) in zip(axes[0], panels):
            for name, length, li, pts in lines:
                xs, ys = zip(*pts)
                ax.plot([x + 0.002 * dodge[name] for x in xs], ys, STYLES[li % len(STYLES)],
                        marker=markers[name], color=colours[name], label=f"{name}, {length} s")
            note_na(ax, {line[0] for line in lines}, lambda k, c=FACTORS[family]: k[0] in c)
            ax.set_title(f"{prefix}{family}")
            ax.axvline(1.0, color="grey", lw=0.8, alpha=0.5)
            finish(ax, "frequency ratio" if family == "pitch" else f"{family} factor")
            ax.legend(fontsize="small")
        fig.tight_layout()
        save(fig, "tpr-vs-factor.svg")
    else:
        print("plot: no speed, tempo or pitch conditions: tpr-vs-factor.svg skipped", file=sys.stderr)

    for path in written:
        print(f"plot: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
