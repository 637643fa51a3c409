# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.awx_survey: an AWX survey generated from a role's argument_spec."""

from __future__ import annotations

DOCUMENTATION = r"""
name: awx_survey
short_description: AWX survey spec generated from options of a role's argument_spec
description:
  - Takes the C(argument_specs) of a role (the content of its C(meta/argument_specs.yml)) and a list
    of questions, each naming an C(option) of one entry point, and returns the survey spec that
    C(awx.awx.job_template) takes as C(survey_spec). The role's spec is the one source of truth;
    type, choices, default, required and description come from it.
  - Type mapping. C(str), C(path), C(raw) become C(text); C(int) becomes C(integer); C(float)
    becomes C(float); an option with C(choices) becomes C(multiplechoice) (C(multiselect) for a
    C(list)); C(bool) becomes C(multiplechoice) with the choices C(true) and C(false), which the
    role's argument spec converts back; an option with C(no_log) becomes C(password).
  - An empty string among the choices is not offered (AWX drops empty choices); the question is
    then optional and an unanswered question leaves the playbook's own fallback in place.
  - Fails on an option the entry point does not have and on a type no survey question can carry
    (a list without choices, a dict).
options:
  _input:
    description: The role's argument specs, C(argument_specs) key or the whole file.
    type: dict
    required: true
  questions:
    description:
      - The questions, in order. Each has C(option) (the role's option) and optionally C(variable)
        (the extra variable the playbook reads, default the option's name) and C(question_name)
        (default the option's name).
    type: list
    elements: dict
    required: true
  entry_point:
    description: The entry point of the role whose options are asked.
    type: str
    default: main
  name:
    description: The survey's name.
    type: str
    default: ''
  description:
    description: The survey's description.
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Create the restore job template with its survey
  awx.awx.job_template:
    name: "ailab: restore"
    playbook: playbooks/restore.yml
    survey_enabled: true
    survey_spec: >-
      {{ lookup('ansible.builtin.file', 'roles/postgres/meta/argument_specs.yml') | from_yaml
         | ailab.stack.awx_survey([{'option': 'postgres_restore_database', 'variable': 'restore_database'}],
                                  entry_point='restore', name='Restore') }}
"""

RETURN = r"""
_value:
  description: The survey spec (C(name), C(description), C(spec) with one question per option).
  type: dict
  sample:
    name: Restore
    description: ''
    spec:
      - question_name: Database
        question_description: Database whose backup is restored.
        variable: restore_database
        type: text
        required: true
        default: ''
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_SCALAR = {"str": "text", "path": "text", "raw": "text", "int": "integer", "float": "float"}


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _default(value, kind: str):
    if value is None:
        return [] if kind == "multiselect" else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "multiselect":
        return [str(v) for v in value]
    if kind in ("integer", "float"):
        return value
    return str(value)


def awx_question(option: str, spec: Mapping, variable: str | None = None, question_name: str | None = None) -> dict:
    """One survey question for one argument_spec option."""
    otype = spec.get("type", "str")
    choices = spec.get("choices")
    required = bool(spec.get("required", False))
    if spec.get("no_log"):
        kind = "password"
    elif otype == "bool":
        kind, choices = "multiplechoice", [True, False]
    elif choices:
        kind = "multiselect" if otype == "list" else "multiplechoice"
    elif otype in _SCALAR:
        kind = _SCALAR[otype]
    else:
        raise AnsibleFilterError(f"awx_survey: option {option} of type {otype} cannot be a survey question")
    question = {
        "question_name": question_name or option,
        "question_description": _text(spec.get("description")),
        "variable": variable or option,
        "type": kind,
        "required": required,
        "default": _default(spec.get("default"), kind),
    }
    if choices:
        offered = [_default(c, "text") for c in choices if c != ""]
        if len(offered) < len(choices):
            question["required"] = False
        question["choices"] = offered
    return question


def awx_survey(argument_specs, questions, entry_point: str = "main", name: str = "", description: str = "") -> dict:
    """The survey spec of the selected options of one entry point."""
    if not isinstance(argument_specs, Mapping):
        raise AnsibleFilterError(f"awx_survey: expects a role's argument specs, got {type(argument_specs).__name__}")
    specs = argument_specs.get("argument_specs", argument_specs)
    if entry_point not in specs:
        raise AnsibleFilterError(f"awx_survey: no entry point {entry_point} (have {sorted(specs)})")
    options = specs[entry_point].get("options") or {}
    spec = []
    for q in questions:
        if not isinstance(q, Mapping) or "option" not in q:
            raise AnsibleFilterError(f"awx_survey: every question needs an option, got {q!r}")
        if q["option"] not in options:
            raise AnsibleFilterError(f"awx_survey: entry point {entry_point} has no option {q['option']}")
        spec.append(awx_question(q["option"], options[q["option"]], q.get("variable"), q.get("question_name")))
    return {"name": name, "description": description, "spec": spec}


class FilterModule:
    """ailab.stack AWX filters."""

    def filters(self):
        return {"awx_survey": awx_survey}
