"""health_gate module: argument rules, result shape, the failure report and masking.

The checks run for real against loopback sockets (an open listener, a closed port); the
per-service checks are tested in tests/unit/plugins/module_utils/test__health_<type>.py and,
against real servers, in tests/integration/test_health_gate*.py.
"""
from __future__ import annotations

import json

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health, _health_postgres
from ansible_collections.ailab.stack.plugins.modules import health_gate
from ansible_collections.ailab.stack.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, patch_exit_fail, set_module_args)


@pytest.fixture(autouse=True)
def patch_ansible_module(monkeypatch):
    patch_exit_fail(monkeypatch)


def run(args: dict):
    """Run the module; returns ('exit'|'fail', result)."""
    with set_module_args(args):
        try:
            health_gate.main()
        except AnsibleExitJson as e:
            return "exit", e.args[0]
        except AnsibleFailJson as e:
            return "fail", e.args[0]
    raise AssertionError("the module returned without exit_json/fail_json")


def test_all_pass_reports_every_check_and_never_changes(listener):
    how, result = run({"deadline": 0, "checks": [
        {"name": "port", "tcp": {"host": "127.0.0.1", "port": listener}},
        {"name": "port again", "tcp": {"host": "127.0.0.1", "port": listener, "timeout": 2}},
    ]})
    assert how == "exit"
    assert result["changed"] is False
    assert result["msg"] == "health_gate: all 2 checks passed"
    assert result["failed_checks"] == []
    assert [(r["name"], r["type"], r["ok"], r["attempts"], r["last_error"]) for r in result["report"]] == [
        ("port", "tcp", True, 1, ""), ("port again", "tcp", True, 1, "")]


def test_check_mode_runs_the_checks(listener, closed_port):
    port = closed_port
    how, result = run({"_ansible_check_mode": True, "deadline": 0, "checks": [
        {"name": "open", "tcp": {"host": "127.0.0.1", "port": listener}},
        {"name": "closed", "tcp": {"host": "127.0.0.1", "port": port}},
    ]})
    assert how == "fail" and result["changed"] is False
    assert result["failed_checks"] == ["closed"]


def test_failure_report_table_and_masking(closed_port):
    port = closed_port
    how, result = run({"deadline": 1, "interval": 0.2, "checks": [
        {"name": "web", "http": {"url": f"http://admin:pa55word@127.0.0.1:{port}/health?token=t0ken-value",
                                 "headers": {"Authorization": "Bearer bearer-secret"}}},
        {"name": "db", "postgres": {"dsn": f"host=127.0.0.1 port={port} user=app password=dsn-secret",
                                    "timeout": 1}},
        {"name": "pg", "postgres": {"port": port, "password": "pg-secret", "timeout": 1}},
    ]})
    assert how == "fail"
    assert result["failed_checks"] == ["web", "db", "pg"]
    lines = result["msg"].splitlines()
    assert lines[0] == "health_gate: 3 of 3 checks failed (deadline 1s)"
    assert lines[1].split() == ["NAME", "TYPE", "RESULT", "TRIES", "SECONDS", "LAST", "ERROR", "/", "DETAIL"]
    assert lines[3].startswith("web   http      FAILED")
    assert f"GET http://admin:********@127.0.0.1:{port}/health?token=********: cannot connect" in lines[3]
    assert f"cannot connect to PostgreSQL host=127.0.0.1 port={port} user=app password=********" in lines[4]
    assert f"cannot connect to PostgreSQL postgres@127.0.0.1:{port}/postgres" in lines[5]
    assert all(r["attempts"] >= 2 and not r["ok"] and r["last_error"] for r in result["report"])
    text = json.dumps(result)
    for secret in ("pa55word", "t0ken-value", "bearer-secret", "dsn-secret", "pg-secret"):
        assert secret not in text


@pytest.mark.parametrize("check, message", [
    ({"name": "x"}, "one of the following is required: http, tls, tcp, postgres, ollama, ollama_on_gpu, openwebui, prometheus, "
                    "k8s_rollout, cnpg_cluster, http_redirect, websocket, openwebui_stream, openwebui_upload, "
                    "openwebui_slow_request found in checks"),
    ({"name": "x", "tcp": {"host": "h", "port": 1}, "http": {"url": "http://h"}},
     "parameters are mutually exclusive: http|tls|tcp|postgres|ollama|ollama_on_gpu|openwebui|prometheus|k8s_rollout|"
     "cnpg_cluster|"
     "http_redirect|websocket|openwebui_stream|openwebui_upload|openwebui_slow_request found in checks"),
    ({"name": "x", "ollama": {"url": "http://h", "service": {"name": "ollama", "port": 11434}}},
     "parameters are mutually exclusive: service|url found in checks -> ollama"),
    ({"name": "x", "ollama_on_gpu": {"url": "http://h", "models": ["m"], "service": {"name": "ollama", "port": 11434}}},
     "parameters are mutually exclusive: service|url found in checks -> ollama_on_gpu"),
    ({"name": "x", "ollama_on_gpu": {"url": "http://h"}},
     "missing required arguments: models found in checks -> ollama_on_gpu"),
    ({"name": "x", "prometheus": {"ca_path": "/ca.pem", "service": {"name": "p", "port": 9090}}},
     "parameters are mutually exclusive: service|ca_path found in checks -> prometheus"),
    ({"name": "x", "http": {"url": "/health", "validate_certs": False, "service": {"name": "w", "port": 80}}},
     "parameters are mutually exclusive: service|validate_certs found in checks -> http"),
    ({"name": "x", "openwebui": {"service": {"name": "openwebui"}}},
     "missing required arguments: port found in checks -> openwebui -> service"),
    ({"name": "x", "cnpg_cluster": {"namespace": "ailab"}}, "missing required arguments: name found in checks -> "
                                                            "cnpg_cluster"),
    ({"name": "x", "tcp": {"host": "h"}}, "missing required arguments: port found in checks -> tcp"),
    ({"name": "x", "k8s_rollout": {"kind": "Pod", "name": "a"}},
     "value of kind must be one of: Deployment, StatefulSet, DaemonSet, got: Pod found in checks -> k8s_rollout"),
    ({"name": "x", "openwebui": {"model": "tiny"}}, "missing parameter(s) required by 'model': email found in "
                                                    "checks -> openwebui"),
    ({"name": "x", "openwebui": {"email": "a@b"}}, "parameters are required together: email, password found in "
                                                   "checks -> openwebui"),
    ({"name": "x", "ollama": {"loaded": True}}, "loaded is True but all of the following are missing: model found "
                                                "in checks -> ollama"),
])
def test_argument_errors_name_the_option(check, message):
    how, result = run({"checks": [check]})
    assert how == "fail"
    assert result["msg"] == message


@pytest.mark.parametrize("check, message", [
    ({"name": "web", "http": {"url": "http://openwebui.ailab.svc:8080/health",
                              "service": {"name": "openwebui", "port": 8080}}},
     "checks: web: with service, http.url is the path on the Service (for example /health), "
     "got 'http://openwebui.ailab.svc:8080/health'"),
    ({"name": "prom", "prometheus": {"headers": {"authorization": "Bearer x"},
                                     "service": {"name": "prometheus-operated", "port": 9090}}},
     "checks: prom: an Authorization header cannot go through the Kubernetes API server (it authenticates "
     "the request with the kubeconfig and removes it)"),
    ({"name": "gpu", "ollama_on_gpu": {"models": []}}, "checks: gpu: ollama_on_gpu.models must name at least one model"),
])
def test_rules_beyond_the_argument_spec(check, message):
    how, result = run({"checks": [check]})
    assert (how, result["msg"]) == ("fail", message)


def test_service_check_runs_and_reports_a_missing_kubeconfig(tmp_path):
    how, result = run({"deadline": 0, "checks": [
        {"name": "ollama", "ollama": {"service": {"name": "ollama", "namespace": "ailab", "port": 11434,
                                                  "kubeconfig": str(tmp_path / "none")}}},
        {"name": "db", "cnpg_cluster": {"name": "postgres", "namespace": "ailab", "kubeconfig": str(tmp_path / "none")}},
    ]})
    assert how == "fail" and result["failed_checks"] == ["ollama", "db"]
    assert [r["type"] for r in result["report"]] == ["ollama", "cnpg_cluster"]
    assert all(r["last_error"].startswith("cannot load kubeconfig ") for r in result["report"])


def test_kubeconfig_token_is_masked_in_the_whole_result(https_web, pki, tmp_path):
    """A server (on loopback, not an API server) that echoes the Authorization header it got."""
    path = "/api/v1/namespaces/ailab/services/http:openwebui:8080/proxy/health"
    https_web.routes[("GET", path)] = lambda h, b: (500, {"echo": h.headers.get("Authorization")})
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": https_web.url, "certificate-authority": pki.ca_path}}],
        "users": [{"name": "u", "user": {"token": "k8s-token-in-a-result"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "u"}}]}))
    how, result = run({"deadline": 0, "checks": [{"name": "web", "http": {
        "url": "/health", "service": {"name": "openwebui", "namespace": "ailab", "port": 8080,
                                      "kubeconfig": str(config)}}}]})
    assert how == "fail" and https_web.seen[-1]["path"] == path
    assert "returned HTTP 500" in result["report"][0]["last_error"]
    assert "k8s-token-in-a-result" not in json.dumps(result) and "********" in result["report"][0]["last_error"]


def test_missing_kubernetes_library_is_reported(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "kubernetes", None)   # import kubernetes raises ImportError
    how, result = run({"checks": [{"name": "o", "ollama": {"service": {"name": "ollama", "port": 11434}}}]})
    assert how == "fail" and "Failed to import the required Python library (kubernetes)" in result["msg"]


def test_duplicate_names_and_bad_backoff(listener):
    tcp = {"host": "127.0.0.1", "port": listener}
    how, result = run({"checks": [{"name": "a", "tcp": tcp}, {"name": "a", "tcp": tcp}]})
    assert (how, result["msg"]) == ("fail", "checks: names must be unique, repeated: a")
    how, result = run({"backoff": 0.5, "checks": [{"name": "a", "tcp": tcp}]})
    assert (how, result["msg"]) == ("fail", "backoff must be 1 or more, got 0.5")
    how, result = run({"deadline": -1, "checks": [{"name": "a", "tcp": tcp}]})
    assert (how, result["msg"]) == ("fail", "deadline must be 0 or more, got -1")


def test_missing_psycopg2_is_reported(monkeypatch):
    # psycopg2 is installed here; simulate a host without it.
    monkeypatch.setattr(_health_postgres, "HAS_PSYCOPG2", False)
    how, result = run({"checks": [{"name": "pg", "postgres": {}}]})
    assert how == "fail" and "Failed to import the required Python library (psycopg2)" in result["msg"]


def test_without_jmespath_only_complex_queries_are_refused(monkeypatch, closed_port):
    monkeypatch.setattr(_health, "HAS_JMESPATH", False)
    how, result = run({"checks": [{"name": "h", "http": {"url": "http://127.0.0.1:1", "json_query": "a[?b].c"}}]})
    assert how == "fail" and result["msg"].startswith("Failed to import the required Python library (jmespath)")
    assert result["msg"].endswith("(json_query beyond simple a.b[0].c paths)")
    how, result = run({"deadline": 0, "checks": [
        {"name": "h", "http": {"url": f"http://127.0.0.1:{closed_port}", "json_query": "data.status"}}]})
    assert how == "fail" and result["failed_checks"] == ["h"]   # the gate ran: the query was accepted
