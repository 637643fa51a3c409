"""health_gate's ollama and ollama_on_gpu checks (plugins/module_utils/_health_ollama.py) against the
real `ollama serve` 0.5.4 (CPU) with the tiny gemma3 model, created as `tiny`."""
from __future__ import annotations

import ast
import sys
import time

import pytest

import health_servers
import services
from helpers.playbook import run_playbook

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_ollama import check_ollama, check_ollama_on_gpu


def spec(url, **kw):
    return {"url": url, "model": "tiny", "loaded": False, "prompt": None, "num_predict": 4, "headers": None,
            "validate_certs": True, "ca_path": None, "timeout": 120, **kw}


def test_version_and_model_present(ollama_server):
    version = ollama_server.api("/api/version")["version"]   # 0.5.4-ipexllm-... here
    assert check_ollama(spec(ollama_server.url, model=None), 10) == f"Ollama {version} answers"
    assert check_ollama(spec(ollama_server.url), 10) == "tiny:latest present"


def test_missing_model_lists_what_is_there(ollama_server):
    with pytest.raises(CheckFailed) as exc:
        check_ollama(spec(ollama_server.url, model="llama3.1:8b"), 10)
    assert str(exc.value) == f"model llama3.1:8b not present on {ollama_server.url} (have: tiny:latest)"


def test_completion_answers_then_model_is_loaded(ollama_server):
    detail = check_ollama(spec(ollama_server.url, prompt="Say hello."), 120)
    prefix = "tiny:latest present, answered "
    assert detail.startswith(prefix), detail
    assert ast.literal_eval(detail[len(prefix):]).strip(), detail  # a repr: quoted either way by the text
    # the completion loaded the model (default keep_alive 5 min): /api/ps lists it now
    assert check_ollama(spec(ollama_server.url, loaded=True), 10) == "tiny:latest present, loaded"


def test_fully_qualified_name_is_the_same_model(ollama_server):
    # the name ailab.stack.ollama_model accepts for the model created as `tiny`
    assert check_ollama(spec(ollama_server.url, model="registry.ollama.ai/library/tiny:latest"), 10) == "tiny:latest present"
    assert check_ollama(spec(ollama_server.url, model="library/TINY"), 10) == "TINY:latest present"


def test_module_gate_by_fully_qualified_name(ollama_server):
    fq = "registry.ollama.ai/library/tiny:latest"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Gate by the fully qualified name", "register": "gate", "ailab.stack.health_gate": {
            "deadline": 120, "checks": [
                {"name": "answers", "ollama": {"url": ollama_server.url, "model": fq, "prompt": "Say OK."}},
                {"name": "loaded", "ollama": {"url": ollama_server.url, "model": fq, "loaded": True}}]}},
        {"name": "Show the report", "ansible.builtin.debug": {"msg": "{{ gate.report | to_json }}"}},
    ]}]
    proc = run_playbook(play, extravars={"ansible_python_interpreter": sys.executable})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    report = health_servers.gate_report(proc.stdout)
    assert [(r["name"], r["ok"], r["attempts"]) for r in report] == [("answers", True, 1), ("loaded", True, 1)], out
    assert report[0]["detail"].startswith("tiny:latest present, answered ")
    assert report[1]["detail"] == "tiny:latest present, loaded"


def test_ollama_down():
    port = services.free_port()
    with pytest.raises(CheckFailed, match=f"GET http://127.0.0.1:{port}/api/tags: cannot connect: .*Connection refused"):
        check_ollama(spec(f"http://127.0.0.1:{port}"), 5)


def test_module_gate_ollama_answers(ollama_server):
    down = services.free_port()
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Ollama answers", "ailab.stack.health_gate": {"deadline": 120, "checks": [
            {"name": "Ollama answers", "ollama": {"url": ollama_server.url, "model": "tiny", "prompt": "Say OK."}}]}},
        {"name": "A second Ollama that is down stops the play", "ailab.stack.health_gate": {"deadline": 1, "checks": [
            {"name": "Ollama answers", "ollama": {"url": ollama_server.url, "model": "tiny"}},
            {"name": "Second Ollama", "ollama": {"url": f"http://127.0.0.1:{down}", "model": "tiny"}}]}},
        {"name": "Never reached", "ansible.builtin.debug": {"msg": "after the gate"}},
    ]}]
    proc = run_playbook(play, extravars={"ansible_python_interpreter": sys.executable})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "ok: [localhost]" in out and "ok=1" in out and "failed=1" in out and "after the gate" not in out
    assert "health_gate: 1 of 2 checks failed (deadline 1s)" in out
    rows = [x.split() for x in out.splitlines() if x.startswith(("Ollama answers ", "Second Ollama "))]
    assert rows[0][:5] == ["Ollama", "answers", "ollama", "ok", "1"]
    assert rows[1][:4] == ["Second", "Ollama", "ollama", "FAILED"]
    assert " ".join(rows[1][6:]) == f"GET http://127.0.0.1:{down}/api/tags: cannot connect: [Errno 111] Connection refused"


def test_on_gpu_check_loads_the_model_and_finds_it_on_the_cpu(ollama_server):
    """This Ollama has no GPU: told it must run on one, the check fails with the numbers /api/ps reports."""
    ollama_server.api("/api/generate", {"model": "tiny", "keep_alive": 0})   # unload: the check must load it
    for _attempt in range(120):   # the runner stops after the answer
        if not ollama_server.api("/api/ps")["models"]:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"tiny is still loaded after keep_alive 0: {ollama_server.api('/api/ps')}")
    spec = {"url": ollama_server.url, "models": ["tiny"], "load": True, "keep_alive": "1m", "headers": None,
            "validate_certs": True, "ca_path": None, "timeout": 120}
    with pytest.raises(CheckFailed) as exc:
        check_ollama_on_gpu(spec, 120)
    [loaded] = ollama_server.api("/api/ps")["models"]
    assert loaded["name"] == "tiny:latest" and not loaded.get("size_vram")
    mib = round(loaded["size"] / 1024 ** 2)
    assert str(exc.value).startswith(f"tiny:latest: runs on the CPU: 0 of {mib} MiB in VRAM; Ollama found no GPU"), exc.value
