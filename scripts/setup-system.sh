#!/usr/bin/env bash
# Installs the system packages sandbox-mcp needs (bubblewrap, Debian's Python with numpy, matplotlib,
# pandas, pillow, flask) when they are missing, and as root the sandbox-mcp system user boxes run as.
# Idempotent: does nothing when all are present.
set -euo pipefail

PY=/usr/bin/python3
APT_PACKAGES=(bubblewrap python3 python3-numpy python3-matplotlib python3-pandas python3-pil python3-flask
  python3-fastapi python3-uvicorn python3-venv python3-pip iproute2
  python3-gunicorn python3-yaml chromium python3-nbformat)
missing=()

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do have_pkg "$p" || missing+=("$p"); done
else
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
  "$PY" -c 'import numpy, matplotlib, pandas, PIL, flask' >/dev/null 2>&1 || missing+=(python3-numpy python3-matplotlib python3-pandas python3-pil python3-flask)
fi

# A root server runs its boxes as this unprivileged system user (never as root); see README "Security".
if [ "$(id -u)" -eq 0 ] && ! id -u sandbox-mcp >/dev/null 2>&1 && command -v useradd >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandbox-mcp &&
    echo "setup-system: created the system user sandbox-mcp for boxes of a root server"
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all system packages present"
  exit 0
fi

echo "setup-system: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo)
else
  echo "setup-system: these packages are missing and this user cannot install them: ${missing[*]}" >&2
  echo "  run as root:  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: no apt-get here; install the equivalents of: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-system: done"
