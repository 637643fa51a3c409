# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.present_models: the names of the models an ollama_models list keeps."""

from __future__ import annotations

DOCUMENTATION = r"""
name: present_models
short_description: Names of the models of an ollama_models list that are to be on the server
description:
  - Takes a list in the format of the C(ollama_models) variable of the C(ailab.stack.ollama) role
    and returns the C(name) of every model whose C(state) is not C(absent), in order.
  - A model without C(state) counts as C(present). Models on their way out (C(state=absent)) are
    neither required nor chatted with by the C(ailab.stack.verify) gates.
options:
  _input:
    description: The models, each a dict with C(name) (required) and C(state) (optional).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Fail when no model would be left on the server
  ansible.builtin.assert:
    that: ollama_models | ailab.stack.present_models | length > 0
    fail_msg: Every model of ollama_models has state absent.
"""

RETURN = r"""
_value:
  description: The model names, in the order of the input.
  type: list
  elements: str
  sample: [llama3.1:8b, tiny]
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def present_models(models):
    """Names of the models whose state is not 'absent'."""
    if isinstance(models, (str, Mapping)) or not hasattr(models, "__iter__"):
        raise AnsibleFilterError(f"present_models: expects a list of models, got {type(models).__name__}")
    names = []
    for model in models:
        if not isinstance(model, Mapping) or "name" not in model:
            raise AnsibleFilterError(f"present_models: every model needs a name, got {model!r}")
        if model.get("state", "present") != "absent":
            names.append(model["name"])
    return names


class FilterModule:
    """ailab.stack model filters."""

    def filters(self):
        return {"present_models": present_models}
