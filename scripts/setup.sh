#!/usr/bin/env bash
# Idempotent machine setup for Facefleet: Debian packages, the ONNX Runtime CPU library, the default models.
# Every step checks before it acts, so a second run does nothing and takes a second.
set -euo pipefail

ORT_VERSION=1.30.0
ORT_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
CACHE=${FACEFLEET_CACHE:-$HOME/.cache/facefleet}
ORT_DIR=$CACHE/onnxruntime-$ORT_VERSION
ORT_LIB=$ORT_DIR/libonnxruntime.so.1
NATS_VERSION=v2.15.2
VERSITYGW_VERSION=v1.8.0

log() { printf 'setup: %s\n' "$*"; }

# 1. Debian packages (ffmpeg 5.1; OpenCV 4.6 headers for gocv; FFmpeg's libraries' headers for pkg/media, which
# decodes and encodes in process; pkg-config).
need=()
for p in ffmpeg libopencv-dev libjpeg62-turbo-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. ONNX Runtime CPU library, from the npm tarball, checked by sha256.
if ! echo "$ORT_SHA256  $ORT_LIB" | sha256sum -c --status 2>/dev/null; then
  log "fetching onnxruntime $ORT_VERSION (npm onnxruntime-node@$ORT_VERSION)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null && tar xzf onnxruntime-node-$ORT_VERSION.tgz)
  src=$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  echo "$ORT_SHA256  $src" | sha256sum -c --status || { echo "setup: $src: sha256 mismatch, refusing it" >&2; exit 1; }
  mkdir -p "$ORT_DIR"
  cp "$src" "$ORT_LIB.tmp" && mv "$ORT_LIB.tmp" "$ORT_LIB"
fi
log "onnxruntime: $ORT_LIB"

# 3. Servers the tests start as real processes (internal/testenv): nats-server and versitygw (S3), built into
#    $CACHE/bin. The version is the module version recorded in the binary: a go-installed versitygw --version says
#    only "Version : git".
for tool in "nats-server github.com/nats-io/nats-server/v2@$NATS_VERSION" \
  "versitygw github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"; do
  read -r name pkg <<<"$tool"
  have=$(go version -m "$CACHE/bin/$name" 2>/dev/null | awk '$1 == "mod" { print $3 }' || true)
  if [ "$have" != "${pkg##*@}" ]; then
    log "installing $name ${pkg##*@} (go install $pkg)"
    GOBIN=$CACHE/bin go install "$pkg"
  fi
  log "$name: $CACHE/bin/$name"
done

# 4. kustomize, for the manifests' test (deploy/k8s/validate builds every overlay offline). v5.8.2: newer ones need
#    a newer Go than this toolchain.
KUSTOMIZE_VERSION=v5.8.2
have=$(go version -m "$CACHE/bin/kustomize" 2>/dev/null | awk '$1 == "mod" { print $3 }' || true)
if [ "$have" != "$KUSTOMIZE_VERSION" ]; then
  log "installing kustomize $KUSTOMIZE_VERSION (go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION)"
  GOBIN=$CACHE/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
log "kustomize: $CACHE/bin/kustomize"

# 5. Chromium, for the dashboard's browser test (internal/e2e TestDashboardBrowser drives it headless through
#    chromedp). In its own block: a large package that only that test needs.
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  log "installing chromium"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
log "chromium: $(command -v chromium)"
