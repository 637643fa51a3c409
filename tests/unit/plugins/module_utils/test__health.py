"""Unit tests of plugins/module_utils/_health.py, what the health checks share: masking, the HTTP
request helper, json_query, the registry of check types, the runner and the report table.

Each check type has its own test file, test__health_<type>.py; the real servers are in
tests/integration/test_health_gate*.py. The runner is driven with a fake clock so its retry and
deadline logic is tested without waiting.
"""
from __future__ import annotations

import jmespath
import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.modules import health_gate


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
# HTTP request helper
# ------------------------------------------------------------------------------------------------
def test_http_request_returns_any_status_and_sends_json(web):
    web.routes[("POST", "/p")] = lambda h, b: (418, {"got": b})
    resp = _health.http_request(web.url + "/p", 5, "POST", {"X-Test": "1"}, {"a": [1]})
    assert (resp.status, resp.json("test")) == (418, {"got": {"a": [1]}})
    assert web.seen[-1]["headers"]["content-type"] == "application/json"
    assert web.seen[-1]["headers"]["x-test"] == "1"


def test_http_request_transport_errors_name_the_masked_url(closed_port):
    with pytest.raises(CheckFailed) as exc:
        _health.http_request(f"http://admin:s3cret@127.0.0.1:{closed_port}/x?token=t0k", 2)
    assert str(exc.value) == (f"GET http://admin:********@127.0.0.1:{closed_port}/x?token=********: "
                              "cannot connect: [Errno 111] Connection refused")
    with pytest.raises(CheckFailed, match=r"^GET nope://x: cannot connect: unknown url type: nope$"):
        _health.http_request("nope://x", 2)


def test_endpoint_sends_userinfo_as_basic_auth_and_shows_it_masked(web):
    web.routes[("GET", "/api/x")] = lambda h, b: (200, {})
    target = _health.endpoint({"url": web.url.replace("http://", "http://gate:s3cret@") + "/", "headers": {"X-A": "1"},
                               "validate_certs": True, "ca_path": None})
    assert target.shown == web.url.replace("http://", "http://gate:********@")
    assert target.where("/api/x", "POST") == f"POST {target.shown}/api/x"
    assert target.request("/api/x", 5).status == 200
    assert web.seen[-1]["path"] == "/api/x"
    assert web.seen[-1]["headers"]["authorization"] == "Basic Z2F0ZTpzM2NyZXQ="   # gate:s3cret
    assert web.seen[-1]["headers"]["x-a"] == "1"
    assert not target.via_api_server


@pytest.mark.parametrize("error, reason", [
    (TimeoutError("timed out"), "no answer within 2.5s"),
    (ConnectionResetError(104, "Connection reset by peer"), "[Errno 104] Connection reset by peer"),
    (ValueError("bad URL"), "bad URL"),
])
def test_transport_failure(error, reason):
    assert str(_health.transport_failure("GET http://h/x", error, 2.5)) == f"GET http://h/x: {reason}"


def test_expect_status():
    _health.expect_status(_health.Response(204, {}, ""), [200, 204], "GET /x")
    with pytest.raises(CheckFailed, match=r"^GET /x returned HTTP 500 \(expected 200, 204\): oops$"):
        _health.expect_status(_health.Response(500, {}, "oops"), [200, 204], "GET /x")


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
def test_every_check_type_of_the_module_is_registered():
    # health_gate imports one _health_<type> module per check type; each registers its function
    assert set(_health.CHECKS) == set(health_gate.CHECK_TYPES) == set(health_gate.CHECK_SPECS)
    # the HTTP checks learn the credentials of a kubeconfig (service), openwebui also its session,
    # and so do the proxy checks that sign in to Open WebUI
    assert _health.LEARNS_SECRETS == {"http", "ollama", "ollama_on_gpu", "openwebui", "prometheus", "openwebui_stream",
                                      "openwebui_upload", "openwebui_slow_request"}
    assert _health.CHECKS["k8s_rollout"].__module__.endswith("._health_k8s")
    assert _health.CHECKS["cnpg_cluster"].__module__.endswith("._health_k8s")


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


def test_gate_report_leads_with_the_last_full_attempt_when_the_deadline_cut_the_final_one(scripted):
    clock = FakeClock()
    c = scripted_check("c", CheckFailed("model missing"), CheckFailed("model still missing"),
                       CheckFailed("timed out after 1s"), timeout=2)
    assert _health.run_gate([c], deadline=5, interval=2, backoff=1.5, clock=clock, sleep=clock.sleep) is False
    assert c.spec["timeouts"] == [2, 2, 1.0]
    assert c.last_error == "model still missing (the final attempt, cut to 1s by the deadline: timed out after 1s)"


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


def test_gate_masks_what_a_check_learns_and_names_unknown_types(monkeypatch):
    def learns(spec, timeout, secrets):
        secrets.append("session-tok")
        raise CheckFailed("signed in with session-tok, then refused")
    monkeypatch.setitem(_health.CHECKS, "learns", learns)
    monkeypatch.setattr(_health, "LEARNS_SECRETS", {"learns"})
    clock = FakeClock()
    a, b = _health.Check("a", "learns", {}), _health.Check("b", "nope", {})
    secrets: list = []
    assert _health.run_gate([a, b], deadline=0, secrets=secrets, clock=clock, sleep=clock.sleep) is False
    assert a.last_error == "signed in with ********, then refused" and secrets == ["session-tok"]
    assert b.last_error == "unknown check type 'nope' (is its _health_* module imported?)"


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
