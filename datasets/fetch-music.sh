#!/usr/bin/env bash
# Fetch freely licensed game soundtracks from Debian packages and list their tracks.
#
#   datasets/fetch-music.sh [--packages "wesnoth-1.16-music supertux-data hedgewars-data"]
#   datasets/fetch-music.sh --packages "freedroidrpg-data frozen-bubble-data lincity-ng-data \
#       warzone2100-music"
#       (the held-out music of heldout.py; any package with a music folder can be named)
#
# Writes under the data directory ($EARMARK_DATA, default <repo>/target/earmark-data):
#   debs/<package>_<version>_all.deb     the downloaded packages
#   extracted/<package>/                 their contents (dpkg -x), stamped with the .deb name
#   music/<package>.csv                  one row per track of that package
#   music/tracks.csv                     all extracted packages together:
#                                        path,track_id,package,licence,duration_s
# Every step is skipped when its output is already there, so running it twice is cheap.
set -euo pipefail
# sox and ffmpeg end their output early on Ctrl-C and may still exit 0: stop here rather
# than carry on with a short file. Work happens in .partial folders, swapped in at the end.
trap 'echo "interrupted" >&2; exit 130' INT TERM

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
data=${EARMARK_DATA:-$repo/target/earmark-data}
packages="wesnoth-1.16-music supertux-data hedgewars-data"

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --packages) packages=${2:?--packages needs a value}; shift 2 ;;
        --packages=*) packages=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fetch-music: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

for tool in apt-get dpkg python3; do
    command -v "$tool" >/dev/null || { echo "fetch-music: $tool is required" >&2; exit 1; }
done
if ! command -v soxi >/dev/null && ! command -v ffprobe >/dev/null; then
    # (sox cannot read Opus: music_manifest.py measures .opus files with ffprobe only)
    echo "fetch-music: soxi (sox) or ffprobe (ffmpeg) is required for durations" >&2
    exit 1
fi

mkdir -p "$data/debs" "$data/extracted" "$data/music"

# The .deb of a package already in debs/ (the last by name if several), or nothing.
find_deb() {
    local debs=("$data/debs/${1}_"*.deb)
    if [[ -e ${debs[0]} ]]; then
        printf '%s' "${debs[-1]}"
    fi
}

download() {
    local pkg=$1 tmp
    tmp=$(mktemp -d "$data/debs/.download.XXXXXX")
    # Download into a scratch folder and move the file in only when complete, so an
    # interrupted run never leaves a partial .deb that a later run would trust.
    # Running as root, apt warns that its sandbox user cannot write here: run as root.
    if ! (cd "$tmp" && apt-get -q download -o APT::Sandbox::User=root "$pkg"); then
        echo "fetch-music: download of $pkg failed; refreshing package lists and retrying" >&2
        apt-get -q update
        (cd "$tmp" && apt-get -q download -o APT::Sandbox::User=root "$pkg")
    fi
    mv "$tmp"/*.deb "$data/debs/"
    rmdir "$tmp"
}

extract() {
    local pkg=$1 deb=$2 dest="$data/extracted/$1" stamp
    stamp=$(basename "$deb")
    if [[ -f $dest/.earmark-stamp && $(cat "$dest/.earmark-stamp") == "$stamp" ]]; then
        echo "fetch-music: $pkg already extracted"
        return
    fi
    echo "fetch-music: extracting $stamp"
    rm -rf "$dest" "$dest.partial"
    mkdir -p "$dest.partial"
    dpkg -x "$deb" "$dest.partial"
    printf '%s' "$stamp" > "$dest.partial/.earmark-stamp"
    mv "$dest.partial" "$dest"
}

for pkg in $packages; do
    deb=$(find_deb "$pkg")
    if [[ -z $deb ]]; then
        echo "fetch-music: downloading $pkg"
        download "$pkg"
        deb=$(find_deb "$pkg")
    else
        echo "fetch-music: $pkg already downloaded ($(basename "$deb"))"
    fi
    extract "$pkg" "$deb"
done

# Per-package track lists (copyright parsing, durations) and the combined tracks.csv.
python3 "$here/music_manifest.py" --data "$data"
