# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.ssh_lockout_problems: why a hardening run would lock the controller out."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ssh_lockout_problems
short_description: Reasons a hardening run would lock the controller out of a host
description:
  - Returns one sentence per way the C(ailab.stack.hardening) role's SSH and firewall settings would
    stop the controller from logging in again; an empty list means the run is safe.
  - SSH keys (with O(ssh_enabled)) - the guarded user needs an authorized key, a group of
    O(allow_groups) (when that is not empty) and, for C(root), O(permit_root_login) other than C(no).
  - SSH port (with O(ssh_enabled) or O(firewall_enabled)) - the port Ansible connected on (the
    server port of O(ssh_connection), else O(ansible_port) for SSH connections) must be O(ssh_port),
    the one sshd listens on and the firewall opens.
  - Allow-list (with O(firewall_enabled)) - some rule of O(firewall_rules) must admit TCP to
    O(ssh_port) from the controller's address (O(controller_address), else the client address of
    O(ssh_connection)). Loopback is always admitted (both backends accept everything on C(lo)).
    Rules that match an interface only are not counted (the controller's interface is unknown).
options:
  _input:
    description: The guarded user, as read on the host - keys C(user), C(home), C(groups) (list) and C(keys) (number of authorized keys).
    type: dict
    required: true
  ssh_enabled:
    description: The role manages sshd_config.
    type: bool
    default: true
  firewall_enabled:
    description: The role manages the firewall.
    type: bool
    default: true
  ssh_port:
    description: Port sshd listens on and the firewall opens (hardening_ssh_port).
    type: int
    required: true
  allow_groups:
    description: hardening_ssh_allow_groups.
    type: list
    elements: str
    default: []
  permit_root_login:
    description: hardening_ssh_permit_root_login.
    type: str
    default: "no"
  firewall_rules:
    description: The allow rules of the host (output of C(ailab.stack.firewall_rules)).
    type: list
    elements: dict
    default: []
  ssh_connection:
    description: The SSH_CONNECTION of Ansible's login session ("client_ip client_port server_ip server_port"); empty when unknown.
    type: str
    default: ""
  controller_address:
    description: The controller's address as the host sees it; overrides the client address of O(ssh_connection).
    type: str
    default: ""
  connection:
    description: ansible_connection of the host.
    type: str
    default: ssh
  ansible_port:
    description: ansible_port of the host (used when O(ssh_connection) is empty and the connection is SSH).
    type: raw
"""

EXAMPLES = r"""
- name: Fail when the run would lock the controller out
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: >-
      {{ {'user': 'admin', 'home': '/home/admin', 'groups': ['sudo'], 'keys': 1}
         | ailab.stack.ssh_lockout_problems(ssh_port=22, allow_groups=['sudo'], firewall_rules=__rules,
                                            ssh_connection='192.0.2.10 50000 192.0.2.1 22') }}
"""

RETURN = r"""
_value:
  description: The problems, each naming the variable to change; empty when nothing locks the controller out.
  type: list
  elements: str
  sample:
    - "the controller (192.0.2.10) is not in the SSH allow-list of the firewall (sources: 198.51.100.0/24)"
"""

import ipaddress
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

SSH_CONNECTIONS = ("ssh", "ansible.builtin.ssh", "paramiko", "paramiko_ssh", "ansible.builtin.paramiko_ssh",
                   "ansible.legacy.ssh")
DEFAULT_SSH_PORT = 22


def _fail(msg):
    raise AnsibleFilterError(f"ssh_lockout_problems: {msg}")


def _int(value, name):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        _fail(f"{name} must be a port number, got {value!r}")
    return None  # not reached


def parse_ssh_connection(value):
    """(client address, server port) of an SSH_CONNECTION value; (None, None) when empty or malformed."""
    words = str(value or "").split()
    if len(words) != 4:
        return None, None
    try:
        address = str(ipaddress.ip_address(words[0].split("%")[0]))
        port = int(words[3])
    except ValueError:
        return None, None
    return address, port


def _covers(rule_port, port):
    if not rule_port:
        return True
    low, high = (str(rule_port).split(":") + [""])[:2]
    return int(low) <= port <= int(high or low)


def _admits(rule, address, port):
    if rule.get("interface"):
        return False
    if rule.get("proto", "tcp") not in ("tcp", "any") or not _covers(rule.get("port", ""), port):
        return False
    source = rule.get("from", "any")
    if source == "any":
        return True
    net = ipaddress.ip_network(str(source), strict=False)
    addr = ipaddress.ip_address(address)
    return addr.version == net.version and addr in net


def ssh_lockout_problems(user, ssh_port, ssh_enabled=True, firewall_enabled=True, allow_groups=None,
                         permit_root_login="no", firewall_rules=None, ssh_connection="", controller_address="",
                         connection="ssh", ansible_port=None):
    """The reasons the run would lock the controller out; empty when it is safe."""
    if not isinstance(user, Mapping):
        _fail(f"input must be a dict (user, home, groups, keys), got {type(user).__name__}")
    ssh_enabled, firewall_enabled = boolean(ssh_enabled), boolean(firewall_enabled)
    ssh_port = _int(ssh_port, "ssh_port")
    name = str(user.get("user", ""))
    problems = []

    if ssh_enabled:
        groups = list(user.get("groups") or [])
        allow_groups = list(allow_groups or [])
        if _int(user.get("keys") or 0, "keys") <= 0:
            problems.append(f"user {name}: no key in {user.get('home', '~')}/.ssh/authorized_keys")
        if allow_groups and not set(allow_groups) & set(groups):
            problems.append(f"user {name}: not in a group of hardening_ssh_allow_groups: {', '.join(allow_groups)}")
        if name == "root" and str(permit_root_login) == "no":
            problems.append("user root: root login is off (hardening_ssh_permit_root_login: no)")

    session_address, session_port = parse_ssh_connection(ssh_connection)
    connected_port = session_port
    if connected_port is None and str(connection) in SSH_CONNECTIONS:
        connected_port = DEFAULT_SSH_PORT if ansible_port in (None, "") else _int(ansible_port, "ansible_port")
    if (ssh_enabled or firewall_enabled) and connected_port is not None and connected_port != ssh_port:
        problems.append(f"Ansible connects on port {connected_port} but sshd and the firewall would use "
                        f"hardening_ssh_port {ssh_port}: set hardening_ssh_port: {connected_port}, or change "
                        "ansible_port in the inventory once sshd listens on the new port")

    address = str(controller_address or "") or session_address
    if address:
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            _fail(f"controller address {address!r} is not an IP address (hardening_controller_address)")
    if firewall_enabled and address and not ipaddress.ip_address(address).is_loopback:
        rules = list(firewall_rules or [])
        if not any(_admits(rule, address, ssh_port) for rule in rules):
            sources = sorted({str(r.get("from")) for r in rules if r.get("name") == "ssh"})
            problems.append(f"the controller ({address}) is not in the SSH allow-list of the firewall "
                            f"(sources: {', '.join(sources) or 'none'}): add its network to hardening_admin_cidrs, "
                            "or set hardening_firewall_ssh_admin_only: false")
    return problems


class FilterModule:
    """ailab.stack SSH lockout guard filters."""

    def filters(self):
        return {"ssh_lockout_problems": ssh_lockout_problems}
