# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.verify_checks filter: the health_gate checks of each stage."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.present_models import present_models
from ansible_collections.ailab.stack.plugins.filter.verify_checks import FilterModule, verify_checks

# The verify role's defaults as a systemd inventory with an admin, models and a public name resolves them.
SETTINGS = {
    "verify_postgres_host": "127.0.0.1",
    "verify_postgres_port": 5432,
    "verify_postgres_user": "openwebui",
    "verify_postgres_password": "db 'pw' \"x\": #1",
    "verify_postgres_database": "openwebui",
    "verify_postgres_sslmode": "prefer",
    "verify_postgres_query": "SELECT 1",
    "verify_ollama_url": "http://127.0.0.1:11434",
    "verify_ollama_models": ["llama3.1:8b", "tiny"],
    "verify_ollama_prompt": "Reply with the single word OK.",
    "verify_ollama_timeout": 120,
    "verify_ollama_on_gpu": False,
    "verify_openwebui_url": "http://127.0.0.1:8080",
    "verify_openwebui_admin_email": "admin@example.org",
    "verify_openwebui_admin_password": "pa:ss #\"'\\ x",
    "verify_openwebui_chat_model": "llama3.1:8b",
    "verify_openwebui_chat_expect": "",
    "verify_tls_host": "chat.example.org",
    "verify_tls_port": 443,
    "verify_tls_ca_path": "",
    "verify_tls_min_days": 14,
    "verify_ingress_http_port": 80,
    "verify_ingress_upload_mb": 100,
    "verify_ingress_slow_seconds": 70,
    "verify_prometheus_url": "http://127.0.0.1:9090",
    "verify_prometheus_jobs": ["prometheus", "node"],
    "verify_k8s_rollouts": [{"kind": "Deployment", "name": "open-webui"},
                            {"kind": "StatefulSet", "name": "postgres", "namespace": "db"}],
    "verify_kubeconfig": "/home/admin/.kube/config",
    "ailab_namespace": "ailab",
    "ailab_runtime": "systemd",
}
# The same on Kubernetes, as the shared layer's endpoints are there: cluster Service names.
K8S = {
    "ailab_runtime": "kubernetes",
    "verify_postgres_host": "postgres-rw.ailab.svc",
    "verify_ollama_url": "http://ollama.ailab.svc:11434",
    "verify_openwebui_url": "http://openwebui.ailab.svc:8080",
    "verify_prometheus_url": "http://prometheus-operated.monitoring.svc:9090",
}


def checks(stages, **changes):
    return verify_checks(stages, {**SETTINGS, **changes})


def names(result):
    return [c["name"] for c in result]


# --- postgres ------------------------------------------------------------------------------------
def test_postgres_signs_in_and_runs_the_query():
    assert checks(["postgres"]) == [{"name": "PostgreSQL answers", "postgres": {
        "host": "127.0.0.1", "port": 5432, "user": "openwebui", "password": "db 'pw' \"x\": #1",
        "dbname": "openwebui", "sslmode": "prefer", "query": "SELECT 1"}}]


def test_postgres_port_from_a_template_string_is_an_integer():
    assert checks(["postgres"], verify_postgres_port="5433")[0]["postgres"]["port"] == 5433


# --- ollama --------------------------------------------------------------------------------------
def test_ollama_api_then_every_model_and_the_first_one_answers():
    assert checks(["ollama"]) == [
        {"name": "Ollama API answers", "ollama": {"url": "http://127.0.0.1:11434", "timeout": 10}},
        {"name": "Ollama has llama3.1:8b and it answers", "ollama": {
            "url": "http://127.0.0.1:11434", "model": "llama3.1:8b", "prompt": "Reply with the single word OK.",
            "timeout": 120}},
        {"name": "Ollama has tiny", "ollama": {"url": "http://127.0.0.1:11434", "model": "tiny"}},
    ]


def test_empty_prompt_checks_presence_only():
    result = checks(["ollama"], verify_ollama_prompt="", verify_ollama_timeout="not read")
    assert names(result) == ["Ollama API answers", "Ollama has llama3.1:8b", "Ollama has tiny"]
    assert all("prompt" not in c["ollama"] and "timeout" not in c["ollama"] for c in result[1:])


def test_no_models_is_the_api_check_alone():
    assert names(checks(["ollama"], verify_ollama_models=[])) == ["Ollama API answers"]


@pytest.mark.parametrize("on_gpu", [True, "True", "true"])   # a bool, or the text of a template
def test_on_gpu_every_model_must_run_in_vram(on_gpu):
    result = checks(["ollama"], verify_ollama_on_gpu=on_gpu)
    assert result[-1] == {"name": "Ollama runs llama3.1:8b, tiny on the GPU", "ollama_on_gpu": {
        "url": "http://127.0.0.1:11434", "models": ["llama3.1:8b", "tiny"], "timeout": 120}}
    assert names(checks(["ollama"], verify_ollama_on_gpu="False")) == names(result)[:-1]


def test_on_gpu_through_the_api_server_on_kubernetes():
    check = checks(["ollama"], verify_ollama_on_gpu=True, **K8S)[-1]["ollama_on_gpu"]
    assert check == {"service": {"namespace": "ailab", "name": "ollama", "port": 11434, "scheme": "http",
                                 "kubeconfig": "/home/admin/.kube/config"}, "models": ["llama3.1:8b", "tiny"],
                     "timeout": 120}


def test_on_gpu_without_models_is_not_read_and_a_bad_value_fails():
    assert names(checks(["ollama"], verify_ollama_models=[], verify_ollama_on_gpu="not read")) == ["Ollama API answers"]
    with pytest.raises(AnsibleFilterError, match=r"verify_ollama_on_gpu must be a boolean, got 'maybe'"):
        checks(["ollama"], verify_ollama_on_gpu="maybe")


def test_completion_timeout_from_a_template_string_is_an_integer():
    assert checks(["ollama"], verify_ollama_timeout="60")[1]["ollama"]["timeout"] == 60


def test_state_absent_models_are_not_required_nor_chatted_with():
    """verify_ollama_models defaults to ollama_models | ailab.stack.present_models, and
    verify_openwebui_chat_model to the first of those."""
    models = present_models([{"name": "gone:7b", "state": "absent"}, {"name": "llama3.1:8b"},
                             {"name": "tiny", "state": "latest"}])
    result = checks(["ollama", "openwebui"], verify_ollama_models=models, verify_openwebui_chat_model=models[0],
                    verify_tls_host="")
    assert "gone:7b" not in repr(result)
    assert names(result) == ["Ollama API answers", "Ollama has llama3.1:8b and it answers", "Ollama has tiny",
                             "Open WebUI answers, the admin signs in and chats with llama3.1:8b"]


def test_only_absent_models_leave_the_api_check():
    models = present_models([{"name": "gone:7b", "state": "absent"}])
    assert names(checks(["ollama"], verify_ollama_models=models)) == ["Ollama API answers"]


# --- openwebui -----------------------------------------------------------------------------------
def test_openwebui_admin_chats_and_the_certificate_and_https_are_checked():
    assert checks(["openwebui"]) == [
        {"name": "Open WebUI answers, the admin signs in and chats with llama3.1:8b", "openwebui": {
            "url": "http://127.0.0.1:8080", "email": "admin@example.org", "password": "pa:ss #\"'\\ x",
            "model": "llama3.1:8b"}},
        {"name": "Certificate of chat.example.org", "tls": {"host": "chat.example.org", "port": 443, "min_days": 14}},
        {"name": "Open WebUI through https://chat.example.org", "http": {
            "url": "https://chat.example.org:443/health", "json_query": "status"}},
    ]


def test_chat_expect_goes_to_the_openwebui_check():
    result = checks(["openwebui"], verify_openwebui_chat_expect="(?i)ok", verify_tls_host="")
    assert result[0]["openwebui"]["expect"] == "(?i)ok" and result[0]["openwebui"]["model"] == "llama3.1:8b"
    # no chat, no expect
    assert "expect" not in checks(["openwebui"], verify_openwebui_chat_model="", verify_openwebui_chat_expect="x",
                                  verify_tls_host="")[0]["openwebui"]


def test_empty_admin_email_skips_sign_in_and_chat():
    settings = {k: v for k, v in SETTINGS.items()
                if k not in ("verify_openwebui_admin_password", "verify_openwebui_chat_model")}
    result = verify_checks(["openwebui"], {**settings, "verify_openwebui_admin_email": "", "verify_tls_host": ""})
    assert result == [{"name": "Open WebUI answers", "openwebui": {"url": "http://127.0.0.1:8080"}}]


def test_empty_chat_model_signs_in_without_a_chat():
    result = checks(["openwebui"], verify_openwebui_chat_model="", verify_openwebui_admin_password="", verify_tls_host="")
    assert result == [{"name": "Open WebUI answers, the admin signs in", "openwebui": {
        "url": "http://127.0.0.1:8080", "email": "admin@example.org", "password": ""}}]


def test_no_tls_host_no_certificate_or_https_check():
    settings = {k: v for k, v in SETTINGS.items() if not k.startswith("verify_tls_") or k == "verify_tls_host"}
    result = verify_checks(["openwebui"], {**settings, "verify_tls_host": ""})
    assert [next(k for k in c if k != "name") for c in result] == ["openwebui"]


def test_tls_ca_path_and_port_reach_both_checks():
    result = checks(["openwebui"], verify_tls_ca_path="/etc/ssl/ca.pem", verify_tls_port="8443", verify_tls_min_days="20")
    assert result[1:] == [
        {"name": "Certificate of chat.example.org", "tls": {
            "host": "chat.example.org", "port": 8443, "min_days": 20, "ca_path": "/etc/ssl/ca.pem"}},
        {"name": "Open WebUI through https://chat.example.org", "http": {
            "url": "https://chat.example.org:8443/health", "json_query": "status", "ca_path": "/etc/ssl/ca.pem"}},
    ]


# --- monitoring ----------------------------------------------------------------------------------
# --- ingress -------------------------------------------------------------------------------------
ADMIN = {"url": "https://chat.example.org", "email": "admin@example.org", "password": "pa:ss #\"'\\ x"}


def test_ingress_is_the_proxy_gate_of_the_public_name():
    assert checks(["ingress"]) == [
        {"name": "Certificate of chat.example.org", "tls": {"host": "chat.example.org", "port": 443, "min_days": 14}},
        {"name": "http://chat.example.org redirects to HTTPS", "http_redirect": {
            "url": "http://chat.example.org/", "location": "https://chat.example.org"}},
        {"name": "WebSocket upgrade through https://chat.example.org", "websocket": {"url": "https://chat.example.org"}},
        {"name": "Answers of llama3.1:8b stream through https://chat.example.org", "openwebui_stream": {
            **ADMIN, "model": "llama3.1:8b"}},
        {"name": "A 100 MB upload through https://chat.example.org", "openwebui_upload": {**ADMIN, "size_mb": 100}},
        {"name": "A 70 s request through https://chat.example.org", "openwebui_slow_request": {
            **ADMIN, "seconds": 70, "timeout": 100}},
    ]


def test_ingress_ports_ca_and_what_can_be_left_out():
    result = checks(["ingress"], verify_tls_port="8443", verify_ingress_http_port="8080", verify_tls_ca_path="/ca.pem",
                    verify_ingress_upload_mb=0, verify_ingress_slow_seconds="0", verify_openwebui_chat_model="")
    assert result[1:] == [
        {"name": "http://chat.example.org redirects to HTTPS", "http_redirect": {
            "url": "http://chat.example.org:8080/", "location": "https://chat.example.org:8443"}},
        {"name": "WebSocket upgrade through https://chat.example.org:8443", "websocket": {
            "url": "https://chat.example.org:8443", "ca_path": "/ca.pem"}},
    ]
    # without an admin: no check that signs in
    assert names(checks(["ingress"], verify_openwebui_admin_email="")) == [
        "Certificate of chat.example.org", "http://chat.example.org redirects to HTTPS",
        "WebSocket upgrade through https://chat.example.org"]


def test_ingress_needs_a_public_name_and_the_systemd_runtime():
    assert checks(["ingress"], verify_tls_host="") == []
    assert checks(["ingress"], **K8S) == []


def test_the_certificate_is_checked_once_with_openwebui_and_ingress():
    kinds = [next(k for k in c if k != "name") for c in checks(["ingress", "openwebui"])]
    assert kinds == ["openwebui", "tls", "http", "http_redirect", "websocket", "openwebui_stream", "openwebui_upload",
                     "openwebui_slow_request"]


def test_prometheus_ready_then_each_job():
    assert checks(["monitoring"]) == [
        {"name": "Prometheus is ready", "prometheus": {"url": "http://127.0.0.1:9090"}},
        {"name": "Prometheus targets of job prometheus are up", "prometheus": {"url": "http://127.0.0.1:9090", "job": "prometheus"}},
        {"name": "Prometheus targets of job node are up", "prometheus": {"url": "http://127.0.0.1:9090", "job": "node"}},
    ]


def test_monitoring_not_asked_for_has_no_prometheus_check():
    """tasks/main.yml leaves the stage out when verify_monitoring_enabled is false (the default)."""
    result = checks(["postgres", "ollama", "openwebui"])
    assert not [c for c in result if "prometheus" in c]


# --- kubernetes ----------------------------------------------------------------------------------
def test_rollouts_in_their_namespace_or_the_platform_one():
    assert checks(["kubernetes"]) == [
        {"name": "Deployment open-webui rolled out", "k8s_rollout": {
            "kind": "Deployment", "name": "open-webui", "namespace": "ailab", "kubeconfig": "/home/admin/.kube/config"}},
        {"name": "StatefulSet postgres rolled out", "k8s_rollout": {
            "kind": "StatefulSet", "name": "postgres", "namespace": "db", "kubeconfig": "/home/admin/.kube/config"}},
    ]


def test_no_rollouts_no_checks():
    assert checks(["kubernetes"], verify_k8s_rollouts=[]) == []


# --- the kubernetes runtime: through the API server ----------------------------------------------
KUBECONFIG = {"kubeconfig": "/home/admin/.kube/config"}


def service(name, port, namespace="ailab", scheme="http", **kw):
    return {"service": {"namespace": namespace, "name": name, "port": port, "scheme": scheme, **kw}}


def test_kubernetes_postgres_is_its_cloudnativepg_cluster():
    assert checks(["postgres"], **K8S) == [{"name": "PostgreSQL cluster postgres is healthy", "cnpg_cluster": {
        "name": "postgres", "namespace": "ailab", **KUBECONFIG}}]


@pytest.mark.parametrize("host, cluster, namespace", [
    ("pg-ro.db.svc.cluster.local", "pg", "db"),
    ("main-r.ailab.svc", "main", "ailab"),
    ("postgres.ailab.svc", "postgres", "ailab"),      # not a CNPG Service name: the Cluster of that name
])
def test_kubernetes_postgres_cluster_from_the_service_name(host, cluster, namespace):
    check = checks(["postgres"], **{**K8S, "verify_postgres_host": host})[0]["cnpg_cluster"]
    assert (check["name"], check["namespace"]) == (cluster, namespace)


def test_kubernetes_ollama_openwebui_and_prometheus_go_through_the_service_proxy():
    result = checks(["ollama", "openwebui", "monitoring"], **K8S)
    ollama, owui, prom = service("ollama", 11434, **KUBECONFIG), service("openwebui", 8080, **KUBECONFIG), service(
        "prometheus-operated", 9090, "monitoring", **KUBECONFIG)
    assert result == [
        {"name": "Ollama API answers", "ollama": {**ollama, "timeout": 10}},
        {"name": "Ollama has llama3.1:8b and it answers", "ollama": {
            **ollama, "model": "llama3.1:8b", "prompt": "Reply with the single word OK.", "timeout": 120}},
        {"name": "Ollama has tiny", "ollama": {**ollama, "model": "tiny"}},
        {"name": "Open WebUI answers, the admin signs in and chats with llama3.1:8b", "openwebui": {
            **owui, "email": "admin@example.org", "password": "pa:ss #\"'\\ x", "model": "llama3.1:8b"}},
        # the public ingress name stays direct
        {"name": "Certificate of chat.example.org", "tls": {"host": "chat.example.org", "port": 443, "min_days": 14}},
        {"name": "Open WebUI through https://chat.example.org", "http": {
            "url": "https://chat.example.org:443/health", "json_query": "status"}},
        {"name": "Prometheus is ready", "prometheus": prom},
        {"name": "Prometheus targets of job prometheus are up", "prometheus": {**prom, "job": "prometheus"}},
        {"name": "Prometheus targets of job node are up", "prometheus": {**prom, "job": "node"}},
    ]


def test_kubernetes_without_a_kubeconfig_uses_the_clients_default():
    result = checks(["postgres", "ollama"], **K8S, verify_kubeconfig="", verify_ollama_models=[])
    assert result == [
        {"name": "PostgreSQL cluster postgres is healthy", "cnpg_cluster": {"name": "postgres", "namespace": "ailab"}},
        {"name": "Ollama API answers", "ollama": {**service("ollama", 11434), "timeout": 10}}]


def test_kubernetes_endpoints_that_are_no_service_name_stay_direct():
    """An Ollama outside the cluster, an https Service port by default, an IP address."""
    result = checks(["ollama", "openwebui", "postgres"], **{
        **K8S, "verify_ollama_url": "https://ollama.example.org", "verify_openwebui_url": "https://openwebui.ailab.svc",
        "verify_postgres_host": "10.43.0.12"}, verify_ollama_models=[], verify_tls_host="", verify_openwebui_admin_email="")
    assert [next(v for k, v in c.items() if k != "name") for c in result] == [
        {"host": "10.43.0.12", "port": 5432, "user": "openwebui", "password": "db 'pw' \"x\": #1",
         "dbname": "openwebui", "sslmode": "prefer", "query": "SELECT 1"},
        {"url": "https://ollama.example.org", "timeout": 10},
        service("openwebui", 443, scheme="https", **KUBECONFIG)]


def test_systemd_never_goes_through_the_api_server():
    """The same Service names on systemd (an inventory that sets them) stay URLs."""
    result = checks(["postgres", "ollama"], **{**K8S, "ailab_runtime": "systemd"}, verify_ollama_models=[])
    assert result[0]["postgres"]["host"] == "postgres-rw.ailab.svc"
    assert result[1] == {"name": "Ollama API answers", "ollama": {"url": "http://ollama.ailab.svc:11434", "timeout": 10}}


def test_kubernetes_service_url_with_a_path_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"verify_ollama_url 'http://ollama.ailab.svc:11434/api' names a "
                                                 r"cluster Service: through the Kubernetes API server only"):
        checks(["ollama"], **{**K8S, "verify_ollama_url": "http://ollama.ailab.svc:11434/api"})


# --- stages, settings, errors --------------------------------------------------------------------
def test_stages_come_in_platform_order_whatever_the_input_order():
    result = checks(["kubernetes", "monitoring", "openwebui", "ollama", "postgres"])
    assert [next(k for k in c if k != "name") for c in result] == [
        "postgres", "ollama", "ollama", "ollama", "openwebui", "tls", "http", "prometheus", "prometheus", "prometheus",
        "k8s_rollout", "k8s_rollout"]


def test_a_single_stage_name_and_no_stage():
    assert checks("postgres") == checks(["postgres"])
    assert checks([]) == []


def test_only_the_settings_of_the_asked_stages_are_read():
    settings = {k: v for k, v in SETTINGS.items() if k.startswith("verify_postgres_") or k == "ailab_runtime"}
    assert names(verify_checks(["postgres"], settings)) == ["PostgreSQL answers"]
    with pytest.raises(AnsibleFilterError, match="settings has no verify_ollama_url"):
        verify_checks(["ollama"], settings)


@pytest.mark.parametrize("stages, changes, message", [
    (["postgres", "grafana"], {}, r"unknown stages \['grafana'\]"),
    ({"postgres": True}, {}, "the stages must be a list"),
    (["postgres"], {"verify_postgres_port": "fivefourthreetwo"}, "verify_postgres_port must be an integer"),
    (["postgres"], {"verify_postgres_port": True}, "verify_postgres_port must be an integer"),
    (["ollama"], {"verify_ollama_models": "tiny"}, "verify_ollama_models must be a list"),
    (["monitoring"], {"verify_prometheus_jobs": None}, "verify_prometheus_jobs must be a list"),
    (["ingress"], {"verify_ingress_upload_mb": "lots"}, "verify_ingress_upload_mb must be an integer"),
    (["kubernetes"], {"verify_k8s_rollouts": [{"kind": "Deployment"}]}, "needs a kind and a name"),
])
def test_bad_input_fails_with_a_clear_message(stages, changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        checks(stages, **changes)


def test_settings_must_be_a_dict():
    with pytest.raises(AnsibleFilterError, match="settings must be a dict"):
        verify_checks(["postgres"], ["verify_postgres_host"])


def test_filter_is_registered():
    assert FilterModule().filters()["verify_checks"] is verify_checks
