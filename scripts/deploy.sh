#!/usr/bin/env bash
# Deploys the control plane: locally (in this checkout) or on a VPS over SSH.
#   scripts/deploy.sh               docker compose up -d --build --force-recreate here
#   scripts/deploy.sh --ssh HOST    the same on HOST, in ~/homelab-control-plane (git pull first)
# Creates /opt/homelab (owned by UID 1000) when it is missing; needs sudo for that once.
set -euo pipefail

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

local_deploy() {
  if [ ! -d /opt/homelab ]; then
    sudo mkdir -p /opt/homelab
    sudo chown 1000:1000 /opt/homelab
  fi
  if [ ! -f .env ]; then
    echo "# KEY=value settings for compose.yaml (docs/operator/deploy.md)" > .env
    echo "note: created an empty .env; defaults apply (HOST 127.0.0.1, Telegram off). See docs/operator/deploy.md."
  fi
  if [ -z "${DOCKER_GID:-}" ]; then
    DOCKER_GID=$(getent group docker | cut -d: -f3 || true)
    export DOCKER_GID
  fi
  compose up -d --build --force-recreate control-plane
  compose ps
}

case "${1:-}" in
  --ssh)
    host=${2:?usage: scripts/deploy.sh --ssh HOST [DIR]}
    dir=${3:-homelab-control-plane}
    ssh "$host" "set -e; cd '$dir' && git pull --ff-only && bash scripts/deploy.sh"
    ;;
  "")
    cd "$(dirname "$0")/.."
    local_deploy
    ;;
  *)
    echo "usage: scripts/deploy.sh [--ssh HOST [DIR]]" >&2
    exit 2
    ;;
esac
