#!/usr/bin/env bash
# Test set-up for the Docker box backend: starts a private dockerd (own data-root, exec-root and socket, no bridge,
# no iptables) and imports a locally debootstrapped Debian as the box image's base. Idempotent and bounded in time.
#
#   scripts/test-docker-engine.sh start   # prints DOCKER_HOST=unix://… on its last line; exit 0 when the engine answers
#   scripts/test-docker-engine.sh stop    # stops the dockerd this script started
#   scripts/test-docker-engine.sh status  # exit 0 when it answers
# Exit status 3: no engine can run here (not root, no apt); any other failure is a real failure.
#
# Nothing is pulled from a registry: the base image (`sandbox-mcp-base:bookworm`) is `debootstrap --variant=minbase`
# from Debian's mirror, cached as a tarball under $SANDBOX_MCP_TEST_DOCKER_ROOT/cache, so a second run only imports
# it (or finds it already in the data-root).
set -euo pipefail

ROOT="${SANDBOX_MCP_TEST_DOCKER_ROOT:-/var/lib/sandbox-mcp-test-docker}"
SOCK="$ROOT/docker.sock"
PIDFILE="$ROOT/dockerd.pid"
LOG="$ROOT/dockerd.log"
EXEC_ROOT="/tmp/sandbox-mcp-test-docker-exec"
BASE_TAG="sandbox-mcp-base:bookworm"
CACHE="$ROOT/cache/debian-bookworm-minbase.tar"
# The Debian mirror this machine's apt already uses (deb822 or one-line sources), unless one is given.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [ -f "$f" ] || continue
    sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
      -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)[[:space:]].*/\2/p' "$f" | head -n 1
  done | head -n 1
}
MIRROR="${SANDBOX_MCP_DEBIAN_MIRROR:-$(apt_mirror)}"
export DOCKER_HOST="unix://$SOCK"

say() { echo "test-docker-engine: $*" >&2; }

docker_cli() {
  if command -v docker >/dev/null; then docker "$@"; else say "no docker CLI (apt-get install docker.io)"; return 127; fi
}

answers() { [ -S "$SOCK" ] && timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Exit 3: no engine can run on this machine (not root, or no apt to install one); callers may skip on it.
cannot_run() { say "$*"; exit 3; }

install_engine() {
  command -v dockerd >/dev/null && command -v debootstrap >/dev/null && return 0
  [ "$(id -u)" = 0 ] || cannot_run "dockerd or debootstrap missing and not root: apt-get install docker.io debootstrap"
  command -v apt-get >/dev/null || cannot_run "dockerd or debootstrap missing and no apt-get to install them"
  say "installing docker.io and debootstrap"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q docker.io debootstrap >&2
}

start_engine() {
  if answers; then return 0; fi
  [ "$(id -u)" = 0 ] || cannot_run "starting dockerd needs root"
  mkdir -p "$ROOT" "$EXEC_ROOT"
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    say "dockerd $(cat "$PIDFILE") runs but does not answer yet"
  else
    rm -f "$SOCK" "$PIDFILE"
    say "starting dockerd (data-root $ROOT/data)"
    # --bridge=none: containers get no bridge network (they run with network none); builds use the host network.
    setsid dockerd --data-root "$ROOT/data" --exec-root "$EXEC_ROOT" -H "unix://$SOCK" \
      --pidfile "$PIDFILE" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
      --userland-proxy=false >"$LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    if answers; then return 0; fi
    sleep 0.5
  done
  say "dockerd did not answer within 30 s; its log:"
  tail -20 "$LOG" >&2 || true
  return 1
}

ensure_base() {
  if docker_cli image inspect "$BASE_TAG" >/dev/null 2>&1; then return 0; fi
  if [ ! -s "$CACHE" ]; then
    mkdir -p "$(dirname "$CACHE")"
    local dir
    dir="$(mktemp -d "$ROOT/debootstrap.XXXXXX")"
    say "debootstrap --variant=minbase bookworm from $MIRROR (once; cached in $CACHE)"
    if ! timeout 900 debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$ROOT/debootstrap.log" 2>&1; then
      tail -20 "$ROOT/debootstrap.log" >&2
      rm -rf "$dir"
      return 1
    fi
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$CACHE.part" .
    mv "$CACHE.part" "$CACHE"
    rm -rf "$dir"
  fi
  say "importing $CACHE as $BASE_TAG"
  timeout 300 docker import "$CACHE" "$BASE_TAG" >/dev/null
}

stop_engine() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "dockerd $pid stopped"
  fi
  rm -f "$SOCK"
}

case "${1:-start}" in
  start)
    install_engine
    start_engine
    ensure_base
    echo "DOCKER_HOST=$DOCKER_HOST"
    ;;
  stop) stop_engine ;;
  status) answers ;;
  *) say "usage: $0 start|stop|status"; exit 2 ;;
esac
