# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The openwebui check of ailab.stack.health_gate: /health and /health/db, the admin signs in, and a
chat through Open WebUI answers the way a person's first chat in the browser does. The session token
it gets is added to the secrets the gate masks. Through the Kubernetes API server (`service`), which
takes the Authorization header for itself, the session token goes in Open WebUI's `token` cookie instead.

The chat is the request the browser sends (Open WebUI 0.12 `src/lib/components/chat/Chat.svelte`,
`sendMessageSocket`): streaming unless the model or the user's settings switch it off, the features the
UI turns on by default for that model (`getFeatures()`, the model's `defaultFeatureIds`), the model's
default tools (`toolIds`), the model as the UI lists it (`model_item`) and a `session_id`. The session
id is what makes Open WebUI hand its builtin tools to the model (`utils/middleware.py`,
`use_builtin_tools`), as it does for every message typed in the browser; API calls without one do not
get them, which is why a gate that sent a bare completion stayed green while the browser showed
"<model> does not support tools". Unlike the browser the gate sends no `chat_id` and no `parent_id`,
so Open WebUI answers over HTTP (Server-Sent Events) instead of the socket, and stores no chat, title,
tags or follow-ups.

An answer is an error notice, and the check fails, when Open WebUI answers with an HTTP error, when the
stream carries an `error` (or `detail`) event, or when the reply is empty. `expect` (a regular expression)
lets an operator require a known answer.
"""
from __future__ import annotations

import hashlib
import json
import re
import typing as t
from secrets import token_hex

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, endpoint, expect_status, register, snippet)
from ansible_collections.ailab.stack.plugins.module_utils._ollama import ModelRef

# Caps the reply: a small model may otherwise write for minutes on a CPU. The browser sends no cap.
MAX_TOKENS = 16
TOOLS_HINT = ("Open WebUI handed the model its builtin tools, and the model has no tool support: set "
              "capabilities.builtin_tools false for it (openwebui role: openwebui_builtin_tools, "
              "openwebui_model_builtin_tools; Admin Settings > Models > the model > Builtin Tools)")


# Sessions of this process (one gate): Open WebUI allows 15 sign-ins per e-mail in 3 minutes
# (routers/auths.py signin_rate_limiter), fewer than the rounds of a failing gate, whose last error
# would then be "HTTP 429: API rate limit exceeded" instead of the cause. Later attempts reuse the
# session while Open WebUI accepts it (GET /api/v1/auths/) and sign in again when it does not.
SESSIONS: dict[tuple[str, str, str], tuple[str, dict]] = {}


def model_id(name: str) -> str:
    """The id Open WebUI gives an Ollama model: the name as Ollama lists it (tiny -> tiny:latest,
    registry.ollama.ai/library/llama3:8b -> llama3:8b). Other names (OpenAI models, Open WebUI
    custom models) are used as written."""
    try:
        return ModelRef.parse(name).short
    except ValueError:
        return name


def _allowed(feature: str, config_features: dict, user: dict) -> bool:
    """Whether the UI offers a feature to this user: enabled on the server, and the user an admin or
    permitted (Chat.svelte: `$config.features.enable_<f> && (admin || permissions.features.<f>)`)."""
    if not config_features.get(f"enable_{feature}"):
        return False
    return user.get("role") == "admin" or bool(((user.get("permissions") or {}).get("features") or {}).get(feature))


def ui_features(config_features: dict, model: dict, user: dict, settings: dict) -> dict:
    """The `features` the browser sends with the first message of a new chat with `model`:
    Chat.svelte `getFeatures()` after the model's defaults are applied (its `defaultFeatureIds`, for
    the features the model has the capability of and the user may use), memory from the user's
    settings or the server default, voice off (no call overlay)."""
    meta = (model.get("info") or {}).get("meta") or {}
    defaults = meta.get("defaultFeatureIds") or []
    capabilities = meta.get("capabilities") or {}

    def default_on(feature: str) -> bool:
        return bool(capabilities.get(feature)) and feature in defaults and _allowed(feature, config_features, user)

    features: dict[str, t.Any] = {}
    if config_features:
        # web search: also on for every message when the user chose "always" and the model supports it
        always = settings.get("webSearch") == "always" and capabilities.get("web_search", True)
        features = {
            "voice": False,
            "image_generation": default_on("image_generation"),
            "code_interpreter": default_on("code_interpreter"),
            "web_search": _allowed("web_search", config_features, user) and (default_on("web_search") or bool(always)),
        }
    memory = settings.get("memory")
    if memory if memory is not None else config_features.get("enable_memories", False):
        features["memory"] = True
    return features


def ui_stream(model: dict, settings: dict) -> bool:
    """Whether the browser streams: the model's stream_response, else the user's, else true."""
    for params in ((model.get("info") or {}).get("params") or {}, settings.get("params") or {}):
        if params.get("stream_response") is not None:
            return bool(params["stream_response"])
    return True


def ui_chat_request(model: dict, prompt: str, features: dict, stream: bool, session_id: str,
                    settings: dict | None = None) -> dict:
    """The body of POST /api/chat/completions as the browser sends it for a first message (without
    chat_id/parent_id: see the module's docstring), its reply capped at MAX_TOKENS."""
    meta = (model.get("info") or {}).get("meta") or {}
    params = {k: v for k, v in ((settings or {}).get("params") or {}).items() if v is not None}
    params["max_tokens"] = MAX_TOKENS
    return {
        "stream": stream,
        "model": model["id"],
        "messages": [{"role": "user", "content": prompt}],
        "params": params,
        "tool_ids": list(meta.get("toolIds") or []),
        "features": features,
        "variables": {},
        "model_item": model,
        "session_id": session_id,
    }


class Reply(t.NamedTuple):
    content: str
    reasoning: str
    errors: list


def _event_error(event: t.Any) -> str | None:
    """The message of an error event of the stream (OpenAI `{"error": {...}}`, Open WebUI `{"detail": ...}`)."""
    if not isinstance(event, dict):
        return None
    for key in ("error", "detail"):
        value = event.get(key)
        if value:
            if isinstance(value, dict):
                value = value.get("message") or value.get("content") or value.get("detail") or json.dumps(value)
            return str(value)
    return None


def parse_reply(body: str, content_type: str = "") -> Reply:
    """The reply in an answer of /api/chat/completions: Server-Sent Events (`data: {...}` lines up to
    `data: [DONE]`, OpenAI chunks with choices[0].delta) or one JSON completion (choices[0].message)."""
    content: list[str] = []
    reasoning: list[str] = []
    errors: list[str] = []

    def take(event: t.Any) -> None:
        error = _event_error(event)
        if error:
            errors.append(error)
            return
        if not isinstance(event, dict):
            return
        for choice in event.get("choices") or []:
            part = (choice or {}).get("delta") or (choice or {}).get("message") or {}
            content.append(part.get("content") or "")
            reasoning.append(part.get("reasoning_content") or part.get("reasoning") or "")

    text = body.strip()
    if "text/event-stream" in content_type or text.startswith("data:"):
        for line in body.splitlines():
            if not line.startswith("data:"):
                continue
            data = line[len("data:"):].strip()
            if not data or data == "[DONE]":
                continue
            try:
                take(json.loads(data))
            except ValueError:
                errors.append(f"not JSON in the stream: {snippet(data, 80)}")
    elif text:
        try:
            take(json.loads(text))
        except ValueError:
            errors.append(f"not JSON: {snippet(text, 80)}")
    return Reply("".join(content), "".join(reasoning), errors)


def error_notice(status: int, body: str, content_type: str = "") -> tuple[str | None, Reply]:
    """What the person would see instead of an answer (None when they get one), and the reply."""
    if status != 200:
        try:
            reason = _event_error(json.loads(body)) or body
        except ValueError:
            reason = body
        notice = f"HTTP {status}: {snippet(reason)}"
        return notice, Reply("", "", [reason])
    reply = parse_reply(body, content_type)
    if reply.errors:
        return f"error in the answer: {snippet('; '.join(reply.errors))}", reply
    if not reply.content.strip() and not reply.reasoning.strip():
        return "empty reply", reply
    return None, reply


def session_headers(target, token: str) -> dict:
    """Open WebUI reads the session from the Authorization header, or else from its token cookie
    (through the Kubernetes API server, which takes the Authorization header for itself)."""
    return {"Cookie": f"token={token}"} if target.via_api_server else {"Authorization": f"Bearer {token}"}


def _get_json(target, path: str, timeout: float, session: dict, what: str) -> t.Any:
    resp = target.request(path, timeout, headers=session)
    expect_status(resp, [200], what)
    return resp.json(what)


def sign_in(target, email: str, password: str, timeout: float, secrets: list[str] | None = None) -> tuple[str, dict]:
    """(token, user) of a session of `email` at `target`: the one this gate already has while Open
    WebUI accepts it (see SESSIONS), else a new sign-in. The token joins `secrets`."""
    what = f"sign-in as {email} at {target.shown}"
    key = (target.shown, email, hashlib.sha256(str(password).encode()).hexdigest())
    token, user = SESSIONS.get(key) or (None, {})
    if token and target.request("/api/v1/auths/", timeout, headers=session_headers(target, token)).status != 200:
        token = None
    if not token:
        resp = target.request("/api/v1/auths/signin", timeout, "POST", body={"email": email, "password": password})
        if resp.status != 200:
            try:
                reason = json.loads(resp.body).get("detail") or resp.body
            except (ValueError, AttributeError):
                reason = resp.body
            raise CheckFailed(f"{what} failed: HTTP {resp.status}: {snippet(str(reason))}")
        user = resp.json(what)
        token = user.get("token") if isinstance(user, dict) else None
        if not token:
            raise CheckFailed(f"{what}: no token in the answer")
        SESSIONS[key] = (token, user)
    if secrets is not None:
        secrets.append(token)
    return token, user


@register("openwebui", learns_secrets=True)
def check_openwebui(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target = endpoint(spec, secrets)
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
    token, user = sign_in(target, spec["email"], spec["password"], timeout, secrets)
    detail += f", signed in as {spec['email']}"
    if spec.get("model"):
        detail += ", " + chat_as_the_ui(spec, target, token, user, timeout)
    return detail


def chat_as_the_ui(spec: dict, target, token: str, user: dict, timeout: float) -> str:
    """Send the first message of a new chat as the browser does; the detail, or CheckFailed."""
    name, wanted = spec["model"], model_id(spec["model"])
    what = f"chat with {name} through {target.shown}"
    session = session_headers(target, token)
    listed = _get_json(target, "/api/models", timeout, session, f"models list of {target.shown}")
    models = listed.get("data") if isinstance(listed, dict) else listed
    model = next((m for m in models or [] if isinstance(m, dict) and m.get("id") == wanted), None)
    if model is None:
        have = ", ".join(sorted(str(m.get("id")) for m in models or [] if isinstance(m, dict))) or "none"
        raise CheckFailed(f"{what}: Open WebUI does not list the model {wanted} (it lists: {snippet(have, 120)})")
    config = _get_json(target, "/api/config", timeout, session, f"configuration of {target.shown}")
    settings = _get_json(target, "/api/v1/users/user/settings", timeout, session,
                         f"settings of {spec['email']} at {target.shown}")
    ui_settings = ((settings or {}).get("ui") or {}) if isinstance(settings, dict) else {}
    features = ui_features((config or {}).get("features") or {}, model, user, ui_settings)
    stream = ui_stream(model, ui_settings)
    payload = ui_chat_request(model, spec["prompt"], features, stream,
                              "ailab-health-gate-" + token_hex(8), ui_settings)
    resp = target.request("/api/chat/completions", timeout, "POST", session, payload)
    content_type = next((v for k, v in resp.headers.items() if k.lower() == "content-type"), "")
    notice, reply = error_notice(resp.status, resp.body, content_type)
    sent = (f"stream {'on' if stream else 'off'}, features "
            f"{', '.join(k for k, v in features.items() if v) or 'none'}")
    if notice:
        hint = f"; {TOOLS_HINT}" if "does not support tools" in notice else ""
        raise CheckFailed(f"{what} ({sent}): the person gets an error notice instead of an answer: {notice}{hint}")
    answer = reply.content.strip() or reply.reasoning.strip()
    if spec.get("expect"):
        try:
            matched = re.search(spec["expect"], answer)
        except re.error as e:
            raise CheckFailed(f"{what}: expect is not a valid regular expression: {e}")
        if not matched:
            raise CheckFailed(f"{what} ({sent}): the reply {snippet(answer, 80)!r} does not match expect "
                              f"{spec['expect']!r}")
    said = "answered" if reply.content.strip() else "only reasoned"
    return f"{name} {said} {snippet(answer, 40)!r}"
