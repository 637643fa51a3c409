# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`ansible-playbook ailab.stack.preflight` end to end, on the controller only: the hosts are
TEST-NET addresses reached over SSH with a 1 s timeout, so any attempt to contact one would show as
unreachable. A bad inventory fails in play 1 with every problem in one report and the hosts play
never starts; the reference inventories pass play 1. (molecule/preflight runs the same playbook
against real containers and checks that nothing changed there.)"""
from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from helpers.playbook import ROOT, ansible_env

NO_CONTACT = ["-c", "ssh", "-e", "ansible_ssh_common_args='-o ConnectTimeout=1'"]


def preflight(inventory: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = ["ansible-playbook", "-i", inventory, "ailab.stack.preflight", *NO_CONTACT, *extra]
    return subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)


def flat(res: subprocess.CompletedProcess) -> str:
    return " ".join((res.stdout + res.stderr).replace('\\"', '"').split())


def test_bad_inventory_stops_in_play_one_with_every_problem(tmp_path):
    inventory = {"all": {"vars": {"ailab_runtime": "systemd", "ailab_kubernetes_apply": "false",
                                  "openwebui_admin_password": "changeme",
                                  "hardening_firewall_custom_rules": [{"name": "m", "from": ["10.0.0.300/8"]}]},
                         "children": {"ai_servers": {"hosts": {"ai1": {"ansible_host": "192.0.2.10"},
                                                               "ai2": {"ansible_host": "192.0.2.11"}}},
                                      "db_servers": {"hosts": {"ai1": {}}}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    res = preflight(str(tmp_path / "hosts.yml"))
    out = flat(res)
    assert res.returncode != 0
    assert "The inventory has 4 problem(s); nothing was changed" in out, out[-3000:]
    for expected in ('ai1, ai2: ailab_kubernetes_apply = "false": a string, not a boolean',
                     "ai1, ai2: openwebui_admin_password = (secret, not shown): a well-known placeholder",
                     'ai1, ai2: hardening_firewall_custom_rules[0].from = "10.0.0.300/8"',
                     'ai2: openwebui_db_host = "127.0.0.1": Open WebUI on ai2 would look for PostgreSQL on its own loopback'):
        assert expected in out, out[-3000:]
    assert "changeme" not in out
    assert "Preflight - the hosts" not in out and "Gathering Facts" not in out
    assert "unreachable=0" in out and "changed=0" in out and "UNREACHABLE" not in out


@pytest.mark.parametrize("name", ["sandbox", "ha", "multitenant"])
def test_reference_inventory_passes_the_inventory_play(name):
    res = preflight(os.path.join(ROOT, "inventories", name), "--tags", "preflight_inventory")
    out = flat(res)
    assert res.returncode == 0, out[-3000:]
    assert "UNREACHABLE" not in out and "failed=0" in out
