"""Verify the systemd runtime of the ollama role on a real host (container) with a real model."""
import json
import os
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from helpers.playbook import run_playbook  # noqa: E402

API = "http://127.0.0.1:11434"


def api(host, path, payload=None, timeout=120):
    """GET (or POST payload) inside the host with its python3; returns the decoded JSON."""
    code = (
        "import json,sys,urllib.request as u;"
        "d=sys.argv[2];"
        "r=u.Request(sys.argv[1],data=d.encode() if d else None);"
        f"print(u.urlopen(r,timeout={timeout}).read().decode())"
    )
    cmd = host.run("python3 -c %s %s %s", code, API + path, json.dumps(payload) if payload is not None else "")
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def model_names(host):
    return sorted(m["name"] for m in api(host, "/api/tags")["models"])


def wait_api(host, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run("python3 -c 'import urllib.request as u; u.urlopen(\"%s/api/version\", timeout=2)'" % API).rc == 0:
            return
        time.sleep(1)
    pytest.fail(f"the API did not answer within {timeout}s")


def test_service_enabled_and_running(host):
    svc = host.service("ollama")
    assert svc.is_enabled
    assert svc.is_running
    assert host.user("ollama").shell == "/usr/sbin/nologin"


def test_api_answers_on_loopback(host):
    assert api(host, "/api/version")["version"].startswith("0.5.4")
    assert host.socket("tcp://127.0.0.1:11434").is_listening


def test_model_created_and_preloaded(host):
    assert "tiny:latest" in model_names(host)
    assert "tiny:latest" in [m["name"] for m in api(host, "/api/ps")["models"]]


def test_generate_returns_text(host):
    payload = {"model": "tiny", "prompt": "Name a colour.", "stream": False,
               "options": {"num_predict": 8, "temperature": 0}}
    out = api(host, "/api/generate", payload)
    assert out["done"] is True
    assert out["response"].strip()


def test_models_survive_a_restart(host):
    before = api(host, "/api/tags")["models"]
    host.run_test("systemctl restart ollama")
    wait_api(host)
    after = api(host, "/api/tags")["models"]
    assert [(m["name"], m["digest"]) for m in after] == [(m["name"], m["digest"]) for m in before]


def converge(extra, extra_args=None):
    """Run the role against the container again (the scenario's inventory values plus extra)."""
    ephemeral = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    play = [{"hosts": "all", "gather_facts": True, "become": True, "roles": [{"role": "ailab.stack.ollama"}]}]
    variables = {
        "ailab_runtime": "systemd",
        "ollama_install_source": "local",
        "ollama_binary_name": "ollama-lib",
        "ollama_library_path": ["/opt/ollama/bin", "/opt/ollama/lib"],
        "ollama_models": [{"name": "tiny", "source": {"path": "/srv/models/tiny.gguf"}, "loaded": True}],
        "ollama_local_artifact": f"{ephemeral}/ollama-v1.tar",
    }
    variables.update(extra)
    # The container over podman; delegate_to localhost (the artifact check) with this interpreter.
    inventory = os.path.join(ephemeral, "upgrade-inventory.yml")
    with open(inventory, "w") as f:
        json.dump({"all": {"hosts": {
            "ollama-bookworm": {"ansible_connection": "containers.podman.podman",
                                "ansible_python_interpreter": "auto_silent"},
            "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}, f)
    play[0]["hosts"] = "ollama-bookworm"
    return run_playbook(play, extravars=variables, inventory=inventory, extra_args=extra_args, timeout=900)


def blob_files(host):
    """Name, size and mtime of every model blob (not `ls -l`'s block total: allocation may settle later)."""
    return host.check_output("find /var/lib/ollama/models/blobs -type f -printf '%f %s %T@\\n' | sort")


def test_upgrade_keeps_models(host):
    blobs_before = blob_files(host)
    assert "sha256-" in blobs_before
    pid_before = host.check_output("systemctl show -p MainPID --value ollama")
    digest_before = {m["name"]: m["digest"] for m in api(host, "/api/tags")["models"]}

    proc = converge({"ollama_local_artifact": os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/ollama-v2.tar"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "changed=0" not in proc.stdout.split("PLAY RECAP")[-1]          # the upgrade did something
    assert host.file("/opt/ollama/bin/RELEASE").content_string.strip() == "v2"
    assert host.check_output("systemctl show -p MainPID --value ollama") != pid_before  # restarted
    wait_api(host)
    assert {m["name"]: m["digest"] for m in api(host, "/api/tags")["models"]} == digest_before
    assert blob_files(host) == blobs_before  # model files untouched

    again = converge({"ollama_local_artifact": os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/ollama-v2.tar"})
    assert again.returncode == 0, again.stdout[-3000:]
    assert "changed=0" in again.stdout.split("PLAY RECAP")[-1]


def test_day2_models_by_tag(host):
    """Day 2 (docs/runbooks/models.md): --tags ollama_models adds and removes models and touches nothing else."""
    v2 = {"ollama_local_artifact": os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/ollama-v2.tar"}
    tiny = {"name": "tiny", "source": {"path": "/srv/models/tiny.gguf"}, "loaded": True}
    pid_before = host.check_output("systemctl show -p MainPID --value ollama")

    add = converge({**v2, "ollama_models": [tiny, {"name": "chat", "source": {"copy": "tiny"}}]},
                   extra_args=["--tags", "ollama_models"])
    assert add.returncode == 0, add.stdout[-3000:] + add.stderr[-2000:]
    assert "changed=1 " in add.stdout.split("PLAY RECAP")[-1]
    assert "chat:latest" in model_names(host)
    assert host.check_output("systemctl show -p MainPID --value ollama") == pid_before  # no restart

    remove = converge({**v2, "ollama_models": [tiny, {"name": "chat", "state": "absent"}]},
                      extra_args=["--tags", "ollama_models"])
    assert remove.returncode == 0, remove.stdout[-3000:]
    assert "changed=1 " in remove.stdout.split("PLAY RECAP")[-1]
    assert model_names(host) == ["tiny:latest"]
