#!/usr/bin/env bash
# Load test of the running service on loopback with wrk: fingerprint checks and 10 s
# audio uploads against the development catalog, each connection cycling through every
# 10 s query of the evaluation set, then a sustained run that samples the service's
# resident memory.
#
#   benches/load/run.sh [--index DIR] [--seconds N] [--connections N] [--sustain N]
#
# Needs: a release build (built here if missing), wrk (Debian package `wrk`), the demo
# index and evaluation queries from `make demo`. Prints a markdown summary; raw wrk
# output goes to $EARMARK_DATA/load/. The load generator shares the cores with the
# service, so the figures are a floor; the service's CPU time per request is the
# steadier figure on a shared machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="${EARMARK_DATA:-$root/target/earmark-data}"
index="$data/demo-index"
seconds=20
connections=32
sustain=60
while [[ $# -gt 0 ]]; do
    case "$1" in
        --index) index="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --sustain) sustain="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
[[ -d "$index" ]] || { echo "no index at $index: run make demo first" >&2; exit 2; }
bin="$root/target/release/earmark"
if [[ ! -x "$bin" ]]; then
    (cd "$root" && cargo build --release -p earmark)
fi

out="$data/load"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$out"
# A copy, so that the keys file and decision log of the run stay out of the demo index.
cp -r "$index" "$work/index"
key="$("$bin" keys add --db "$work/index" --role network --subject loadtest 2>/dev/null)"

# Every 10 s query of the evaluation set (catalog excerpts, clean and in noise, and
# audio that is not in the catalog): their MP3 bytes and their fingerprints.
awk -F, 'NR > 1 && $3 == "10" {print $1}' "$data/eval/truth.csv" >"$work/audio.list"
[[ -s "$work/audio.list" ]] || { echo "no 10 s queries in $data/eval/truth.csv" >&2; exit 2; }
n=0
while read -r query; do
    n=$((n + 1))
    "$bin" fingerprint "$query" -o "$work/query-$n.emfp" 2>/dev/null
    echo "$work/query-$n.emfp"
done <"$work/audio.list" >"$work/fingerprint.list"

port=$((20000 + RANDOM % 20000))
EARMARK_RATE_LIMIT_PER_S=0 RUST_LOG=warn "$bin" serve --db "$work/index" \
    --listen "127.0.0.1:$port" 2>"$out/serve.log" &
server=$!
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
# CPU time the service has used (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
ticks_per_s="$(getconf CLK_TCK)"

# name, list of body files, content type, connections, seconds
load() {
    local rps p50 p99 errors requests cpu_before cpu_ms
    cpu_before="$(cpu_ticks)"
    BODY_LIST="$2" BODY_TYPE="$3" API_KEY="$key" wrk -t2 -c"$4" -d"$5s" --latency \
        -s "$root/benches/load/post.lua" "http://127.0.0.1:$port/v1/check" >"$out/$1.txt"
    requests="$(awk '/requests in/ {print $1}' "$out/$1.txt")"
    # The service's CPU time per request: steadier than requests/s on a shared machine.
    cpu_ms="$(awk -v t="$(( $(cpu_ticks) - cpu_before ))" -v n="$requests" -v hz="$ticks_per_s" \
        'BEGIN {printf "%.2f", (n > 0 ? t * 1000 / hz / n : 0)}')"
    rps="$(awk '/^Requests\/sec/ {print $2}' "$out/$1.txt")"
    p50="$(awk '$1 == "50%" {print $2}' "$out/$1.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$out/$1.txt")"
    errors="$(awk '/Non-2xx/ {print $NF}' "$out/$1.txt")"
    echo "| $1 | $4 | $5 s | $rps | $p50 | $p99 | ${errors:-0} | $cpu_ms |"
}

echo "Machine: $(nproc) cores, $(uname -m); $(date -u +%Y-%m-%d); index $(du -sh "$work/index" | cut -f1); $n distinct 10 s queries"
echo
echo "| load | connections | duration | requests/s | p50 | p99 | non-2xx | service CPU ms/request |"
echo "|---|---|---|---|---|---|---|---|"
load fingerprint-check "$work/fingerprint.list" application/vnd.earmark.fingerprint "$connections" "$seconds"
load audio-check-10s "$work/audio.list" audio/mpeg 4 "$seconds"
rss_start="$(rss_kib)"
load fingerprint-sustained "$work/fingerprint.list" application/vnd.earmark.fingerprint "$connections" "$sustain" &
wrk_job=$!
samples=()
while kill -0 "$wrk_job" 2>/dev/null; do
    samples+=("$(rss_kib)")
    sleep 5
done
wait "$wrk_job"
echo
echo "Resident memory of the service (KiB) before the sustained run: $rss_start; every 5 s during it: ${samples[*]}; after: $(rss_kib)"
