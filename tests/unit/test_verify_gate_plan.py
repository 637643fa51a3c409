"""The health gates the verify role runs for each Kubernetes reference inventory, and what they probe.

Behaviour: for inventories/{single-gpu,microk8s,ha,multitenant}, a play loads ailab.stack.ailab and
then the verify role's own defaults/main.yml and vars/main.yml (as a role, so the inventory keeps
its precedence over the defaults) and evaluates, for each entry point, the `checks`, `when`,
`delegate_to`, `run_once` and `become` of every ailab.stack.health_gate task that entry point
reaches (read from roles/verify/tasks, so the plan is the role's, not a copy), without running a
check. The plan is then searched for checks that probe an address that is only the host itself
(127.0.0.0/8, ::1, localhost, a Unix socket directory: wrong from the controller as from a host)
or, from the inventory's hosts or directly from the controller, a cluster-internal Service name
(*.svc), which neither resolves.

Found when written (each check type and its target):
- the gates of the stage playbooks and playbooks/verify.yml (postgres, ollama, openwebui, main)
  targeted `postgres-rw.ailab.svc` (postgres), `http://ollama.ailab.svc:11434` (ollama),
  `http://openwebui.ailab.svc:8080` (openwebui) and the ingress name (tls, http), probed from the
  hosts; the monitoring gate targeted `http://prometheus-operated.monitoring.svc:9090`;
- now each gate runs once from the controller (delegate_to: localhost, run_once, become: false):
  ollama, openwebui and prometheus through the API server's service proxy (`service`), postgres as
  the CloudNativePG Cluster `postgres` (cnpg_cluster), rollouts (k8s_rollout) as before; only the
  ingress name's certificate and HTTPS checks connect directly.
"""
from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from helpers.playbook import ROOT, run_playbook

KUBERNETES_INVENTORIES = ["single-gpu", "microk8s", "ha", "multitenant"]
TASKS = Path(ROOT, "roles", "verify", "tasks")
# Entry points the playbooks call (tasks_from of playbooks/{postgres,ollama,openwebui}.yml, and
# `main` from playbooks/verify.yml), then the one no playbook calls yet.
PLAYBOOK_ENTRY_POINTS = ["postgres", "ollama", "openwebui", "main"]
ENTRY_POINTS = PLAYBOOK_ENTRY_POINTS + ["monitoring"]
# Reached through the Kubernetes API server, not connected to (target() of these checks).
THROUGH_THE_API = "(Kubernetes API)"


def _as_list(when):
    return [] if when is None else when if isinstance(when, list) else [when]


def gate_tasks(entry: str, path: Path, inherited: dict | None = None, when: list | None = None) -> list[dict]:
    """A debug task in place of each health_gate task that `path` reaches, with the vars and
    conditions it runs with (import_tasks vars and when reach every imported task)."""
    plan = []
    for task in yaml.safe_load(path.read_text()):
        task_vars = {**(inherited or {}), **task.get("vars", {})}
        task_when = (when or []) + _as_list(task.get("when"))
        if "ansible.builtin.import_tasks" in task:
            plan += gate_tasks(entry, path.parent / task["ansible.builtin.import_tasks"], task_vars, task_when)
        elif "ailab.stack.health_gate" in task:
            plan.append({
                "name": f"Plan of {entry}",
                "ansible.builtin.debug": {"msg": "PLAN {{ __plan | to_json }}"},
                "vars": {**task_vars, "__plan_checks": task["ailab.stack.health_gate"]["checks"],
                         "__plan": {"entry": entry, "delegate_to": task.get("delegate_to", ""),
                                    "run_once": task.get("run_once", False), "become": task.get("become", ""),
                                    "checks": "{{ __plan_checks }}"}},
                **({"when": task_when} if task_when else {}),
            })
    return plan


def gate_plan(tmp_path: Path, inventory: str, extravars: dict | None = None) -> list[dict]:
    """[{entry, delegate_to, run_once, become, checks}] of every gate that would run (skipped gates are left out)."""
    role = tmp_path / "roles" / "verify_plan"
    for sub in ("defaults", "vars", "tasks"):
        (role / sub).mkdir(parents=True)
    for sub in ("defaults", "vars"):
        (role / sub / "main.yml").symlink_to(TASKS.parent / sub / "main.yml")
    tasks = [t for entry in ENTRY_POINTS for t in gate_tasks(entry, TASKS / f"{entry}.yml")]
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump(tasks, sort_keys=False))
    plays = [{"name": "Gate plan", "hosts": "ai_servers[0]", "gather_facts": False,
              "roles": [{"role": "ailab.stack.ailab"}, {"role": str(role)}]}]
    res = run_playbook(plays, extravars, inventory=os.path.join(ROOT, "inventories", inventory),
                       extra_args=["-e", f"HOME={tmp_path}"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    plan = [json.loads(json.loads('"' + m + '"')) for m in re.findall(r'"msg": "PLAN (.*)"\n', res.stdout)]
    assert plan, res.stdout[-3000:]
    return plan


def target(check: dict) -> tuple[str, str]:
    """(check type, the host name or address it connects to, or THROUGH_THE_API)."""
    kind = next(k for k in check if k != "name")
    options = check[kind]
    if kind in ("k8s_rollout", "cnpg_cluster") or options.get("service"):
        return kind, THROUGH_THE_API
    if kind in ("postgres", "tls", "tcp"):
        return kind, str(options.get("host", ""))
    return kind, urlsplit(options["url"]).hostname or ""


def is_local(host: str) -> bool:
    """Only the host itself: loopback, localhost, or a Unix socket directory."""
    if host.startswith("/") or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probes(plan: list[dict], entries: list[str], where: str = "anywhere") -> list[tuple[str, str, str, str]]:
    """(entry point, check name, type, target) of each check of `entries` that connects to its
    target (not through the API), run on the inventory's hosts (where="hosts"), on the
    controller ("controller") or either ("anywhere")."""
    def runs_there(gate):
        return where == "anywhere" or (gate["delegate_to"] == "localhost") == (where == "controller")
    return [(gate["entry"], check["name"], *target(check)) for gate in plan
            if gate["entry"] in entries and runs_there(gate)
            for check in gate["checks"] if target(check)[1] != THROUGH_THE_API]


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, list[dict]]:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = {name: pool.submit(gate_plan, tmp_path_factory.mktemp(name), name) for name in KUBERNETES_INVENTORIES}
        return {name: job.result() for name, job in jobs.items()}


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_every_stage_has_a_gate(plans, inventory):
    entries = {gate["entry"] for gate in plans[inventory] if gate["checks"]}
    assert entries == set(ENTRY_POINTS), plans[inventory]
    main = next(gate for gate in plans[inventory] if gate["entry"] == "main")
    assert {target(c)[0] for c in main["checks"]} >= {"cnpg_cluster", "ollama", "openwebui"}


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_playbook_gates_probe_no_loopback_address(plans, inventory):
    local = [p for p in probes(plans[inventory], PLAYBOOK_ENTRY_POINTS) if is_local(p[3])]
    assert not local, local


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_monitoring_gate_probes_no_loopback_address(plans, inventory):
    local = [p for p in probes(plans[inventory], ["monitoring"]) if is_local(p[3])]
    assert not local, local


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_no_gate_probes_a_cluster_service_name_from_a_host(plans, inventory):
    internal = [p for p in probes(plans[inventory], ENTRY_POINTS, "hosts") if p[3].endswith(".svc")]
    assert not internal, internal


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_the_controller_reaches_cluster_services_through_the_api(plans, inventory):
    internal = [p for p in probes(plans[inventory], ENTRY_POINTS, "controller") if p[3].endswith(".svc")]
    assert not internal, internal


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_every_gate_runs_once_from_the_controller(plans, inventory):
    assert [(g["entry"], g["delegate_to"], g["run_once"], g["become"]) for g in plans[inventory]] == [
        (entry, "localhost", True, False) for entry in ENTRY_POINTS]


@pytest.mark.parametrize("inventory", KUBERNETES_INVENTORIES)
def test_services_through_the_proxy_postgres_as_its_cluster_the_ingress_direct(plans, inventory):
    main = next(g for g in plans[inventory] if g["entry"] == "main")["checks"]
    monitoring = next(g for g in plans[inventory] if g["entry"] == "monitoring")["checks"]
    ingress = yaml.safe_load(Path(ROOT, "inventories", inventory, "group_vars", "all", "ailab.yml").read_text())[
        "ailab_ingress_host"]
    reached = {(kind, c[kind]["service"]["name"] if "service" in c[kind] else where)
               for c in main + monitoring for kind, where in [target(c)]}
    assert reached == {("cnpg_cluster", THROUGH_THE_API), ("ollama", "ollama"), ("openwebui", "openwebui"),
                       ("prometheus", "prometheus-operated"), ("tls", ingress), ("http", ingress)}
    assert next(c["cnpg_cluster"] for c in main if "cnpg_cluster" in c) == {"name": "postgres", "namespace": "ailab"}


def test_monitoring_switch_and_rollouts_reach_the_plan(tmp_path):
    """`main` gates monitoring only with verify_monitoring_enabled; rollouts are read from the controller."""
    default = [g for g in gate_plan(tmp_path / "default", "ha") if g["entry"] == "main"]
    assert [g["delegate_to"] for g in default] == ["localhost"]   # no rollouts: their gate is skipped
    assert not [c for c in default[0]["checks"] if "prometheus" in c]
    changed = gate_plan(tmp_path / "changed", "ha", {
        "verify_monitoring_enabled": True, "verify_kubeconfig": "/home/admin/.kube/config",
        "verify_k8s_rollouts": [{"kind": "Deployment", "name": "open-webui"}]})
    main = [g for g in changed if g["entry"] == "main"]
    assert [g["delegate_to"] for g in main] == ["localhost", "localhost"]
    assert [c["name"] for c in main[0]["checks"] if "prometheus" in c] == [
        "Prometheus is ready", "Prometheus targets of job prometheus are up"]
    assert main[1]["checks"] == [{"name": "Deployment open-webui rolled out", "k8s_rollout": {
        "kind": "Deployment", "name": "open-webui", "namespace": "ailab", "kubeconfig": "/home/admin/.kube/config"}}]


def test_systemd_gates_run_on_the_hosts_at_the_services_urls(tmp_path):
    """inventories/sandbox (systemd): every gate on the host, where the services listen on loopback and
    the ingress (nginx) answers at its name (chat.ailab.test, mapped to the host itself)."""
    plan = gate_plan(tmp_path, "sandbox", {"verify_monitoring_enabled": True})
    assert [(g["entry"], g["delegate_to"], g["run_once"], g["become"]) for g in plan] == [
        (entry, "", False, "") for entry in ENTRY_POINTS]
    assert {target(c) for g in plan for c in g["checks"]} == {
        ("postgres", "127.0.0.1"), ("ollama", "127.0.0.1"), ("openwebui", "127.0.0.1"), ("prometheus", "127.0.0.1"),
        ("tls", "chat.ailab.test"), ("http_redirect", "chat.ailab.test"), ("http", "chat.ailab.test"),
        ("websocket", "chat.ailab.test")}
