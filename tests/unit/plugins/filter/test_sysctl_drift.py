# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.sysctl_drift filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.sysctl_drift import FilterModule, sysctl_drift

WANTED = {"net.ipv4.ip_forward": 1, "kernel.sysrq": 0, "fs.protected_fifos": 2,
          "net.ipv6.conf.all.accept_redirects": 0, "net.ipv4.tcp_rmem": "4096 131072 6291456"}
# What `sysctl -e` prints for WANTED on a host with IPv6 off (no line for the IPv6 key).
IN_SYNC = ["net.ipv4.ip_forward = 1", "kernel.sysrq = 0", "fs.protected_fifos = 2",
           "net.ipv4.tcp_rmem = 4096\t131072\t6291456"]


def test_nothing_differs():
    assert sysctl_drift(WANTED, IN_SYNC) == []


def test_differing_values_in_the_order_of_the_wanted_settings():
    live = ["fs.protected_fifos = 1", "net.ipv4.ip_forward = 0", "kernel.sysrq = 0",
            "net.ipv4.tcp_rmem = 4096\t87380\t6291456"]
    assert sysctl_drift(WANTED, live) == ["net.ipv4.ip_forward = 1", "fs.protected_fifos = 2",
                                          "net.ipv4.tcp_rmem = 4096 131072 6291456"]


def test_keys_the_kernel_does_not_have_never_drift():
    assert sysctl_drift(WANTED, []) == []
    assert sysctl_drift({"net.bridge.bridge-nf-call-iptables": 1}, ["kernel.sysrq = 16"]) == []


def test_white_space_of_the_live_output_is_folded():
    assert sysctl_drift({"kernel.sysrq": 0}, ["kernel.sysrq\t=  0"]) == []
    assert sysctl_drift({"kernel.sysrq": 0}, ["kernel.sysrq  =  16"]) == ["kernel.sysrq = 0"]


def test_live_output_as_one_text():
    assert sysctl_drift(WANTED, "\n".join(IN_SYNC) + "\n") == []
    assert sysctl_drift({"kernel.sysrq": 0}, "kernel.sysrq = 1\n") == ["kernel.sysrq = 0"]


def test_string_and_number_values_compare_as_written():
    assert sysctl_drift({"vm.swappiness": "10", "kernel.panic": 10}, ["vm.swappiness = 10", "kernel.panic = 10"]) == []


def test_white_space_of_a_wanted_value_is_folded_too():
    assert sysctl_drift({"net.ipv4.tcp_rmem": "4096\t131072  6291456"}, IN_SYNC) == []


@pytest.mark.parametrize("wanted, live, message", [
    (["kernel.sysrq"], [], "the wanted settings must be a dict, got list"),
    ({"kernel.sysrq": 0}, {"kernel.sysrq": 0}, "live must be the lines of sysctl's output, got dict"),
    ({"kernel.sysrq": 0}, None, "live must be the lines of sysctl's output, got NoneType"),
])
def test_bad_input_fails_with_a_clear_message(wanted, live, message):
    with pytest.raises(AnsibleFilterError, match=message):
        sysctl_drift(wanted, live)


def test_filter_is_registered():
    assert FilterModule().filters()["sysctl_drift"] is sysctl_drift
