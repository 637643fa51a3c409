"""Unit tests of plugins/module_utils/_health.py.

HTTP-shaped checks run against a real http.server on loopback that answers like the service
(Open WebUI, Ollama errors); the real Ollama, PostgreSQL, Prometheus and TLS servers are in
tests/integration/test_health_gate*.py. The runner is driven with a fake clock so its retry and
deadline logic is tested without waiting.
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jmespath
import pytest
from kubernetes import client as k8s

from ansible_collections.ailab.stack.plugins.module_utils import _health
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed


# ------------------------------------------------------------------------------------------------
# a tiny programmable HTTP server
# ------------------------------------------------------------------------------------------------
class Routes(dict):
    """(method, path) -> callable(handler, body) returning (status, json-able or str)."""


def _handler(routes: Routes, seen: list):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append({"method": method, "path": self.path, "body": body,
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
            route = routes.get((method, self.path.split("?")[0]))
            status, payload = route(self, body) if route else (404, {"detail": "Not Found"})
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data.encode())))
            self.end_headers()
            self.wfile.write(data.encode())

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def web():
    routes, seen = Routes(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes, seen))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.routes, server.seen = routes, seen
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_spec(url, **kw):
    spec = {"url": url, "method": "GET", "headers": None, "body": None, "status_code": [200],
            "body_contains": None, "json_query": None, "json_expect": None, "validate_certs": True,
            "ca_path": None, "timeout": 5}
    spec.update(kw)
    return spec


# ------------------------------------------------------------------------------------------------
# masking
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, masked", [
    ("https://admin:s3cret@db.example:5432/x", "https://admin:********@db.example:5432/x"),
    ("http://user@host/path", "http://user@host/path"),
    ("http://host/q?token=abc&page=2", "http://host/q?token=********&page=2"),
    ("http://host/q?API_KEY=abc", "http://host/q?API_KEY=********"),
    ("http://host:8080/health", "http://host:8080/health"),
])
def test_mask_url(url, masked):
    assert _health.mask_url(url) == masked


@pytest.mark.parametrize("dsn, masked, secrets", [
    ("host=db user=app password=hunter2 dbname=x", "host=db user=app password=******** dbname=x", ["hunter2"]),
    ("host=db password='a b\\'c' user=app", "host=db password=******** user=app", ["'a b\\'c'", "a b'c"]),
    ("postgresql://app:p%40ss@db/x", "postgresql://app:********@db/x", ["p%40ss", "p%2540ss"]),
    ("host=db user=app", "host=db user=app", []),
])
def test_mask_dsn_and_its_secrets(dsn, masked, secrets):
    assert _health.mask_dsn(dsn) == masked
    assert _health.dsn_secrets(dsn) == secrets


def test_mask_headers_keeps_harmless_values():
    masked = _health.mask_headers({"Authorization": "Bearer x", "Cookie": "a=b", "X-API-Key": "k",
                                   "Private-Token": "t", "Accept": "application/json"})
    assert masked == {"Authorization": "********", "Cookie": "********", "X-API-Key": "********",
                      "Private-Token": "********", "Accept": "application/json"}


def test_mask_text_replaces_longest_secret_first():
    assert _health.mask_text("pw=abcdef and abc", ["abc", "abcdef", ""]) == "pw=******** and ********"


# ------------------------------------------------------------------------------------------------
# http / tcp
# ------------------------------------------------------------------------------------------------
def test_http_passes_on_status_body_and_json_query(web):
    web.routes[("GET", "/health")] = lambda h, b: (200, {"status": True, "db": {"ok": "yes"}})
    assert _health.check_http(http_spec(web.url + "/health", json_query="db.ok", json_expect="yes",
                                        body_contains='"status": true'), 5) == "HTTP 200"


def test_http_reports_wrong_status_with_body(web):
    web.routes[("GET", "/health")] = lambda h, b: (503, {"detail": "database down"})
    with pytest.raises(CheckFailed, match=r"returned HTTP 503 \(expected 200\): .*database down"):
        _health.check_http(http_spec(web.url + "/health"), 5)


def test_http_accepts_listed_status(web):
    web.routes[("GET", "/x")] = lambda h, b: (401, {"detail": "no"})
    assert _health.check_http(http_spec(web.url + "/x", status_code=[200, 401]), 5) == "HTTP 401"


def test_http_json_query_false_and_mismatch(web):
    web.routes[("GET", "/h")] = lambda h, b: (200, {"status": False, "version": "1.2"})
    with pytest.raises(CheckFailed, match=r"json_query 'status' gave False \(expected a true value\)"):
        _health.check_http(http_spec(web.url + "/h", json_query="status"), 5)
    with pytest.raises(CheckFailed, match=r"json_query 'version' gave '1.2', expected '2.0'"):
        _health.check_http(http_spec(web.url + "/h", json_query="version", json_expect="2.0"), 5)


def test_http_body_not_json_and_missing_text(web):
    web.routes[("GET", "/t")] = lambda h, b: (200, "plain text")
    with pytest.raises(CheckFailed, match="did not answer JSON: plain text"):
        _health.check_http(http_spec(web.url + "/t", json_query="a"), 5)
    with pytest.raises(CheckFailed, match="body does not contain 'hello'"):
        _health.check_http(http_spec(web.url + "/t", body_contains="hello"), 5)


def test_http_sends_headers_body_and_basic_auth_from_userinfo(web):
    web.routes[("POST", "/p")] = lambda h, b: (200, {"got": b})
    url = web.url.replace("http://", "http://admin:pw@") + "/p"
    _health.check_http(http_spec(url, method="POST", headers={"X-API-Key": "k1"}, body={"a": 1}), 5)
    req = web.seen[-1]
    assert req["body"] == {"a": 1}
    assert req["headers"]["x-api-key"] == "k1"
    assert req["headers"]["authorization"] == "Basic YWRtaW46cHc="  # admin:pw


def test_http_server_down_masks_password():
    url = f"http://admin:s3cret@127.0.0.1:{closed_port()}/health"
    with pytest.raises(CheckFailed) as exc:
        _health.check_http(http_spec(url), 2)
    assert "cannot connect" in str(exc.value) and "s3cret" not in str(exc.value)
    assert "admin:********@127.0.0.1" in str(exc.value)


def test_tcp_open_and_closed(web):
    port = web.server_address[1]
    assert _health.check_tcp({"host": "127.0.0.1", "port": port}, 2) == f"127.0.0.1:{port} accepts connections"
    port = closed_port()
    with pytest.raises(CheckFailed, match=f"cannot connect to 127.0.0.1:{port}: Connection refused"):
        _health.check_tcp({"host": "127.0.0.1", "port": port}, 2)


# ------------------------------------------------------------------------------------------------
# openwebui-shaped server
# ------------------------------------------------------------------------------------------------
def owui_spec(url, **kw):
    spec = {"url": url, "check_db": True, "email": None, "password": None, "model": None,
            "prompt": "Reply OK", "validate_certs": True, "ca_path": None, "timeout": 5}
    spec.update(kw)
    return spec


@pytest.fixture
def owui(web):
    """Answers like Open WebUI 0.12: health, health/db, sign-in, chat completions."""
    def signin(handler, body):
        if body == {"email": "admin@example.org", "password": "right-pw"}:
            return 200, {"token": "tok-123456", "role": "admin"}
        return 400, {"detail": "The email or password provided is incorrect. Please check for typos and try again."}

    def chat(handler, body):
        if handler.headers.get("Authorization") != "Bearer tok-123456":
            return 401, {"detail": "Not authenticated"}
        if body["model"] != "tiny:latest":  # like the real one: Ollama models by full reference
            return 400, {"detail": "Model not found"}
        return 200, {"choices": [{"message": {"role": "assistant", "content": "OK"}}]}

    web.routes.update({
        ("GET", "/health"): lambda h, b: (200, {"status": True}),
        ("GET", "/health/db"): lambda h, b: (200, {"status": True}),
        ("POST", "/api/v1/auths/signin"): signin,
        ("POST", "/api/chat/completions"): chat,
    })
    return web


def test_openwebui_health_signin_and_chat(owui):
    secrets = []
    detail = _health.check_openwebui(owui_spec(owui.url, email="admin@example.org", password="right-pw",
                                               model="tiny"), 5, secrets=secrets)
    assert detail == "healthy, database ok, signed in as admin@example.org, tiny answered 'OK'"
    assert secrets == ["tok-123456"]  # the session token is masked from then on
    assert owui.seen[-1]["body"]["messages"] == [{"role": "user", "content": "Reply OK"}]


def test_openwebui_db_down(owui):
    owui.routes[("GET", "/health/db")] = lambda h, b: (503, {"status": False})
    with pytest.raises(CheckFailed, match=r"/health/db returned HTTP 503"):
        _health.check_openwebui(owui_spec(owui.url), 5)
    assert _health.check_openwebui(owui_spec(owui.url, check_db=False), 5) == "healthy"


def test_openwebui_wrong_password_reports_detail(owui):
    with pytest.raises(CheckFailed) as exc:
        _health.check_openwebui(owui_spec(owui.url, email="admin@example.org", password="wrong-pw"), 5)
    assert str(exc.value) == (f"sign-in as admin@example.org at {owui.url} failed: HTTP 400: The email or "
                              "password provided is incorrect. Please check for typos and try again.")


def test_openwebui_chat_with_unknown_model(owui):
    with pytest.raises(CheckFailed, match=r"chat completion with nope .* returned HTTP 400 .*Model not found"):
        _health.check_openwebui(owui_spec(owui.url, email="admin@example.org", password="right-pw",
                                          model="nope"), 5)


# ------------------------------------------------------------------------------------------------
# ollama errors (the real Ollama is in the integration tests)
# ------------------------------------------------------------------------------------------------
def ollama_spec(url, **kw):
    spec = {"url": url, "model": "tiny", "loaded": False, "prompt": None, "num_predict": 4, "headers": None,
            "validate_certs": True, "ca_path": None, "timeout": 5}
    spec.update(kw)
    return spec


def test_ollama_error_field_is_the_reason(web):
    web.routes[("GET", "/api/tags")] = lambda h, b: (200, {"models": [{"name": "tiny:latest"}]})
    web.routes[("POST", "/api/generate")] = lambda h, b: (500, {"error": "model requires more system memory"})
    with pytest.raises(CheckFailed, match=r"/api/generate \(tiny:latest\): model requires more system memory$"):
        _health.check_ollama(ollama_spec(web.url, prompt="hi"), 5)


def test_ollama_model_tag_defaults_to_latest(web):
    web.routes[("GET", "/api/tags")] = lambda h, b: (200, {"models": [{"name": "tiny:latest"}, {"name": "big:8b"}]})
    assert _health.check_ollama(ollama_spec(web.url, model="tiny"), 5) == "tiny:latest present"
    with pytest.raises(CheckFailed, match=r"model big:latest not present .* \(have: tiny:latest, big:8b\)"):
        _health.check_ollama(ollama_spec(web.url, model="big"), 5)


# ------------------------------------------------------------------------------------------------
# k8s rollout logic, with real kubernetes client model objects
# ------------------------------------------------------------------------------------------------
def as_dict(obj):
    return k8s.ApiClient().sanitize_for_serialization(obj)


def deployment(replicas=3, generation=2, observed=2, updated=3, total=3, available=3, conditions=None):
    return as_dict(k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="open-webui", namespace="ailab", generation=generation),
        spec=k8s.V1DeploymentSpec(replicas=replicas, selector=k8s.V1LabelSelector(match_labels={"a": "b"}),
                                  template=k8s.V1PodTemplateSpec()),
        status=k8s.V1DeploymentStatus(observed_generation=observed, updated_replicas=updated, replicas=total,
                                      available_replicas=available, conditions=conditions)))


@pytest.mark.parametrize("kw, done, message", [
    ({}, True, "Deployment ailab/open-webui: 3 of 3 replicas available"),
    ({"observed": 1}, False, "Deployment ailab/open-webui: waiting for the controller to observe generation 2"),
    ({"updated": 1, "total": 3, "available": 1}, False, "Deployment ailab/open-webui: 1 of 3 replicas updated"),
    ({"total": 4}, False, "Deployment ailab/open-webui: 1 old replicas pending termination"),
    ({"available": 2}, False, "Deployment ailab/open-webui: 2 of 3 updated replicas available"),
    ({"replicas": 0, "updated": None, "total": None, "available": None}, True,
     "Deployment ailab/open-webui: 0 of 0 replicas available"),
])
def test_deployment_rollout(kw, done, message):
    assert _health.rollout_status("Deployment", deployment(**kw)) == (done, message)


def test_deployment_progress_deadline():
    cond = k8s.V1DeploymentCondition(type="Progressing", status="False", reason="ProgressDeadlineExceeded",
                                     message='ReplicaSet "open-webui-1" has timed out progressing.')
    done, message = _health.rollout_status("Deployment", deployment(available=1, conditions=[cond]))
    assert not done and "exceeded its progress deadline" in message and "timed out" in message


def statefulset(ready=1, current="r1", update="r1", partition=None, updated=1):
    strategy = k8s.V1StatefulSetUpdateStrategy(
        type="RollingUpdate", rolling_update=k8s.V1RollingUpdateStatefulSetStrategy(partition=partition))
    return as_dict(k8s.V1StatefulSet(
        metadata=k8s.V1ObjectMeta(name="postgres", namespace="ailab", generation=1),
        spec=k8s.V1StatefulSetSpec(replicas=1, service_name="postgres", update_strategy=strategy,
                                   selector=k8s.V1LabelSelector(match_labels={"a": "b"}),
                                   template=k8s.V1PodTemplateSpec()),
        status=k8s.V1StatefulSetStatus(observed_generation=1, replicas=1, ready_replicas=ready,
                                       current_revision=current, update_revision=update,
                                       updated_replicas=updated)))


@pytest.mark.parametrize("kw, done, message", [
    ({}, True, "StatefulSet ailab/postgres: 1 of 1 replicas ready"),
    ({"ready": 0}, False, "StatefulSet ailab/postgres: 0 of 1 replicas ready"),
    ({"update": "r2"}, False, "StatefulSet ailab/postgres: rolling update to revision r2 in progress"),
    ({"update": "r2", "partition": 1, "updated": 0}, True, "StatefulSet ailab/postgres: 1 of 1 replicas ready"),
])
def test_statefulset_rollout(kw, done, message):
    assert _health.rollout_status("StatefulSet", statefulset(**kw)) == (done, message)


@pytest.mark.parametrize("status, done, message", [
    ({"desired": 2, "updated": 2, "available": 2}, True, "DaemonSet ailab/node-exporter: 2 of 2 pods available"),
    ({"desired": 2, "updated": 1, "available": 2}, False, "DaemonSet ailab/node-exporter: 1 of 2 pods updated"),
    ({"desired": 2, "updated": 2, "available": 1}, False, "DaemonSet ailab/node-exporter: 1 of 2 pods available"),
])
def test_daemonset_rollout(status, done, message):
    obj = as_dict(k8s.V1DaemonSet(
        metadata=k8s.V1ObjectMeta(name="node-exporter", namespace="ailab", generation=1),
        status=k8s.V1DaemonSetStatus(observed_generation=1, desired_number_scheduled=status["desired"],
                                     current_number_scheduled=status["desired"], number_misscheduled=0,
                                     number_ready=status["available"], updated_number_scheduled=status["updated"],
                                     number_available=status["available"])))
    assert _health.rollout_status("DaemonSet", obj) == (done, message)


def test_k8s_rollout_with_missing_kubeconfig(tmp_path):
    spec = {"kind": "Deployment", "name": "x", "namespace": "ailab", "kubeconfig": str(tmp_path / "none"),
            "context": None, "timeout": 2}
    with pytest.raises(CheckFailed, match="cannot load kubeconfig .*none"):
        _health.check_k8s_rollout(spec, 2)


# ------------------------------------------------------------------------------------------------
# runner and report, with a fake clock
# ------------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def scripted(monkeypatch):
    """A check type 'scripted' whose spec['results'] lists what each attempt does."""
    def check(spec, timeout):
        spec["timeouts"].append(timeout)
        outcome = spec["results"].pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    monkeypatch.setitem(_health.CHECKS, "scripted", check)


def scripted_check(name, *results, timeout=10):
    return _health.Check(name, "scripted", {"results": list(results), "timeouts": [], "timeout": timeout})


def test_gate_retries_failed_checks_only_with_backoff(scripted):
    clock = FakeClock()
    a = scripted_check("a", "fine")
    b = scripted_check("b", CheckFailed("not yet"), CheckFailed("still not"), "up now")
    assert _health.run_gate([a, b], deadline=60, interval=2, backoff=2, max_interval=3,
                            clock=clock, sleep=clock.sleep) is True
    assert (a.attempts, b.attempts) == (1, 3)
    assert clock.sleeps == [2, 3]   # 2, then 4 capped at max_interval 3
    assert b.report() == {"name": "b", "type": "scripted", "ok": True, "attempts": 3, "seconds": 5.0,
                          "last_error": "", "detail": "up now"}


def test_gate_stops_at_deadline_and_keeps_last_error(scripted):
    clock = FakeClock()
    c = scripted_check("c", *[CheckFailed(f"refused {i}") for i in range(10)])
    assert _health.run_gate([c], deadline=5, interval=2, backoff=1.5, clock=clock, sleep=clock.sleep) is False
    assert clock.sleeps == [2, 3.0]   # the last wait is cut to the time left
    assert (c.ok, c.attempts, c.last_error) == (False, 3, "refused 2")
    assert c.spec["timeouts"] == [5, 3.0, 1.0]   # attempt timeout: min(timeout, time left), at least 1 s


def test_gate_deadline_zero_tries_once(scripted):
    clock = FakeClock()
    c = scripted_check("c", CheckFailed("down"), "never reached")
    assert _health.run_gate([c], deadline=0, clock=clock, sleep=clock.sleep) is False
    assert c.attempts == 1 and clock.sleeps == []


def test_gate_turns_unexpected_errors_into_reasons_and_masks_secrets(scripted):
    clock = FakeClock()
    c = scripted_check("c", KeyError("pw-123"))
    d = scripted_check("d", CheckFailed("login with pw-123 refused"))
    _health.run_gate([c, d], deadline=0, secrets=["pw-123"], clock=clock, sleep=clock.sleep)
    assert c.last_error == "KeyError: '********'"
    assert d.last_error == "login with ******** refused"


def test_format_table():
    ok = _health.Check("web", "http", {})
    ok.ok, ok.attempts, ok.seconds, ok.detail = True, 1, 0.04, "HTTP 200"
    bad = _health.Check("database port", "tcp", {})
    bad.attempts, bad.seconds, bad.last_error = 12, 30.02, "cannot connect to 127.0.0.1:5432: Connection refused"
    assert _health.format_table([ok, bad]).splitlines() == [
        "NAME           TYPE  RESULT  TRIES  SECONDS  LAST ERROR / DETAIL",
        "-" * 97,
        "web            http  ok          1      0.0  HTTP 200",
        "database port  tcp   FAILED     12     30.0  cannot connect to 127.0.0.1:5432: Connection refused",
    ]


# ------------------------------------------------------------------------------------------------
# json_query without jmespath (servers often lack it): the simple subset gives jmespath's results
# ------------------------------------------------------------------------------------------------
DOC = {"status": True, "data": {"result": [{"value": [1, "2"]}, {"value": None}]}, "n": 0, "s": "x"}


@pytest.mark.parametrize("expr", ["status", "data.result[0].value", "data.result[0].value[1]", "data.result[-1]",
                                  "data.result[5]", "missing.key", "s.deeper", "n", "data.result[0].value[-2]"])
def test_simple_json_query_matches_jmespath(monkeypatch, expr):
    expected = jmespath.search(expr, DOC)
    monkeypatch.setattr(_health, "HAS_JMESPATH", False)
    assert _health.is_simple_query(expr)
    assert _health.json_query(expr, DOC) == expected


def test_complex_json_query_needs_jmespath(monkeypatch):
    monkeypatch.setattr(_health, "HAS_JMESPATH", False)
    assert not _health.is_simple_query("data.result[?value].value")
    with pytest.raises(CheckFailed, match="needs the jmespath Python library"):
        _health.json_query("data.result[?value].value", DOC)
