#!/bin/sh
# The memory-optimized roop fork's wrapper: run.py with --memory-optimization --batch-size 2 --max-memory 8 (the
# fork's own script's settings), then the caller's arguments, which win (`--max-memory 4` after them is the one
# used). Without arguments it runs the fork's example, -s source.jpg -t target.mp4 -o output.mp4 in the current
# directory. The fork's script also set --execution-threads 12; that is a speed setting, not a memory one, and more
# threads than cores only slows a job down, so Facefleet's default (one per core) stays unless you pass it.
set -e
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ]; then
	set -- -s source.jpg -t target.mp4 -o output.mp4
fi
exec python3 "$here/run.py" --memory-optimization --batch-size 2 --max-memory 8 "$@"
