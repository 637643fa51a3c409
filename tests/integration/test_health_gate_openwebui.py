"""health_gate's openwebui check (plugins/module_utils/_health_openwebui.py) against a real Open WebUI
0.12.4 on loopback (health_servers.start_openwebui), with its database in a PostgreSQL of its own
and the real Ollama behind it (`tiny`, without tool support, and `tiny-tools`, the same weights with
a template that takes tools): the builtin tools of each model set by ailab.stack.openwebui_model_tools
as the openwebui role does, health, sign-in, the chat a person's first message in the browser sends,
by short and by fully qualified model name, the gate failing with a clear report when the builtin
tools are forced on for `tiny` and when `expect` does not match, the module in a playbook, and a
database that goes away (last).

The first run installs Open WebUI from the wheelhouse into $AILAB_HOME (about 4 minutes, once).
"""
from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import pytest

import health_servers
import services
from helpers.playbook import run_playbook

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_openwebui import check_openwebui

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "molecule", "e2e", "tests"))
import owui_browser as ui  # noqa: E402  (the e2e scenario's browser steps, shared)


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


# The same GGUF as `tiny`, with a template that uses .Tools: Ollama 0.5.4 then accepts tools for it.
TOOLS_MODELFILE = 'FROM tiny\nTEMPLATE """{{ if .Tools }}Tools: {{ .Tools }}\n{{ end }}{{ .Prompt }}"""\n'


@pytest.fixture(scope="module")
def tools_model(ollama_server):
    """`tiny-tools` on the session's Ollama for this module only (other modules expect only `tiny`)."""
    modelfile = os.path.join(ollama_server.workdir, "Modelfile.tools")
    with open(modelfile, "w") as f:
        f.write(TOOLS_MODELFILE)
    subprocess.run([os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib"), "create", "tiny-tools", "-f", modelfile],
                   check=True, env=services.ollama_env(ollama_server.url), capture_output=True, timeout=300)
    yield "tiny-tools:latest"
    req = urllib.request.Request(ollama_server.url + "/api/delete", data=json.dumps({"model": "tiny-tools"}).encode(),
                                 method="DELETE")
    urllib.request.urlopen(req, timeout=30).close()


@pytest.fixture(scope="module")
def openwebui(ollama_server, openwebui_db, tools_model):
    reason = health_servers.openwebui_available()
    if reason:
        pytest.skip(reason)
    svc = health_servers.start_openwebui(tempfile.mkdtemp(prefix="ailab-owui-"), ollama_server.url,
                                         openwebui_db.dsn("openwebui"))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def operator(openwebui):
    """A second admin, for the tests that break the chat on purpose: Open WebUI allows 15 sign-ins
    per e-mail in 3 minutes (routers/auths.py signin_rate_limiter), and every check signs in."""
    def post(path, body, token=None):
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        req = urllib.request.Request(openwebui.url + path, data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    token = post("/api/v1/auths/signin", {"email": openwebui.email, "password": openwebui.password})["token"]
    second = dataclasses.replace(openwebui, email="operator@example.org", password="test-operator-pw", cleanups=[])
    post("/api/v1/auths/add", {"name": "Operator", "email": second.email, "password": second.password, "role": "admin"},
         token)
    return second


def model_tools(server, check: bool = False, **options):
    """ailab.stack.openwebui_model_tools in a playbook; its result."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Set the builtin tools of the models", "register": "tools", "ailab.stack.openwebui_model_tools": {
            "url": server.url, "email": server.email, "password": server.password, **options}},
        {"name": "Show the result", "ansible.builtin.debug": {"msg": "{{ tools | to_json }}"}},
    ]}]
    proc = run_playbook(play, check=check, extra_args=["--diff"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert server.password not in out
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith('"msg": "{'))
    return json.loads(json.loads("{" + line.strip() + "}")["msg"])


def builtin_tools(result) -> dict:
    return {m["id"]: (m["tools"], m["builtin_tools"]) for m in result["models"]}


@pytest.fixture(scope="module")
def tools_set(openwebui, tools_model):
    """Check mode, the run, the run again (as the openwebui role runs the module after a start)."""
    planned = model_tools(openwebui, check=True)
    assert planned["changed"] and builtin_tools(planned) == {"tiny:latest": (False, False), tools_model: (True, True)}
    assert sorted(planned["actions"]) == ["builtin_tools false for tiny:latest", f"builtin_tools true for {tools_model}"]
    done = model_tools(openwebui)
    assert done["changed"] and done["models"] == planned["models"]
    again = model_tools(openwebui)
    assert not again["changed"] and again["actions"] == []
    assert [m["before"] for m in again["models"]] == [m["builtin_tools"] for m in again["models"]]
    return again


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


def test_admin_signs_in_and_the_model_answers_through_openwebui(openwebui, tools_set):
    secrets: list = []
    detail = check_openwebui(signed_in(openwebui, model="tiny"), 120, secrets=secrets)
    assert answer(detail, "healthy, database ok, signed in as admin@example.org, tiny answered ").strip()
    assert len(secrets) == 1 and secrets[0].count(".") == 2   # the session JWT, masked by the gate from then on


def test_chat_by_fully_qualified_ollama_name(openwebui, tools_set):
    name = "registry.ollama.ai/library/tiny:latest"
    detail = check_openwebui(signed_in(openwebui, model=name), 120, secrets=[])
    assert answer(detail, f"healthy, database ok, signed in as admin@example.org, {name} answered ").strip()


def test_a_model_with_tool_support_keeps_its_builtin_tools(openwebui, tools_set, tools_model):
    detail = check_openwebui(signed_in(openwebui, model=tools_model), 120, secrets=[])
    assert answer(detail, f"healthy, database ok, signed in as admin@example.org, {tools_model} answered ").strip()


def test_builtin_tools_forced_on_for_a_model_without_tool_support_fail_the_gate(operator, tools_set):
    openwebui = operator
    forced = model_tools(openwebui, builtin_tools={"tiny:latest": True, "not-served:1b": False})
    assert forced["actions"] == ["builtin_tools true for tiny:latest"] and forced["missing"] == ["not-served:1b"]
    try:
        with pytest.raises(CheckFailed) as exc:
            check_openwebui(signed_in(openwebui, model="tiny"), 120, secrets=[])
        assert str(exc.value) == (
            f"chat with tiny through {openwebui.url} (stream on, features memory): the person gets an error notice "
            "instead of an answer: HTTP 400: registry.ollama.ai/library/tiny:latest does not support tools; Open WebUI "
            "handed the model its builtin tools, and the model has no tool support: set capabilities.builtin_tools "
            "false for it (openwebui role: openwebui_builtin_tools, openwebui_model_builtin_tools; Admin Settings > "
            "Models > the model > Builtin Tools)")
    finally:
        restored = model_tools(openwebui)
    assert restored["actions"] == ["builtin_tools false for tiny:latest"]
    assert check_openwebui(signed_in(openwebui, model="tiny"), 120, secrets=[])


def browser_chat(server, model: str) -> str:
    """A person's first message in headless chromium (the e2e scenario's steps, owui_browser.py): sign in,
    a new chat with `model` (?models=), a question; the rendered reply, or ui.ReplyError for a notice."""
    driver = ui.start()
    try:
        ui.sign_in(driver, server.url, server.email, server.password)
        driver.get(f"{server.url}/?models={model}")
        ui.wait(driver).until(lambda d: ui.selected_model(d) == model)
        ui.close_whats_new(driver, timeout=1.5)
        return ui.wait_reply(driver, ui.send(driver, "What is the capital of France?"))
    finally:
        driver.quit()


def test_the_browser_shows_the_tools_notice_while_builtin_tools_are_forced_on(operator, tools_set):
    """What the e2e browser test met before the fix (Open WebUI's default: builtin tools for every
    model): the person's first message gets the notice, and owui_browser.wait_reply, which the e2e
    browser test waits with, fails on it. (With the role's setting the e2e test gets its reply from the
    sandbox's model; this module's `tiny` has the bare GGUF template and would write on for minutes.)"""
    openwebui = operator
    model_tools(openwebui, builtin_tools={"tiny:latest": True})
    try:
        with pytest.raises(ui.ReplyError, match="the reply is an error notice: .*does not support tools"):
            browser_chat(openwebui, "tiny:latest")
    finally:
        assert model_tools(openwebui)["actions"] == ["builtin_tools false for tiny:latest"]


def test_expect(operator, tools_set):
    openwebui = operator
    detail = check_openwebui(signed_in(openwebui, model="tiny", expect=r"\S"), 120, secrets=[])
    assert answer(detail, "healthy, database ok, signed in as operator@example.org, tiny answered ").strip()
    with pytest.raises(CheckFailed, match=rf"^chat with tiny through {openwebui.url} \(stream on, features memory\): "
                                          r"the reply (['\"]).*\1 does not match expect '\^ailab-never-said\$'$"):
        check_openwebui(signed_in(openwebui, model="tiny", expect="^ailab-never-said$"), 120, secrets=[])


def test_wrong_password_and_unknown_model(openwebui, tools_set, tools_model):
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(spec(openwebui, email=openwebui.email, password="not-the-password"), 10)
    assert str(exc.value) == (f"sign-in as admin@example.org at {openwebui.url} failed: HTTP 400: The email or "
                              "password provided is incorrect. Please check for typos and try logging in again.")
    with pytest.raises(CheckFailed) as exc:
        check_openwebui(signed_in(openwebui, model="nope:1b"), 30, secrets=[])
    assert str(exc.value) == (f"chat with nope:1b through {openwebui.url}: Open WebUI does not list the model nope:1b "
                              f"(it lists: {tools_model}, tiny:latest)")


def test_module_gate_signs_in_and_chats(openwebui, tools_set):
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
