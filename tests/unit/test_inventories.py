"""Every shipped inventory parses, passes the preflight inventory checks and the site
playbook's syntax check; a broken copy of one is rejected with the preflight message."""
import os
import subprocess

import pytest
import yaml

from helpers.playbook import ROOT, ansible_env, run_playbook

INVENTORIES = sorted(d for d in os.listdir(os.path.join(ROOT, "inventories"))
                     if os.path.isdir(os.path.join(ROOT, "inventories", d)))
CHECK_INVENTORY = [{
    "name": "Validate the inventory", "hosts": "all", "gather_facts": False,
    "tasks": [{"name": "Preflight inventory checks",
               "ansible.builtin.include_role": {"name": "ailab.stack.preflight", "tasks_from": "inventory.yml"}}],
}]


def test_all_reference_deployments_are_present():
    assert set(INVENTORIES) >= {"sandbox", "single-gpu", "microk8s", "ha", "multitenant"}


@pytest.mark.parametrize("name", INVENTORIES)
def test_inventory_passes_preflight_inventory_checks(name):
    res = run_playbook(CHECK_INVENTORY, inventory=os.path.join(ROOT, "inventories", name))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


@pytest.mark.parametrize("name", INVENTORIES)
def test_site_playbook_syntax(name):
    res = subprocess.run(["ansible-playbook", "--syntax-check", "-i", os.path.join(ROOT, "inventories", name),
                          os.path.join(ROOT, "playbooks", "site.yml")],
                         env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_even_ha_servers_are_rejected(tmp_path):
    src = os.path.join(ROOT, "inventories", "ha")
    with open(os.path.join(src, "hosts.yml")) as f:
        hosts = yaml.safe_load(f)
    hosts["all"]["children"]["k8s_servers"]["hosts"].pop("cp3")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "group_vars").symlink_to(os.path.join(src, "group_vars"))
    res = run_playbook(CHECK_INVENTORY, inventory=str(tmp_path / "hosts.yml"))
    assert res.returncode != 0
    assert "k8s_servers needs 1 server, or an odd number of 3 or more" in " ".join(res.stdout.split())
