# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.ssh_lockout_problems filter (the hardening role's lockout guard)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.firewall_rules import firewall_rules
from ansible_collections.ailab.stack.plugins.filter.hardening_firewall_services import hardening_firewall_services
from ansible_collections.ailab.stack.plugins.filter.ssh_lockout import (
    FilterModule, parse_ssh_connection, ssh_lockout_problems)

ADMIN = {"user": "admin", "home": "/home/admin", "groups": ["admin", "sudo"], "keys": 2}
SESSION = "192.0.2.10 50000 10.0.0.1 22"
GROUPS = {"ai_servers": ["web"], "db_servers": []}
HOSTVARS = {"web": {"ansible_host": "10.0.0.1"}}


def rules(admin_only=False, admin_cidrs=(), ssh_port=22):
    services = hardening_firewall_services("systemd", ssh_port=ssh_port, ssh_admin_only=admin_only,
                                           platform_ports={"ollama": 11434, "openwebui": 8080, "postgresql": 5432})
    return firewall_rules(services, HOSTVARS, GROUPS, "web", admin_cidrs=list(admin_cidrs))


def problems(user=None, **kwargs):
    args = {"ssh_port": 22, "allow_groups": ["sudo"], "firewall_rules": rules(), "ssh_connection": SESSION}
    return ssh_lockout_problems(ADMIN if user is None else user, **{**args, **kwargs})


def test_safe_run_has_no_problems():
    assert problems() == []


def test_user_without_key_outside_allow_groups():
    found = problems({"user": "bob", "home": "/home/bob", "groups": ["bob"], "keys": 0})
    assert found == ["user bob: no key in /home/bob/.ssh/authorized_keys",
                     "user bob: not in a group of hardening_ssh_allow_groups: sudo"]


def test_root_while_root_login_is_off():
    root = {"user": "root", "home": "/root", "groups": ["root"], "keys": 1}
    assert problems(root, allow_groups=[]) == ["user root: root login is off (hardening_ssh_permit_root_login: no)"]
    assert problems(root, allow_groups=[], permit_root_login="prohibit-password") == []


def test_account_checks_are_off_when_the_role_leaves_sshd_alone():
    assert problems({"user": "bob", "home": "/home/bob", "groups": [], "keys": 0}, ssh_enabled="false") == []


def test_controller_outside_the_ssh_allow_list_is_refused():
    found = problems(firewall_rules=rules(admin_only=True, admin_cidrs=["198.51.100.0/24"]))
    assert len(found) == 1
    assert "the controller (192.0.2.10) is not in the SSH allow-list" in found[0]
    assert "sources: 198.51.100.0/24" in found[0] and "hardening_admin_cidrs" in found[0]


def test_controller_inside_the_admin_networks_passes():
    assert problems(firewall_rules=rules(admin_only=True, admin_cidrs=["192.0.2.0/24"])) == []
    assert problems(firewall_rules=rules(admin_only=True, admin_cidrs=["192.0.2.10"])) == []


def test_allow_list_is_not_checked_without_the_firewall_or_for_loopback():
    locked = rules(admin_only=True, admin_cidrs=["198.51.100.0/24"])
    assert problems(firewall_rules=locked, firewall_enabled=False) == []
    assert problems(firewall_rules=locked, ssh_connection="127.0.0.1 4000 127.0.0.1 22") == []


def test_explicit_controller_address_wins_over_the_session():
    locked = rules(admin_only=True, admin_cidrs=["192.0.2.0/24"])
    assert "(198.51.100.7)" in problems(firewall_rules=locked, controller_address="198.51.100.7")[0]
    assert problems(firewall_rules=locked, ssh_connection="", controller_address="192.0.2.99") == []


def test_rule_for_another_port_or_udp_or_interface_does_not_admit_ssh():
    only_others = [{"name": "x", "port": "80", "proto": "tcp", "from": "any", "interface": ""},
                   {"name": "y", "port": "22", "proto": "udp", "from": "any", "interface": ""},
                   {"name": "z", "port": "", "proto": "any", "from": "any", "interface": "tailscale0"}]
    assert "not in the SSH allow-list" in problems(firewall_rules=only_others)[0]
    every_port = [{"name": "all", "port": "", "proto": "any", "from": "192.0.2.0/24", "interface": ""}]
    ranges = [{"name": "r", "port": "20:30", "proto": "tcp", "from": "any", "interface": ""}]
    assert problems(firewall_rules=every_port) == [] and problems(firewall_rules=ranges) == []


def test_ipv6_controller_against_ipv4_networks():
    locked = rules(admin_only=True, admin_cidrs=["192.0.2.0/24"])
    assert "(2001:db8::5)" in problems(firewall_rules=locked, ssh_connection="2001:db8::5 5000 2001:db8::1 22")[0]
    open_v6 = rules(admin_only=True, admin_cidrs=["2001:db8::/64"])
    assert problems(firewall_rules=open_v6, ssh_connection="2001:db8::5 5000 2001:db8::1 22") == []


def test_ssh_port_other_than_the_connected_one_is_refused():
    found = problems(ssh_port=2222, firewall_rules=rules(ssh_port=2222))
    assert found == ["Ansible connects on port 22 but sshd and the firewall would use hardening_ssh_port 2222: "
                     "set hardening_ssh_port: 22, or change ansible_port in the inventory once sshd listens on "
                     "the new port"]


def test_port_from_ansible_port_when_the_session_is_unknown():
    assert "connects on port 2200" in problems(ssh_connection="", connection="ssh", ansible_port="2200")[0]
    assert "connects on port 22 " in problems(ssh_port=2222, ssh_connection="", connection="ssh")[0]
    # podman/local connections: no SSH port to keep.
    assert problems(ssh_port=2222, ssh_connection="", connection="podman", ansible_port=22) == []
    # Nothing to check when the role touches neither sshd nor the firewall.
    assert problems(ssh_port=2222, ssh_enabled=False, firewall_enabled=False) == []


def test_session_port_wins_over_ansible_port():
    # A jump host or port forward: the session shows the port sshd really answered on.
    assert problems(ssh_connection="192.0.2.10 5000 10.0.0.1 22", ansible_port=2200) == []


@pytest.mark.parametrize("value, expected", [
    ("192.0.2.10 50000 10.0.0.1 22", ("192.0.2.10", 22)),
    ("fe80::1%eth0 50000 fe80::2%eth0 2222", ("fe80::1", 2222)),
    ("", (None, None)), (None, (None, None)), ("garbage", (None, None)), ("a b c d", (None, None)),
])
def test_parse_ssh_connection(value, expected):
    assert parse_ssh_connection(value) == expected


def test_bad_inputs_fail_with_the_filter_name():
    with pytest.raises(AnsibleFilterError, match="ssh_lockout_problems: input must be a dict"):
        ssh_lockout_problems(["admin"], ssh_port=22)
    with pytest.raises(AnsibleFilterError, match="hardening_controller_address"):
        problems(controller_address="controller.example")
    with pytest.raises(AnsibleFilterError, match="ssh_port must be a port number"):
        problems(ssh_port="ssh")


def test_filter_is_registered():
    assert FilterModule().filters()["ssh_lockout_problems"] is ssh_lockout_problems
