# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The ollama check of ailab.stack.health_gate: the API answers, a model is present and loaded, and a
completion answers.

It talks to Ollama through the client of ailab.stack.ollama_model (_ollama.OllamaClient) and
matches model names the way that module does (_ollama.ModelRef): `tiny`, `tiny:latest`,
`library/tiny` and `registry.ollama.ai/library/tiny:latest` are one model, compared
case-insensitively as Ollama does.
"""
from __future__ import annotations

import json
import typing as t
from urllib.error import HTTPError

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, Endpoint, endpoint, read_error_body, register, snippet, transport_failure)
from ansible_collections.ailab.stack.plugins.module_utils._ollama import ModelRef, OllamaClient, OllamaError


class GateClient(OllamaClient):
    """OllamaClient for one attempt of a check: its requests go through the check's Endpoint (its
    url with the check's headers and basic auth from the userinfo, or its Service through the
    Kubernetes API server), with no retries of their own (the gate retries)."""

    def __init__(self, target: Endpoint, timeout: float) -> None:
        super().__init__(target.url(), timeout=timeout, retries=0)
        self.target = target

    def _open(self, method: str, url: str, data: t.Any = None, headers: dict[str, str] | None = None,
              api: bool = True) -> t.Any:
        self.requests += 1
        try:
            return self.target.open(method, url[len(self.base_url):], data, headers, self.timeout)
        except HTTPError as e:  # _ask reads Ollama's reason from the body
            raise OllamaError(f"{method} {url} answered HTTP {e.code}", status=e.code, body=read_error_body(e))

    def generate(self, model: str, prompt: str, num_predict: int) -> dict[str, t.Any]:
        """A completion without streaming (POST /api/generate)."""
        payload = {"model": model, "prompt": prompt, "stream": False, "options": {"num_predict": num_predict}}
        return self._json("POST", "/api/generate", payload) or {}


def _ask(what: str, timeout: float, call: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
    """call(*args); an OllamaError (or a request without an answer) becomes CheckFailed naming `what`."""
    try:
        return call(*args)
    except OllamaError as e:
        if e.status is not None:
            error = _error_field(e.body)
            if error:
                raise CheckFailed(f"{what}: {error}")
            raise CheckFailed(f"{what} returned HTTP {e.status} (expected 200): {snippet(e.body or '')}")
        raise CheckFailed(f"{what}: {e}")
    except (OSError, ValueError) as e:  # no answer, a timeout, an answer that broke off; a bad URL
        raise transport_failure(what, e, timeout)


def _error_field(body: str | None) -> str | None:
    """Ollama's own reason in an error answer ({"error": "..."})."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    return str(data["error"]) if isinstance(data, dict) and data.get("error") else None


@register("ollama", learns_secrets=True)
def check_ollama(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target = endpoint(spec, secrets)
    client = GateClient(target, timeout)
    base = target.shown
    if not spec.get("model"):
        return f"Ollama {_ask(f'GET {base}/api/version', timeout, client.version)} answers"
    try:
        ref = ModelRef.parse(spec["model"])
    except ValueError as e:
        raise CheckFailed(str(e))
    present = _ask(f"GET {base}/api/tags", timeout, client.tags)
    if ref.key not in present:
        have = ", ".join(m["name"] for m in present.values()) or "none"
        raise CheckFailed(f"model {ref.short} not present on {base} (have: {have})")
    detail = f"{ref.short} present"
    if spec["loaded"]:
        loaded = _ask(f"GET {base}/api/ps", timeout, client.running)
        if ref.key not in loaded:
            names = ", ".join(m["name"] for m in loaded.values()) or "none"
            raise CheckFailed(f"model {ref.short} not loaded on {base} (loaded: {names})")
        detail += ", loaded"
    if spec.get("prompt"):
        what = f"POST {base}/api/generate ({ref.short})"
        # the name as the server lists it: what it answers to, whatever spelling the check used
        data = _ask(what, timeout, client.generate, present[ref.key]["name"], spec["prompt"], spec["num_predict"])
        if data.get("error"):
            raise CheckFailed(f"{what}: {data['error']}")
        if not data.get("done") or not data.get("response"):
            raise CheckFailed(f"{what}: no completion in the answer: {snippet(json.dumps(data))}")
        detail += f", answered {snippet(data['response'], 40)!r}"
    return detail


# Hints of the on-GPU check, by what /api/ps shows.
CPU_HINT = ("Ollama found no GPU it can use: see the GPU discovery in its log (a missing driver or "
            "device access, an unsupported AMD gfx target; ailab.stack.gpu_facts shows the host's GPUs)")
PARTIAL_HINT = ("the model does not fit in the free VRAM: a smaller model or quantization, a shorter "
                "context (num_ctx), or fewer models loaded at once (OLLAMA_MAX_LOADED_MODELS)")


def _amounts(part: int, whole: int) -> str:
    """'X of Y GiB' (MiB below 1 GiB), both in one unit."""
    unit, scale = ("GiB", 1024 ** 3) if whole >= 1024 ** 3 else ("MiB", 1024 ** 2)
    digits = 1 if unit == "GiB" else 0
    return f"{part / scale:.{digits}f} of {whole / scale:.{digits}f} {unit}"


def offload(entry: dict[str, t.Any]) -> tuple[bool, str]:
    """(all in VRAM, what /api/ps says) of one loaded model. Ollama leaves size_vram out when it is 0
    (ollama/ollama#4840)."""
    size, vram = int(entry.get("size") or 0), int(entry.get("size_vram") or 0)
    if size and vram >= size:
        return True, f"{_amounts(vram, size)} in VRAM"
    if vram == 0:
        return False, f"runs on the CPU: {_amounts(0, size)} in VRAM; {CPU_HINT}"
    cpu = round(100 * (size - vram) / size)
    return False, f"{_amounts(vram, size)} in VRAM, {cpu} % on the CPU; {PARTIAL_HINT}"


@register("ollama_on_gpu", learns_secrets=True)
def check_ollama_on_gpu(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    """Each model of spec["models"] is loaded (after a load, when spec["load"]) and all of it in VRAM."""
    target = endpoint(spec, secrets)
    client = GateClient(target, timeout)
    base = target.shown
    try:
        refs = [ModelRef.parse(name) for name in spec["models"]]
    except ValueError as e:
        raise CheckFailed(str(e))
    loaded = _ask(f"GET {base}/api/ps", timeout, client.running)
    results, failed = [], False
    for ref in refs:  # one at a time: a model loaded later may evict one judged before (OLLAMA_MAX_LOADED_MODELS)
        if ref.key not in loaded and spec["load"]:
            _ask(f"POST {base}/api/generate (load {ref.short})", timeout, client.load, ref.short, spec["keep_alive"])
            loaded = _ask(f"GET {base}/api/ps", timeout, client.running)
        if ref.key not in loaded:
            failed = True
            names = ", ".join(m["name"] for m in loaded.values()) or "none"
            results.append(f"{ref.short}: not loaded on {base} (loaded: {names})")
            continue
        on_gpu, said = offload(loaded[ref.key])
        failed = failed or not on_gpu
        results.append(f"{ref.short}: {said}")
    if failed:
        raise CheckFailed("; ".join(results))
    return "; ".join(results)
