# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.awx_survey filter: argument_spec options to AWX survey questions."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.awx_survey import FilterModule, awx_survey

SPECS = {"argument_specs": {"main": {"options": {
    "name": {"type": "str", "required": True, "description": ["Database", "to restore."]},
    "file": {"type": "path", "default": ""},
    "target": {"type": "str", "choices": ["new", "existing"], "default": "new"},
    "method": {"type": "str", "choices": ["", "dump"], "default": ""},
    "keep": {"type": "bool", "default": True},
    "jobs": {"type": "int", "default": 2},
    "ratio": {"type": "float", "default": 0.5},
    "token": {"type": "str", "no_log": True, "default": ""},
    "dbs": {"type": "list", "elements": "str", "choices": ["a", "b"], "default": ["a"]},
    "models": {"type": "list", "elements": "dict", "default": []},
    "labels": {"type": "dict", "default": {}},
}}, "restore": {"options": {"x": {"type": "str"}}}}}


def one(option, **kw):
    return awx_survey(SPECS, [{"option": option, **kw}])["spec"][0]


@pytest.mark.parametrize("option, kind, required, default, choices", [
    ("name", "text", True, "", None),
    ("file", "text", False, "", None),
    ("target", "multiplechoice", False, "new", ["new", "existing"]),
    ("method", "multiplechoice", False, "", ["dump"]),   # the empty choice is not offered
    ("keep", "multiplechoice", False, "true", ["true", "false"]),
    ("jobs", "integer", False, 2, None),
    ("ratio", "float", False, 0.5, None),
    ("token", "password", False, "", None),
    ("dbs", "multiselect", False, ["a"], ["a", "b"]),
])
def test_type_mapping(option, kind, required, default, choices):
    q = one(option)
    assert (q["type"], q["required"], q["default"], q.get("choices")) == (kind, required, default, choices)
    assert q["variable"] == q["question_name"] == option


def test_variable_name_description_and_survey():
    survey = awx_survey(SPECS, [{"option": "name", "variable": "restore_database", "question_name": "Database"}],
                        name="Restore", description="d")
    assert survey == {"name": "Restore", "description": "d", "spec": [{
        "question_name": "Database", "question_description": "Database to restore.", "variable": "restore_database",
        "type": "text", "required": True, "default": ""}]}
    assert awx_survey(SPECS["argument_specs"], [{"option": "x"}], entry_point="restore")["spec"][0]["variable"] == "x"


@pytest.mark.parametrize("specs, questions, kw, message", [
    (SPECS, [{"option": "nope"}], {}, "entry point main has no option nope"),
    (SPECS, [{"option": "x"}], {"entry_point": "backup"}, "no entry point backup"),
    (SPECS, ["name"], {}, "every question needs an option"),
    (SPECS, [{"option": "models"}], {}, "option models of type list cannot be a survey question"),
    (SPECS, [{"option": "labels"}], {}, "option labels of type dict cannot be a survey question"),
    ([], [], {}, "expects a role's argument specs, got list"),
])
def test_refused(specs, questions, kw, message):
    with pytest.raises(AnsibleFilterError, match=message):
        awx_survey(specs, questions, **kw)


def test_filter_is_registered():
    assert FilterModule().filters()["awx_survey"] is awx_survey
