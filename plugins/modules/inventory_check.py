#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: inventory_check
short_description: Validate the whole inventory on the controller before any host changes
version_added: 0.1.0
description:
  - Runs once, on the controller only (an action plugin; it opens no connection and needs no facts).
  - For every platform host (groups C(ai_servers), C(k8s_servers), C(k8s_agents), C(db_servers)) it
    resolves the variables of every role as a play would (role defaults under the inventory, templated),
    and validates each role's C(meta/argument_specs.yml) entry points for the hosts that will run them
    (the plan of C(playbooks/site.yml)).
  - Booleans must be real booleans; a string such as C("false") or C("no") is refused (Ansible's own
    argument spec validation would convert it, a C(when) would not).
  - Checks that span roles, such as the database reachable from where Open WebUI runs, Kubernetes hosts
    in C(ai_servers) (hardened), names and sizes Kubernetes accepts, access modes that fit the replica
    counts, tenant GPU vendors that fit the tiers, custom firewall rules, placeholder secrets.
  - "Every problem is reported at once, one line each, in the form
    C(host(s): variable = value: problem; allowed: ...; fix: ...). Secret values are never shown."
author: ailab.stack maintainers (@ailab-stack)
options:
  fail:
    description: Fail when there is a problem (C(true)), or only return the problems (C(false)).
    type: bool
    default: true
extends_documentation_fragment: [ailab.stack.attributes, ailab.stack.attributes.info_module]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - The checks live in C(plugins/module_utils/_inventory_check.py); C(docs/modules/inventory_check.md) lists them.
"""

EXAMPLES = r"""
- name: Check the inventory before anything changes
  ailab.stack.inventory_check:
  run_once: true

- name: Only report (CI of an inventory, AWX survey)
  ailab.stack.inventory_check:
    fail: false
  register: check
  run_once: true
"""

RETURN = r"""
failures:
  description: Every problem, one line each (host(s), variable, value, problem, allowed values, fix).
  returned: always
  type: list
  elements: str
  sample:
    - 'cp1: openwebui_storage_access_mode = "ReadWriteOnce": openwebui_replicas 3: the pods run on several nodes
      and cannot all mount a ReadWriteOnce volume; allowed: ReadWriteMany; fix: set openwebui_storage_access_mode: ReadWriteMany'
plan:
  description: Role -> hosts that run its main entry point (what the preflight stage runs each role's preflight on).
  returned: always
  type: dict
  sample: {hardening: [ai1], postgres: [ai1], ollama: [ai1], openwebui: [ai1]}
hosts:
  description: The hosts checked.
  returned: always
  type: list
  elements: str
  sample: [ai1]
"""
