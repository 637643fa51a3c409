# shellcheck shell=bash
# Shared shell helpers for scripts/*. Source it: . "$(dirname "$0")/lib.sh"
# AILAB_HOME holds everything the toolchain installs outside the git tree (venvs, the test
# Ollama, image build scratch), so a fresh clone (CI) reuses a ready machine in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AILAB_HOME="${AILAB_HOME:-/opt/ailab-stack}"
export AILAB_VENV="$AILAB_HOME/venv"
# checkov in a venv of its own (requirements-checkov.lock): its pins conflict with the toolchain's.
export AILAB_CHECKOV_VENV="$AILAB_HOME/checkov-venv"
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

# The first boot of a sandbox host (scripts/demo, molecule/e2e), done as cloud-init does it on a
# real server, and the only step that goes through `podman exec` instead of SSH: wait for systemd,
# install openssh-server when the image lacks it, create the operator account $SANDBOX_USER (sudo
# without a password, like the default user of Debian's cloud images) with KEYDIR/id_ed25519.pub
# (generated once) in its authorized_keys, and pin the host's SSH host key for ADDRESS in
# KEYDIR/known_hosts (replacing an older entry: a recreated host has a new key).
#   sandbox_ssh_bootstrap CONTAINER ADDRESS KEYDIR
SANDBOX_USER="admin"
sandbox_ssh_bootstrap() {
  local c="$1" addr="$2" dir="$3" state="" hostkey kh="$3/known_hosts"
  for _ in $(seq 90); do   # "" while the bus is not up yet
    state="$(podman exec "$c" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
  case "$state" in running|degraded) ;; *) die "$c: systemd did not finish booting ('$state')" ;; esac
  [ -s "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "ailab-sandbox" -f "$dir/id_ed25519"
  hostkey="$(podman exec -i "$c" bash -s -- "$SANDBOX_USER" "$(cat "$dir/id_ed25519.pub")" <<'BOOT'
set -euo pipefail
user="$1" key="$2" out=/run/ailab-sandbox-bootstrap.log
quiet() { "$@" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }; }   # output only when it fails
if [ ! -x /usr/sbin/sshd ]; then
  export DEBIAN_FRONTEND=noninteractive
  quiet apt-get update -q
  quiet apt-get install -y -q --no-install-recommends openssh-server
fi
quiet systemctl enable --now ssh
id -u "$user" >/dev/null 2>&1 || quiet useradd -m -s /bin/bash "$user"
id -nG "$user" | grep -qw sudo || quiet usermod -aG sudo "$user"
printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$user" > "/etc/sudoers.d/90-sandbox-$user"
chmod 0440 "/etc/sudoers.d/90-sandbox-$user"
home="$(getent passwd "$user" | cut -d: -f6)"
install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
touch "$home/.ssh/authorized_keys"
grep -qxF "$key" "$home/.ssh/authorized_keys" || printf '%s\n' "$key" >> "$home/.ssh/authorized_keys"
chown "$user:$user" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub
BOOT
)" || die "$c: SSH bootstrap failed"
  [ -n "$hostkey" ] || die "$c: no SSH host key"
  touch "$kh"
  { awk -v a="$addr" '$1 != a' "$kh"; printf '%s %s\n' "$addr" "$hostkey"; } > "$kh.new"
  mv "$kh.new" "$kh"
  log "$c ($addr): sshd up, $SANDBOX_USER has the key $dir/id_ed25519.pub, host key pinned in $kh"
}
