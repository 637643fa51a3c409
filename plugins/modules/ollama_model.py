#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Ensure models are present on, current on, loaded in or absent from an Ollama server
version_added: 0.1.0
author: ailab.stack maintainers (@ailab-stack)
description:
  - Manages models of an Ollama server through its HTTP API, digest-aware.
  - V(present) is a no-op when the model is there (one C(GET /api/tags), no pull).
    V(latest) compares the manifest digest on the registry with the local one and pulls only when it changed.
  - Models come from a registry (the default registry, a host in the name, or a mirror given by O(source.registry)),
    from a GGUF file or Modelfile on the host the module runs on (air-gapped sites; the blobs are uploaded through
    the API, so the server may be remote), or from another model on the server (copy/alias).
  - "Pull and create answers are read line by line; an C({\"error\": ...}) line Ollama sends inside an HTTP 200 stream
    fails the task with Ollama's message."
  - With O(models), one task manages a list of models; O(prune=true) then deletes every other model.
  - A model created from a GGUF file can carry a chat template, a system prompt, parameters, a license and LoRA
    adapters (O(source.template), O(source.system), O(source.parameters), O(source.license), O(source.adapters)).
    Each one given is compared with what C(POST /api/show) reports for the existing model; when one differs the model
    is created again from the GGUF file, also with V(present).
options:
  name:
    description:
      - Model name with an optional tag (default C(latest)), for example C(llama3.1:8b), C(team/model:v2) or
        C(registry.example.com:5000/library/llama3.1:8b).
      - Exactly one of O(name) and O(models) is required.
    type: str
  state:
    description:
      - V(present) pulls or creates the model when it is missing.
      - V(latest) also replaces it when the registry has a different manifest digest, when the GGUF file of
        O(source.path) differs from the model's weights, or when the model of O(source.copy) has another digest.
      - V(absent) deletes the model.
    type: str
    choices: [present, absent, latest]
    default: present
  source:
    description:
      - Where the model comes from. Without it the model is pulled from the registry in O(name).
      - At most one of O(source.path), O(source.copy) and O(source.registry).
    type: dict
    suboptions: &source_suboptions
      path:
        description:
          - A GGUF file or a Modelfile on the host the module runs on. Local files a Modelfile names in C(FROM)
            or C(ADAPTER) are uploaded too (C(POST /api/blobs)).
        type: path
      copy:
        description:
          - An existing model on the server to copy to O(name) (an alias).
        type: str
      registry:
        description:
          - A registry host (C(host[:port])) to pull O(name) from, for example an internal mirror. The model is pulled as
            C(<registry>/<namespace>/<model>:<tag>), copied to O(name) and the pulled name is deleted again.
        type: str
      template:
        description:
          - The prompt template (Go template syntax, Modelfile C(TEMPLATE)) of a model created from the GGUF file in
            O(source.path). Without it Ollama uses the template it detects in the GGUF, else C({{ .Prompt }}), which
            makes a chat model continue the text instead of answering.
          - Compared exactly with the model's template (after dropping the invisible characters Ollama's Modelfile
            parser drops). In a playbook or inventory, mark the text C(!unsafe) so that Ansible does not read the
            C({{ }}) as Jinja.
          - Only with a GGUF file in O(source.path), like the other fields below; a Modelfile has its own lines.
        type: str
      system:
        description:
          - The system prompt (Modelfile C(SYSTEM)) of a model created from O(source.path).
        type: str
      parameters:
        description:
          - Model parameters (Modelfile C(PARAMETER) lines), for example C(stop), C(temperature), C(top_k),
            C(top_p), C(num_ctx), C(num_predict). A list value gives one line per item (C(stop) takes a list).
          - Numbers and booleans compare by value (V(0.95) and V("0.95") are the same, as Ollama stores them).
            Only the names given here are compared; a parameter the model has besides them, such as a stop word
            Ollama added with a template it detected in the GGUF, is kept and is no change.
        type: dict
      license:
        description:
          - The license text (Modelfile C(LICENSE)) of a model created from O(source.path).
        type: str
      adapters:
        description:
          - GGUF LoRA adapters on the host the module runs on (Modelfile C(ADAPTER)), uploaded as blobs like the
            model file. Compared by sha256 (the files are hashed on every run), in order.
        type: list
        elements: path
  insecure:
    description:
      - Allow a plain-HTTP registry or one with an untrusted certificate (Ollama's C(insecure) pull flag).
      - Also makes the digest lookup of V(latest) use C(http://).
    type: bool
    default: false
  loaded:
    description:
      - Load the model into memory with a zero-token generate, so the first user request does not wait for it.
      - V(false) does not unload a loaded model.
    type: bool
    default: false
  keep_alive:
    description:
      - How long a model loaded by O(loaded) stays in memory, as a Go duration (C(30m), C(24h)) or seconds;
        a negative number keeps it until the server stops. Default is the server's C(OLLAMA_KEEP_ALIVE).
    type: str
  models:
    description:
      - A list of models to manage in one task. Each item takes the per-model options above; O(insecure),
        O(loaded) and O(keep_alive) given at the top level are the defaults of the items.
    type: list
    elements: dict
    suboptions:
      name:
        description: Model name, see O(name).
        type: str
        required: true
      state:
        description: See O(state).
        type: str
        choices: [present, absent, latest]
        default: present
      source:
        description: See O(source).
        type: dict
        suboptions: *source_suboptions
      insecure:
        description: See O(insecure).
        type: bool
      loaded:
        description: See O(loaded).
        type: bool
      keep_alive:
        description: See O(keep_alive).
        type: str
  prune:
    description:
      - Delete every model on the server that O(models) does not list with V(present) or V(latest).
      - Only with O(models). Off by default, because models are data somebody may have pulled by hand.
    type: bool
    default: false
notes:
  - V(latest) asks the registry from the host the module runs on, so that host needs to reach the registry.
  - For O(source.path), V(latest) hashes the GGUF file on every run; V(present) does not read it when the model exists.
  - With O(source.template), O(source.system), O(source.parameters), O(source.license) or O(source.adapters), an
    existing model costs one C(POST /api/show) more per run.
  - To Ollama before 0.5.5 these fields go as Modelfile lines, which cannot hold three double quotes in a row.
  - Ollama before 0.5.5 receives the Modelfile text on C(/api/create), later versions its JSON form.
seealso:
  - module: ailab.stack.ollama_model_info
  - name: Ollama API
    description: The HTTP API this module uses.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
extends_documentation_fragment:
  - ailab.stack.ollama
  - ailab.stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the server (and for V(latest) the registry or the GGUF file) and reports what would change.
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Pull a model once (later runs do one GET and nothing else)
  ailab.stack.ollama_model:
    name: llama3.1:8b

- name: Keep a model current with the registry and loaded in memory
  ailab.stack.ollama_model:
    name: qwen2.5:7b
    state: latest
    loaded: true
    keep_alive: "-1"

- name: Create a model from a GGUF file (air-gapped)
  ailab.stack.ollama_model:
    name: tiny
    source:
      path: /srv/models/tiny.gguf

- name: Create a chat model from an instruction-tuned gemma 3 GGUF, with its chat template
  ailab.stack.ollama_model:
    name: gemma3-chat
    source:
      path: /srv/models/gemma-3-1b-it-q4_k_m.gguf
      # !unsafe: a Go template, not Jinja
      template: !unsafe |-
        {{- range $i, $_ := .Messages }}
        {{- $last := eq (len (slice $.Messages $i)) 1 }}
        {{- if or (eq .Role "user") (eq .Role "system") }}<start_of_turn>user
        {{ .Content }}<end_of_turn>
        {{ if $last }}<start_of_turn>model
        {{ end }}
        {{- else if eq .Role "assistant" }}<start_of_turn>model
        {{ .Content }}{{ if not $last }}<end_of_turn>
        {{ end }}
        {{- end }}
        {{- end }}
      system: You answer in one or two sentences.
      parameters:
        stop: ["<end_of_turn>"]
        temperature: 1.0
        top_k: 64
        top_p: 0.95
        num_ctx: 8192
      license: Gemma Terms of Use, https://ai.google.dev/gemma/terms
      adapters:
        - /srv/models/support-lora.gguf

- name: Pull from an internal mirror over plain HTTP, keep the public name
  ailab.stack.ollama_model:
    name: llama3.1:8b
    source:
      registry: mirror.internal:5000
    insecure: true

- name: Exactly these models on the server, everything else deleted
  ailab.stack.ollama_model:
    api_url: http://ollama.ailab.svc:11434
    models:
      - name: llama3.1:8b
        loaded: true
      - name: assistant
        source:
          copy: llama3.1:8b
      - name: old-model
        state: absent
    prune: true
"""

RETURN = r"""
name:
  description: The model's name as Ollama lists it (only with O(name)).
  returned: when O(name) is given
  type: str
  sample: llama3.1:8b
digest:
  description:
    - sha256 of the model's manifest after the run (in check mode, the digest it would have when known, else null).
  returned: when O(name) is given
  type: str
  sample: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
size:
  description: Size of the model's blobs in bytes (null when absent or unknown in check mode).
  returned: when O(name) is given
  type: int
  sample: 4920753328
actions:
  description: What the task did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["pull llama3.1:8b", "create tiny:latest from /srv/models/tiny.gguf (template, parameters changed)"]
models:
  description: One entry per managed model (and per model O(prune) deleted).
  returned: always
  type: list
  elements: dict
  sample:
    - name: llama3.1:8b
      state: present
      changed: false
      digest: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
      size: 4920753328
      loaded: true
      actions: []
  contains:
    name:
      description: Name as Ollama lists it.
      type: str
      sample: llama3.1:8b
    state:
      description: The requested state (V(absent) for pruned models).
      type: str
      sample: present
    changed:
      description: Whether this model changed.
      type: bool
      sample: false
    digest:
      description: Manifest digest after the run (null when absent).
      type: str
      sample: 46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e
    size:
      description: Size in bytes (null when absent).
      type: int
      sample: 4920753328
    loaded:
      description: Whether the model is in memory after the run (null when not checked).
      type: bool
      sample: true
    actions:
      description: Actions for this model.
      type: list
      elements: str
      sample: ["pull llama3.1:8b"]
"""

import os
import re
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ailab.stack.plugins.module_utils._ollama import (
    OLLAMA_COMMON_ARGSPEC,
    ModelConfig,
    ModelRef,
    ModelSource,
    OllamaClient,
    OllamaError,
    is_gguf,
    model_key,
)

_FROM_BLOB = re.compile(r"^FROM \S*sha256[-:]([0-9a-f]{64})\s*$", re.MULTILINE)
_SOURCE_SPEC = dict(
    path=dict(type="path"),
    copy=dict(type="str"),
    registry=dict(type="str"),
    template=dict(type="str"),
    system=dict(type="str"),
    parameters=dict(type="dict"),
    license=dict(type="str"),
    adapters=dict(type="list", elements="path"),
)
_MODEL_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent", "latest"], default="present"),
    source=dict(type="dict", options=_SOURCE_SPEC, mutually_exclusive=[["path", "copy", "registry"]]),
    insecure=dict(type="bool"),
    loaded=dict(type="bool"),
    keep_alive=dict(type="str", no_log=False),
)


class Spec:
    """One wanted model, validated before anything changes."""

    def __init__(self, item: dict[str, t.Any], where: str, defaults: dict[str, t.Any]) -> None:
        try:
            self.ref = ModelRef.parse(item["name"])
        except ValueError as e:
            raise OllamaError(f"{where}name: {e}")
        self.where = where
        self.state: str = item.get("state") or "present"
        source = item.get("source") or {}
        self.path: str | None = source.get("path")
        self.copy: ModelRef | None = None
        self.registry: str | None = source.get("registry")
        self.insecure = _first(item.get("insecure"), defaults["insecure"], False)
        self.loaded = _first(item.get("loaded"), defaults["loaded"], False)
        self.keep_alive = _first(item.get("keep_alive"), defaults["keep_alive"], None)
        if source.get("copy"):
            try:
                self.copy = ModelRef.parse(source["copy"])
            except ValueError as e:
                raise OllamaError(f"{where}source.copy: {e}")
        if self.path and not os.path.isfile(self.path):
            raise OllamaError(f"{where}source.path: {self.path} is not a file on the host the module runs on")
        try:
            self.config = ModelConfig.from_source(source)
        except ValueError as e:
            raise OllamaError(f"{where}source.{e}")
        if self.config is not None and (not self.path or not is_gguf(self.path)):
            fields = ", ".join(f"source.{f}" for f in self.config.managed)
            raise OllamaError(f"{where}{fields}: only for a GGUF file in source.path" + (
                f" ({self.path} is a Modelfile: write TEMPLATE, SYSTEM, PARAMETER, LICENSE or ADAPTER lines in it)"
                if self.path else ""))
        if self.registry and not re.match(r"^[A-Za-z0-9.-]+(:[0-9]+)?$", self.registry):
            raise OllamaError(f"{where}source.registry: '{self.registry}' is not a host or host:port")
        if self.loaded and self.state == "absent":
            raise OllamaError(f"{where}loaded: true needs state present or latest, not absent")

    @property
    def pull_ref(self) -> ModelRef:
        return self.ref.on_registry(self.registry) if self.registry else self.ref


def _first(*values: t.Any) -> t.Any:
    return next((v for v in values if v is not None), None)


class Run:
    """Reads the server once, then brings each model to its state; collects actions and results."""

    def __init__(self, client: OllamaClient, check_mode: bool) -> None:
        self.client, self.check_mode = client, check_mode
        self.tags = client.tags()
        self.before = dict(self.tags)
        self._running: dict[str, t.Any] | None = None
        self._version: str | None = None
        self.actions: list[str] = []
        self.failed_action: str | None = None
        self.results: list[dict[str, t.Any]] = []
        self.expected: dict[str, str | None] = {}  # digests known in check mode (latest: the registry's)
        self._shown: dict[str, dict[str, t.Any]] = {}
        self.config_diff: dict[str, dict[str, t.Any]] = {}  # name -> before/after of the config fields

    @property
    def running(self) -> dict[str, t.Any]:
        if self._running is None:
            self._running = self.client.running()
        return self._running

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self.client.version()
        return self._version

    def do(self, model_actions: list[str], action: str, fn: t.Callable[[], t.Any]) -> None:
        """Run one change (not in check mode); `actions` lists only what completed."""
        if not self.check_mode:
            self.failed_action = action
            fn()
            self.failed_action = None
        model_actions.append(action)
        self.actions.append(action)

    def refresh(self, key: str, placeholder: bool) -> None:
        """After a change: re-read /api/tags (real run) or pretend the model exists (check mode)."""
        if self.check_mode:
            if placeholder:
                self.tags[key] = {"name": key, "digest": self.expected.get(key), "size": None}
            else:
                self.tags.pop(key, None)
        else:
            self.tags = self.client.tags()

    def shown(self, spec: Spec) -> dict[str, t.Any]:
        """POST /api/show of an existing model, once per run."""
        if spec.ref.key not in self._shown:
            self._shown[spec.ref.key] = self.client.show(spec.ref.short) or {}
        return self._shown[spec.ref.key]

    def ensure(self, spec: Spec) -> None:
        key, name = spec.ref.key, spec.ref.short
        acts: list[str] = []
        current = self.tags.get(key)
        if spec.state == "absent":
            if current is not None:
                self.do(acts, f"delete {name}", lambda: self.client.delete(name))
                self.refresh(key, placeholder=False)
        else:
            changed = self._config_changes(spec, current)
            if current is None or changed or (spec.state == "latest" and self._outdated(spec, current)):
                self._obtain(spec, acts, f" ({', '.join(changed)} changed)" if changed else "")
                self.refresh(key, placeholder=True)
        loaded = None
        if spec.loaded:
            loaded = key in self.running and key in self.tags and not acts
            if not loaded:
                self.do(acts, f"load {name}", lambda: self.client.load(name, spec.keep_alive))
                loaded = True
        self.results.append(self._result(name, key, spec.state, acts, loaded))

    def _config_changes(self, spec: Spec, current: dict[str, t.Any] | None) -> list[str]:
        """The config fields (template, system, ...) an existing model has otherwise than wanted."""
        if spec.config is None:
            return []
        shown = self.shown(spec) if current is not None else None
        self.config_diff[spec.ref.short] = {"before": None if shown is None else spec.config.current(shown),
                                            "after": spec.config.wanted()}
        return [] if shown is None else spec.config.changes(shown)

    def _outdated(self, spec: Spec, current: dict[str, t.Any]) -> bool:
        if spec.copy is not None:
            origin = self.tags.get(spec.copy.key)
            if origin is None:
                raise OllamaError(f"{spec.where}source.copy: model {spec.copy.short} is not on the server")
            self.expected[spec.ref.key] = origin.get("digest")
            return origin.get("digest") != current.get("digest")
        if spec.path is not None:
            weights = ModelSource(spec.path).weights
            m = _FROM_BLOB.search(self.shown(spec).get("modelfile") or "")
            return weights is not None and (m is None or m.group(1) != weights)
        remote = self.client.registry_digest(spec.pull_ref, spec.insecure)
        self.expected[spec.ref.key] = remote
        return remote != current.get("digest")

    def _obtain(self, spec: Spec, acts: list[str], why: str = "") -> None:
        name = spec.ref.short
        if spec.copy is not None:
            if spec.copy.key not in self.tags:
                raise OllamaError(f"{spec.where}source.copy: model {spec.copy.short} is not on the server")
            self.expected.setdefault(spec.ref.key, self.tags[spec.copy.key].get("digest"))
            self.do(acts, f"copy {spec.copy.short} to {name}", lambda: self.client.copy(spec.copy.short, name))
        elif spec.path is not None:
            source = ModelSource(spec.path, spec.config)
            self.do(acts, f"create {name} from {spec.path}{why}",
                    lambda: self.client.create(name, source, self.version))
        else:
            pulled = spec.pull_ref.short
            self.do(acts, f"pull {pulled}", lambda: self.client.pull(pulled, spec.insecure))
            if spec.pull_ref.key != spec.ref.key:
                self.do(acts, f"copy {pulled} to {name}", lambda: self.client.copy(pulled, name))
                if spec.pull_ref.key not in self.tags:
                    self.do(acts, f"delete {pulled}", lambda: self.client.delete(pulled))

    def prune(self, keep: set[str]) -> None:
        for key, model in sorted(self.tags.items()):
            if key not in keep:
                acts: list[str] = []
                name = model["name"]
                self.do(acts, f"delete {name} (prune)", lambda: self.client.delete(name))
                self.results.append(self._result(name, key, "absent", acts, None))
        if self.actions and not self.check_mode:
            self.tags = self.client.tags()

    def _result(self, name: str, key: str, state: str, acts: list[str], loaded: bool | None) -> dict[str, t.Any]:
        return {"name": name, "key": key, "state": state, "changed": bool(acts), "actions": acts, "loaded": loaded}

    def finish(self) -> list[dict[str, t.Any]]:
        """Digests and sizes after the run (a real run re-read /api/tags after each change)."""
        out = []
        for r in self.results:
            model = self.tags.get(r.pop("key")) if r["state"] != "absent" else None
            r["digest"] = model.get("digest") if model else None
            r["size"] = model.get("size") if model else None
            out.append(r)
        return out

    def diff(self, results: list[dict[str, t.Any]]) -> dict[str, t.Any]:
        before, after = {}, {}
        for r in results:
            old = self.before.get(model_key(r["name"]))
            before[r["name"]] = {"present": old is not None, "digest": old.get("digest") if old else None}
            after[r["name"]] = {"present": r["state"] != "absent", "digest": r["digest"]}
            if r["loaded"] is not None:
                after[r["name"]]["loaded"] = r["loaded"]
            config = self.config_diff.get(r["name"]) if r["state"] != "absent" else None
            if config:
                before[r["name"]].update(config["before"] or {})
                after[r["name"]].update(config["after"])
        return {"before": {"models": before}, "after": {"models": after}}


def build_specs(params: dict[str, t.Any]) -> list[Spec]:
    defaults = {k: params[k] for k in ("insecure", "loaded", "keep_alive")}
    if params["name"]:
        item = {k: params[k] for k in ("name", "state", "source", "insecure", "loaded", "keep_alive")}
        return [Spec(item, "", defaults)]
    specs, seen = [], set()
    for i, item in enumerate(params["models"]):
        spec = Spec(item, f"models[{i}].", defaults)
        if spec.ref.key in seen:
            raise OllamaError(f"models[{i}].name: {spec.ref.short} is listed twice")
        seen.add(spec.ref.key)
        specs.append(spec)
    return specs


def main() -> None:
    argument_spec = dict(OLLAMA_COMMON_ARGSPEC)
    argument_spec.update(
        name=dict(type="str"),
        state=dict(type="str", choices=["present", "absent", "latest"], default="present"),
        source=dict(type="dict", options=_SOURCE_SPEC, mutually_exclusive=[["path", "copy", "registry"]]),
        insecure=dict(type="bool", default=False),
        loaded=dict(type="bool", default=False),
        keep_alive=dict(type="str", no_log=False),
        models=dict(type="list", elements="dict", options=_MODEL_SPEC),
        prune=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["name", "models"]],
        required_one_of=[["name", "models"]],
        required_if=[["prune", True, ["models"]]],
        supports_check_mode=True,
    )
    try:
        specs = build_specs(module.params)
    except OllamaError as e:
        module.fail_json(msg=str(e))

    client = OllamaClient.from_module(module)
    run = None
    try:
        run = Run(client, module.check_mode)
        for spec in specs:
            run.ensure(spec)
        if module.params["prune"]:
            run.prune({s.ref.key for s in specs if s.state != "absent"})
    except OllamaError as e:
        done = run.actions if run else []
        failed = run.failed_action if run else None
        module.fail_json(msg=f"Ollama at {client.base_url}: {failed + ': ' if failed else ''}{e}",
                         status=e.status, body=e.body, changed=bool(done) and not module.check_mode,
                         actions=done, failed_action=failed)

    results = run.finish()
    result: dict[str, t.Any] = {"changed": bool(run.actions), "actions": run.actions, "models": results}
    if module.params["name"]:
        result.update(name=results[0]["name"], digest=results[0]["digest"], size=results[0]["size"])
    if module._diff:
        result["diff"] = run.diff(results)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
