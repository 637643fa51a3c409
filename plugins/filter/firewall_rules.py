# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.firewall_rules: the inbound allow-list of one host, from inventory groups."""

from __future__ import annotations

DOCUMENTATION = r"""
name: firewall_rules
short_description: Inbound allow rules for one host, computed from services and inventory groups
description:
  - Takes a list of I(services) (what listens, on which hosts, reachable from whom) and returns the
    flat list of allow rules that apply to O(host), one rule per source address.
  - A service applies to O(host) when O(host) is a member of one of the groups in its C(to) list
    (a missing or empty C(to) means every host). The key is not C(on), which YAML 1.1 reads as true.
  - Each entry of a service's C(from) list is C(any), C(admin) (every CIDR of O(admin_cidrs); nothing
    when that list is empty), a literal IPv4/IPv6 address or CIDR, or an inventory group name
    (every member's address; an unknown or empty group gives nothing).
  - The address of a host is its C(ansible_host) when that is an IP address, otherwise the
    C(default_ipv4) address from its gathered facts. A member without either is an error, because
    a silently missing address would cut a cluster member off.
  - The result is sorted and has no duplicates, so it is stable between runs.
options:
  _input:
    description:
      - The services. Each is a dict with C(name) (required, used in the rule comment), C(port)
        (a port C(6443), a range C(2379:2380), or omitted for every port), C(proto) (C(tcp),
        C(udp) or C(any); default C(tcp), C(any) when C(port) is omitted), C(from) (list, default
        C([any])), C(to) (list of groups) and C(interface) (accept everything arriving on it).
    type: list
    elements: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  host:
    description: The host the rules are for, usually C(inventory_hostname).
    type: str
    required: true
  admin_cidrs:
    description: What the C(admin) source expands to.
    type: list
    elements: str
    default: []
  comment_prefix:
    description: Prefix of every rule comment (lets you tell these rules from others).
    type: str
    default: ailab
"""

EXAMPLES = r"""
- name: Show the allow-list of this host
  ansible.builtin.debug:
    msg: >-
      {{ [{'name': 'k8s-api', 'port': 6443, 'to': ['k8s_servers'], 'from': ['k8s_servers', 'k8s_agents', 'admin']}]
         | ailab.stack.firewall_rules(hostvars, groups, inventory_hostname, admin_cidrs=['192.0.2.0/24']) }}
"""

RETURN = r"""
_value:
  description:
    - Allow rules, sorted. C(port) is an empty string and C(proto) C(any) for "every port".
    - C(ufw) is the rule as C(ufw show added) prints it (without C(ufw)), C(nft) an nftables statement.
  type: list
  elements: dict
  sample:
    - name: k8s-api
      port: "6443"
      proto: tcp
      from: 10.0.0.11
      interface: ""
      comment: ailab k8s-api
      ufw: allow from 10.0.0.11 to any port 6443 proto tcp comment 'ailab k8s-api'
      nft: ip saddr 10.0.0.11 tcp dport 6443 accept comment "ailab k8s-api"
"""

import ipaddress
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

PROTOCOLS = ("tcp", "udp", "any")
PORT_RE = re.compile(r"^(\d{1,5})(?::(\d{1,5}))?$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SERVICE_KEYS = {"name", "port", "proto", "from", "to", "interface"}


def _fail(msg):
    # Built-in services come from hardening_firewall_* settings, own rules from
    # hardening_firewall_custom_rules: name both, so the message leads to the variable.
    raise AnsibleFilterError(f"firewall_rules: {msg} (check hardening_firewall_custom_rules, or the"
                             " hardening_firewall_* setting the service comes from)")


def _is_address(value):
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False
    return True


def _port(service):
    """'6443' or '2379:2380' (validated), or '' for every port."""
    port = service.get("port")
    if port is None or port == "":
        return ""
    match = PORT_RE.match(str(port))
    numbers = [int(n) for n in match.groups() if n is not None] if match else []
    if not numbers or not all(1 <= n <= 65535 for n in numbers) or numbers != sorted(numbers):
        _fail(f"service {service['name']!r}: port must be 1-65535 or a range 'low:high', got {port!r}")
    return ":".join(str(n) for n in numbers)


def _proto(service, port):
    proto = str(service.get("proto") or ("tcp" if port else "any")).lower()
    if proto not in PROTOCOLS:
        _fail(f"service {service['name']!r}: proto must be one of {', '.join(PROTOCOLS)}, got {proto!r}")
    if proto == "any" and ":" in port:
        _fail(f"service {service['name']!r}: a port range needs proto tcp or udp")
    return proto


def host_address(hostvars, name):
    """ansible_host if it is an IP address, else the default IPv4 address from the host's facts."""
    host = hostvars.get(name)
    if not isinstance(host, Mapping):
        _fail(f"host {name!r} is not in the inventory")
    ansible_host = host.get("ansible_host")
    if ansible_host and _is_address(ansible_host) and "/" not in str(ansible_host):
        return str(ansible_host)
    facts = host.get("ansible_facts") or {}
    default_ipv4 = facts.get("default_ipv4") or host.get("ansible_default_ipv4") or {}
    if default_ipv4.get("address"):
        return str(default_ipv4["address"])
    _fail(f"no address for host {name!r}: set its ansible_host to an IP address, or gather its facts "
          "in the same play (with --limit, enable fact caching)")
    return None  # not reached


def _canonical_address(source):
    """A one-address network is written as the bare address (10.0.0.1/32 -> 10.0.0.1), the way
    `ufw show added` prints it; otherwise the rule would look missing on every run."""
    net = ipaddress.ip_network(source, strict=False)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else source


def _sources(service, hostvars, groups, admin_cidrs):
    sources = service.get("from", ["any"])
    if isinstance(sources, str):
        sources = [sources]
    result = []
    for source in sources:
        source = str(source)
        if source == "any":
            result.append("any")
        elif source == "admin":
            result.extend(str(c) for c in admin_cidrs)
        elif _is_address(source):
            result.append(_canonical_address(source))
        else:
            result.extend(host_address(hostvars, member) for member in groups.get(source, []))
    return result


def ufw_args(rule):
    """The rule in the canonical form `ufw show added` prints it (without the leading `ufw `)."""
    words = ["allow"]
    if rule["interface"]:
        words += ["in", "on", rule["interface"]]
    if rule["port"] and rule["from"] == "any" and not rule["interface"]:
        words.append(rule["port"] if rule["proto"] == "any" else f"{rule['port']}/{rule['proto']}")
    else:
        if rule["from"] != "any":
            words += ["from", rule["from"]]
        if rule["port"]:
            words += ["to", "any", "port", rule["port"]]
        if rule["proto"] != "any":
            words += ["proto", rule["proto"]]
    return " ".join(words + ["comment", f"'{rule['comment']}'"])


def nft_statement(rule):
    """The rule as one statement of an nftables chain."""
    words = []
    if rule["interface"]:
        words.append(f'iifname "{rule["interface"]}"')
    if rule["from"] != "any":
        family = "ip6" if ipaddress.ip_network(rule["from"], strict=False).version == 6 else "ip"
        words.append(f"{family} saddr {rule['from']}")
    if rule["port"]:
        port = rule["port"].replace(":", "-")
        words.append(f"{rule['proto']} dport {port}" if rule["proto"] != "any" else f"th dport {port}")
    elif rule["proto"] != "any":
        words.append(f"meta l4proto {rule['proto']}")
    return " ".join(words + ["accept", f'comment "{rule["comment"]}"'])


def firewall_rules(services, hostvars, groups, host, admin_cidrs=None, comment_prefix="ailab"):
    """The allow rules of `host`: one dict per (service, source address)."""
    if not isinstance(services, list):
        _fail(f"services must be a list, got {type(services).__name__}")
    admin_cidrs = list(admin_cidrs or [])
    for cidr in admin_cidrs:
        if not _is_address(cidr):
            _fail(f"admin CIDR {cidr!r} is not an IP address or network")
    rules = {}
    for service in services:
        if not isinstance(service, Mapping) or not service.get("name"):
            _fail(f"every service needs a name, got {service!r}")
        if not NAME_RE.match(str(service["name"])):
            _fail(f"service name {service['name']!r} may only contain letters, digits, '.', '_' and '-'")
        unknown = set(service) - SERVICE_KEYS
        if unknown:
            hint = " (an unquoted YAML key 'on' reads as true: write 'to')" if True in unknown else ""
            _fail(f"service {service['name']!r}: unknown keys {sorted(unknown, key=str)} (allowed: {sorted(SERVICE_KEYS)}){hint}")
        targets = service.get("to") or []
        if targets and not any(host in groups.get(group, []) for group in targets):
            continue
        port = _port(service)
        proto = _proto(service, port)
        interface = str(service.get("interface") or "")
        if interface and not NAME_RE.match(interface):
            _fail(f"service {service['name']!r}: bad interface name {interface!r}")
        for source in _sources(service, hostvars, groups, admin_cidrs):
            rule = {"name": str(service["name"]), "port": port, "proto": proto, "from": source,
                    "interface": interface, "comment": f"{comment_prefix} {service['name']}"}
            rule["ufw"] = ufw_args(rule)
            rule["nft"] = nft_statement(rule)
            rules.setdefault((port, proto, source, interface), rule)
    return [rules[key] for key in sorted(rules)]


class FilterModule:
    """ailab.stack firewall filters."""

    def filters(self):
        return {"firewall_rules": firewall_rules}
