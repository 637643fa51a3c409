"""The openwebui check (plugins/module_utils/_health_openwebui.py): what the browser's chat request
holds (features, stream, tools, session), how an answer of /api/chat/completions is read (Server-Sent
Events or JSON) and when it is an error notice, and the check against a loopback server that answers
like Open WebUI 0.12. The real Open WebUI is in tests/integration/test_health_gate_openwebui.py."""
from __future__ import annotations

import json

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_openwebui import (
    check_openwebui, error_notice, model_id, parse_reply, ui_chat_request, ui_features, ui_stream)

ADMIN = {"role": "admin"}
# /api/config features of a default Open WebUI 0.12.4 (the relevant ones)
CONFIG = {"enable_web_search": False, "enable_code_interpreter": True, "enable_image_generation": False,
          "enable_memories": True}


def sse(*events) -> str:
    """A stream as Open WebUI sends it: one `data:` line per event, then [DONE]."""
    return "".join(f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n" for e in events) + "data: [DONE]\n\n"


def chunk(content=None, reasoning=None):
    delta = {k: v for k, v in (("content", content), ("reasoning_content", reasoning)) if v is not None}
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


# ------------------------------------------------------------------------------------------------
# the answer
# ------------------------------------------------------------------------------------------------
def test_stream_reply_is_the_deltas_joined():
    reply = parse_reply(sse(chunk("O"), chunk("K"), {"choices": [{"delta": {}, "finish_reason": "length"}]}),
                        "text/event-stream")
    assert reply.content == "OK" and reply.errors == []
    assert error_notice(200, sse(chunk("O"), chunk("K")), "text/event-stream")[0] is None


def test_json_reply_when_the_model_does_not_stream():
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "OK"}}]})
    assert error_notice(200, body, "application/json") == (None, parse_reply(body))
    assert parse_reply(body).content == "OK"


@pytest.mark.parametrize("status, body, notice", [
    # what Ollama answers for a model without tool support that got tools, passed on by Open WebUI
    (400, '{"detail":"registry.ollama.ai/library/tiny:latest does not support tools"}',
     "HTTP 400: registry.ollama.ai/library/tiny:latest does not support tools"),
    (500, "Internal Server Error", "HTTP 500: Internal Server Error"),
    # Open WebUI's frame when the stream breaks mid-answer (utils/middleware.py stream_wrapper)
    (200, sse(chunk("O"), {"error": {"message": "Chat completion stream failed"}}),
     "error in the answer: Chat completion stream failed"),
    (200, sse({"detail": "Model not found"}), "error in the answer: Model not found"),
    (200, sse({"error": "tiny does not support tools"}), "error in the answer: tiny does not support tools"),
    (200, sse(chunk(""), chunk("  ")), "empty reply"),
    (200, sse(), "empty reply"),
    (200, "", "empty reply"),
    (200, "data: {not json\n\n", "error in the answer: not JSON in the stream: {not json"),
])
def test_error_notices(status, body, notice):
    assert error_notice(status, body, "text/event-stream")[0] == notice


def test_reasoning_alone_is_a_reply():
    notice, reply = error_notice(200, sse(chunk(reasoning="thinking")), "text/event-stream")
    assert notice is None and reply.reasoning == "thinking" and reply.content == ""


# ------------------------------------------------------------------------------------------------
# the request
# ------------------------------------------------------------------------------------------------
def test_default_features_of_a_new_chat():
    # Chat.svelte getFeatures(): voice off, nothing on by default, memory from the server default
    assert ui_features(CONFIG, {"id": "tiny:latest"}, ADMIN, {}) == {
        "voice": False, "image_generation": False, "code_interpreter": False, "web_search": False, "memory": True}
    assert "memory" not in ui_features(CONFIG, {"id": "tiny:latest"}, ADMIN, {"memory": False})


def test_model_default_features_need_the_capability_the_server_and_the_permission():
    meta = {"defaultFeatureIds": ["code_interpreter", "web_search"],
            "capabilities": {"code_interpreter": True, "web_search": True}}
    model = {"id": "m", "info": {"meta": meta}}
    on = ui_features(CONFIG, model, ADMIN, {})
    assert on["code_interpreter"] is True and on["web_search"] is False   # web search is off on the server
    assert ui_features({**CONFIG, "enable_web_search": True}, model, ADMIN, {})["web_search"] is True
    user = {"role": "user", "permissions": {"features": {"code_interpreter": False}}}
    assert ui_features(CONFIG, model, user, {})["code_interpreter"] is False
    no_capability = {"id": "m", "info": {"meta": {**meta, "capabilities": {}}}}
    assert ui_features(CONFIG, no_capability, ADMIN, {})["code_interpreter"] is False


def test_web_search_always_from_the_user_settings():
    config = {**CONFIG, "enable_web_search": True}
    assert ui_features(config, {"id": "m"}, ADMIN, {"webSearch": "always"})["web_search"] is True
    off = {"id": "m", "info": {"meta": {"capabilities": {"web_search": False}}}}
    assert ui_features(config, off, ADMIN, {"webSearch": "always"})["web_search"] is False


def test_stream_unless_the_model_or_the_user_switches_it_off():
    assert ui_stream({"id": "m"}, {}) is True
    assert ui_stream({"id": "m"}, {"params": {"stream_response": False}}) is False
    assert ui_stream({"id": "m", "info": {"params": {"stream_response": True}}}, {"params": {"stream_response": False}})


def test_chat_request_carries_the_session_tools_and_model():
    model = {"id": "tiny:latest", "info": {"meta": {"toolIds": ["server:mcp:time"]}}}
    body = ui_chat_request(model, "Hi", {"memory": True}, True, "sid-1", {"params": {"temperature": 0.2, "seed": None}})
    assert body == {"stream": True, "model": "tiny:latest", "messages": [{"role": "user", "content": "Hi"}],
                    "params": {"temperature": 0.2, "max_tokens": 16}, "tool_ids": ["server:mcp:time"],
                    "features": {"memory": True}, "variables": {}, "model_item": model, "session_id": "sid-1"}
    assert "chat_id" not in body and "parent_id" not in body   # no stored chat: Open WebUI answers over HTTP


# ------------------------------------------------------------------------------------------------
# the check, against a loopback server answering like Open WebUI 0.12
# ------------------------------------------------------------------------------------------------
def owui_spec(url, **kw):
    spec = {"url": url, "check_db": True, "email": None, "password": None, "model": None,
            "prompt": "Reply OK", "expect": None, "validate_certs": True, "ca_path": None, "timeout": 5}
    spec.update(kw)
    return spec


def signed_in(url, **kw):
    return owui_spec(url, **{"email": "admin@example.org", "password": "right-pw", "model": "tiny", **kw})


@pytest.fixture
def owui(web):
    """Answers like Open WebUI 0.12: health, sign-in, models, config, settings, streamed chat. The
    model without tool support refuses the builtin tools a request with a session_id gets, unless
    the model's capabilities.builtin_tools is false."""
    web.models = [{"id": "tiny:latest", "owned_by": "ollama", "info": {"meta": {"capabilities": {"builtin_tools": False}}}}]
    web.reply = sse(chunk("O"), chunk("K"))

    def authed(answer):
        def route(handler, body):
            if handler.headers.get("Authorization") != "Bearer tok-123456":
                return 401, {"detail": "Not authenticated"}
            return answer(body)
        return route

    def signin(handler, body):
        if body == {"email": "admin@example.org", "password": "right-pw"}:
            return 200, {"token": "tok-123456", "role": "admin"}
        return 400, {"detail": "The email or password provided is incorrect. Please check for typos and try logging in again."}

    def chat(body):
        model = next((m for m in web.models if m["id"] == body["model"]), None)
        if model is None:
            return 400, {"detail": "Model not found"}
        if body.get("session_id") and (model.get("info", {}).get("meta", {}).get("capabilities") or {}).get("builtin_tools", True):
            return 400, {"detail": f"registry.ollama.ai/library/{body['model']} does not support tools"}
        return 200, web.reply

    web.routes.update({
        ("GET", "/health"): lambda h, b: (200, {"status": True}),
        ("GET", "/health/db"): lambda h, b: (200, {"status": True}),
        ("POST", "/api/v1/auths/signin"): signin,
        ("GET", "/api/models"): authed(lambda b: (200, {"data": web.models})),
        ("GET", "/api/config"): authed(lambda b: (200, {"features": CONFIG})),
        ("GET", "/api/v1/users/user/settings"): authed(lambda b: (200, None)),
        ("POST", "/api/chat/completions"): authed(chat),
    })
    return web


def test_openwebui_health_signin_and_chat(owui):
    secrets = []
    detail = check_openwebui(signed_in(owui.url), 5, secrets=secrets)
    assert detail == "healthy, database ok, signed in as admin@example.org, tiny answered 'OK'"
    assert secrets == ["tok-123456"]  # the session token is masked from then on
    sent = owui.seen[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "Reply OK"}]
    assert sent["stream"] is True and sent["session_id"].startswith("ailab-health-gate-")
    assert sent["features"] == {"voice": False, "image_generation": False, "code_interpreter": False,
                                "web_search": False, "memory": True}
    assert sent["model_item"] == owui.models[0]


def test_builtin_tools_for_a_model_without_tool_support_fail_with_a_clear_report(owui):
    owui.models[0]["info"]["meta"]["capabilities"]["builtin_tools"] = True
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(signed_in(owui.url), 5, secrets=[])
    assert str(exc.value).startswith(
        f"chat with tiny through {owui.url} (stream on, features memory): the person gets an error notice instead "
        "of an answer: HTTP 400: registry.ollama.ai/library/tiny:latest does not support tools; Open WebUI handed "
        "the model its builtin tools, and the model has no tool support: set capabilities.builtin_tools false")


@pytest.mark.parametrize("reply, notice", [
    (sse({"error": {"message": "Chat completion stream failed"}}), "error in the answer: Chat completion stream failed"),
    (sse(chunk("")), "empty reply"),
])
def test_error_notice_in_the_stream_fails(owui, reply, notice):
    owui.reply = reply
    with pytest.raises(CheckFailed, match=f"the person gets an error notice instead of an answer: {notice}$"):
        check_openwebui(signed_in(owui.url), 5, secrets=[])


def test_expect(owui):
    assert check_openwebui(signed_in(owui.url, expect=r"^O"), 5, secrets=[]).endswith("tiny answered 'OK'")
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(signed_in(owui.url, expect=r"(?i)paris"), 5, secrets=[])
    assert str(exc.value) == (f"chat with tiny through {owui.url} (stream on, features memory): the reply 'OK' "
                              "does not match expect '(?i)paris'")
    with pytest.raises(CheckFailed, match=r"expect is not a valid regular expression"):
        check_openwebui(signed_in(owui.url, expect=r"(unclosed"), 5, secrets=[])


def test_openwebui_db_down(owui):
    owui.routes[("GET", "/health/db")] = lambda h, b: (503, {"status": False})
    with pytest.raises(CheckFailed, match=r"/health/db returned HTTP 503"):
        check_openwebui(owui_spec(owui.url), 5)
    assert check_openwebui(owui_spec(owui.url, check_db=False), 5) == "healthy"


def test_openwebui_wrong_password_reports_detail(owui):
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(owui_spec(owui.url, email="admin@example.org", password="wrong-pw"), 5)
    assert str(exc.value) == (f"sign-in as admin@example.org at {owui.url} failed: HTTP 400: The email or "
                              "password provided is incorrect. Please check for typos and try logging in again.")


def test_openwebui_chat_with_unknown_model(owui):
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(signed_in(owui.url, model="nope"), 5, secrets=[])
    assert str(exc.value) == f"chat with nope through {owui.url}: Open WebUI does not list the model nope:latest (it lists: tiny:latest)"


@pytest.mark.parametrize("name, sent", [
    ("tiny", "tiny:latest"),
    ("registry.ollama.ai/library/tiny:latest", "tiny:latest"),
    ("library/tiny", "tiny:latest"),
    ("team/model:1b", "team/model:1b"),
    ("My assistant", "My assistant"),   # an Open WebUI custom model: its id as written
])
def test_model_id_is_the_name_ollama_lists(name, sent):
    assert model_id(name) == sent


def test_openwebui_chat_with_a_fully_qualified_ollama_name(owui):
    detail = check_openwebui(signed_in(owui.url, model="registry.ollama.ai/library/tiny:latest"), 5, secrets=[])
    assert detail.endswith(", registry.ollama.ai/library/tiny:latest answered 'OK'")
    assert owui.seen[-1]["body"]["model"] == "tiny:latest"


def test_openwebui_down(closed_port):
    with pytest.raises(CheckFailed, match=f"^GET http://127.0.0.1:{closed_port}/health: cannot connect: "):
        check_openwebui(owui_spec(f"http://127.0.0.1:{closed_port}"), 2)


def test_later_attempts_reuse_the_session_and_sign_in_again_when_it_is_refused(owui):
    # Open WebUI allows 15 sign-ins per e-mail in 3 minutes; a failing gate tries more often than that
    owui.routes[("GET", "/api/v1/auths/")] = lambda h, b: (
        (200, {"role": "admin"}) if h.headers.get("Authorization") == "Bearer tok-123456" else (401, {}))
    spec = owui_spec(owui.url, email="admin@example.org", password="right-pw")
    for attempt in range(3):
        secrets = []
        assert check_openwebui(spec, 5, secrets=secrets) == "healthy, database ok, signed in as admin@example.org", attempt
        assert secrets == ["tok-123456"], attempt
    paths = [r["path"] for r in owui.seen if r["path"].startswith("/api/v1/auths")]
    assert paths == ["/api/v1/auths/signin", "/api/v1/auths/", "/api/v1/auths/"]
    owui.routes[("GET", "/api/v1/auths/")] = lambda h, b: (401, {"detail": "Not authenticated"})
    check_openwebui(spec, 5, secrets=[])
    assert [r["path"] for r in owui.seen][-2:] == ["/api/v1/auths/", "/api/v1/auths/signin"]
