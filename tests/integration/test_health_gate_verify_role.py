"""The ailab.stack.verify role against real services: it builds the checks from the other roles'
variables (ollama_models, and the shared layer's ailab_ollama_port, ailab_postgres_port,
ailab_prometheus_port...) and stops the play with the report when a stage does not work."""
from __future__ import annotations

import sys

import pytest

from helpers.playbook import run_playbook


def platform_vars(ollama, postgres, prometheus, **extra):
    """Variables as an inventory would set them: the shared layer's (roles/ailab) ports and database, the roles' own."""
    return {
        "ansible_python_interpreter": sys.executable,
        "ailab_ollama_port": int(ollama.url.rsplit(":", 1)[1]),
        "ollama_models": [{"name": "tiny"}],
        "ailab_postgres_port": postgres.port,
        "ailab_openwebui_db_user": "postgres",
        "postgres_openwebui_password": postgres.password,
        "ailab_openwebui_database": "postgres",
        "ailab_prometheus_port": int(prometheus.url.rsplit(":", 1)[1]),
        "verify_openwebui_enabled": False,   # a real Open WebUI is tested by the openwebui role's tests
        "verify_monitoring_enabled": True,   # off by default until the monitoring stage exists; Prometheus is real here
        "verify_deadline": 60,
        "verify_interval": 0.5,
        **extra,
    }


def role_play(tasks_from: str = "main"):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Verify", "ansible.builtin.include_role": {"name": "ailab.stack.verify", "tasks_from": tasks_from}},
        {"name": "After the gate", "ansible.builtin.debug": {"msg": "play went on"}},
    ]}]


@pytest.mark.parametrize("check_mode", [False, True])
def test_verify_role_passes_on_a_working_platform(ollama_server, postgres_server, prometheus_server, check_mode):
    proc = run_playbook(role_play(), platform_vars(ollama_server, postgres_server, prometheus_server), check=check_mode)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Check end to end that these stages work - postgres, ollama, monitoring" in out
    assert "play went on" in out and "changed=0" in out
    assert postgres_server.password not in out


def test_verify_stage_entry_point_stops_the_play(ollama_server, postgres_server, prometheus_server):
    extra = {"postgres_openwebui_password": "wrong-db-secret", "verify_deadline": 1}
    proc = run_playbook(role_play("postgres"), platform_vars(ollama_server, postgres_server, prometheus_server, **extra))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Check end to end that these stages work - postgres" in out
    assert "health_gate: 1 of 1 checks failed (deadline 1s)" in out
    row = next(x for x in out.splitlines() if x.startswith("PostgreSQL answers "))
    assert row.split()[2:4] == ["postgres", "FAILED"]
    assert 'password authentication failed for user "postgres"' in row
    assert "play went on" not in out and "wrong-db-secret" not in out


def test_verify_ollama_stage_names_the_missing_model(ollama_server, postgres_server, prometheus_server):
    # presence only (no completion): each attempt's timeout is cut to the time left before the deadline
    extra = {"ollama_models": [{"name": "tiny"}, {"name": "llama3.1:8b"}], "verify_ollama_prompt": "",
             "verify_deadline": 3}
    proc = run_playbook(role_play("ollama"), platform_vars(ollama_server, postgres_server, prometheus_server, **extra))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    rows = {x.split("  ")[0]: x for x in out.splitlines() if x.startswith("Ollama ")}
    assert rows["Ollama has tiny"].split()[3:5] == ["ollama", "ok"], rows
    assert rows["Ollama has llama3.1:8b"].endswith(
        f"model llama3.1:8b not present on {ollama_server.url} (have: tiny:latest)")


def test_verify_skips_models_being_removed(ollama_server, postgres_server, prometheus_server):
    # a model on its way out (state: absent, see docs/runbooks/models.md) is neither required nor chatted with
    extra = {"ollama_models": [{"name": "gone:7b", "state": "absent"}, {"name": "tiny", "state": "latest"}],
             "verify_deadline": 60}
    proc = run_playbook(role_play("ollama"), platform_vars(ollama_server, postgres_server, prometheus_server, **extra),
                        extra_args=["-v"])  # -v: the gate's result, with the checks it ran
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "gone:7b" not in out
    assert "Ollama has tiny" in out and "play went on" in out


def test_verify_on_a_gpu_host_fails_when_ollama_runs_on_the_cpu(ollama_server, postgres_server, prometheus_server,
                                                                tmp_path):
    """A host in gpu_nodes with ailab_gpu_vendor set: verify_ollama_on_gpu is on by default, and this CPU
    Ollama fails the gate with the numbers."""
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[gpu_nodes]\nlocalhost ansible_connection=local\n")
    extra = {"ailab_gpu_vendor": "nvidia", "verify_ollama_prompt": "", "verify_deadline": 3}
    proc = run_playbook(role_play("ollama"), platform_vars(ollama_server, postgres_server, prometheus_server, **extra),
                        inventory=str(inventory))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    row = next(x for x in out.splitlines() if x.startswith("Ollama runs tiny on the GPU "))
    assert row.split()[6:8] == ["ollama_on_gpu", "FAILED"], row
    assert "tiny:latest: runs on the CPU: 0 of " in row and " MiB in VRAM" in row, row
    assert "play went on" not in out
