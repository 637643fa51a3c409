"""Behaviour of ailab.stack.preflight: a good inventory passes; each bad inventory fails
before anything changes, with a message that names the host/variable and the fix.

Each case runs playbooks/preflight.yml against the molecule containers with extra inventory
variables or groups, exactly as an operator would with a broken inventory.
"""
import os
import secrets
import subprocess

import pytest
import yaml

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CASES = os.path.join(HERE, "..", "bad")
testinfra_hosts = ["ansible://preflight-bookworm"]


def run_preflight(hosts_yaml, *extra):
    inv = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "case-inventory.yml")
    with open(inv, "w") as f:
        yaml.safe_dump(hosts_yaml, f)
    return subprocess.run(
        ["ansible-playbook", "-i", inv, os.path.join(ROOT, "playbooks", "preflight.yml"), *extra],
        capture_output=True, text=True, timeout=300, check=False)


def inventory(groups, **all_vars):
    base = {"ailab_runtime": "systemd", "ailab_gpu_vendor": "none", "preflight_time_sync": "warn",
            "ailab_postgres_host": "preflight-bookworm", "postgres_listen_addresses": ["*"],
            "hardening_ssh_lockout_guard": False, "openwebui_admin_email": "admin@example.org",
            # random per run, written only to the ephemeral inventory
            "postgres_openwebui_password": secrets.token_urlsafe(18), "openwebui_admin_password": secrets.token_urlsafe(18)}
    base.update(all_vars)
    # systemd runs PostgreSQL on a db_servers host (inventory_check refuses none): the first server
    groups = {"db_servers": groups.get("ai_servers", [])[:1], **groups}
    children = {g: {"hosts": {h: {} for h in hs}} for g, hs in groups.items() if hs}
    return {"all": {"vars": {"ansible_connection": "containers.podman.podman", **base}, "children": children}}


def output(res):
    return " ".join((res.stdout + res.stderr).replace('\\"', '"').split())


def test_good_inventory_passes_and_changes_nothing():
    res = run_preflight(inventory({"ai_servers": ["preflight-bookworm", "preflight-trixie"],
                                   "db_servers": ["preflight-bookworm"]}))
    assert res.returncode == 0, res.stdout[-3000:]
    assert "changed=0" in res.stdout and "failed=0" in res.stdout


def load_cases():
    cases = []
    for name in sorted(os.listdir(CASES)):
        with open(os.path.join(CASES, name)) as f:
            cases.append(pytest.param(yaml.safe_load(f), id=name.rsplit(".", 1)[0]))
    return cases


@pytest.mark.parametrize("case", load_cases())
def test_bad_inventory_fails_with_a_clear_message(case):
    res = run_preflight(inventory(case["groups"], **case.get("vars", {})))
    out = output(res)
    assert res.returncode != 0, f"preflight accepted a bad inventory ({case['why']}):\n{res.stdout[-3000:]}"
    for expected in case["expect"]:
        assert expected in out, f"missing {expected!r} in:\n{res.stdout[-3000:]}"
    assert "changed=1" not in out


def test_a_refused_run_changes_no_file_on_the_host(host):
    """A run stopped by a stage role's preflight (play 2: facts gathered, commands run) leaves the
    host as it was: no file under the system's directories is newer than a marker set before."""
    assert host.run("touch /run/preflight-marker").rc == 0
    with open(os.path.join(CASES, "role-preflight-in-stage.yml")) as f:
        case = yaml.safe_load(f)
    res = run_preflight(inventory(case["groups"], **case["vars"]))
    assert res.returncode != 0 and "postgres_backup_keep_min" in output(res)
    newer = host.run("find /etc /usr /opt /srv /var/lib /var/backups /root /home -xdev -newer /run/preflight-marker"
                     " -not -path '/root/.ansible*' -not -path '/var/lib/systemd/*' -print")
    assert newer.stdout.strip() == "", newer.stdout


def test_time_sync_is_enforced_or_reported(host):
    """require fails on an unsynchronised clock, warn reports it, both pass on a synchronised one."""
    synced = host.run("timedatectl show --property=NTPSynchronized --value").stdout.strip() == "yes"
    required = run_preflight(inventory({"ai_servers": ["preflight-bookworm"]}, preflight_time_sync="require"))
    warned = run_preflight(inventory({"ai_servers": ["preflight-bookworm"]}, preflight_time_sync="warn"))
    assert warned.returncode == 0, warned.stdout[-3000:]
    if synced:
        assert required.returncode == 0, required.stdout[-3000:]
    else:
        assert required.returncode != 0
        assert "preflight-bookworm: the system clock is not synchronised" in output(required)
        assert "preflight_time_sync: warn" in output(required)
        assert "not NTP-synchronised" in output(warned)
