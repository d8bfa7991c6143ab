"""The Python environment of peers.py and plot.py: a virtualenv inside the data directory.

The other dataset scripts use the standard library only. The peer systems and the plots need
numpy, audfprint2 and matplotlib, so these two scripts create `<data>/peers/venv` with the
pinned versions below the first time they run (pip, from PyPI) and then re-execute
themselves with its interpreter. A stamp in the virtualenv records what was installed;
changing a pin here reinstalls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Verified together on Python 3.11 (Debian 12). audfprint2's own requirements are ranges;
# these pins make every run use the same code.
REQUIREMENTS = [
    "audfprint2==0.1.2",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "h5py==3.16.0",
    "psutil==7.2.2",
    "matplotlib==3.11.2",
    "contourpy==1.3.3",
    "cycler==0.12.1",
    "fonttools==4.68.0",
    "kiwisolver==1.5.1",
    "packaging==26.4",
    "pillow==13.0.0",
    "pyparsing==3.3.3",
    "python-dateutil==4.0.0",
    "tzdata==2026.6",
]


def data_dir() -> Path:
    return Path(os.environ.get("EARMARK_DATA") or HERE.parent / "target" / "earmark-data")


def venv_dir() -> Path:
    return data_dir() / "peers" / "venv"


def in_venv() -> bool:
    try:
        return Path(sys.prefix).resolve() == venv_dir().resolve()
    except OSError:
        return False


def ensure_venv(script: str, argv: list[str], prog: str) -> None:
    """Return when running inside the virtualenv; otherwise make it and exec into it."""
    if in_venv():
        return
    venv = venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".earmark-requirements"
    want = f"{sys.version_info[0]}.{sys.version_info[1]}\n" + "\n".join(REQUIREMENTS) + "\n"
    if not (python.exists() and stamp.is_file() and stamp.read_text() == want):
        print(f"{prog}: setting up {venv} ({len(REQUIREMENTS)} pinned packages)",
              file=sys.stderr, flush=True)
        stamp.unlink(missing_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *REQUIREMENTS], check=True)
        stamp.write_text(want)
    os.execv(str(python), [str(python), script, *argv])
