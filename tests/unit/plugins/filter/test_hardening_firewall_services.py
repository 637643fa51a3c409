# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.hardening_firewall_services filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.firewall_rules import firewall_rules
from ansible_collections.ailab.stack.plugins.filter.hardening_firewall_services import (
    FilterModule, hardening_firewall_services)

MEMBERS = ["k8s_servers", "k8s_agents"]
# A cut of the role's __hardening_firewall_cluster_services (roles/hardening/vars/main.yml).
CLUSTER = {
    "k3s": [{"name": "k8s-api", "port": 6443, "to": ["k8s_servers"], "from": MEMBERS + ["admin"]},
            {"name": "etcd", "port": "2379:2380", "to": ["k8s_servers"], "from": ["k8s_servers"]},
            {"name": "flannel-vxlan", "port": 8472, "proto": "udp", "to": MEMBERS, "from": MEMBERS}],
    "microk8s": [{"name": "k8s-api", "port": 16443, "to": ["k8s_servers"], "from": MEMBERS + ["admin"]}],
}
PORTS = {"ollama": 11434, "openwebui": 8080, "postgresql": 5432}
BASE = [
    {"name": "ssh", "port": 22, "from": ["any"]},
    {"name": "http", "port": 80, "to": ["ai_servers"]},
    {"name": "https", "port": 443, "to": ["ai_servers"]},
    {"name": "postgresql", "port": 5432, "to": ["db_servers"], "from": ["ai_servers", "db_servers"]},
]
PLATFORM = [
    {"name": "ollama", "port": 11434, "to": ["ai_servers"], "from": ["ai_servers"]},
    {"name": "openwebui", "port": 8080, "to": ["ai_servers"], "from": ["ai_servers"]},
]


def services(runtime, **kwargs):
    args = {"ssh_port": 22, "platform_ports": PORTS, "ssh_admin_only": False, "ingress_group": "ai_servers",
            "cluster_services": CLUSTER, "distribution": "k3s", "cluster_members": MEMBERS,
            "pod_cidrs": ["10.42.0.0/16", "10.43.0.0/16"], "tailscale_interface": "", "custom_rules": []}
    return hardening_firewall_services(runtime, **{**args, **kwargs})


def test_systemd_gets_the_platform_services_and_no_cluster_ports():
    assert services("systemd") == BASE + PLATFORM


def test_systemd_behind_the_ingress_opens_no_open_webui_port():
    """nginx (ailab.stack.ingress) serves Open WebUI on 80/443; Open WebUI listens on loopback."""
    assert services("systemd", ingress_host="chat.example.org") == BASE + PLATFORM[:1]


def test_kubernetes_gets_the_distributions_cluster_ports_and_the_pod_networks():
    pods = {"name": "k8s-pods", "to": MEMBERS, "from": ["10.42.0.0/16", "10.43.0.0/16"]}
    assert services("kubernetes") == BASE + CLUSTER["k3s"] + [pods]
    microk8s = services("kubernetes", distribution="microk8s", pod_cidrs=["10.1.0.0/16"])
    assert [s["name"] for s in microk8s] == ["ssh", "http", "https", "postgresql", "k8s-api", "k8s-pods"]
    assert microk8s[4]["port"] == 16443 and microk8s[5]["from"] == ["10.1.0.0/16"]


def test_cluster_services_of_another_distribution_are_not_read_outside_kubernetes():
    assert services("systemd", distribution="kind", cluster_services={}) == BASE + PLATFORM


def test_ssh_from_admin_networks_only():
    assert services("systemd", ssh_admin_only=True)[0] == {"name": "ssh", "port": 22, "from": ["admin"]}


def test_ssh_port_ingress_group_and_platform_ports_are_taken_as_given():
    got = services("systemd", ssh_port=2222, ingress_group="k8s_servers",
                   platform_ports={"postgresql": 5433, "ollama": "11500", "openwebui": 3000})
    assert [(s["name"], s["port"]) for s in got] == [("ssh", 2222), ("http", 80), ("https", 443), ("postgresql", 5433),
                                                     ("ollama", "11500"), ("openwebui", 3000)]
    assert got[1]["to"] == got[2]["to"] == ["k8s_servers"]


def test_tailscale_then_the_custom_rules_come_last():
    custom = [{"name": "node-exporter", "port": 9100, "from": ["ai_servers"], "to": ["ai_servers"]}]
    got = services("kubernetes", tailscale_interface="tailscale0", custom_rules=custom)
    assert got[-2:] == [{"name": "tailscale", "interface": "tailscale0"}] + custom
    assert services("systemd", custom_rules=custom)[-1] == custom[0]


def test_the_rules_of_an_ha_cluster_through_firewall_rules():
    """The shape is what firewall_rules takes: a server gets etcd from servers, an agent does not."""
    hostvars = {"cp1": {"ansible_host": "192.0.2.11"}, "gpu1": {"ansible_host": "192.0.2.21"}}
    groups = {"k8s_servers": ["cp1"], "k8s_agents": ["gpu1"], "ai_servers": ["cp1", "gpu1"], "db_servers": ["cp1"]}
    rules = {host: {(r["name"], r["from"]) for r in firewall_rules(services("kubernetes"), hostvars, groups, host)}
             for host in ("cp1", "gpu1")}
    assert ("etcd", "192.0.2.11") in rules["cp1"] and not any(name == "etcd" for name, _source in rules["gpu1"])
    assert ("postgresql", "192.0.2.21") in rules["cp1"] and not any(n == "postgresql" for n, _source in rules["gpu1"])
    assert ("k8s-pods", "10.42.0.0/16") in rules["gpu1"] and ("ssh", "any") in rules["gpu1"]


@pytest.mark.parametrize("runtime, changes, message", [
    ("kubernetes", {"distribution": "kind"}, "cluster_services has no services for distribution 'kind'"),
    ("kubernetes", {"cluster_services": {"k3s": "6443"}}, r"cluster_services\['k3s'\] must be a list"),
    ("systemd", {"platform_ports": {"postgresql": 5432}}, "platform_ports has no port for ollama"),
    ("kubernetes", {"platform_ports": {}}, "platform_ports has no port for postgresql"),
    ("systemd", {"custom_rules": {"name": "x"}}, "custom_rules must be a list"),
])
def test_bad_input_fails_with_a_clear_message(runtime, changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        services(runtime, **changes)


def test_filter_is_registered():
    assert FilterModule().filters()["hardening_firewall_services"] is hardening_firewall_services


@pytest.mark.parametrize("value", ["false", "no", "False", "0", "off", False, 0])
def test_ssh_admin_only_written_as_a_false_string_keeps_ssh_open(value):
    # A string is truthy; the filter must read it as the boolean it spells.
    assert services("systemd", ssh_admin_only=value)[0]["from"] == ["any"]


@pytest.mark.parametrize("value", ["true", "yes", "1", True])
def test_ssh_admin_only_written_as_a_true_string_limits_ssh(value):
    assert services("systemd", ssh_admin_only=value)[0]["from"] == ["admin"]


def test_ssh_admin_only_that_is_no_boolean_is_refused():
    with pytest.raises(AnsibleFilterError, match="ssh_admin_only"):
        services("systemd", ssh_admin_only="maybe")


def test_kubernetes_api_admits_the_controller():
    api = services("kubernetes", controller_address="192.0.2.10")[4]
    assert api == {"name": "k8s-api", "port": 6443, "to": ["k8s_servers"], "from": MEMBERS + ["admin", "192.0.2.10"]}
    # Only the API: etcd and the overlay stay between members.
    others = services("kubernetes", controller_address="192.0.2.10")[5:7]
    assert others == CLUSTER["k3s"][1:]
    # The role's vars are not changed in place.
    assert CLUSTER["k3s"][0]["from"] == MEMBERS + ["admin"]


def test_controller_rule_reaches_the_api_server_only():
    groups = {"k8s_servers": ["server"], "k8s_agents": ["agent"], "ai_servers": [], "db_servers": []}
    hostvars = {"server": {"ansible_host": "10.0.0.1"}, "agent": {"ansible_host": "10.0.0.2"}}
    svc = services("kubernetes", controller_address="192.0.2.10")
    server = firewall_rules(svc, hostvars, groups, "server")
    agent = firewall_rules(svc, hostvars, groups, "agent")
    assert [(r["name"], r["port"]) for r in server if r["from"] == "192.0.2.10"] == [("k8s-api", "6443")]
    assert not [r for r in agent if r["from"] == "192.0.2.10"]


def test_no_controller_rule_outside_kubernetes_or_without_an_address():
    assert services("systemd", controller_address="192.0.2.10") == BASE + PLATFORM
    assert services("kubernetes", controller_address="")[4] == CLUSTER["k3s"][0]
