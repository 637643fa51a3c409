# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.hardening_firewall_services: every service the hardening role's firewall admits."""

from __future__ import annotations

DOCUMENTATION = r"""
name: hardening_firewall_services
short_description: The services the hardening firewall admits, for the platform's runtime
description:
  - Returns the services of the C(ailab.stack.hardening) role's firewall, in the shape the
    C(ailab.stack.firewall_rules) filter takes, before that filter picks what applies to one host.
  - On every host SSH (O(ssh_port), from O(ssh_admin_only) C(admin) networks or from anywhere); HTTP
    and HTTPS (80, 443) on the hosts of O(ingress_group) from anywhere; PostgreSQL
    (O(platform_ports)C(.postgresql)) on C(db_servers) from C(ai_servers) and C(db_servers).
  - Runtime C(kubernetes) adds the ports between cluster members of the distribution
    (O(cluster_services)C([)O(distribution)C(])) and C(k8s-pods), everything from O(pod_cidrs) to the
    hosts of O(cluster_members). The services named in O(controller_services) (the Kubernetes API)
    also admit O(controller_address), so the controller can still apply objects after hardening.
  - Runtime C(systemd) adds Ollama and Open WebUI (O(platform_ports)C(.ollama), C(.openwebui)) on
    C(ai_servers), from C(ai_servers) only; Open WebUI not when O(ingress_host) is set (nginx of the
    C(ailab.stack.ingress) role serves it on 80/443 and Open WebUI listens on loopback only).
  - Then C(tailscale) (everything arriving on O(tailscale_interface)) when that is set, and last
    O(custom_rules) as they are.
options:
  _input:
    description: The platform's runtime, C(systemd) or C(kubernetes).
    type: str
    required: true
  ssh_port:
    description: Port of sshd.
    type: int
    required: true
  ssh_admin_only:
    description:
      - SSH only from the C(admin) source (the firewall's admin networks) instead of C(any).
      - Strings such as C("false") or C("no") are read as booleans, not by their truthiness.
    type: bool
    default: false
  controller_address:
    description: Address (or network) the controller connects from; empty for none. Runtime C(kubernetes) only.
    type: str
    default: ""
  controller_services:
    description: Names of the cluster services that also admit O(controller_address).
    type: list
    elements: str
    default: [k8s-api]
  ingress_host:
    description: Public name of Open WebUI behind the ingress proxy (C(ailab_ingress_host)); empty for none.
    type: str
    default: ""
  ingress_group:
    description: Inventory group whose hosts accept HTTP and HTTPS from anywhere.
    type: str
    default: ai_servers
  platform_ports:
    description: Ports of the platform's services; key C(postgresql) always, C(ollama) and C(openwebui) for runtime C(systemd).
    type: dict
    required: true
  cluster_services:
    description: Kubernetes distribution to its services between cluster members (read for runtime C(kubernetes) only).
    type: dict
    default: {}
  distribution:
    description: Kubernetes distribution of the cluster, a key of O(cluster_services).
    type: str
    default: k3s
  cluster_members:
    description: Inventory groups of the cluster's nodes (the hosts that accept O(pod_cidrs)).
    type: list
    elements: str
    default: [k8s_servers, k8s_agents]
  pod_cidrs:
    description: Pod and service networks of the cluster.
    type: list
    elements: str
    default: []
  tailscale_interface:
    description: Interface to trust everything from; empty for none.
    type: str
    default: ""
  custom_rules:
    description: More services, appended as they are.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Show the allow-list of this host
  ansible.builtin.debug:
    msg: >-
      {{ 'systemd' | ailab.stack.hardening_firewall_services(ssh_port=22,
           platform_ports={'postgresql': 5432, 'ollama': 11434, 'openwebui': 8080})
         | ailab.stack.firewall_rules(hostvars, groups, inventory_hostname) }}
"""

RETURN = r"""
_value:
  description: The services, in the order described above.
  type: list
  elements: dict
  sample:
    - {name: ssh, port: 22, from: [any]}
    - {name: http, port: 80, to: [ai_servers]}
    - {name: https, port: 443, to: [ai_servers]}
    - {name: postgresql, port: 5432, to: [db_servers], from: [ai_servers, db_servers]}
    - {name: ollama, port: 11434, to: [ai_servers], from: [ai_servers]}
    - {name: openwebui, port: 8080, to: [ai_servers], from: [ai_servers]}
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

# Inventory groups of the platform's hosts.
AI_SERVERS = "ai_servers"
DB_SERVERS = "db_servers"
HTTP_PORT = 80
HTTPS_PORT = 443
CONTROLLER_SERVICES = ("k8s-api",)


def _fail(msg):
    raise AnsibleFilterError(f"hardening_firewall_services: {msg}")


def _list(value, name):
    if isinstance(value, (str, Mapping)) or not hasattr(value, "__iter__"):
        _fail(f"{name} must be a list, got {type(value).__name__}")
    return list(value)


def _port(platform_ports, service):
    if not isinstance(platform_ports, Mapping) or service not in platform_ports:
        _fail(f"platform_ports has no port for {service}")
    return platform_ports[service]


def _with_controller(service, address, names):
    if not isinstance(service, Mapping) or service.get("name") not in list(names or []):
        return service
    sources = service.get("from", ["any"])
    sources = [sources] if isinstance(sources, str) else list(sources)
    if "any" in sources or address in sources:
        return service
    return dict(service, **{"from": sources + [address]})


def hardening_firewall_services(runtime, ssh_port, platform_ports, ssh_admin_only=False, ingress_group=AI_SERVERS,
                                cluster_services=None, distribution="k3s", cluster_members=None, pod_cidrs=None,
                                tailscale_interface="", custom_rules=None, controller_address="",
                                controller_services=CONTROLLER_SERVICES, ingress_host=""):
    """The services of the hardening firewall, in order."""
    try:
        ssh_admin_only = boolean(ssh_admin_only)
    except TypeError as exc:
        _fail(f"ssh_admin_only: {exc}")
    services = [
        {"name": "ssh", "port": ssh_port, "from": ["admin"] if ssh_admin_only else ["any"]},
        {"name": "http", "port": HTTP_PORT, "to": [ingress_group]},
        {"name": "https", "port": HTTPS_PORT, "to": [ingress_group]},
        {"name": "postgresql", "port": _port(platform_ports, "postgresql"), "to": [DB_SERVERS],
         "from": [AI_SERVERS, DB_SERVERS]},
    ]
    if runtime == "kubernetes":
        tables = cluster_services or {}
        if not isinstance(tables, Mapping) or distribution not in tables:
            _fail(f"cluster_services has no services for distribution {distribution!r}")
        members = ["k8s_servers", "k8s_agents"] if cluster_members is None else cluster_members
        cluster = _list(tables[distribution], f"cluster_services[{distribution!r}]")
        if controller_address:
            cluster = [_with_controller(service, str(controller_address), controller_services) for service in cluster]
        services += cluster
        services.append({"name": "k8s-pods", "to": members, "from": [] if pod_cidrs is None else pod_cidrs})
    if runtime == "systemd":
        services.append({"name": "ollama", "port": _port(platform_ports, "ollama"), "to": [AI_SERVERS], "from": [AI_SERVERS]})
        if not ingress_host:
            services.append({"name": "openwebui", "port": _port(platform_ports, "openwebui"), "to": [AI_SERVERS],
                             "from": [AI_SERVERS]})
    if tailscale_interface:
        services.append({"name": "tailscale", "interface": tailscale_interface})
    return services + _list(custom_rules or [], "custom_rules")


class FilterModule:
    """ailab.stack hardening firewall filters."""

    def filters(self):
        return {"hardening_firewall_services": hardening_firewall_services}
