"""ollama_model and ollama_model_info through real playbooks against real `ollama serve` 0.5.4
(CPU) with the real gemma3 270M GGUF, and a real registry (docker-registry behind nginx) for pulls.

Requests the server received are read from its own log (one `[GIN]` line per request), so
"no pull on the second run" is what the server saw, not what the module says it did.
The shared `ollama_server` (with `tiny`) is only read and used to push `tiny` into the registry;
every test that changes models uses a server of its own.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

import pytest

import ollama_registry
import services
from helpers.playbook import run_playbook

PY = {"ansible_python_interpreter": sys.executable}


def gin(svc) -> list[tuple[str, str]]:
    """(method, path) of every request the server logged so far."""
    with open(os.path.join(svc.workdir, "ollama.log"), errors="replace") as f:
        return re.findall(r'\[GIN\].*\|\s+(GET|POST|DELETE|HEAD|PUT)\s+"([^"]+)"', f.read())


def tags(svc) -> dict[str, str]:
    return {m["name"]: m["digest"] for m in svc.api("/api/tags")["models"]}


def run_module(args: dict, check: bool = False, diff: bool = False, module: str = "ailab.stack.ollama_model"):
    """Run one module task in a real playbook; returns (returncode, the task's result)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Module under test", module: args, "register": "r", "ignore_errors": True},
            {"name": "Save the result", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": out},
             "check_mode": False}]}]
        extra = ["--diff"] if diff else []
        proc = run_playbook(play, extravars=PY, check=check, extra_args=extra)
        assert os.path.exists(out), proc.stdout[-3000:] + proc.stderr[-3000:]
        with open(out) as f:
            return proc.returncode, json.load(f)


def push(source_url: str, model: str, ref: str) -> None:
    """Copy `model` to `ref` on a server, push it to the registry (insecure), remove the copy."""
    env = services.ollama_env(source_url)
    binary = os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib")
    for cmd in (["cp", model, ref], ["push", "--insecure", ref], ["rm", ref]):
        subprocess.run([binary, *cmd], env=env, check=True, capture_output=True, timeout=300)


def registry_digest(registry, repo: str, tag: str = "latest") -> str:
    req = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{tag}",
                                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers["Docker-Content-Digest"].split(":", 1)[1]


@pytest.fixture(scope="module")
def registry(ollama_server):
    reason = ollama_registry.registry_available()
    if reason:
        pytest.skip(reason)
    reg = ollama_registry.start_registry(tempfile.mkdtemp(prefix="ailab-registry-"))
    push(ollama_server.url, "tiny", f"{reg.host}/library/tiny:latest")
    yield reg
    reg.close()


def new_server():
    return services.start_ollama(tempfile.mkdtemp(prefix="ailab-ollama-t-"))


@pytest.fixture(scope="module")
def server():
    """An Ollama of this module, empty at the start."""
    svc = new_server()
    yield svc
    svc.close()


def test_pull_check_mode_then_changed_then_no_pull(server, registry):
    ref = f"{registry.host}/library/tiny:latest"
    args = {"api_url": server.url, "name": ref, "insecure": True}

    rc, checked = run_module(args, check=True)
    assert rc == 0 and checked["changed"] is True and checked["actions"] == [f"pull {ref}"]
    assert tags(server) == {} and ("POST", "/api/pull") not in gin(server)

    rc, first = run_module(args, diff=True)
    assert rc == 0 and first["changed"] is True
    assert first["digest"] == registry_digest(registry, "library/tiny") == tags(server)[ref]
    assert first["size"] > 250_000_000
    assert first["diff"]["before"]["models"][ref]["present"] is False
    assert first["diff"]["after"]["models"][ref] == {"present": True, "digest": first["digest"]}

    seen = len(gin(server))
    rc, second = run_module(args)
    assert rc == 0 and second["changed"] is False and second["actions"] == []
    assert second["digest"] == first["digest"]
    assert gin(server)[seen:] == [("GET", "/api/tags")]  # one GET, no pull


def test_latest_pulls_only_when_the_registry_digest_changes(server, registry, ollama_server):
    ref = f"{registry.host}/library/tiny:latest"
    args = {"api_url": server.url, "name": ref, "insecure": True, "state": "latest"}
    run_module({"api_url": server.url, "name": ref, "insecure": True})  # present (idempotent if already)

    seen = len(gin(server))
    rc, same = run_module(args)
    assert rc == 0 and same["changed"] is False
    assert ("POST", "/api/pull") not in gin(server)[seen:]

    # A new version of the model on the registry: same weights, another system prompt.
    env = services.ollama_env(ollama_server.url)
    with tempfile.NamedTemporaryFile("w", suffix=".Modelfile", delete=False) as mf:
        mf.write(f"FROM {services.TINY_GGUF}\nSYSTEM You answer in one word.\n")
    subprocess.run([os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib"), "create", "tiny-v2", "-f", mf.name],
                   env=env, check=True, capture_output=True, timeout=300)
    try:
        push(ollama_server.url, "tiny-v2", ref)
    finally:
        subprocess.run([os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib"), "rm", "tiny-v2"], env=env,
                       capture_output=True, timeout=60, check=False)
    new_digest = registry_digest(registry, "library/tiny")
    assert new_digest != same["digest"]

    rc, checked = run_module(args, check=True)
    assert rc == 0 and checked["changed"] is True and checked["digest"] == new_digest
    assert tags(server)[ref] == same["digest"]  # check mode pulled nothing

    rc, updated = run_module(args)
    assert rc == 0 and updated["changed"] is True and updated["digest"] == new_digest == tags(server)[ref]
    rc, again = run_module(args)
    assert rc == 0 and again["changed"] is False


def test_registry_mirror_keeps_the_plain_name(server, registry):
    args = {"api_url": server.url, "name": "tiny", "source": {"registry": registry.host}, "insecure": True}
    rc, result = run_module(args)
    assert rc == 0 and result["changed"] is True
    assert result["actions"][0] == f"pull {registry.host}/library/tiny:latest"
    assert tags(server)["tiny:latest"] == registry_digest(registry, "library/tiny")
    rc, again = run_module(dict(args, state="latest"))
    assert rc == 0 and again["changed"] is False


def test_unknown_model_fails_with_ollamas_error(server, registry):
    before = tags(server)
    rc, result = run_module({"api_url": server.url, "name": f"{registry.host}/library/nosuch:latest",
                             "insecure": True})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(f"Ollama at {server.url}: pull {registry.host}/library/nosuch:latest: "
                                    "pull model manifest: ")
    assert json.loads(result["body"])["error"] in result["msg"]  # Ollama's own text, from its stream
    assert tags(server) == before


def test_registry_breaking_mid_pull_fails_cleanly_and_keeps_models(registry):
    svc = new_server()  # no blobs yet: the pull has to download them
    try:
        rc, created = run_module({"api_url": svc.url, "name": "local-tiny",
                                  "source": {"path": services.TINY_GGUF}})
        assert rc == 0 and created["changed"] is True
        run_module({"api_url": svc.url, "name": "local-tiny", "state": "absent"})  # the blob goes with it
        registry.break_blobs()
        try:
            rc, result = run_module({"api_url": svc.url, "name": f"{registry.host}/library/tiny:latest",
                                     "insecure": True, "timeout": 120})
        finally:
            registry.fix_blobs()
        assert result["failed"] is True and result["changed"] is False
        assert result["failed_action"] == f"pull {registry.host}/library/tiny:latest"
        assert json.loads(result["body"])["error"] in result["msg"]
        assert tags(svc) == {}  # no half-pulled model is listed
        rc, retried = run_module({"api_url": svc.url, "name": f"{registry.host}/library/tiny:latest",
                                  "insecure": True})
        assert rc == 0 and retried["changed"] is True
    finally:
        svc.close()


def test_create_from_gguf_copy_load_prune_and_absent(server):
    gguf = {"api_url": server.url, "name": "gguf-tiny", "source": {"path": services.TINY_GGUF}}
    rc, created = run_module(gguf)
    assert rc == 0 and created["actions"] == ["create gguf-tiny:latest from " + services.TINY_GGUF]
    rc, latest = run_module(dict(gguf, state="latest"))  # same weights: no re-create
    assert rc == 0 and latest["changed"] is False

    models = [{"name": "gguf-tiny", "source": {"path": services.TINY_GGUF}, "loaded": True},
              {"name": "assistant", "source": {"copy": "gguf-tiny"}}]
    rc, checked = run_module({"api_url": server.url, "models": models, "prune": True, "keep_alive": "10m"},
                             check=True)
    assert rc == 0 and checked["changed"] is True
    before = tags(server)
    assert "assistant:latest" not in before and len(before) > 1  # the pulled models are still there

    rc, result = run_module({"api_url": server.url, "models": models, "prune": True, "keep_alive": "10m"})
    assert rc == 0 and result["changed"] is True
    assert "copy gguf-tiny:latest to assistant:latest" in result["actions"]
    assert "load gguf-tiny:latest" in result["actions"]
    assert sorted(tags(server)) == ["assistant:latest", "gguf-tiny:latest"]
    assert tags(server)["assistant:latest"] == tags(server)["gguf-tiny:latest"]
    assert "gguf-tiny:latest" in [m["name"] for m in server.api("/api/ps")["models"]]

    seen = len(gin(server))
    rc, again = run_module({"api_url": server.url, "models": models, "prune": True})
    assert rc == 0 and again["changed"] is False
    assert gin(server)[seen:] == [("GET", "/api/tags"), ("GET", "/api/ps")]

    rc, gone = run_module({"api_url": server.url, "name": "assistant", "state": "absent"}, check=True)
    assert rc == 0 and gone["changed"] is True and "assistant:latest" in tags(server)
    rc, gone = run_module({"api_url": server.url, "name": "assistant", "state": "absent"})
    assert rc == 0 and gone["changed"] is True and "assistant:latest" not in tags(server)


def test_modelfile_source_is_uploaded_as_blobs(server, tmp_path):
    (tmp_path / "Modelfile").write_text(f"FROM {services.TINY_GGUF}\nSYSTEM You are terse.\nPARAMETER num_ctx 512\n")
    rc, result = run_module({"api_url": server.url, "name": "terse", "source": {"path": str(tmp_path / "Modelfile")}})
    assert rc == 0 and result["changed"] is True
    shown = server.api("/api/show", {"model": "terse"})
    assert "You are terse." in shown["modelfile"] and "num_ctx" in shown["parameters"]


def test_unreachable_server_fails_after_retries():
    port = services.free_port()
    rc, result = run_module({"api_url": f"http://127.0.0.1:{port}", "name": "tiny", "retries": 1})
    assert result["failed"] is True
    assert result["msg"] == (f"Ollama at http://127.0.0.1:{port}: cannot reach http://127.0.0.1:{port}/api/tags "
                             "after 2 attempt(s): [Errno 111] Connection refused")


def test_info_module_reports_models_digests_and_loaded(ollama_server):
    rc, info = run_module({"api_url": ollama_server.url}, module="ailab.stack.ollama_model_info")
    assert rc == 0 and info["changed"] is False
    assert info["version"] == ollama_server.api("/api/version")["version"]
    expected = {m["name"]: (m["digest"], m["size"]) for m in ollama_server.api("/api/tags")["models"]}
    assert {m["name"]: (m["digest"], m["size"]) for m in info["models"]} == expected
    running = sorted(m["name"] for m in ollama_server.api("/api/ps")["models"])
    assert sorted(m["name"] for m in info["loaded"]) == running
    assert {m["name"] for m in info["models"] if m["loaded"]} == set(running)

    rc, one = run_module({"api_url": ollama_server.url, "name": "tiny"}, module="ailab.stack.ollama_model_info")
    assert rc == 0 and [m["name"] for m in one["models"]] == ["tiny:latest"]
    rc, none = run_module({"api_url": ollama_server.url, "name": "nope"}, module="ailab.stack.ollama_model_info")
    assert rc == 0 and none["models"] == []
