#!/usr/bin/env bash
# No registry is reachable here, so the base image that `scad build` uses by
# default (python:3.11-slim) is made locally from a Debian rootfs when absent.
# It stands in for the official image: Debian bookworm with Python 3.11 and venv.
set -euo pipefail

image=${1:-python:3.11-slim}

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image: $image present"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

rootfs=$(mktemp -d /tmp/scad-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "base image: debootstrap bookworm into $rootfs"
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" >"$rootfs.log" 2>&1 || {
    tail -n 20 "$rootfs.log" >&2
    exit 1
}
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$image" >/dev/null
rm -f "$rootfs.log"
echo "base image: $image made"
