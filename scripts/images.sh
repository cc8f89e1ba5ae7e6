#!/usr/bin/env bash
# Builds the CPU container images offline (docker/README.md): Debian's podman and mmdebstrap, a bookworm-slim base made
# from Debian's own packages (no image registry is needed), then `podman build --isolation chroot`. Every step checks
# before it acts: a second run reuses the cached base and podman's layer cache. To refresh the base (Debian point
# releases), remove the tarball and `podman rmi docker.io/library/debian:bookworm-slim`.
#   scripts/images.sh [deps|base|build]   (default: all three)
set -euo pipefail

CACHE=${FACEFLEET_CACHE:-$HOME/.cache/facefleet}
BASE_TAR=$CACHE/bookworm-slim-rootfs.tar
BASE_IMAGE=docker.io/library/debian:bookworm-slim
REVISION=${REVISION:-unknown}
IMAGES=${IMAGES:-coordinator worker}
GO=${GO:-go}

log() { printf 'images: %s\n' "$*"; }
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo

deps() {
  local need=() p
  for p in podman mmdebstrap uidmap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

base() {
  if [ ! -s "$BASE_TAR" ]; then
    log "building $BASE_TAR (mmdebstrap, about a minute, once per machine)"
    mkdir -p "$CACHE"
    rm -f "$BASE_TAR.tmp.tar"
    # The .tmp name keeps an interrupted run from leaving a truncated base that a later run would trust.
    $SUDO mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$BASE_TAR.tmp.tar"
    mv "$BASE_TAR.tmp.tar" "$BASE_TAR"
  fi
  if ! podman image exists "$BASE_IMAGE"; then
    log "importing $BASE_TAR as $BASE_IMAGE"
    podman import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
  fi
}

build() {
  local root img args=(--isolation chroot --build-arg "REVISION=$REVISION")
  root=$(cd "$(dirname "$0")/.." && pwd)
  # Go's caches are the Dockerfiles' own cache mounts, not the host's: the host's build cache misses for every package
  # outside the standard library, since Go keys each build by the source directory (docs/BENCHMARKS.md).
  local proxy ca=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
  proxy=$($GO env GOPROXY 2>/dev/null || true)
  [ -n "$proxy" ] && args+=(--build-arg "GOPROXY=$proxy")
  # The host's CA bundle for the builder's fetches (a secret: not kept in the image): it trusts whatever TLS proxy this
  # machine's own fetches go through.
  [ -s "$ca" ] && args+=(--secret "id=build-ca,src=$ca")
  for img in $IMAGES; do
    log "building facefleet-$img (revision $REVISION)"
    podman build --quiet "${args[@]}" -f "$root/docker/Dockerfile.$img" -t "facefleet-$img" "$root" >/dev/null
  done
}

case ${1:-all} in
deps) deps ;;
base) deps && base ;;
build) build ;;
all) deps && base && build ;;
*) echo "usage: $0 [deps|base|build]" >&2; exit 2 ;;
esac
