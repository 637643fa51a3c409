# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The openwebui check of ailab.stack.health_gate: /health and /health/db, the admin signs in, and a
chat completion through Open WebUI answers. The session token it gets is added to the secrets
the gate masks. Through the Kubernetes API server (`service`), which takes the Authorization header
for itself, the session token goes in Open WebUI's `token` cookie instead."""
from __future__ import annotations

import json

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, endpoint, expect_status, register, snippet)
from ansible_collections.ailab.stack.plugins.module_utils._ollama import ModelRef


def model_id(name: str) -> str:
    """The id Open WebUI gives an Ollama model: the name as Ollama lists it (tiny -> tiny:latest,
    registry.ollama.ai/library/llama3:8b -> llama3:8b). Other names (OpenAI models, Open WebUI
    custom models) are used as written."""
    try:
        return ModelRef.parse(name).short
    except ValueError:
        return name


@register("openwebui", learns_secrets=True)
def check_openwebui(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target = endpoint(spec, secrets)
    base = target.shown
    paths = ["/health", "/health/db"] if spec["check_db"] else ["/health"]
    for path in paths:
        what = target.where(path)
        resp = target.request(path, timeout)
        expect_status(resp, [200], what)
        if resp.json(what).get("status") is not True:
            raise CheckFailed(f"{what}: status is not true: {snippet(resp.body)}")
    detail = "healthy" + (", database ok" if spec["check_db"] else "")
    if not spec.get("email"):
        return detail
    what = f"sign-in as {spec['email']} at {base}"
    resp = target.request("/api/v1/auths/signin", timeout, "POST",
                          body={"email": spec["email"], "password": spec["password"]})
    if resp.status != 200:
        try:
            reason = json.loads(resp.body).get("detail") or resp.body
        except (ValueError, AttributeError):
            reason = resp.body
        raise CheckFailed(f"{what} failed: HTTP {resp.status}: {snippet(str(reason))}")
    token = resp.json(what).get("token")
    if not token:
        raise CheckFailed(f"{what}: no token in the answer")
    if secrets is not None:
        secrets.append(token)
    detail += f", signed in as {spec['email']}"
    if spec.get("model"):
        what = f"chat completion with {spec['model']} through {base}"
        # Open WebUI reads the session from the Authorization header, or else from its token cookie
        session = {"Cookie": f"token={token}"} if target.via_api_server else {"Authorization": f"Bearer {token}"}
        # max_tokens bounds the answer: a small model may otherwise ramble for minutes on a CPU
        payload = {"model": model_id(spec["model"]), "stream": False, "max_tokens": 16,
                   "messages": [{"role": "user", "content": spec["prompt"]}]}
        resp = target.request("/api/chat/completions", timeout, "POST", session, payload)
        expect_status(resp, [200], what)
        data = resp.json(what)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise CheckFailed(f"{what}: no choices[0].message.content in the answer: {snippet(resp.body)}")
        if not content:
            raise CheckFailed(f"{what}: empty answer")
        detail += f", {spec['model']} answered {snippet(content, 40)!r}"
    return detail
