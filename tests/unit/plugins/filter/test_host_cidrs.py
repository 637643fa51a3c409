"""ailab.stack.host_cidrs: inventory hosts' addresses as single-address CIDRs."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.host_cidrs import host_cidrs

HOSTVARS = {
    "k1": {"ansible_host": "10.0.0.11"},
    "k2": {"ansible_host": "k2.lab.example", "ansible_default_ipv4": {"address": "10.0.0.12"}},
    "k3": {"ansible_host": "fd00::13"},
    "k4": {"ansible_host": "k4.lab.example"},   # a name and no facts yet
    "k5": {"ansible_host": "10.0.0.11"},        # same address as k1
}


def test_addresses_from_ansible_host_or_facts_as_single_address_cidrs():
    assert host_cidrs(["k1", "k2", "k3"], HOSTVARS) == ["10.0.0.11/32", "10.0.0.12/32", "fd00::13/128"]


def test_hosts_without_a_known_address_or_unknown_hosts_are_left_out_and_duplicates_once():
    assert host_cidrs(["k4", "k1", "k5", "nowhere"], HOSTVARS) == ["10.0.0.11/32"]


@pytest.mark.parametrize("bad", ["k1", {"k1": {}}, 3])
def test_not_a_list_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="list of host names"):
        host_cidrs(bad, HOSTVARS)
