#!/usr/bin/env bash
# Does the service keep answering legitimate checks while hostile clients attack it?
# For N seconds, wrk sends fingerprint checks (2 threads, 16 connections, each cycling
# through every 10 s query of the evaluation set) while hostile.py, beside this script,
# runs six attacks at once: slow headers (200 connections), slow bodies (20 uploads
# trickling 4 bytes a second), WAV files declaring 1 Hz and 1,000,000 Hz, 50 MB of 8 kHz
# near-silence, fingerprints with every bin of every frame, and random methods, paths
# and 60 KB request ids. The service's resident memory is sampled every second; after
# the run come the size of /metrics, whether /healthz answers, the decision log's size
# and how long the service takes to shut down gracefully (its attackers' work in flight).
#
#   benches/load/hostile.sh [--bin PATH] [--index DIR] [--seconds N] [--env NAME=VALUE]...
#                           [--attacks all|none|KIND,KIND...]
#
# --bin defaults to target/release/earmark, else target/debug/earmark (never built
# here); --seconds to 30; --env passes a setting to the service (repeatable; the
# service also inherits EARMARK_* variables from the environment); --attacks to all
# (`none` gives the baseline without attack; the kinds are slow-headers, slow-bodies,
# absurd-audio, long-audio, dense-prints and method-abuse). The service runs
# with its defaults but for the rate limit, which is off (EARMARK_RATE_LIMIT_PER_S=0)
# as in run.sh so that wrk's key is not throttled: the limit is per key and global,
# so the hostile keys are unthrottled too.
#
# Doubles as a check: exits 1 when the legitimate load's p99 is 100 ms or more, or when
# any legitimate request failed (non-2xx, socket error or timeout), or when /healthz
# does not answer after the run (or hostile.py failed); 2 when something it needs is
# missing.
#
# Needs: wrk (Debian package `wrk`), python3, curl, the demo index and evaluation
# queries from `make demo`. Prints a markdown summary; raw outputs (wrk, the hostile
# clients' JSON, memory samples, the service's log) go to $EARMARK_DATA/load/. The
# load generators share the cores with the service, so the figures are a floor.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="${EARMARK_DATA:-$root/target/earmark-data}"
index="$data/demo-index"
seconds=30
bin=""
attacks=all
extra_env=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --index) index="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --env) extra_env+=("$2"); shift 2 ;;
        --attacks) attacks="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 2; }
[[ -d "$index" ]] || { echo "no index at $index: run make demo first" >&2; exit 2; }
if [[ -z "$bin" ]]; then
    bin="$root/target/release/earmark"
    [[ -x "$bin" ]] || bin="$root/target/debug/earmark"
fi
[[ -x "$bin" ]] || { echo "no earmark binary at $bin: build one or pass --bin" >&2; exit 2; }
case "$bin" in
    */release/*) build="release build" ;;
    */debug/*) build="debug build" ;;
    *) build="build of unknown profile" ;;
esac

out="$data/load"
work="$(mktemp -d)"
server=""
hostile=""
wrk_job=""
cleanup() {
    local pid
    for pid in "$wrk_job" "$hostile" "$server"; do
        [[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"
# A copy, so that the keys file and decision log of the run stay out of the demo index.
cp -r "$index" "$work/index"
key="$("$bin" keys add --db "$work/index" --role network --subject loadtest 2>/dev/null)"
hostile_key="$("$bin" keys add --db "$work/index" --role network --subject hostile-network 2>/dev/null)"
label_key="$("$bin" keys add --db "$work/index" --role label --subject hostile-label 2>/dev/null)"

# The fingerprints of every 10 s query of the evaluation set.
awk -F, 'NR > 1 && $3 == "10" {print $1}' "$data/eval/truth.csv" >"$work/audio.list"
[[ -s "$work/audio.list" ]] || { echo "no 10 s queries in $data/eval/truth.csv" >&2; exit 2; }
n=0
while read -r query; do
    n=$((n + 1))
    "$bin" fingerprint "$query" -o "$work/query-$n.emfp" 2>/dev/null
    echo "$work/query-$n.emfp"
done <"$work/audio.list" >"$work/fingerprint.list"

port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"
env EARMARK_RATE_LIMIT_PER_S=0 RUST_LOG=warn "${extra_env[@]}" "$bin" serve --db "$work/index" \
    --listen "127.0.0.1:$port" 2>"$out/hostile-serve.log" &
server=$!
for _ in $(seq 100); do
    curl -sf "$url/readyz" >/dev/null && break
    sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || { echo "the service did not get ready: see $out/hostile-serve.log" >&2; exit 1; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || true; }
rss_start="$(rss_kib)"
: >"$out/hostile-rss.txt"
# The attack starts first and ends after wrk, so that wrk's whole run is under attack
# (the 200 slow-header connections take a moment to open).
warmup=3
python3 "$root/benches/load/hostile.py" --url "$url" --seconds "$((seconds + warmup + 1))" \
    --network-key "$hostile_key" --label-key "$label_key" \
    --fingerprint "$work/query-1.emfp" --attacks "$attacks" >"$out/hostile.json" 2>"$out/hostile.log" &
hostile=$!
sleep "$warmup"
BODY_LIST="$work/fingerprint.list" BODY_TYPE=application/vnd.earmark.fingerprint API_KEY="$key" \
    wrk -t2 -c16 -d"${seconds}s" --timeout 10s --latency -s "$root/benches/load/post.lua" \
    "$url/v1/check" >"$out/hostile-wrk.txt" &
wrk_job=$!
while kill -0 "$hostile" 2>/dev/null; do
    rss="$(rss_kib)"
    [[ -n "$rss" ]] && echo "$rss" >>"$out/hostile-rss.txt"
    sleep 1
done
wait "$wrk_job"
wrk_job=""
hostile_rc=0
wait "$hostile" || hostile_rc=$?
hostile=""
rss_final="$(rss_kib)"

metrics_bytes="$(curl -s --max-time 10 "$url/metrics" | wc -c)"
health="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/healthz" || true)"
decisions_size="$(du -sh "$work/index.decisions" 2>/dev/null | cut -f1 || true)"
# A graceful shutdown waits for the requests in flight: how long the attackers' work
# outlives them. Killed after 30 s.
stop_started="$(date +%s.%N)"
kill "$server" 2>/dev/null || true
for _ in $(seq 300); do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$server" 2>/dev/null; then
    kill -9 "$server" 2>/dev/null || true
    shutdown="not done after 30 s: killed"
else
    shutdown="$(awk -v a="$stop_started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f s", b - a}')"
fi
wait "$server" 2>/dev/null || true
server=""

# wrk's latencies (500.00us, 12.34ms, 1.20s, 1.00m) in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n }'; }
w="$out/hostile-wrk.txt"
requests="$(awk '/requests in/ {print $1}' "$w")"
rps="$(awk '/^Requests\/sec/ {print $2}' "$w")"
p50="$(awk '$1 == "50%" {print $2}' "$w")"
p99="$(awk '$1 == "99%" {print $2}' "$w")"
non2xx="$(awk '/Non-2xx/ {print $NF}' "$w")"
non2xx="${non2xx:-0}"
# "Socket errors: connect 0, read 0, write 0, timeout 0"
socket_errors="$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$w")"
socket_errors="${socket_errors:-0}"
p99_ms="$(to_ms "${p99:-0}")"
peak_kib="$(sort -n "$out/hostile-rss.txt" | tail -1)"

settings="defaults, EARMARK_RATE_LIMIT_PER_S=0"
[[ ${#extra_env[@]} -eq 0 ]] || settings+=", ${extra_env[*]}"
echo "Machine: $(nproc) cores, $(uname -m); $(date -u +%Y-%m-%d); binary ${bin#"$root"/} ($build); service settings: $settings; $n distinct 10 s queries"
echo
echo "Legitimate load under attack ($attacks): wrk -t2 -c16, ${seconds} s of fingerprint checks"
echo
echo "| requests | requests/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|"
echo "| ${requests:-0} | ${rps:-0} | ${p50:-?} | ${p99:-?} | $non2xx | $socket_errors |"
echo
echo "| service | value |"
echo "|---|---|"
echo "| resident memory before | ${rss_start:-?} KiB |"
echo "| resident memory peak (1 s samples) | ${peak_kib:-?} KiB |"
echo "| resident memory after | ${rss_final:-?} KiB |"
echo "| /metrics after the run | $metrics_bytes bytes |"
echo "| /healthz after the run | ${health:-no answer} |"
echo "| decision log after the run | ${decisions_size:-?} |"
echo "| graceful shutdown after the run | $shutdown |"
echo
echo "Hostile clients (outcome: count; \"(early)\": answered before the whole body was sent)"
echo
echo "| attack | attempts | outcomes |"
echo "|---|---|---|"
if [[ "$hostile_rc" -eq 0 && -s "$out/hostile.json" ]]; then
    python3 "$root/benches/load/hostile.py" --table "$out/hostile.json"
else
    echo "| (hostile.py failed with status $hostile_rc: see $out/hostile.log) | | |"
fi
echo

failed=()
awk -v p="$p99_ms" 'BEGIN {exit !(p >= 100)}' && failed+=("p99 $p99 is 100 ms or more")
[[ "${requests:-0}" -gt 0 ]] || failed+=("no legitimate request completed")
[[ "$non2xx" -eq 0 ]] || failed+=("$non2xx legitimate requests answered non-2xx")
[[ "$socket_errors" -eq 0 ]] || failed+=("$socket_errors legitimate requests failed at the socket")
[[ "$health" == 200 ]] || failed+=("/healthz answered ${health:-nothing} after the run")
[[ "$hostile_rc" -eq 0 ]] || failed+=("hostile.py failed")
if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'FAIL: %s\n' "${failed[@]}"
    exit 1
fi
echo "PASS: p99 $p99 under 100 ms, no legitimate request failed"
