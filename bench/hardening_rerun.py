"""First run vs second run of playbooks/hardening.yml on a fresh Debian 12 systemd container.

Part of `make bench` (bench/site.py calls table(), holding the machine's lock). The second run
is the everyday case (a site.yml re-run): it should change nothing and take a
fraction of the first run, which installs packages and writes every file. Both are real
`ansible-playbook` runs over the podman connection against the locally built image
(localhost/ailab-debian:bookworm); seconds are wall-clock of the whole run, "changed" is the
PLAY RECAP count. Prints one row per run and the ratios; it measures, it never fails on a time.
Run with the toolchain: `. scripts/lib.sh && ailab_env && python bench/hardening_rerun.py`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
IMAGE = os.environ.get("BENCH_IMAGE", "localhost/ailab-debian:bookworm")
NAME = "ailab-bench-hardening"
INVENTORY = f"""\
all:
  children:
    ai_servers:
      children:
        k8s_servers:
          hosts:
            {NAME}:
              ansible_connection: containers.podman.podman
              ansible_python_interpreter: /usr/bin/python3
  vars:
    ailab_runtime: kubernetes
    ailab_kubernetes_distribution: k3s
    # podman exec connects as root: the guard checks the admin account the bench creates
    hardening_ssh_lockout_guard_user: bench-admin
"""
# An admin with a (dummy) authorized key, as on a real server reached over SSH.
PREPARE = (
    "useradd -m -s /bin/bash -G sudo bench-admin && install -d -m 700 -o bench-admin /home/bench-admin/.ssh && "
    "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBenchBen bench' "
    "> /home/bench-admin/.ssh/authorized_keys"
)


def podman(*args: str, check: bool = True) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check).stdout.strip()


def start_container() -> None:
    podman("rm", "-f", "-t", "2", NAME, check=False)
    podman("run", "-d", "--name", NAME, "--systemd=always", "--cap-add", "NET_ADMIN,NET_RAW", IMAGE,
           "/lib/systemd/systemd")
    for _attempt in range(60):
        state = podman("exec", NAME, "systemctl", "is-system-running", check=False)
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    else:
        sys.exit(f"{NAME}: systemd did not finish booting")
    podman("exec", NAME, "bash", "-c", PREPARE)


def run_playbook(inventory: str) -> tuple[float, int]:
    t0 = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(ROOT, "playbooks", "hardening.yml")],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    seconds = time.monotonic() - t0
    recap = re.search(rf"^{NAME}\s*:.*?changed=(\d+).*?failed=(\d+)", proc.stdout, re.M)
    if proc.returncode != 0 or not recap:
        sys.exit(proc.stdout[-4000:] + proc.stderr[-2000:])
    return seconds, int(recap.group(1))


def table() -> str:
    """The two runs as a markdown table in bench/site.py's format."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ansible_output  # pylint: disable=import-outside-toplevel
    first, second = measure()
    return "\n".join([
        f"playbooks/hardening.yml on a fresh {IMAGE} container over the podman connection", "",
        ansible_output.markdown_table(("run", "wall s", "changed"), [("first", first[0], first[1]),
                                                                     ("second", second[0], second[1])]), "",
        f"second/first: time {second[0] / first[0]:.2f}, changed {second[1]}/{first[1]}"])


def measure() -> tuple[tuple[float, int], tuple[float, int]]:
    start_container()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hardening-") as tmp:
            inventory = os.path.join(tmp, "hosts.yml")
            with open(inventory, "w", encoding="utf-8") as f:
                f.write(INVENTORY)
            first = run_playbook(inventory)
            second = run_playbook(inventory)
    finally:
        podman("rm", "-f", "-t", "2", NAME, check=False)
    return first, second


def main() -> None:
    first, second = measure()
    print(f"playbooks/hardening.yml on a fresh {IMAGE} container ({os.cpu_count()} CPUs, shared)")
    print(f"{'run':<8}{'seconds':>10}{'changed':>10}")
    print(f"{'first':<8}{first[0]:>10.1f}{first[1]:>10}")
    print(f"{'second':<8}{second[0]:>10.1f}{second[1]:>10}")
    print(f"second/first: time {second[0] / first[0]:.2f}x, changed {second[1]}/{first[1]}")


if __name__ == "__main__":
    main()
