#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: openwebui_model_tools
short_description: Give Open WebUI's builtin tools to the models that support tools, and only to them
version_added: 0.1.0
description:
  - Open WebUI 0.12 hands its builtin tools (time, memory, notes, knowledge, web search ...) to the model
    with every message typed in the browser, unless the model's C(capabilities.builtin_tools) is false.
    Ollama refuses a request with tools for a model without tool support, and the person sees
    C(<model> does not support tools) instead of an answer.
  - This module signs in as an admin, reads every Ollama model Open WebUI lists, asks Ollama through
    Open WebUI (C(/ollama/api/show), Open WebUI's own connection) whether the model supports tools (the
    C(capabilities) list of Ollama 0.6 and later, else whether its template uses C(.Tools), as Ollama 0.5
    decides), and sets the model's own C(capabilities.builtin_tools) to that (Admin Settings > Models >
    the model > Builtin Tools). O(builtin_tools) overrides the choice per model.
  - A model without a record of its own gets one (same id, no base model, no access grants, as the admin
    page saves it, so who may use the model does not change). Everything else in an existing record is kept.
    Only models whose setting differs are written.
author: ailab.stack maintainers (@ailab-stack)
options:
  url:
    description: Base URL of Open WebUI.
    type: str
    default: http://127.0.0.1:8080
  email:
    description: Admin e-mail to sign in with.
    type: str
    required: true
  password:
    description: Admin password.
    type: str
    required: true
  builtin_tools:
    description:
      - Per-model override, model id as Open WebUI lists it (for example C(llama3.1:8b)) to true (builtin
        tools on) or false (off). Models not named follow their tool support. Names Open WebUI does not
        list are reported in RV(missing) and otherwise ignored.
    type: dict
    default: {}
  validate_certs:
    description: Verify the server certificate for C(https) URLs.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust instead of the system store.
    type: path
  timeout:
    description: Seconds each request may take.
    type: int
    default: 30
extends_documentation_fragment:
  - ailab.stack.attributes
attributes:
  check_mode: {support: full}
  diff_mode: {support: full}
seealso:
  - name: ailab.stack.openwebui role
    description: Runs this module after Open WebUI has started (openwebui_model_builtin_tools).
    link: https://example.invalid/ailab/stack/docs/roles/openwebui.md
"""

EXAMPLES = r"""
- name: Builtin tools for the models that support tools
  ailab.stack.openwebui_model_tools:
    url: http://127.0.0.1:8080
    email: "{{ openwebui_admin_email }}"
    password: "{{ openwebui_admin_password }}"

- name: Same, but never for one model that says it supports tools and calls them badly
  ailab.stack.openwebui_model_tools:
    email: "{{ openwebui_admin_email }}"
    password: "{{ openwebui_admin_password }}"
    builtin_tools:
      qwen2.5:0.5b: false
"""

RETURN = r"""
models:
  description: Every Ollama model Open WebUI lists, with its tool support and the setting it has now.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Model id as Open WebUI lists it.
      type: str
      sample: llama3.1:8b
    tools:
      description: Whether Ollama accepts tools for the model.
      type: bool
      sample: true
    builtin_tools:
      description: The model's capabilities.builtin_tools after the run (what check mode would set).
      type: bool
      sample: true
    before:
      description: The model's own setting before the run, null when it had none (the default applied).
      type: bool
      sample: null
    changed:
      description: Whether the model's record was (or would be) written.
      type: bool
      sample: true
  sample:
    - {id: "tiny:latest", tools: false, builtin_tools: false, before: null, changed: true}
actions:
  description: What was (or would be) written.
  returned: always
  type: list
  elements: str
  sample: ["builtin_tools false for tiny:latest"]
missing:
  description: Names in O(builtin_tools) that Open WebUI does not list.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ailab.stack.plugins.module_utils._openwebui import (
    OpenWebUIClient, OpenWebUIError, builtin_tools_of, record_with_builtin_tools, supports_tools)


def plan(client: OpenWebUIClient, overrides: dict) -> list[dict]:
    """Per Ollama model: its tool support, its record, the setting it should have."""
    rows = []
    for model in client.models():
        if model.get("owned_by") != "ollama" or not model.get("id"):
            continue
        model_id = model["id"]
        tools = supports_tools(client.ollama_show(model_id))
        record = client.model_record(model_id)
        want = bool(overrides[model_id]) if model_id in overrides else tools
        before = builtin_tools_of(record)
        rows.append({"id": model_id, "name": model.get("name") or model_id, "tools": tools, "record": record,
                     "before": before, "builtin_tools": want, "changed": before != want})
    return rows


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:8080"),
            email=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            builtin_tools=dict(type="dict", default={}),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client = OpenWebUIClient(p["url"], p["timeout"], p["validate_certs"], p["ca_path"])
    overrides = {str(k): v for k, v in (p["builtin_tools"] or {}).items()}
    try:
        client.sign_in(p["email"], p["password"])
        rows = plan(client, overrides)
        for row in rows:
            if row["changed"] and not module.check_mode:
                form = record_with_builtin_tools(row["id"], row["name"], row["record"], row["builtin_tools"])
                client.save_model_record(form, exists=row["record"] is not None)
    except OpenWebUIError as e:
        module.fail_json(msg=f"Failed to set the builtin tools of the models of {client.base_url}: {e}",
                         status=e.status)
    listed = {row["id"] for row in rows}
    result = {
        "changed": any(row["changed"] for row in rows),
        "models": [{k: row[k] for k in ("id", "tools", "builtin_tools", "before", "changed")} for row in rows],
        "actions": [f"builtin_tools {str(row['builtin_tools']).lower()} for {row['id']}" for row in rows if row["changed"]],
        "missing": sorted(k for k in overrides if k not in listed),
    }
    if module._diff:
        result["diff"] = {"before": {row["id"]: row["before"] for row in rows},
                          "after": {row["id"]: row["builtin_tools"] for row in rows}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
