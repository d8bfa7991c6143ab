#!/usr/bin/env bash
# Cut small test fixtures from a real track: one clip in many formats, broken files,
# edge cases, another track's clip for negative tests and a time-shifted clip.
#
#   datasets/make-fixtures.sh
#
# Needs wesnoth-1.16-music (fetched on demand through fetch-music.sh). Writes into
# <data>/fixtures/ ($EARMARK_DATA, default <repo>/target/earmark-data):
#   clip.wav and its conversions, broken and edge-case files, other.wav, offset.wav,
#   fixtures.csv   file,kind,expect   (expect: ok | error | unsupported | empty)
#   clips.csv      file,track_id,offset_s,length_s   where each real clip comes from
# The output is deterministic for given tool versions; a stamp skips a second run.
set -euo pipefail
# sox and ffmpeg end their output early on Ctrl-C and may still exit 0: stop here rather
# than carry on with a short file. Work happens in .partial folders, swapped in at the end.
trap 'echo "interrupted" >&2; exit 130' INT TERM

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
data=${EARMARK_DATA:-$repo/target/earmark-data}
export EARMARK_DATA=$data
package=wesnoth-1.16-music
seed=1
clip_start=30   # seconds into the source track
clip_len=20
shift_s=5       # offset.wav starts this much later than clip.wav
offset_len=15

case ${1:-} in
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "make-fixtures: unknown argument: $1" >&2; exit 2 ;;
esac

for tool in sox ffmpeg python3; do
    command -v "$tool" >/dev/null || { echo "make-fixtures: $tool is required" >&2; exit 1; }
done

tracks=$data/music/tracks.csv
if ! [[ -f $tracks ]] || ! grep -q ",$package," "$tracks"; then
    "$here/fetch-music.sh" --packages "$package"
fi

# The first two tracks of the package, by sorted path, that are at least 60 s long.
mapfile -t picks < <(python3 - "$tracks" "$package" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1], newline=""))
        if r["package"] == sys.argv[2] and float(r["duration_s"]) >= 60]
for r in sorted(rows, key=lambda r: r["path"])[:2]:
    print(r["path"]); print(r["track_id"])
EOF
)
if [[ ${#picks[@]} -lt 4 ]]; then
    echo "make-fixtures: need two tracks of at least 60 s in $package" >&2
    exit 1
fi
src=${picks[0]} src_id=${picks[1]} other=${picks[2]} other_id=${picks[3]}

out=$data/fixtures
stamp="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) $src $other $(sox --version) $(ffmpeg -version | head -n 1)"
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]]; then
    echo "make-fixtures: up to date in $out"
    exit 0
fi

# Build in a scratch folder and swap it in at the end: a failed run leaves no half set.
work=$out.partial
rm -rf "$work"
mkdir -p "$work"
cd "$work"

# -R seeds sox's random generators (dither) with a fixed number; -D turns dither off for
# the lossless conversions so each format holds exactly the same samples.
sx() { sox -R -V1 "$@"; }
# bitexact and no copied metadata: no encoder version string or date in the bytes.
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y -i "$1" -map_metadata -1 -fflags +bitexact -flags:a +bitexact "${@:2}"; }

echo "make-fixtures: source $src_id ($src), ${clip_start}s + ${clip_len}s"
sx -D "$src" -b 16 -e signed-integer -r 44100 -c 2 clip.wav trim "$clip_start" "$clip_len"
sx -D clip.wav -b 24 -e signed-integer clip-s24.wav
sx -D clip.wav -b 32 -e signed-integer clip-s32.wav
sx -D clip.wav -b 32 -e floating-point clip-f32.wav
ff clip.wav -c:a flac clip.flac
ff clip.wav -c:a libmp3lame -b:a 320k clip-320k.mp3
ff clip.wav -c:a libmp3lame -b:a 128k clip-128k.mp3
ff clip.wav -c:a libvorbis -q:a 5 clip.ogg
ff clip.wav -c:a aac -b:a 128k clip-aac.m4a
ff clip.wav -c:a alac clip-alac.m4a
ff clip.wav -c:a libopus -b:a 96k clip.opus
ff clip.wav -c:a libopus -b:a 96k clip.webm
ff clip.wav -c:a ac3 clip-ac3.mka
sx clip.wav -b 16 -c 1 -r 22050 clip-mono-22k.wav
sx clip.wav -b 16 -c 1 -r 8000 clip-8k.wav
sx -D clip.wav short.wav trim 0 0.5
sx -n -b 16 -r 44100 -c 2 silence.wav trim 0 5
: > empty.wav
cp clip.wav wav-named.mp3
cat > text-as.mp3 <<'EOF'
This is a plain text file with an .mp3 extension. It holds no audio at all,
so a decoder must refuse it instead of returning an empty or made-up signal.
EOF

sx -D "$other" -b 16 -e signed-integer -r 44100 -c 2 other.wav trim "$clip_start" "$clip_len"
sx -D "$src" -b 16 -e signed-integer -r 44100 -c 2 offset.wav trim "$((clip_start + shift_s))" "$offset_len"

# Byte-level damage, seeded so that every run writes the same bytes.
python3 - "$seed" <<'EOF'
import random, sys
rng = random.Random(int(sys.argv[1]))

def head(src, dst, fraction):
    data = open(src, "rb").read()
    open(dst, "wb").write(data[: int(len(data) * fraction)])

head("clip-320k.mp3", "truncated.mp3", 0.4)
head("clip.flac", "truncated.flac", 0.4)

data = bytearray(open("clip-320k.mp3", "rb").read())
a, b = len(data) // 4, len(data) * 3 // 4
data[a:b] = rng.randbytes(b - a)
open("corrupt.mp3", "wb").write(data)

open("garbage.mp3", "wb").write(rng.randbytes(8192))

# A well-formed WAV header (16-bit, 44.1 kHz stereo) announcing zero samples.
import wave
with wave.open("zero-length.wav", "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)
EOF

cat > fixtures.csv <<'EOF'
file,kind,expect
clip.wav,wav-s16,ok
clip-s24.wav,wav-s24,ok
clip-s32.wav,wav-s32,ok
clip-f32.wav,wav-f32,ok
clip.flac,flac,ok
clip-320k.mp3,mp3-320k,ok
clip-128k.mp3,mp3-128k,ok
clip.ogg,vorbis,ok
clip-aac.m4a,aac,ok
clip-alac.m4a,alac,ok
clip.opus,opus,ok
clip.webm,opus-webm,ok
clip-ac3.mka,ac3,unsupported
clip-mono-22k.wav,wav-mono-22k,ok
clip-8k.wav,wav-mono-8k,ok
truncated.mp3,truncated,ok
truncated.flac,truncated,ok
corrupt.mp3,corrupt,ok
garbage.mp3,garbage,error
empty.wav,empty-file,error
zero-length.wav,no-samples,empty
silence.wav,silence,empty
short.wav,short,ok
text-as.mp3,text,error
wav-named.mp3,misnamed,ok
other.wav,other-track,ok
offset.wav,offset,ok
EOF

cat > clips.csv <<EOF
file,track_id,offset_s,length_s
clip.wav,$src_id,$clip_start,$clip_len
short.wav,$src_id,$clip_start,0.5
offset.wav,$src_id,$((clip_start + shift_s)),$offset_len
other.wav,$other_id,$clip_start,$clip_len
EOF

printf '%s' "$stamp" > .stamp
cd "$data"
rm -rf "$out"
mv "$work" "$out"

echo "make-fixtures: wrote $out"
printf '  %-18s %-14s %-6s %9s  %s\n' file kind expect bytes decoded
tail -n +2 "$out/fixtures.csv" | while IFS=, read -r file kind expect; do
    bytes=$(stat -c %s "$out/$file")
    info=$(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels:format=duration \
        -of csv=p=0 "$out/$file" 2>/dev/null | paste -sd' ' - || true)
    printf '  %-18s %-14s %-6s %9s  %s\n' "$file" "$kind" "$expect" "$bytes" "${info:-(ffprobe: no audio)}"
done
