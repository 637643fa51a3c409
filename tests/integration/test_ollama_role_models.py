"""The ollama role's model step (tasks/models.yml, used by both runtimes) against a real server,
and its report when the API cannot be reached from where the models are managed (the usual
Kubernetes mistake: a Service name that resolves only inside the cluster)."""
from __future__ import annotations

import sys

from helpers.playbook import run_playbook


def models_play(api_urls, **variables):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Models", "ansible.builtin.include_role": {"name": "ailab.stack.ollama", "tasks_from": "models"},
         "vars": {"__ollama_api_urls": api_urls}}]}], {
        "ansible_python_interpreter": sys.executable, "ollama_api_timeout": 5, **variables}


def test_present_model_is_left_alone(ollama_server):
    plays, extravars = models_play([ollama_server.url], ollama_runtime="systemd", ollama_models=[{"name": "tiny"}])
    proc = run_playbook(plays, extravars=extravars)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "changed=0" in proc.stdout.split("PLAY RECAP")[-1]


def test_unreachable_service_names_the_fix():
    plays, extravars = models_play(["http://ollama.ailab.svc:11434"], ollama_runtime="kubernetes",
                                   ollama_models=[{"name": "tiny"}], ollama_preload_delegate_to="localhost")
    proc = run_playbook(plays, extravars=extravars)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Ollama's API http://ollama.ailab.svc:11434 does not answer from localhost" in out
    assert "set ollama_api_url to an address that reaches the Service" in out
    assert "TASK [ailab.stack.ollama : Ensure the models]" not in out  # stopped before the module


def test_check_mode_on_a_fresh_host_is_quiet():
    plays, extravars = models_play(["http://127.0.0.1:9"], ollama_runtime="systemd", ollama_models=[{"name": "tiny"}])
    proc = run_playbook(plays, extravars=extravars, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
