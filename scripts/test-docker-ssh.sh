#!/usr/bin/env bash
# Test set-up for a Docker engine reached over ssh://: an sshd of its own on loopback in front of the private engine
# (scripts/test-docker-engine.sh), and an ssh-agent holding a fresh key. Idempotent and bounded in time.
#
#   scripts/test-docker-ssh.sh start   # prints DOCKER_HOST=ssh://…, SSH_AUTH_SOCK=…, KNOWN_HOSTS=… and IDENTITY_FILE=…
#   scripts/test-docker-ssh.sh stop    # stops the sshd and the ssh-agent this script started
#   scripts/test-docker-ssh.sh status  # exit 0 when the engine answers through the sshd
# Exit status 3: no engine or no sshd can run here (not root, no apt); any other failure is a real failure.
#
# The sshd (its own config, host key, pid file and log under $SANDBOX_MCP_TEST_SSH_ROOT) listens on 127.0.0.1 only,
# takes public keys only, and lets in only root with the one key of its agent, whose authorized_keys line forces
# `docker system dial-stdio` against the private engine with every other ssh feature off (`restrict`). KNOWN_HOSTS is
# a known_hosts file naming that sshd's host key, for the client side to check the host against; IDENTITY_FILE is that
# one key's private file (no passphrase), for an ~/.ssh/config IdentityFile that needs no agent.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${SANDBOX_MCP_TEST_SSH_ROOT:-/var/lib/sandbox-mcp-test-docker-ssh}"
CONF="$ROOT/sshd_config"
SSHD_PID="$ROOT/sshd.pid"
AGENT_PID="$ROOT/agent.pid"
AGENT_SOCK="$ROOT/agent.sock"
PORT_FILE="$ROOT/port"
KNOWN="$ROOT/known_hosts"

say() { echo "test-docker-ssh: $*" >&2; }
cannot_run() { say "$*"; exit 3; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_ssh() {
  [ -x /usr/sbin/sshd ] && command -v ssh-agent >/dev/null && command -v ssh-keygen >/dev/null && return 0
  [ "$(id -u)" = 0 ] || cannot_run "sshd missing and not root: apt-get install openssh-server openssh-client"
  command -v apt-get >/dev/null || cannot_run "sshd missing and no apt-get to install it"
  say "installing openssh-server and openssh-client"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q openssh-server openssh-client >&2
}

# A free loopback port, kept across runs so the known_hosts line stays valid.
pick_port() {
  if [ -s "$PORT_FILE" ]; then cat "$PORT_FILE"; return; fi
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    | tee "$PORT_FILE"
}

write_config() {
  local engine_host="$1" port="$2" docker_cli
  docker_cli="$(command -v docker)" || cannot_run "no docker CLI for dial-stdio (apt-get install docker.io)"
  [ -f "$ROOT/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sandbox-mcp-test-host -f "$ROOT/host_ed25519"
  [ -f "$ROOT/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sandbox-mcp-test-client -f "$ROOT/client_ed25519"
  printf 'restrict,from="127.0.0.1",command="DOCKER_HOST=%s exec %s system dial-stdio" %s\n' \
    "$engine_host" "$docker_cli" "$(cat "$ROOT/client_ed25519.pub")" >"$ROOT/authorized_keys"
  chmod 600 "$ROOT/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$ROOT/host_ed25519.pub")" >"$KNOWN"
  cat >"$CONF" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $ROOT/host_ed25519
PidFile $SSHD_PID
AuthorizedKeysFile $ROOT/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin forced-commands-only
AllowUsers root
UsePAM no
StrictModes yes
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PermitTTY no
PermitUserEnvironment no
LogLevel VERBOSE
EOF
}

start_sshd() {
  local port="$1"
  alive "$SSHD_PID" && return 0
  mkdir -p /run/sshd
  /usr/sbin/sshd -t -f "$CONF"
  /usr/sbin/sshd -f "$CONF" -E "$ROOT/sshd.log"
  for _ in $(seq 1 40); do
    alive "$SSHD_PID" && return 0
    sleep 0.25
  done
  say "sshd did not start on 127.0.0.1:$port; its log:"
  tail -20 "$ROOT/sshd.log" >&2 || true
  return 1
}

start_agent() {
  if ! alive "$AGENT_PID" || [ ! -S "$AGENT_SOCK" ]; then
    rm -f "$AGENT_SOCK"
    ssh-agent -a "$AGENT_SOCK" -s | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' >"$AGENT_PID"
  fi
  SSH_AUTH_SOCK="$AGENT_SOCK" ssh-add -q "$ROOT/client_ed25519" 2>/dev/null
}

# The engine answers through the sshd (a _ping over dial-stdio), the host checked by ssh against KNOWN_HOSTS.
answers() {
  [ -s "$PORT_FILE" ] && [ -S "$AGENT_SOCK" ] || return 1
  printf 'GET /_ping HTTP/1.0\r\n\r\n' |
    SSH_AUTH_SOCK="$AGENT_SOCK" timeout 15 ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes \
      -o UserKnownHostsFile="$KNOWN" -o GlobalKnownHostsFile=none -p "$(cat "$PORT_FILE")" root@127.0.0.1 true |
    grep -q '^OK'
}

stop_all() {
  local f pid
  for f in "$SSHD_PID" "$AGENT_PID"; do
    if alive "$f"; then
      pid="$(cat "$f")"
      kill "$pid"
      say "stopped $(basename "$f" .pid) $pid"
    fi
    rm -f "$f"
  done
  rm -f "$AGENT_SOCK"
}

case "${1:-start}" in
  start)
    install_ssh
    [ "$(id -u)" = 0 ] || cannot_run "the test sshd runs as root"
    engine="$(bash "$HERE/test-docker-engine.sh" start | tail -n 1)" || exit $?
    mkdir -p "$ROOT"
    chmod 700 "$ROOT"
    port="$(pick_port)"
    write_config "${engine#DOCKER_HOST=}" "$port"
    start_sshd "$port"
    start_agent
    answers || { say "the engine does not answer through the sshd; its log:"; tail -20 "$ROOT/sshd.log" >&2; exit 1; }
    echo "DOCKER_HOST=ssh://root@127.0.0.1:$port"
    echo "SSH_AUTH_SOCK=$AGENT_SOCK"
    echo "KNOWN_HOSTS=$KNOWN"
    echo "IDENTITY_FILE=$ROOT/client_ed25519"
    ;;
  stop) stop_all ;;
  status) answers ;;
  *) say "usage: $0 start|stop|status"; exit 2 ;;
esac
