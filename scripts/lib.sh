# shellcheck shell=bash
# Shared shell helpers for scripts/*. Source it: . "$(dirname "$0")/lib.sh"
# AILAB_HOME holds everything the toolchain installs outside the git tree (venvs, the test
# Ollama, image build scratch), so a fresh clone (CI) reuses a ready machine in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AILAB_HOME="${AILAB_HOME:-/opt/ailab-stack}"
export AILAB_VENV="$AILAB_HOME/venv"
log() { printf '[%s] %s\n' "$(basename "$0")" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "run as root (podman is used rootful)"; }

# Packages from a list file (one name a line, # comments); apt-get update only when some are missing.
apt_install_list() {
  local missing=() p
  while read -r p; do
    [ -n "$p" ] || continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$@")
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The environment every make target runs in: the venv, ANSIBLE_HOME and caches outside $HOME,
# the collection resolved from this tree (.collections/ansible_collections/ailab/stack -> ROOT).
ailab_env() {
  [ -x "$AILAB_VENV/bin/ansible" ] || die "toolchain missing: run scripts/bootstrap first"
  # shellcheck disable=SC1091
  . "$AILAB_VENV/bin/activate"
  export ANSIBLE_HOME="$AILAB_HOME/ansible-home" XDG_CACHE_HOME="$AILAB_HOME/cache"
  export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
  export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
  export PY_COLORS=0 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 NO_COLOR=1
  mkdir -p "$ROOT/.collections/ansible_collections/ailab"
  [ -L "$ROOT/.collections/ansible_collections/ailab/stack" ] ||
    ln -sfn "$ROOT" "$ROOT/.collections/ansible_collections/ailab/stack"
}
