"""molecule/verify: the gate passes on a working service and stops the play with its report
table when a check fails. Each case runs playbooks/verify.yml against the container, as an
operator would, with the checks given as inventory variables."""
import os
import subprocess

import yaml

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
testinfra_hosts = ["ansible://verify-bookworm"]

WEB_HEALTH = {"name": "Web health", "http": {"url": "http://127.0.0.1:8080/health", "json_query": "db",
                                             "json_expect": "ok"}}


def run_verify(checks, deadline=2):
    inv = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "verify-case-inventory.yml")
    all_vars = {"ansible_connection": "containers.podman.podman", "verify_deadline": deadline,
                "verify_interval": 0.5, "verify_extra_checks": checks,
                **{f"verify_{s}_enabled": False for s in ("postgres", "ollama", "openwebui", "monitoring")}}
    with open(inv, "w") as f:
        yaml.safe_dump({"all": {"vars": all_vars, "children": {"ai_servers": {"hosts": {"verify-bookworm": {}}}}}}, f)
    return subprocess.run(["ansible-playbook", "-i", inv, os.path.join(ROOT, "playbooks", "verify.yml")],
                          capture_output=True, text=True, timeout=300, check=False)


def table_rows(res):
    return {line.split("  ")[0]: line for line in (res.stdout + res.stderr).splitlines()
            if line.startswith(("NAME ", "Web ", "Closed "))}


def test_web_service_runs(host):
    assert host.service("verify-web").is_running
    assert host.socket("tcp://127.0.0.1:8080").is_listening


def test_verify_playbook_passes_and_changes_nothing():
    res = run_verify([WEB_HEALTH, {"name": "Web port", "tcp": {"host": "127.0.0.1", "port": 8080}}])
    assert res.returncode == 0, res.stdout[-3000:]
    assert "changed=0" in res.stdout and "failed=0" in res.stdout


def test_closed_port_stops_the_play_with_the_report(host):
    assert not host.socket("tcp://127.0.0.1:9").is_listening
    res = run_verify([WEB_HEALTH, {"name": "Closed port", "tcp": {"host": "127.0.0.1", "port": 9}}])
    out = res.stdout + res.stderr
    assert res.returncode == 2, out[-3000:]
    assert "health_gate: 1 of 2 checks failed (deadline 2s)" in out
    rows = table_rows(res)
    assert rows["NAME"].split()[:5] == ["NAME", "TYPE", "RESULT", "TRIES", "SECONDS"]
    assert rows["Web health"].split()[2:5] == ["http", "ok", "1"]
    assert rows["Closed port"].split()[2:4] == ["tcp", "FAILED"]
    assert rows["Closed port"].endswith("cannot connect to 127.0.0.1:9: Connection refused")


def test_wrong_body_is_reported():
    check = {"name": "Web body", "http": {"url": "http://127.0.0.1:8080/health", "json_query": "db",
                                          "json_expect": "down"}}
    res = run_verify([check], deadline=0)
    assert res.returncode == 2
    assert table_rows(res)["Web body"].endswith(
        "GET http://127.0.0.1:8080/health: json_query 'db' gave 'ok', expected 'down'")
