#!/usr/bin/env bash
# gpu-check.sh: the device check of issue 13. On a machine with an NVIDIA GPU and ONNX Runtime's GPU build it
# measures what one worker slot takes on the GPU (memory.MeasureGPU around engine.WarmUp: SessionBytes, and
# FrameBytes from batch 1 to 8) for the default models and, where their files are present, inswapper_128 + det_10g +
# w600k_r50 and det_10g + gfpgan_1.4, two slots each, and prints GPU-CHECK lines to record in docs/BENCHMARKS.md
# (and in pkg/memory/gpuplan_test.go's figures). It takes under 5 minutes (hard limit 280 s); it changes nothing.
#
#   FACEFLEET_ORT_LIB     libonnxruntime.so.1 of ONNX Runtime's GPU build (default: the one make setup installs)
#   FACEFLEET_MODELS      model directory (default ~/.cache/facefleet/models)
#   FACEFLEET_GPU_DEVICE  NVML/CUDA device index (default 0)
#   GPU_CHECK_BIN         a test binary built beforehand with `go test -c -o bin/engine.test ./pkg/engine`, for a
#                         machine without Go (it links the same OpenCV and FFmpeg libraries as the product)
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,memory.free --format=csv || true
fi
export FACEFLEET_GPU_CHECK=1
if [[ -n "${GPU_CHECK_BIN:-}" ]]; then
	cmd=("$GPU_CHECK_BIN" -test.count=1 -test.timeout=280s -test.run '^TestGPUCheck$' -test.v)
	cd pkg/engine # the test binary runs in its package's directory, as go test runs it
else
	cmd=(go test -count=1 -timeout=280s -run '^TestGPUCheck$' -v ./pkg/engine/)
fi
set +e
timeout 290 "${cmd[@]}" 2>&1 | grep -E 'GPU-CHECK|^(---|ok|FAIL|panic)|gpucheck_test'
status=${PIPESTATUS[0]} # the test's, not grep's
exit "$status"
