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

# The sandbox's ACME CA, NOT part of the product: Let's Encrypt's test server pebble (Debian
# package) inside sandbox host CONTAINER, on loopback only (directory https://127.0.0.1:14000/dir,
# management https://127.0.0.1:15000), validating HTTP-01 on port 80 where the ingress role's nginx
# serves the webroot. The name NAME resolves to the host itself (/etc/hosts: for pebble's
# validation and the gate's checks alike). pebble's own HTTPS certificate is signed by a CA made
# once in KEYDIR (KEYDIR/pebble-https-ca.pem: the role's ingress_acme_ca_bundle). After each start
# the root that signs the issued chains (new at every pebble start) is written to
# /etc/ailab-sandbox-acme/root.pem on the host (verify_tls_ca_path) and KEYDIR/pebble-root.pem (the
# browser's trust). pebble keeps accounts and issued chains in memory: when it starts anew on a host
# that has certbot state, that state is void and is removed with the sites configuration that uses
# it, so the next converge issues again from the new CA.
#   sandbox_acme_ca CONTAINER NAME KEYDIR
# The whole first boot of a sandbox host (scripts/demo, molecule/e2e's prepare, bench/site.py): SSH,
# then the ACME CA for the ingress name NAME.
#   sandbox_boot CONTAINER ADDRESS KEYDIR NAME
sandbox_boot() { sandbox_ssh_bootstrap "$1" "$2" "$3" && sandbox_acme_ca "$1" "$4" "$3"; }
SANDBOX_ACME_DIR=/etc/ailab-sandbox-acme
sandbox_acme_ca() {
  local c="$1" name="$2" dir="$3"
  if [ ! -s "$dir/pebble-https.pem" ]; then   # once; the container gets copies
    ( cd "$dir" && umask 077 &&
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=ailab-sandbox-pebble-https-ca \
        -keyout pebble-https-ca.key -out pebble-https-ca.pem &&
      openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout pebble-https.key -out pebble-https.csr &&
      openssl x509 -req -in pebble-https.csr -CA pebble-https-ca.pem -CAkey pebble-https-ca.key -CAcreateserial \
        -days 3650 -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') -out pebble-https.pem
    ) >/dev/null 2>&1 || die "$c: could not make pebble's HTTPS certificate in $dir"
    chmod 0644 "$dir/pebble-https-ca.pem"
  fi
  podman exec "$c" mkdir -p "$SANDBOX_ACME_DIR"
  podman cp "$dir/pebble-https.pem" "$c:$SANDBOX_ACME_DIR/cert.pem"
  podman cp "$dir/pebble-https.key" "$c:$SANDBOX_ACME_DIR/key.pem"
  podman cp "$dir/pebble-https-ca.pem" "$c:$SANDBOX_ACME_DIR/https-ca.pem"
  podman exec -i "$c" bash -s -- "$name" "$SANDBOX_ACME_DIR" <<'ACME' > "$dir/pebble-root.pem" || die "$c: pebble did not start"
set -euo pipefail
name="$1" d="$2" out=/run/ailab-sandbox-acme.log
quiet() { "$@" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }; }
if [ ! -x /usr/bin/pebble ] || [ ! -x /usr/bin/curl ]; then
  export DEBIAN_FRONTEND=noninteractive
  quiet apt-get update -q
  quiet apt-get install -y -q --no-install-recommends pebble curl ca-certificates
fi
# pebble resolves through the system resolver, which reads /etc/hosts (a bind mount: edit in place)
grep -qE "^127\.0\.0\.1[[:space:]]+$name\$" /etc/hosts || printf '127.0.0.1 %s\n' "$name" >> /etc/hosts
cat > "$d/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$d/cert.pem", "privateKey": "$d/key.pem",
  "httpPort": 80, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
# PEBBLE_VA_NOSLEEP: no random validation delay; PEBBLE_WFE_NONCEREJECT=0: no random badNonce.
cat > /etc/systemd/system/ailab-sandbox-pebble.service <<UNIT
[Unit]
Description=pebble, the sandbox's ACME test CA (not part of ailab.stack)
[Service]
Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0
ExecStart=/usr/bin/pebble -config $d/pebble.json
UNIT
if ! systemctl is-active -q ailab-sandbox-pebble; then   # a new CA: what the old one issued is void
  if [ -n "$(ls -A /etc/letsencrypt/renewal 2>/dev/null)" ]; then
    rm -rf /etc/letsencrypt/accounts /etc/letsencrypt/renewal /etc/letsencrypt/live /etc/letsencrypt/archive \
      /etc/nginx/conf.d/ailab-ingress-sites.conf
    systemctl reload-or-restart nginx >/dev/null 2>&1 || true
  fi
  quiet systemctl daemon-reload
  quiet systemctl start ailab-sandbox-pebble
fi
for _ in $(seq 60); do
  curl -sf --cacert "$d/https-ca.pem" -o "$d/root.pem" https://127.0.0.1:15000/roots/0 && break
  sleep 0.5
done
[ -s "$d/root.pem" ] || { journalctl -u ailab-sandbox-pebble --no-pager | tail -20 >&2; exit 1; }
cat "$d/root.pem"
ACME
  log "$c: ACME CA pebble up (https://127.0.0.1:14000/dir on the host), $name -> the host itself; issuing root in $dir/pebble-root.pem"
}
