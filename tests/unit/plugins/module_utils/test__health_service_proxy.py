"""The `service` option of the HTTP checks (plugins/module_utils/_health_k8s.py, service_endpoint):
the service proxy URL, how a kubeconfig becomes the transport (API server CA, client certificate
and key, bearer token from the file, a token file or an exec plugin), and that the checks send
their requests to the proxied paths.

The kubeconfigs are real files written here, with certificates made by the test (fixture `pki`)
and loaded by the real `kubernetes` client. The requests go to `https_web`: a loopback HTTPS
server that records each request's path, Authorization, Cookie and client certificate. That makes
these UNIT tests of the transport: the server is not a Kubernetes API server (it neither
authenticates nor proxies anything). The live API server is in tests/integration/test_health_gate_k8s.py,
which runs only when KUBECONFIG points at a cluster.
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_http import check_http
from ansible_collections.ailab.stack.plugins.module_utils._health_k8s import proxy_url, service_endpoint
from ansible_collections.ailab.stack.plugins.module_utils._health_ollama import check_ollama
from ansible_collections.ailab.stack.plugins.module_utils._health_openwebui import check_openwebui
from ansible_collections.ailab.stack.plugins.module_utils._health_prometheus import check_prometheus

PROXY = "/api/v1/namespaces/ailab/services/http:{name}:{port}/proxy"
OLLAMA, OPENWEBUI, PROMETHEUS = (PROXY.format(name="ollama", port=11434), PROXY.format(name="openwebui", port=8080),
                                 "/api/v1/namespaces/monitoring/services/http:prometheus-operated:9090/proxy")


# ------------------------------------------------------------------------------------------------
# the proxy URL
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("server, service, url", [
    ("https://10.0.0.1:6443", {"namespace": "ailab", "name": "ollama", "port": 11434, "scheme": "http"},
     "https://10.0.0.1:6443/api/v1/namespaces/ailab/services/http:ollama:11434/proxy"),
    ("https://10.0.0.1:6443/", {"namespace": "monitoring", "name": "prometheus-operated", "port": "web",
                                "scheme": "http"},
     "https://10.0.0.1:6443/api/v1/namespaces/monitoring/services/http:prometheus-operated:web/proxy"),
    ("https://rancher.example/k8s/clusters/c-m-1", {"namespace": "ailab", "name": "openwebui", "port": "8080",
                                                    "scheme": "https"},
     "https://rancher.example/k8s/clusters/c-m-1/api/v1/namespaces/ailab/services/https:openwebui:8080/proxy"),
    ("http://127.0.0.1:8001", {"name": "kube-dns", "port": 9153},
     "http://127.0.0.1:8001/api/v1/namespaces/default/services/http:kube-dns:9153/proxy"),
])
def test_proxy_url(server, service, url):
    assert proxy_url(server, service) == url


@pytest.mark.parametrize("port", [0, 65536, True, "Web", "a b", "-http", 1.5, None])
def test_proxy_url_refuses_what_is_no_port(port):
    with pytest.raises(CheckFailed, match=r"^service port must be a port number or a port name, got "):
        proxy_url("https://k", {"namespace": "ailab", "name": "ollama", "port": port})


# ------------------------------------------------------------------------------------------------
# kubeconfig -> transport
# ------------------------------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(tmp_path: Path, server: str, user: dict, cluster: dict | None = None, extra: str = "") -> str:
    """A kubeconfig with context `test` (cluster `test`, user `gate`) as current context; `extra`
    adds clusters, users and contexts (YAML list items are appended as JSON)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "gate", "user": user}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "gate", "namespace": "ailab"}}],
        "preferences": {},
    }
    if extra:
        more = json.loads(extra)
        for key in ("clusters", "users", "contexts"):
            config[key] += more.get(key, [])
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))   # JSON is YAML
    return str(path)


@pytest.fixture
def cert_kubeconfig(tmp_path, pki):
    def make(server):
        return write_kubeconfig(tmp_path, server, {"client-certificate-data": b64(pki.client_cert),
                                                   "client-key-data": b64(pki.client_key)},
                                {"certificate-authority-data": b64(pki.ca)})
    return make


@pytest.fixture
def token_kubeconfig(tmp_path, pki):
    def make(server, token="k8s-token-0123456789"):
        return write_kubeconfig(tmp_path, server, {"token": token}, {"certificate-authority": pki.ca_path})
    return make


def service(kubeconfig, name="ollama", port=11434, namespace="ailab", **kw):
    return {"name": name, "namespace": namespace, "port": port, "scheme": "http", "kubeconfig": kubeconfig,
            "context": None, **kw}


def test_client_certificate_kubeconfig_maps_to_ca_cert_and_key(cert_kubeconfig, pki):
    secrets = []
    target = service_endpoint(service(cert_kubeconfig("https://127.0.0.1:6443")), None, secrets)
    assert target.base == "https://127.0.0.1:6443" + OLLAMA
    assert target.via_api_server and target.validate_certs
    # the client writes the *-data fields to files: the same certificates
    assert Path(target.ca_path).read_bytes() == pki.ca
    assert Path(target.client_cert).read_bytes() == pki.client_cert
    assert Path(target.client_key).read_bytes() == pki.client_key
    assert "Authorization" not in target.headers and secrets == []


def test_token_kubeconfig_maps_to_a_bearer_header_that_is_a_secret(token_kubeconfig, pki):
    secrets = []
    target = service_endpoint(service(token_kubeconfig("https://127.0.0.1:6443")), {"X-Trace": "1"}, secrets)
    assert target.headers == {"X-Trace": "1", "Authorization": "Bearer k8s-token-0123456789"}
    assert target.ca_path == pki.ca_path and target.client_cert is None and target.client_key is None
    assert set(secrets) == {"Bearer k8s-token-0123456789", "k8s-token-0123456789"}


def test_token_file_and_basic_auth(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("file-token-abc\n")
    target = service_endpoint(service(write_kubeconfig(tmp_path, "http://127.0.0.1:8001",
                                                       {"tokenFile": str(token_file)})))
    assert target.headers["Authorization"] == "Bearer file-token-abc"
    assert target.base.startswith("http://127.0.0.1:8001/api/v1/") and target.ca_path is None
    secrets = []
    target = service_endpoint(service(write_kubeconfig(tmp_path, "http://127.0.0.1:8001",
                                                       {"username": "admin", "password": "pw-basic"})), None, secrets)
    assert target.headers["Authorization"] == "Basic " + b64(b"admin:pw-basic")
    assert b64(b"admin:pw-basic") in secrets


def test_exec_plugin_token(tmp_path):
    plugin = tmp_path / "credential-plugin.py"
    plugin.write_text('import json\nprint(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", '
                      '"kind": "ExecCredential", "status": {"token": "exec-token-xyz"}}))\n')
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin)], "interactiveMode": "Never"}}
    secrets = []
    target = service_endpoint(service(write_kubeconfig(tmp_path, "https://127.0.0.1:6443", user)), None, secrets)
    assert target.headers["Authorization"] == "Bearer exec-token-xyz"
    assert "exec-token-xyz" in secrets


def test_context_picks_cluster_and_user(tmp_path):
    other = json.dumps({"clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443",
                                                                  "insecure-skip-tls-verify": True}}],
                        "users": [{"name": "viewer", "user": {"token": "prod-token"}}],
                        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "viewer"}}]})
    config = write_kubeconfig(tmp_path, "https://test.example:6443", {"token": "test-token"}, extra=other)
    target = service_endpoint(service(config, context="prod"))
    assert target.base.startswith("https://prod.example:6443/api/v1/namespaces/ailab/")
    assert target.headers["Authorization"] == "Bearer prod-token"
    assert target.validate_certs is False      # insecure-skip-tls-verify
    assert service_endpoint(service(config)).headers["Authorization"] == "Bearer test-token"


def test_missing_kubeconfig_and_tls_server_name(tmp_path):
    with pytest.raises(CheckFailed, match=r"^cannot load kubeconfig .*/none: "):
        service_endpoint(service(str(tmp_path / "none")))
    config = write_kubeconfig(tmp_path, "https://10.0.0.1:6443", {"token": "t"}, {"tls-server-name": "kubernetes"})
    with pytest.raises(CheckFailed, match=r"tls-server-name kubernetes is not supported for a service check$"):
        service_endpoint(service(config))


# ------------------------------------------------------------------------------------------------
# transport unit tests: the checks send their requests to the proxied paths of `https_web`
# (a recording loopback HTTPS server, not an API server)
# ------------------------------------------------------------------------------------------------
def http_spec(svc, url="/health", **kw):
    return {"url": url, "method": "GET", "headers": None, "body": None, "status_code": [200], "body_contains": None,
            "json_query": None, "json_expect": None, "validate_certs": True, "ca_path": None, "timeout": 5,
            "service": svc, **kw}


def test_http_check_requests_the_proxied_path_with_the_client_certificate(https_web, cert_kubeconfig):
    https_web.routes[("GET", OPENWEBUI + "/health")] = lambda h, b: (200, {"status": True})
    spec = http_spec(service(cert_kubeconfig(https_web.url), name="openwebui", port=8080), json_query="status")
    assert check_http(spec, 5) == "HTTP 200"
    request = https_web.seen[-1]
    assert request["path"] == OPENWEBUI + "/health"
    assert request["client_cn"] == "gate-admin"
    assert "authorization" not in request["headers"]


def test_http_check_with_a_token_and_a_query(https_web, token_kubeconfig):
    https_web.routes[("GET", OPENWEBUI + "/api/x")] = lambda h, b: (200, {"ok": 1})
    spec = http_spec(service(token_kubeconfig(https_web.url), name="openwebui", port=8080), url="/api/x?a=1",
                     headers={"X-Trace": "7"})
    assert check_http(spec, 5) == "HTTP 200"
    request = https_web.seen[-1]
    assert request["path"] == OPENWEBUI + "/api/x?a=1" and request["client_cn"] is None
    assert request["headers"]["authorization"] == "Bearer k8s-token-0123456789"
    assert request["headers"]["x-trace"] == "7"


def test_ollama_check_through_the_proxy(https_web, cert_kubeconfig):
    https_web.routes.update({
        ("GET", OLLAMA + "/api/tags"): lambda h, b: (200, {"models": [{"name": "tiny:latest"}]}),
        ("POST", OLLAMA + "/api/generate"): lambda h, b: (200, {"response": "OK", "done": True}),
    })
    spec = {"url": "http://127.0.0.1:11434", "model": "tiny", "loaded": False, "prompt": "Say OK", "num_predict": 4,
            "headers": None, "validate_certs": True, "ca_path": None, "timeout": 5,
            "service": service(cert_kubeconfig(https_web.url))}
    assert check_ollama(spec, 5) == "tiny:latest present, answered 'OK'"
    assert [r["path"] for r in https_web.seen] == [OLLAMA + "/api/tags", OLLAMA + "/api/generate"]
    assert {r["client_cn"] for r in https_web.seen} == {"gate-admin"}
    assert https_web.seen[-1]["body"]["model"] == "tiny:latest"


def test_ollama_check_names_the_proxied_url_when_the_service_has_no_pods(https_web, token_kubeconfig):
    # what the API server answers when no pod backs the Service
    https_web.routes[("GET", OLLAMA + "/api/version")] = lambda h, b: (503, {
        "kind": "Status", "status": "Failure", "reason": "ServiceUnavailable",
        "message": 'no endpoints available for service "ollama"'})
    spec = {"url": "http://127.0.0.1:11434", "model": None, "loaded": False, "prompt": None, "num_predict": 4,
            "headers": None, "validate_certs": True, "ca_path": None, "timeout": 5,
            "service": service(token_kubeconfig(https_web.url))}
    with pytest.raises(CheckFailed) as exc:
        check_ollama(spec, 5)
    assert str(exc.value).startswith(f"GET {https_web.url}{OLLAMA}/api/version returned HTTP 503 (expected 200): ")
    assert "no endpoints available" in str(exc.value)


def test_prometheus_check_through_the_proxy(https_web, token_kubeconfig):
    https_web.routes[("GET", PROMETHEUS + "/api/v1/targets")] = lambda h, b: (200, {"data": {"activeTargets": [
        {"labels": {"job": "node"}, "health": "up"}]}})
    svc = service(token_kubeconfig(https_web.url), name="prometheus-operated", port=9090, namespace="monitoring")
    spec = {"url": "http://127.0.0.1:9090", "query": None, "job": "node", "headers": None, "validate_certs": True,
            "ca_path": None, "timeout": 5, "service": svc}
    assert check_prometheus(spec, 5) == "1 target(s) of job node up"
    assert https_web.seen[-1]["path"] == PROMETHEUS + "/api/v1/targets?state=active"


@pytest.fixture
def owui(https_web):
    """Open WebUI's answers under its proxied path; the chat needs the session (cookie or header)."""
    def session(answer):
        def route(handler, body):
            cookie = handler.headers.get("Cookie") or ""
            bearer = handler.headers.get("Authorization") or ""
            if "token=owui-session-123" not in cookie and bearer != "Bearer owui-session-123":
                return 401, {"detail": "Not authenticated"}
            return 200, answer
        return route

    https_web.routes.update({
        ("GET", OPENWEBUI + "/health"): lambda h, b: (200, {"status": True}),
        ("GET", OPENWEBUI + "/health/db"): lambda h, b: (200, {"status": True}),
        ("POST", OPENWEBUI + "/api/v1/auths/signin"): lambda h, b: (200, {"token": "owui-session-123", "role": "admin"}),
        ("GET", OPENWEBUI + "/api/models"): session({"data": [{"id": "tiny:latest", "owned_by": "ollama"}]}),
        ("GET", OPENWEBUI + "/api/config"): session({"features": {}}),
        ("GET", OPENWEBUI + "/api/v1/users/user/settings"): session(None),
        ("POST", OPENWEBUI + "/api/chat/completions"): session('data: {"choices": [{"delta": {"content": "OK"}}]}\n\n'
                                                               'data: [DONE]\n\n'),
    })
    return https_web


def owui_spec(svc):
    return {"url": "http://127.0.0.1:8080", "check_db": True, "email": "admin@example.org", "password": "pw",
            "model": "tiny", "prompt": "Say OK", "validate_certs": True, "ca_path": None, "timeout": 5,
            "service": svc}


def test_openwebui_session_goes_in_the_cookie_the_api_server_forwards(owui, token_kubeconfig):
    secrets = []
    spec = owui_spec(service(token_kubeconfig(owui.url), name="openwebui", port=8080))
    assert check_openwebui(spec, 5, secrets) == "healthy, database ok, signed in as admin@example.org, tiny answered 'OK'"
    assert [r["path"].removeprefix(OPENWEBUI) for r in owui.seen] == [
        "/health", "/health/db", "/api/v1/auths/signin", "/api/models", "/api/config", "/api/v1/users/user/settings",
        "/api/chat/completions"]
    chat = owui.seen[-1]["headers"]
    # the API server's credentials in Authorization (it removes the header), Open WebUI's in the cookie
    assert chat["authorization"] == "Bearer k8s-token-0123456789"
    assert chat["cookie"] == "token=owui-session-123"
    assert {"owui-session-123", "k8s-token-0123456789"} <= set(secrets)


def test_redirects_are_not_followed_through_the_api_server(https_web, web, token_kubeconfig):
    web.routes[("GET", "/elsewhere")] = lambda h, b: (200, {"status": True})
    https_web.routes[("GET", OPENWEBUI + "/health")] = lambda h, b: (302, "", {"Location": web.url + "/elsewhere"})
    spec = http_spec(service(token_kubeconfig(https_web.url), name="openwebui", port=8080))
    with pytest.raises(CheckFailed, match=r"returned HTTP 302 \(expected 200\)"):
        check_http(spec, 5)
    assert web.seen == []   # the token never left for the other host


def test_untrusted_api_server_certificate(https_web, tmp_path):
    config = write_kubeconfig(tmp_path, https_web.url, {"token": "t-untrusted"})   # no CA: the system store
    with pytest.raises(CheckFailed, match=r"TLS certificate not trusted|certificate verify failed"):
        check_http(http_spec(service(config, name="openwebui", port=8080)), 5)
    assert https_web.seen == []


def test_the_gate_masks_the_kubeconfig_token_in_its_report(https_web, token_kubeconfig):
    # a server that echoes what it got: the token must not reach the report
    https_web.routes[("GET", OPENWEBUI + "/health")] = lambda h, b: (500, {"echo": h.headers.get("Authorization")})
    check = _health.Check("web", "http", http_spec(service(token_kubeconfig(https_web.url, "tok-echoed-back-42"),
                                                           name="openwebui", port=8080)))
    secrets = []
    assert _health.run_gate([check], deadline=0, secrets=secrets) is False
    assert "tok-echoed-back-42" not in check.last_error and "********" in check.last_error
    assert "tok-echoed-back-42" in secrets
