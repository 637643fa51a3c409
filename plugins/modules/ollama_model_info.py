#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model_info
short_description: Read the models, digests, sizes and loaded models of an Ollama server
version_added: 0.1.0
author: ailab.stack maintainers (@ailab-stack)
description:
  - Returns the server version (C(/api/version)), the models it has with digest and size (C(/api/tags)) and the models
    loaded in memory (C(/api/ps)). Three GET requests; never changes anything.
options:
  name:
    description:
      - Only report this model (name with optional tag, default tag C(latest)). Unknown names give an empty list.
    type: str
extends_documentation_fragment:
  - ailab.stack.ollama
  - ailab.stack.attributes
  - ailab.stack.attributes.info_module
seealso:
  - module: ailab.stack.ollama_model
"""

EXAMPLES = r"""
- name: Read what the server has
  ailab.stack.ollama_model_info:
    api_url: http://127.0.0.1:11434
  register: __ollama_info

- name: Show the names of the loaded models
  ansible.builtin.debug:
    msg: "{{ __ollama_info.loaded | map(attribute='name') | list }}"
"""

RETURN = r"""
version:
  description: The server's version.
  returned: always
  type: str
  sample: 0.5.4
models:
  description: Models on the server.
  returned: always
  type: list
  elements: dict
  sample:
    - name: llama3.1:8b
      digest: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
      size: 4920753328
      modified_at: "2025-01-10T12:00:00Z"
      loaded: true
      details: {family: llama, parameter_size: 8.0B, quantization_level: Q4_K_M, format: gguf}
  contains:
    name:
      description: Name as Ollama lists it.
      type: str
      sample: llama3.1:8b
    digest:
      description: sha256 of the model's manifest (what a registry reports as the manifest digest).
      type: str
      sample: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
    size:
      description: Size of the model's blobs in bytes.
      type: int
      sample: 4920753328
    modified_at:
      description: When the model was last pulled, created or copied.
      type: str
      sample: "2025-01-10T12:00:00Z"
    loaded:
      description: Whether the model is loaded in memory.
      type: bool
      sample: true
    details:
      description: Format, family, parameter size and quantization as Ollama reports them.
      type: dict
      sample: {family: llama, parameter_size: 8.0B, quantization_level: Q4_K_M, format: gguf}
loaded:
  description: Models loaded in memory (C(/api/ps)).
  returned: always
  type: list
  elements: dict
  sample:
    - name: llama3.1:8b
      digest: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
      size: 6654289920
      size_vram: 6654289920
      expires_at: "2025-01-10T12:05:00Z"
  contains:
    name:
      description: Name of the loaded model.
      type: str
      sample: llama3.1:8b
    digest:
      description: Manifest digest.
      type: str
      sample: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
    size:
      description: Memory used in bytes.
      type: int
      sample: 6654289920
    size_vram:
      description: Part of the memory used that is GPU memory, in bytes.
      type: int
      sample: 6654289920
    expires_at:
      description: When the model will be unloaded unless used.
      type: str
      sample: "2025-01-10T12:05:00Z"
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ailab.stack.plugins.module_utils._ollama import (
    OLLAMA_COMMON_ARGSPEC,
    ModelRef,
    OllamaClient,
    OllamaError,
)

_MODEL_KEYS = ("name", "digest", "size", "modified_at", "details")
_LOADED_KEYS = ("name", "digest", "size", "size_vram", "expires_at")


def gather(client: OllamaClient, name: str | None = None) -> dict[str, t.Any]:
    version = client.version()
    tags = client.tags()
    running = client.running()
    keys = sorted(tags)
    if name is not None:
        want = ModelRef.parse(name).key
        keys = [k for k in keys if k == want]
        running = {k: v for k, v in running.items() if k == want}
    models = [dict({k: tags[key].get(k) for k in _MODEL_KEYS}, loaded=key in running) for key in keys]
    loaded = [{k: running[key].get(k) for k in _LOADED_KEYS} for key in sorted(running)]
    return {"version": version, "models": models, "loaded": loaded}


def main() -> None:
    argument_spec = dict(OLLAMA_COMMON_ARGSPEC)
    argument_spec.update(name=dict(type="str"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params["name"] is not None:
        try:
            ModelRef.parse(module.params["name"])
        except ValueError as e:
            module.fail_json(msg=f"name: {e}")
    client = OllamaClient.from_module(module)
    try:
        info = gather(client, module.params["name"])
    except OllamaError as e:
        module.fail_json(msg=f"Could not read models from Ollama at {client.base_url}: {e}", status=e.status, body=e.body)
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
