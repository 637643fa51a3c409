"""health_gate against a live cluster: k8s_rollout, the `service` transport (the API server's
service proxy, with the credentials of KUBECONFIG) and cnpg_cluster. No Kubernetes API server can
run on the machines this project is developed on, so this runs only when KUBECONFIG points at a
cluster and is skipped otherwise; nothing here stands in for the API server.

What every cluster has: CoreDNS as Deployment kube-system/coredns behind Service kube-system/kube-dns,
whose port 9153 serves its Prometheus metrics (k3s, MicroK8s and kubeadm alike). Set
AILAB_TEST_PROXY_SERVICE=<namespace>/<service>:<port>/<path> to probe another Service.
With a CloudNativePG Cluster: AILAB_TEST_CNPG_CLUSTER=<namespace>/<name>. With the platform
deployed (the ailab.stack roles on ailab_runtime kubernetes): AILAB_TEST_PLATFORM_NAMESPACE=<namespace>
runs the verify role's gate of the postgres, ollama and openwebui stages.
"""
from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health
from ansible_collections.ailab.stack.plugins.module_utils._health_http import check_http
from ansible_collections.ailab.stack.plugins.module_utils._health_k8s import check_k8s_rollout
from helpers.playbook import run_playbook

KUBECONFIG = os.environ.get("KUBECONFIG")
pytestmark = pytest.mark.skipif(not KUBECONFIG, reason="KUBECONFIG is not set: no Kubernetes cluster here")


def spec(**kw):
    return {"kind": "Deployment", "name": "coredns", "namespace": "kube-system",
            "kubeconfig": KUBECONFIG, "context": None, "timeout": 10, **kw}


def test_coredns_has_rolled_out():
    check = _health.Check("coredns", "k8s_rollout", spec())
    assert _health.run_gate([check], deadline=120) is True, check.last_error
    assert check.detail.startswith("Deployment kube-system/coredns: ")


def test_missing_deployment_is_reported():
    with pytest.raises(_health.CheckFailed, match=r"Deployment kube-system/no-such-thing: HTTP 404"):
        check_k8s_rollout(spec(name="no-such-thing"), 10)


# ------------------------------------------------------------------------------------------------
# service proxy
# ------------------------------------------------------------------------------------------------
def proxied_service() -> tuple[dict, str]:
    where = os.environ.get("AILAB_TEST_PROXY_SERVICE", "kube-system/kube-dns:9153/metrics")
    namespace, rest = where.split("/", 1)
    name_port, path = (rest.split("/", 1) + [""])[:2]
    name, port = name_port.split(":")
    return ({"namespace": namespace, "name": name, "port": int(port) if port.isdigit() else port, "scheme": "http",
             "kubeconfig": KUBECONFIG, "context": None}, "/" + path)


def http_spec(service, url, **kw):
    return {"url": url, "method": "GET", "headers": None, "body": None, "status_code": [200], "body_contains": None,
            "json_query": None, "json_expect": None, "validate_certs": True, "ca_path": None, "timeout": 10,
            "service": service, **kw}


def test_http_check_reaches_a_service_through_the_api_server():
    service, path = proxied_service()
    contains = "coredns_" if service["name"] == "kube-dns" and service["port"] == 9153 else None
    check = _health.Check("proxied", "http", http_spec(service, path, body_contains=contains))
    secrets = []
    assert _health.run_gate([check], deadline=60, secrets=secrets) is True, check.last_error
    assert check.detail == "HTTP 200"


def test_missing_service_is_the_api_servers_404():
    service = {**proxied_service()[0], "name": "no-such-service"}
    with pytest.raises(_health.CheckFailed, match=r"returned HTTP 404 \(expected 200\)"):
        check_http(http_spec(service, "/"), 10)


# ------------------------------------------------------------------------------------------------
# CloudNativePG and the platform's own gates
# ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not os.environ.get("AILAB_TEST_CNPG_CLUSTER"),
                    reason="AILAB_TEST_CNPG_CLUSTER (<namespace>/<name>) is not set: no CloudNativePG Cluster named")
def test_cnpg_cluster_is_healthy():
    namespace, name = os.environ["AILAB_TEST_CNPG_CLUSTER"].split("/", 1)
    check = _health.Check("db", "cnpg_cluster", {"name": name, "namespace": namespace, "kubeconfig": KUBECONFIG,
                                                 "context": None, "timeout": 10})
    assert _health.run_gate([check], deadline=120) is True, check.last_error
    assert check.detail.startswith(f"Cluster {namespace}/{name}: ")


@pytest.mark.skipif(not os.environ.get("AILAB_TEST_PLATFORM_NAMESPACE"),
                    reason="AILAB_TEST_PLATFORM_NAMESPACE is not set: the platform is not deployed on this cluster")
def test_the_verify_role_gates_the_deployed_platform_from_the_controller():
    """The role on ailab_runtime kubernetes: PostgreSQL as its CloudNativePG Cluster, Ollama and
    Open WebUI through the service proxy (presence and health only: no model or admin is assumed)."""
    plays = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "ailab.stack.ailab"}], "tasks": [
        {"name": "Verify", "ansible.builtin.include_role": {"name": "ailab.stack.verify"}}]}]
    proc = run_playbook(plays, {
        "ansible_python_interpreter": sys.executable, "ailab_runtime": "kubernetes",
        "ailab_namespace": os.environ["AILAB_TEST_PLATFORM_NAMESPACE"], "ailab_kubeconfig": KUBECONFIG,
        "ollama_models": [], "openwebui_admin_email": "", "ailab_ingress_host": "", "verify_deadline": 300}, extra_args=["-v"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Check from the controller, through the Kubernetes API, that these stages work - postgres, ollama, openwebui" in out
    assert "health_gate: all 3 checks passed" in out


def test_the_module_reaches_a_service_through_the_api_server():
    """health_gate itself (argument spec, transport) in ansible-playbook on the controller."""
    service, path = proxied_service()
    del service["context"]
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Gate", "ailab.stack.health_gate": {"deadline": 60, "checks": [
            {"name": "proxied", "http": {"url": path, "service": service}}]}}]}]
    proc = run_playbook(plays, {"ansible_python_interpreter": sys.executable}, extra_args=["-v"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "health_gate: all 1 checks passed" in out
