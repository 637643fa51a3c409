"""The shared layer (roles/ailab): every variable more than one role or play reads has one
default, and every role follows it.

Behaviour: a play loads ailab.stack.ailab, as every playbook of the collection does, then the
defaults (and the vars that decide a runtime) of each stage role, and prints what they resolve to.
Before the shared layer, the same inventory gave Ollama and PostgreSQL the systemd runtime but
Open WebUI and hardening the kubernetes one, the credentials directory became /../credentials,
and verify ignored a changed PostgreSQL port. Static: outside roles/ailab no role or playbook
re-defaults a shared variable or copies a shared port number.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from helpers.playbook import ROOT, run_playbook

SHARED = Path(ROOT, "roles", "ailab", "defaults", "main.yml")
SHARED_NAMES = sorted(yaml.safe_load(SHARED.read_text()))

# What each probe reads: the role's defaults (lazy templates), plus the vars files that decide
# its runtime (hardening keeps it in vars/main.yml).
ROLE_FILES = {
    "ollama": ["defaults/main.yml"],
    "openwebui": ["defaults/main.yml"],
    "postgres": ["defaults/main.yml"],
    "hardening": ["defaults/main.yml", "vars/main.yml"],
    "verify": ["defaults/main.yml"],
}
PROBE = {
    "runtime": {
        "ollama": "{{ ollama_runtime }}",
        "openwebui": "{{ openwebui_runtime }}",
        "postgres": "{{ postgres_runtime }}",
        "hardening": "{{ __hardening_runtime }}",
        "hardening_sysctl": "{{ hardening_sysctl_profile }}",
    },
    "stage_play": {  # the `when:` of playbooks/ollama.yml and openwebui.yml
        "systemd": "{{ ailab_runtime == 'systemd' }}",
        "kubernetes": "{{ ailab_runtime == 'kubernetes' }}",
    },
    "credentials": {
        "postgres": "{{ postgres_credentials_dir }}",
        "openwebui": "{{ openwebui_credentials_dir }}",
        "manifests": "{{ ailab_manifest_dir }}",
        "postgres_manifests": "{{ postgres_k8s_manifest_dir }}",
        "openwebui_manifests": "{{ openwebui_manifest_dir }}",
    },
    "postgres_port": {
        "server": "{{ postgres_port | int }}",
        "client": "{{ openwebui_db_port | int }}",
        "gate": "{{ verify_postgres_port | int }}",
        "firewall": "{{ hardening_firewall_platform_ports['postgresql'] | int }}",
    },
    "ollama_port": {
        "server": "{{ ollama_listen_address | split(':') | last | int }}",
        "client": "{{ openwebui_ollama_base_urls | first }}",
        "gate": "{{ verify_ollama_url }}",
        "firewall": "{{ hardening_firewall_platform_ports['ollama'] | int }}",
    },
    "openwebui_port": {
        "server": "{{ openwebui_port | int }}",
        "gate": "{{ verify_openwebui_url }}",
        "firewall": "{{ hardening_firewall_platform_ports['openwebui'] | int }}",
    },
    "postgres_cluster": {
        "server": "{{ postgres_k8s_cluster_name }}-rw.{{ postgres_k8s_namespace }}.svc",
        "client": "{{ openwebui_db_host }}",
        "gate": "{{ verify_postgres_host }}",
    },
    "database": {
        "postgres": "{{ postgres_openwebui_database }}/{{ postgres_openwebui_user }}",
        "openwebui": "{{ openwebui_db_name }}/{{ openwebui_db_user }}",
        "gate": "{{ verify_postgres_database }}/{{ verify_postgres_user }}",
    },
}


def resolve(tmp_path: Path, inventory_vars: dict) -> dict:
    """What every role resolves to for an inventory that sets only `inventory_vars`."""
    inv_dir = tmp_path / "inventory"
    (inv_dir / "group_vars" / "all").mkdir(parents=True)
    (inv_dir / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"box1": {
        "ansible_connection": "local", "ansible_python_interpreter": os.sys.executable}}}}))
    (inv_dir / "group_vars" / "all" / "ailab.yml").write_text(yaml.safe_dump(inventory_vars))
    tasks = [{"name": f"Load the {role} {f}", "ansible.builtin.include_vars": os.path.join(ROOT, "roles", role, f)}
             for role, files in ROLE_FILES.items() for f in files]
    tasks.append({"name": "Show", "ansible.builtin.debug": {"msg": "PROBE {{ __probe | to_json }}"},
                  "vars": {"__probe": PROBE}})
    plays = [{"name": "Probe", "hosts": "all", "gather_facts": False,
              "roles": [{"role": "ailab.stack.ailab"}], "tasks": tasks}]
    res = run_playbook(plays, inventory=str(inv_dir / "hosts.yml"), extra_args=["-e", f"HOME={tmp_path}"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    m = re.search(r'"msg": "PROBE (.*)"\n', res.stdout)
    assert m, res.stdout[-3000:]
    return json.loads(json.loads('"' + m.group(1) + '"'))


@pytest.fixture(scope="module")
def default_inventory(tmp_path_factory):
    return resolve(tmp_path_factory.mktemp("default"), {})


def test_one_runtime_for_every_role_and_stage_play(default_inventory):
    got = default_inventory
    assert set(got["runtime"].values()) == {"systemd", "plain"} and got["runtime"]["ollama"] == "systemd", got["runtime"]
    assert all(v == "systemd" for k, v in got["runtime"].items() if k != "hardening_sysctl"), got["runtime"]
    assert got["runtime"]["hardening_sysctl"] == "plain"
    assert got["stage_play"] == {"systemd": True, "kubernetes": False}


def test_kubernetes_runtime_reaches_every_role(tmp_path):
    got = resolve(tmp_path, {"ailab_runtime": "kubernetes", "ailab_namespace": "chat"})
    assert set(got["runtime"].values()) == {"kubernetes"}, got["runtime"]
    assert got["stage_play"] == {"systemd": False, "kubernetes": True}
    assert got["ollama_port"]["client"] == "http://ollama.chat.svc:11434"
    assert set(got["postgres_cluster"].values()) == {"postgres-rw.chat.svc"}, got["postgres_cluster"]


def test_a_renamed_postgres_cluster_reaches_its_server_client_and_gate(tmp_path):
    got = resolve(tmp_path, {"ailab_runtime": "kubernetes", "ailab_postgres_cluster": "pg"})["postgres_cluster"]
    assert set(got.values()) == {"pg-rw.ailab.svc"}, got


def test_credentials_live_beside_the_manifests_outside_the_inventory(default_inventory, tmp_path):
    c = default_inventory["credentials"]
    assert c["postgres"] == c["openwebui"], c
    assert not c["postgres"].startswith("/.."), c
    assert c["postgres_manifests"] == c["manifests"] + "/postgres" and c["openwebui_manifests"] == c["manifests"]
    assert os.path.dirname(c["postgres"]) == os.path.dirname(c["manifests"])
    # an inventory that names its manifest directory keeps its credentials where they always were
    got = resolve(tmp_path, {"ailab_manifest_dir": "/srv/ailab/.rendered"})["credentials"]
    assert got["postgres"] == got["openwebui"] == "/srv/ailab/credentials"


def test_a_changed_port_reaches_server_clients_firewall_and_gates(tmp_path):
    got = resolve(tmp_path, {"ailab_postgres_port": 5433, "ailab_ollama_port": 11500, "ailab_openwebui_port": 3000})
    assert set(got["postgres_port"].values()) == {5433}, got["postgres_port"]
    assert got["ollama_port"] == {"server": 11500, "client": "http://127.0.0.1:11500",
                                  "gate": "http://127.0.0.1:11500", "firewall": 11500}
    assert got["openwebui_port"] == {"server": 3000, "gate": "http://127.0.0.1:3000", "firewall": 3000}


def test_one_database_name_for_server_client_and_gate(tmp_path):
    got = resolve(tmp_path, {"ailab_openwebui_database": "chat", "ailab_openwebui_db_user": "webui"})["database"]
    assert set(got.values()) == {"chat/webui"}, got


# --- static: one home ----------------------------------------------------------------------------
def _platform_files():
    for base in ("roles", "playbooks"):
        for path in sorted(Path(ROOT, base).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2") and not rel.startswith("roles/ailab/"):
                yield rel, path.read_text()


def test_no_role_or_playbook_re_defaults_a_shared_variable():
    pattern = re.compile(r"\b(%s)\s*\|\s*default\b" % "|".join(SHARED_NAMES))
    found = [f"{rel}:{n}: {line.strip()}" for rel, text in _platform_files()
             for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert not found, "re-defaulted shared variables:\n" + "\n".join(found)


def test_shared_ports_are_not_copied():
    shared = yaml.safe_load(SHARED.read_text())
    ports = sorted(str(v) for k, v in shared.items() if k.endswith("_port"))
    pattern = re.compile(r"(?<![\d.])(%s)(?!\d)" % "|".join(ports))
    found = [f"{rel}:{n}: {line.strip()}" for rel, text in _platform_files()
             for n, line in enumerate(text.splitlines(), 1)
             if pattern.search(line) and not line.lstrip().startswith("#")]
    assert not found, "shared port numbers outside roles/ailab:\n" + "\n".join(found)


def test_every_play_loads_the_shared_layer_first():
    missing = []
    for path in sorted(Path(ROOT, "playbooks").glob("*.yml")):
        for play in yaml.safe_load(path.read_text()):
            if any(k.endswith("import_playbook") for k in play):
                continue
            if any("ailab.stack.inventory_check" in task for task in play.get("tasks", [])):
                # preflight's play 1 judges the inventory as written, every role's spec at once
                # (the action reads the shared layer's defaults and spec itself): loading the shared
                # layer first would stop at its own first problem
                continue
            roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]
            if roles[:1] != ["ailab.stack.ailab"]:
                missing.append(f"{path.name}: {play['name']}")
    assert not missing, missing


def test_every_stage_role_depends_on_the_shared_layer():
    for role in sorted(p.name for p in Path(ROOT, "roles").iterdir() if p.is_dir()):
        if role in ("ailab", "_common"):
            continue
        meta = yaml.safe_load(Path(ROOT, "roles", role, "meta", "main.yml").read_text())
        deps = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
        assert "ailab.stack.ailab" in deps, role
