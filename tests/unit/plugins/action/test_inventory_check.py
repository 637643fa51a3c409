# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ailab.stack.inventory_check on real inventories: each case is written as an inventory file,
parsed by Ansible's own InventoryManager/VariableManager (group_vars, host_vars, templating of the
role defaults), and judged by the plugin's run_checks, the code the action runs. No host is
contacted; the end-to-end runs through ansible-playbook are in test_inventory_check_playbook.py
and molecule/preflight."""
from __future__ import annotations

import os

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.vars.manager import VariableManager

from ansible_collections.ailab.stack.plugins.action.inventory_check import run_checks
from helpers.playbook import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "inventory_check_cases.yml"), encoding="utf-8") as _f:
    CASES = yaml.safe_load(_f)
LAYOUTS = {
    "systemd": {"ai_servers": ["ai1"], "db_servers": ["ai1"]},
    "kubernetes": {"ai_servers": ["cp1", "gpu1"], "k8s_servers": ["cp1"], "k8s_agents": ["gpu1"], "db_servers": ["cp1"]},
}


@pytest.fixture(scope="module", autouse=True)
def plugins():
    init_plugin_loader([os.path.join(ROOT, ".collections")])


def check_file(path: str) -> tuple[list[str], dict]:
    loader = DataLoader()
    inventory = InventoryManager(loader, sources=[path])
    variables = VariableManager(loader, inventory)
    raw = {h.name: variables.get_vars(host=h, include_hostvars=False) for h in inventory.get_hosts()}
    return run_checks(loader, Templar(loader=loader), inventory.get_groups_dict(), raw)


def write_inventory(tmp_path, groups: dict, all_vars: dict, host_vars: dict | None = None) -> str:
    children = {g: {"hosts": {h: (host_vars or {}).get(h) or {} for h in hs}} for g, hs in groups.items()}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": all_vars, "children": children}}))
    return str(path)


def case_inventory(tmp_path, case: dict) -> str:
    layout = case.get("layout", "systemd")
    all_vars = {"ailab_runtime": layout, **case.get("vars", {})}
    return write_inventory(tmp_path, case.get("groups") or LAYOUTS[layout], all_vars, case.get("host_vars"))


def flat(lines: list[str]) -> str:
    return " ".join("\n".join(lines).split())


def test_the_suite_covers_every_class_with_40_cases_or_more():
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_inventory_is_refused_with_its_message(tmp_path, case):
    failures, _plan = check_file(case_inventory(tmp_path, case))
    report = flat(failures)
    assert failures, f"accepted a bad inventory ({case['why']})"
    for expected in case["expect"]:
        assert " ".join(expected.split()) in report, f"missing {expected!r} in:\n" + "\n".join(failures)
    for absent in case.get("absent", []):
        assert absent not in report, f"{absent!r} must not appear in:\n" + "\n".join(failures)
    for line in failures:  # every line names host, variable, value, problem, allowed values and fix
        assert ": " in line and " = " in line and "; allowed: " in line and "; fix: " in line, line


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_minimal_good_inventory_passes(tmp_path, layout):
    failures, plan = check_file(write_inventory(tmp_path, LAYOUTS[layout], {"ailab_runtime": layout}))
    assert failures == []
    assert plan["hardening"] == LAYOUTS[layout]["ai_servers"]
    first = "cp1" if layout == "kubernetes" else "ai1"
    assert plan["postgres"] == [first] and plan["openwebui"] == [first]


@pytest.mark.parametrize("name", sorted(d for d in os.listdir(os.path.join(ROOT, "inventories"))
                                        if os.path.isdir(os.path.join(ROOT, "inventories", d))))
def test_reference_inventory_passes(name):
    failures, _plan = check_file(os.path.join(ROOT, "inventories", name, "hosts.yml"))
    assert failures == []


def test_several_replicas_pass_once_the_switch_is_explicit(tmp_path):
    good = {"ailab_runtime": "kubernetes", "openwebui_replicas": 3, "openwebui_vector_db": "pgvector",
            "openwebui_storage_access_mode": "ReadWriteMany"}
    failures, _plan = check_file(write_inventory(tmp_path, LAYOUTS["kubernetes"], good))
    assert failures == []


def test_real_booleans_and_strong_secrets_pass(tmp_path):
    good = {"ailab_kubernetes_apply": False, "hardening_firewall_enabled": True, "openwebui_admin_password": "x8#Kq2!pLm",
            "hardening_firewall_custom_rules": [{"name": "metrics", "port": 9100, "from": ["10.0.0.0/8", "db_servers"],
                                                 "to": ["ai_servers"]}]}
    failures, _plan = check_file(write_inventory(tmp_path, LAYOUTS["systemd"], good))
    assert failures == []


def test_a_value_from_vault_style_indirection_is_templated_before_judging(tmp_path):
    """The inventory's own Jinja is resolved as a play would: the placeholder behind a variable is found."""
    bad = {"vault_admin": "changeme", "openwebui_admin_password": "{{ vault_admin }}"}
    failures, _plan = check_file(write_inventory(tmp_path, LAYOUTS["systemd"], bad))
    assert any("openwebui_admin_password = (secret, not shown)" in f for f in failures), failures
