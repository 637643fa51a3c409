# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.host_cidrs: the addresses of inventory hosts as single-address CIDRs."""

from __future__ import annotations

DOCUMENTATION = r"""
name: host_cidrs
short_description: The addresses of inventory hosts as /32 (IPv4) or /128 (IPv6) CIDRs
description:
  - For each host, its C(ansible_host) when that is an IP address, else the address of its
    C(ansible_default_ipv4) fact when facts were gathered. Hosts with neither are left out.
  - The shared layer uses it for C(ailab_api_server_cidrs), the sources NetworkPolicies admit
    for the Kubernetes API server's service proxy (the verify gates).
options:
  _input:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) of the play.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The API server nodes as CIDRs
  ansible.builtin.debug:
    msg: "{{ groups['k8s_servers'] | ailab.stack.host_cidrs(hostvars) }}"
"""

RETURN = r"""
_value:
  description: One CIDR per host whose address is known, in the order of the input, without duplicates.
  type: list
  elements: str
  sample: [10.0.0.11/32, 10.0.0.12/32]
"""

import ipaddress
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _address(hostvars):
    for candidate in (hostvars.get("ansible_host"), (hostvars.get("ansible_default_ipv4") or {}).get("address")):
        try:
            return ipaddress.ip_address(str(candidate))
        except ValueError:
            continue
    return None


def host_cidrs(hosts, hostvars):
    """CIDRs of the hosts' addresses."""
    if isinstance(hosts, (str, Mapping)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError(f"host_cidrs: expects a list of host names, got {type(hosts).__name__}")
    cidrs = []
    for host in hosts:
        address = _address(hostvars[host]) if host in hostvars else None
        if address is not None:
            cidr = f"{address}/{address.max_prefixlen}"
            if cidr not in cidrs:
                cidrs.append(cidr)
    return cidrs


class FilterModule:
    """ailab.stack host filters."""

    def filters(self):
        return {"host_cidrs": host_cidrs}
