"""Pure parts of the Open WebUI client (plugins/module_utils/_openwebui.py): a model's tool support
from Ollama's /api/show, and the record that sets its builtin tools. The client against the real
Open WebUI and Ollama: tests/integration/test_health_gate_openwebui.py."""
from __future__ import annotations

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._openwebui import (
    builtin_tools_of, record_with_builtin_tools, supports_tools)


@pytest.mark.parametrize("show, tools", [
    ({"capabilities": ["completion", "tools"], "template": "{{ .Prompt }}"}, True),   # Ollama 0.6+
    ({"capabilities": ["completion"], "template": "{{ .Tools }}"}, False),             # the list wins
    ({"template": "{{ if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}"}, True),         # Ollama 0.5: the template
    ({"template": "{{- range $i, $_ := .Messages }}{{ .Content }}{{ end }}"}, False),
    ({"template": "{{ .ToolsLater }}"}, False),
    ({}, False),
])
def test_tool_support(show, tools):
    assert supports_tools(show) is tools


def test_new_record_for_a_base_model():
    assert record_with_builtin_tools("tiny:latest", "tiny:latest", None, False) == {
        "id": "tiny:latest", "base_model_id": None, "name": "tiny:latest",
        "meta": {"capabilities": {"builtin_tools": False}}, "params": {}, "is_active": True}


def test_existing_record_keeps_everything_else():
    record = {"id": "m", "base_model_id": None, "name": "My model", "params": {"temperature": 0.1},
              "meta": {"description": "d", "capabilities": {"vision": True, "builtin_tools": False}},
              "access_grants": [{"principal_type": "group", "principal_id": "g", "permission": "read"}],
              "is_active": False}
    form = record_with_builtin_tools("m", "m", record, True)
    assert form["meta"] == {"description": "d", "capabilities": {"vision": True, "builtin_tools": True}}
    assert (form["name"], form["params"], form["access_grants"], form["is_active"]) == (
        "My model", {"temperature": 0.1}, record["access_grants"], False)
    assert record["meta"]["capabilities"]["builtin_tools"] is False   # not changed in place
    assert builtin_tools_of(record) is False and builtin_tools_of(form) is True
    assert builtin_tools_of(None) is None and builtin_tools_of({"meta": {"capabilities": None}}) is None
