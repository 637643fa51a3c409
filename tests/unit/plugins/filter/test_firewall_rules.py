# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.firewall_rules filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.firewall_rules import FilterModule, firewall_rules

HOSTVARS = {
    "srv1": {"ansible_host": "10.0.0.1"},
    "srv2": {"ansible_host": "srv2.example.net", "ansible_facts": {"default_ipv4": {"address": "10.0.0.2"}}},
    "agent1": {"ansible_default_ipv4": {"address": "10.0.0.3"}},   # inject_facts_as_vars: true
    "db1": {"ansible_host": "2001:db8::5"},
    "nofacts": {"ansible_host": "nofacts.example.net"},
}
GROUPS = {
    "all": ["srv1", "srv2", "agent1", "db1"],
    "k8s_servers": ["srv1", "srv2"],
    "k8s_agents": ["agent1"],
    "db_servers": ["db1"],
    "broken": ["nofacts"],
}
K3S = [
    {"name": "ssh", "port": 22, "from": ["any"]},
    {"name": "k8s-api", "port": 6443, "to": ["k8s_servers"], "from": ["k8s_servers", "k8s_agents", "admin"]},
    {"name": "etcd", "port": "2379:2380", "to": ["k8s_servers"], "from": ["k8s_servers"]},
    {"name": "flannel-vxlan", "port": 8472, "proto": "udp", "to": ["k8s_servers", "k8s_agents"],
     "from": ["k8s_servers", "k8s_agents"]},
]


def rules_of(host, services=None, **kwargs):
    return firewall_rules(K3S if services is None else services, HOSTVARS, GROUPS, host, **kwargs)


def triples(rules):
    return {(r["port"], r["proto"], r["from"]) for r in rules}


def test_server_gets_cluster_ports_from_members_only():
    assert triples(rules_of("srv1")) == {
        ("22", "tcp", "any"),
        ("6443", "tcp", "10.0.0.1"), ("6443", "tcp", "10.0.0.2"), ("6443", "tcp", "10.0.0.3"),
        ("2379:2380", "tcp", "10.0.0.1"), ("2379:2380", "tcp", "10.0.0.2"),
        ("8472", "udp", "10.0.0.1"), ("8472", "udp", "10.0.0.2"), ("8472", "udp", "10.0.0.3"),
    }


def test_agent_gets_no_server_only_ports():
    assert triples(rules_of("agent1")) == {
        ("22", "tcp", "any"),
        ("8472", "udp", "10.0.0.1"), ("8472", "udp", "10.0.0.2"), ("8472", "udp", "10.0.0.3"),
    }


def test_host_outside_every_group_gets_only_unrestricted_services():
    assert triples(rules_of("db1")) == {("22", "tcp", "any")}


def test_admin_expands_to_admin_cidrs_and_to_nothing_without_them():
    with_admin = rules_of("srv1", admin_cidrs=["192.0.2.0/24", "2001:db8:1::/48"])
    assert {r["from"] for r in with_admin if r["port"] == "6443"} == {
        "10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.0/24", "2001:db8:1::/48"}
    assert {r["from"] for r in rules_of("srv1") if r["port"] == "6443"} == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}


def test_ssh_from_admin_only():
    rules = rules_of("agent1", [{"name": "ssh", "port": 22, "from": ["admin"]}], admin_cidrs=["192.0.2.0/24"])
    assert triples(rules) == {("22", "tcp", "192.0.2.0/24")}


def test_ipv6_ansible_host_and_literal_sources():
    services = [{"name": "postgresql", "port": 5432, "to": ["db_servers"], "from": ["db_servers", "198.51.100.7"]}]
    assert triples(rules_of("db1", services)) == {("5432", "tcp", "2001:db8::5"), ("5432", "tcp", "198.51.100.7")}


def test_interface_and_portless_rules():
    services = [{"name": "tailscale", "interface": "tailscale0"},
                {"name": "pods", "from": ["10.42.0.0/16"]}]
    assert rules_of("srv1", services) == [
        {"name": "pods", "port": "", "proto": "any", "from": "10.42.0.0/16", "interface": "",
         "comment": "ailab pods", "ufw": "allow from 10.42.0.0/16 comment 'ailab pods'",
         "nft": 'ip saddr 10.42.0.0/16 accept comment "ailab pods"'},
        {"name": "tailscale", "port": "", "proto": "any", "from": "any", "interface": "tailscale0",
         "comment": "ailab tailscale", "ufw": "allow in on tailscale0 comment 'ailab tailscale'",
         "nft": 'iifname "tailscale0" accept comment "ailab tailscale"'},
    ]


# The ufw forms are those `ufw show added` prints (checked against ufw 0.36 on Debian 12).
@pytest.mark.parametrize("service, ufw, nft", [
    ({"name": "ssh", "port": 22}, "allow 22/tcp comment 'ailab ssh'", 'tcp dport 22 accept comment "ailab ssh"'),
    ({"name": "dns", "port": 53, "proto": "any"}, "allow 53 comment 'ailab dns'",
     'th dport 53 accept comment "ailab dns"'),
    ({"name": "etcd", "port": "2379:2380", "from": ["10.0.0.1"]},
     "allow from 10.0.0.1 to any port 2379:2380 proto tcp comment 'ailab etcd'",
     'ip saddr 10.0.0.1 tcp dport 2379-2380 accept comment "ailab etcd"'),
    ({"name": "vx", "port": 8472, "proto": "udp", "from": ["2001:db8::/32"]},
     "allow from 2001:db8::/32 to any port 8472 proto udp comment 'ailab vx'",
     'ip6 saddr 2001:db8::/32 udp dport 8472 accept comment "ailab vx"'),
    ({"name": "web", "port": 81, "interface": "eth9"},
     "allow in on eth9 to any port 81 proto tcp comment 'ailab web'",
     'iifname "eth9" tcp dport 81 accept comment "ailab web"'),
    ({"name": "lan", "interface": "eth9", "from": ["10.1.1.0/24"]},
     "allow in on eth9 from 10.1.1.0/24 comment 'ailab lan'",
     'iifname "eth9" ip saddr 10.1.1.0/24 accept comment "ailab lan"'),
])
def test_ufw_and_nft_forms(service, ufw, nft):
    [rule] = rules_of("srv1", [service])
    assert (rule["ufw"], rule["nft"]) == (ufw, nft)


def test_result_is_sorted_deduplicated_and_stable():
    services = K3S + [{"name": "ssh-again", "port": "22", "proto": "TCP"}]
    first = rules_of("srv2", services)
    keys = [(r["port"], r["proto"], r["from"], r["interface"]) for r in first]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    assert [r["name"] for r in first if r["port"] == "22"] == ["ssh"]
    again = rules_of("srv2", list(reversed(services)))
    assert [(r["port"], r["proto"], r["from"], r["interface"]) for r in again] == keys


def test_comment_prefix_names_the_service():
    rules = rules_of("agent1", [{"name": "ssh", "port": 22}], comment_prefix="ailab-hardening")
    assert rules[0]["comment"] == "ailab-hardening ssh"


def test_unknown_group_gives_nothing():
    assert not rules_of("srv1", [{"name": "x", "port": 1, "from": ["no_such_group"]}])


@pytest.mark.parametrize("service, message", [
    ({"name": "x", "port": 70000}, "port must be 1-65535"),
    ({"name": "x", "port": "2380:2379"}, "port must be 1-65535"),
    ({"name": "x", "port": "http"}, "port must be 1-65535"),
    ({"name": "x", "port": 80, "proto": "icmp"}, "proto must be one of tcp, udp, any"),
    ({"name": "x", "port": "1:2", "proto": "any"}, "a port range needs proto tcp or udp"),
    ({"name": "x", "port": 80, "source": ["any"]}, "unknown keys ['source']"),
    ({"name": "x", "port": 80, True: ["k8s_servers"]}, "unquoted YAML key 'on' reads as true: write 'to'"),
    ({"port": 80}, "every service needs a name"),
    ({"name": "it's", "port": 80}, "may only contain letters"),
    ({"name": "x", "interface": "eth0; drop"}, "bad interface name"),
    ({"name": "x", "port": 80, "from": ["broken"]}, "no address for host 'nofacts'"),
])
def test_bad_input_fails_with_a_clear_message(service, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        rules_of("srv1", [service])


def test_bad_admin_cidr_and_bad_services_type_fail():
    with pytest.raises(AnsibleFilterError, match="admin CIDR 'office' is not an IP"):
        rules_of("srv1", admin_cidrs=["office"])
    with pytest.raises(AnsibleFilterError, match="services must be a list"):
        firewall_rules({"name": "x"}, HOSTVARS, GROUPS, "srv1")


def test_filter_is_registered():
    assert FilterModule().filters()["firewall_rules"] is firewall_rules


def test_single_address_cidrs_are_written_as_ufw_prints_them():
    """ufw shows 10.89.77.1/32 as 10.89.77.1: a rule written with /32 must compare equal on re-runs."""
    services = [{"name": "demo", "port": 8080, "from": ["10.89.77.1/32", "2001:db8::1/128", "10.0.0.0/8"]}]
    rules = firewall_rules(services, {}, {}, "h1")
    assert sorted(r["from"] for r in rules) == ["10.0.0.0/8", "10.89.77.1", "2001:db8::1"]
    single = [r["ufw"] for r in rules if r["from"] == "10.89.77.1"]
    assert single == ["allow from 10.89.77.1 to any port 8080 proto tcp comment 'ailab demo'"]
