"""The openwebui check (plugins/module_utils/_health_openwebui.py) against a loopback server that
answers like Open WebUI 0.12: health, health/db, sign-in, chat completions. The real Open WebUI
is in tests/integration/test_health_gate_openwebui.py."""
from __future__ import annotations

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_openwebui import check_openwebui, model_id


def owui_spec(url, **kw):
    spec = {"url": url, "check_db": True, "email": None, "password": None, "model": None,
            "prompt": "Reply OK", "validate_certs": True, "ca_path": None, "timeout": 5}
    spec.update(kw)
    return spec


@pytest.fixture
def owui(web):
    """Answers like Open WebUI 0.12: health, health/db, sign-in, chat completions."""
    def signin(handler, body):
        if body == {"email": "admin@example.org", "password": "right-pw"}:
            return 200, {"token": "tok-123456", "role": "admin"}
        return 400, {"detail": "The email or password provided is incorrect. Please check for typos and try logging in again."}

    def chat(handler, body):
        if handler.headers.get("Authorization") != "Bearer tok-123456":
            return 401, {"detail": "Not authenticated"}
        if body["model"] != "tiny:latest":  # like the real one: Ollama models by full reference
            return 400, {"detail": "Model not found"}
        return 200, {"choices": [{"message": {"role": "assistant", "content": "OK"}}]}

    web.routes.update({
        ("GET", "/health"): lambda h, b: (200, {"status": True}),
        ("GET", "/health/db"): lambda h, b: (200, {"status": True}),
        ("POST", "/api/v1/auths/signin"): signin,
        ("POST", "/api/chat/completions"): chat,
    })
    return web


def test_openwebui_health_signin_and_chat(owui):
    secrets = []
    detail = check_openwebui(owui_spec(owui.url, email="admin@example.org", password="right-pw",
                                       model="tiny"), 5, secrets=secrets)
    assert detail == "healthy, database ok, signed in as admin@example.org, tiny answered 'OK'"
    assert secrets == ["tok-123456"]  # the session token is masked from then on
    assert owui.seen[-1]["body"]["messages"] == [{"role": "user", "content": "Reply OK"}]


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
    with pytest.raises(CheckFailed, match=r"chat completion with nope .* returned HTTP 400 .*Model not found"):
        check_openwebui(owui_spec(owui.url, email="admin@example.org", password="right-pw",
                                  model="nope"), 5)


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
    detail = check_openwebui(owui_spec(owui.url, email="admin@example.org", password="right-pw",
                                       model="registry.ollama.ai/library/tiny:latest"), 5, secrets=[])
    assert detail.endswith(", registry.ollama.ai/library/tiny:latest answered 'OK'")
    assert owui.seen[-1]["body"]["model"] == "tiny:latest"


def test_openwebui_down(closed_port):
    with pytest.raises(CheckFailed, match=f"^GET http://127.0.0.1:{closed_port}/health: cannot connect: "):
        check_openwebui(owui_spec(f"http://127.0.0.1:{closed_port}"), 2)
