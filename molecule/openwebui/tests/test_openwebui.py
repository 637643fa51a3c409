"""Behaviour of ailab.stack.openwebui on the systemd runtime, against the real PostgreSQL and the
real Ollama (model tiny) that prepare.yml started in the container: Open WebUI serves, the first
admin signs in, a chat completion comes from the model, users and chats live in PostgreSQL and
survive a restart, and the secret key and the secrets stay where they belong.
"""
import json
import time
import urllib.error
import urllib.request

import pytest

from conftest import container_ip  # molecule/conftest.py

testinfra_hosts = ["ansible://openwebui-bookworm"]
ADMIN = {"email": "admin@example.org", "password": "molecule-admin-pw"}
SECRETS = ["molecule-admin-pw", "molecule-db-pw"]
DATA = "/var/lib/open-webui"


@pytest.fixture(scope="module")
def base(host):
    return f"http://{container_ip(host)}:8080"


def call(base, path, payload=None, token=None, method=None, timeout=120):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(base + path, data=data, headers=headers,
                                 method=method or ("GET" if data is None else "POST"))
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode() or "null")


def wait_healthy(base, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if call(base, "/health/db", timeout=5).get("status") is True:
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(2)
    raise AssertionError(f"Open WebUI not healthy after {timeout}s")


@pytest.fixture(scope="module")
def token(base):
    return call(base, "/api/v1/auths/signin", ADMIN)["token"]


def test_service_enabled_and_running(host):
    svc = host.service("open-webui")
    assert svc.is_enabled and svc.is_running
    assert host.check_output("/opt/open-webui/venv/bin/pip show open-webui | sed -n 's/^Version: //p'") == "0.12.4"


def test_health_and_database(base):
    assert call(base, "/health") == {"status": True}
    assert call(base, "/health/db") == {"status": True}


def test_secrets_stay_in_0600_files(host):
    env = host.file("/etc/open-webui/open-webui.env")
    assert (env.user, env.mode) == ("root", 0o600)
    key = host.file(f"{DATA}/.webui_secret_key")
    assert (key.user, key.mode) == ("open-webui", 0o600) and len(key.content_string.strip()) >= 32
    assert f"WEBUI_SECRET_KEY=\"{key.content_string.strip()}\"" in env.content_string
    unit = host.file("/etc/systemd/system/open-webui.service").content_string
    journal = host.check_output("journalctl -u open-webui --no-pager")
    for secret in SECRETS + [key.content_string.strip()]:
        assert secret not in unit and secret not in journal


def test_secret_key_never_regenerated(host):
    # recorded by converge.yml on the first converge; the idempotence run came after it
    assert host.run("sha256sum -c /root/first-secret-key.sha256").rc == 0


def test_admin_signs_in(base, token):
    me = call(base, "/api/v1/auths/", token=token)
    assert me["email"] == ADMIN["email"] and me["role"] == "admin"


def test_chat_completion_comes_from_the_model(base, token):
    models = [m["id"] for m in call(base, "/api/models", token=token)["data"]]
    assert "tiny:latest" in models
    # max_tokens: the raw GGUF has no chat template and would ramble on a busy 2-core machine;
    # temperature 0: the same (non-empty) answer every run
    out = call(base, "/api/chat/completions", {"model": "tiny:latest", "stream": False, "max_tokens": 16, "temperature": 0,
               "messages": [{"role": "user", "content": "Say hello in one word."}]}, token=token, timeout=300)
    assert out["choices"][0]["message"]["content"].strip()


def test_the_model_without_tool_support_gets_no_builtin_tools_and_chats_as_in_the_browser(base, token):
    # the role's last step (ailab.stack.openwebui_model_tools): tiny's template takes no tools
    record = call(base, "/api/v1/models/model?id=tiny%3Alatest", token=token)
    assert record["meta"]["capabilities"]["builtin_tools"] is False
    # what the browser sends: a session id makes Open WebUI add its builtin tools unless the model's
    # setting is false; Ollama would refuse them ("tiny:latest does not support tools")
    req = urllib.request.Request(base + "/api/chat/completions", data=json.dumps({
        "model": "tiny:latest", "stream": True, "session_id": "molecule-browser-like",
        "features": {"voice": False, "image_generation": False, "code_interpreter": False, "web_search": False,
                     "memory": True},
        "params": {"max_tokens": 16, "temperature": 0},
        "messages": [{"role": "user", "content": "Say hello in one word."}]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, method="POST")
    with urllib.request.urlopen(req, timeout=300) as r:
        events = [json.loads(line[5:]) for line in r.read().decode().splitlines()
                  if line.startswith("data:") and line[5:].strip() != "[DONE]"]
    assert not [e for e in events if "error" in e or "detail" in e], events
    assert "".join(c.get("delta", {}).get("content") or "" for e in events for c in e.get("choices", [])).strip()


def test_users_live_in_postgresql_not_sqlite(host):
    rows = host.check_output("sudo -u postgres psql -d openwebui -Atc 'select email, role from \"user\"'")
    assert rows.splitlines() == [f"{ADMIN['email']}|admin"]
    sqlite = host.run(f"find {DATA} -name '*.db' -path '*webui*'")
    assert sqlite.stdout.strip() == "", f"SQLite database in the data directory: {sqlite.stdout}"


def test_chat_and_session_survive_a_restart(host, base, token):
    chat = call(base, "/api/v1/chats/new", {"chat": {"title": "kept across restarts", "messages": []}}, token=token)
    host.check_output("systemctl restart open-webui")
    wait_healthy(base)
    # the token issued before the restart is still valid: same secret key
    ids = [c["id"] for c in call(base, "/api/v1/chats/", token=token)]
    assert chat["id"] in ids
    assert call(base, f"/api/v1/chats/{chat['id']}", token=token)["title"] == "kept across restarts"
