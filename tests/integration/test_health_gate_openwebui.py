"""health_gate's openwebui check (plugins/module_utils/_health_openwebui.py) against a real Open WebUI
0.12.4 on loopback (health_servers.start_openwebui), with its database in a PostgreSQL of its own
and the real Ollama (model `tiny`) behind it: health, sign-in, chat completions by short and by
fully qualified model name, the module in a playbook, and a database that goes away (last).

The first run installs Open WebUI from the wheelhouse into $AILAB_HOME (about 4 minutes, once).
"""
from __future__ import annotations

import ast
import sys
import tempfile

import pytest

import health_servers
import services
from helpers.playbook import run_playbook

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_openwebui import check_openwebui


@pytest.fixture(scope="module")
def openwebui_db():
    """A PostgreSQL of this module's own: the last test stops it."""
    reason = services.postgres_available()
    if reason:
        pytest.skip(reason)
    svc = services.start_postgres(tempfile.mkdtemp(prefix="ailab-owui-pg-"))
    svc.psql("CREATE DATABASE openwebui")
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def openwebui(ollama_server, openwebui_db):
    reason = health_servers.openwebui_available()
    if reason:
        pytest.skip(reason)
    svc = health_servers.start_openwebui(tempfile.mkdtemp(prefix="ailab-owui-"), ollama_server.url,
                                         openwebui_db.dsn("openwebui"))
    yield svc
    svc.close()


def spec(server, **kw):
    return {"url": server.url, "check_db": True, "email": None, "password": None, "model": None,
            "prompt": "Reply with the single word OK.", "validate_certs": True, "ca_path": None, "timeout": 120, **kw}


def signed_in(server, **kw):
    return spec(server, email=server.email, password=server.password, **kw)


def answer(detail: str, prefix: str) -> str:
    assert detail.startswith(prefix), detail
    return ast.literal_eval(detail[len(prefix):])   # a repr: quoted either way by the text


def test_health_and_database(openwebui):
    assert check_openwebui(spec(openwebui), 10) == "healthy, database ok"
    assert check_openwebui(spec(openwebui, check_db=False), 10) == "healthy"


def test_admin_signs_in_and_the_model_answers_through_openwebui(openwebui):
    secrets: list = []
    detail = check_openwebui(signed_in(openwebui, model="tiny"), 120, secrets=secrets)
    assert answer(detail, "healthy, database ok, signed in as admin@example.org, tiny answered ").strip()
    assert len(secrets) == 1 and secrets[0].count(".") == 2   # the session JWT, masked by the gate from then on


def test_chat_by_fully_qualified_ollama_name(openwebui):
    name = "registry.ollama.ai/library/tiny:latest"
    detail = check_openwebui(signed_in(openwebui, model=name), 120, secrets=[])
    assert answer(detail, f"healthy, database ok, signed in as admin@example.org, {name} answered ").strip()


def test_wrong_password_and_unknown_model(openwebui):
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(spec(openwebui, email=openwebui.email, password="not-the-password"), 10)
    assert str(exc.value) == (f"sign-in as admin@example.org at {openwebui.url} failed: HTTP 400: The email or "
                              "password provided is incorrect. Please check for typos and try logging in again.")
    with pytest.raises(CheckFailed, match=rf"^chat completion with nope:1b through {openwebui.url} returned HTTP 4\d\d "):
        check_openwebui(signed_in(openwebui, model="nope:1b"), 30, secrets=[])


def test_module_gate_signs_in_and_chats(openwebui):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Open WebUI answers", "register": "gate", "ailab.stack.health_gate": {"deadline": 120, "checks": [
            {"name": "Open WebUI chats", "openwebui": {"url": openwebui.url, "email": openwebui.email,
                                                       "password": openwebui.password, "model": "tiny"}}]}},
        {"name": "Show the report", "ansible.builtin.debug": {"msg": "{{ gate.report | to_json }}"}},
    ]}]
    proc = run_playbook(play, extravars={"ansible_python_interpreter": sys.executable}, extra_args=["-v"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    report = health_servers.gate_report(proc.stdout)
    assert [(r["name"], r["type"], r["ok"]) for r in report] == [("Open WebUI chats", "openwebui", True)]
    assert answer(report[0]["detail"], "healthy, database ok, signed in as admin@example.org, tiny answered ").strip()
    assert openwebui.password not in out


def test_database_down_is_reported(openwebui, openwebui_db):
    # last in this file: it stops the module's PostgreSQL
    openwebui_db.close()
    with pytest.raises(CheckFailed, match=rf"^GET {openwebui.url}/health/db "):
        check_openwebui(spec(openwebui), 30)
    assert check_openwebui(spec(openwebui, check_db=False), 10) == "healthy"
