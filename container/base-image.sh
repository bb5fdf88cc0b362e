#!/bin/sh
# The base image edge-rl's Containerfile builds FROM, made from Debian's packages alone (no image
# registry needed): a minimal Debian bookworm root filesystem from debootstrap, imported as an image.
#
#   container/base-image.sh [ENGINE] [IMAGE]      (defaults: podman, edge-rl-base:bookworm)
#
# Does nothing when IMAGE already exists. Needs root (debootstrap) and the debootstrap package
# (`apt-get install debootstrap`). MIRROR= picks another Debian mirror.
set -eu
ENGINE=${1:-podman}
IMAGE=${2:-edge-rl-base:bookworm}
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if "$ENGINE" image exists "$IMAGE" 2>/dev/null || "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE exists"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/edge-rl-rootfs.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR"
# Security updates too, then no package lists or caches in the image (the Containerfile updates).
cat > "$ROOTFS/etc/apt/sources.list" <<LIST
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
LIST
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
tar -C "$ROOTFS" -c . | "$ENGINE" import --change 'CMD ["/bin/bash"]' - "$IMAGE"
"$ENGINE" image ls "$IMAGE"
