#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, when missing:
# libclang for RocksDB's bindings, libopus for decoding Opus, ffmpeg and sox for the
# test clips and evaluation
# queries, fpcalc for duplicate detection. Needs root (or sudo) only when something
# is missing. Packages named as arguments are installed too (the load test's wrk).
set -euo pipefail

packages=(make libclang-dev libopus-dev ffmpeg sox libsox-fmt-all libchromaprint-tools "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || {
        echo "install-deps: missing packages ${missing[*]}; run as root to install them" >&2
        exit 1
    }
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
