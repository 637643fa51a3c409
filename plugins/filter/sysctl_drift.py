# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.sysctl_drift: the wanted sysctls the running kernel does not have."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sysctl_drift
short_description: The wanted sysctls whose live value differs, from the output of C(sysctl -e)
description:
  - Compares the wanted settings with the live values that C(sysctl -e <key>...) prints (one
    C(key = value) line per key the kernel has) and returns C(key = value) for every wanted setting
    the kernel has with another value, in the order of the wanted settings.
  - Keys the kernel does not have (C(sysctl -e) prints nothing for them, for example IPv6 keys
    with IPv6 off) never count as drift.
  - Runs of white space in the live output (C(sysctl) separates the numbers of a multi-value
    setting with tabs) are folded to one space. The wanted value is compared as written, so write
    a multi-value setting with single spaces, for example C(4096 131072 6291456).
  - The C(ailab.stack.hardening) role runs C(sysctl -p) only when this list is not empty.
options:
  _input:
    description: The wanted settings, sysctl name to value.
    type: dict
    required: true
  live:
    description: The output of C(sysctl -e) for those keys, as its lines (C(stdout_lines)) or as one text.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Apply the sysctls that differ from the running kernel
  ansible.builtin.command:
    argv: [sysctl, -e, -p, /etc/sysctl.d/90-ailab-hardening.conf]
  changed_when: true
  when: __drift | length > 0
  vars:
    __drift: "{{ {'net.ipv4.ip_forward': 1} | ailab.stack.sysctl_drift(__sysctl_live.stdout_lines) }}"
"""

RETURN = r"""
_value:
  description: C(key = value) of each wanted setting whose live value differs; empty when none does.
  type: list
  elements: str
  sample: ["net.ipv4.ip_forward = 1", "kernel.sysrq = 0"]
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_SPACES = re.compile(r"\s+")


def sysctl_drift(wanted, live):
    """`key = value` of the wanted settings the kernel has with another value."""
    if not isinstance(wanted, Mapping):
        raise AnsibleFilterError(f"sysctl_drift: the wanted settings must be a dict, got {type(wanted).__name__}")
    if isinstance(live, str):
        live = live.splitlines()
    elif isinstance(live, Mapping) or not hasattr(live, "__iter__"):
        raise AnsibleFilterError(f"sysctl_drift: live must be the lines of sysctl's output, got {type(live).__name__}")
    now = {_SPACES.sub(" ", str(line)) for line in live}
    known = {line.split(" = ")[0] for line in now}
    # The kernel prints multi-value settings (tcp_rmem) with single spaces: fold both sides.
    return [f"{key} = {value}" for key, value in wanted.items()
            if key in known and _SPACES.sub(" ", f"{key} = {value}") not in now]


class FilterModule:
    """ailab.stack sysctl filters."""

    def filters(self):
        return {"sysctl_drift": sysctl_drift}
