"""The http check (plugins/module_utils/_health_http.py) against a loopback server: status, body text,
json_query, headers, basic auth from the URL, masking. HTTPS with real certificates is in
tests/integration/test_health_gate_services.py."""
from __future__ import annotations

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_http import check_http


def http_spec(url, **kw):
    spec = {"url": url, "method": "GET", "headers": None, "body": None, "status_code": [200],
            "body_contains": None, "json_query": None, "json_expect": None, "validate_certs": True,
            "ca_path": None, "timeout": 5}
    spec.update(kw)
    return spec


def test_http_passes_on_status_body_and_json_query(web):
    web.routes[("GET", "/health")] = lambda h, b: (200, {"status": True, "db": {"ok": "yes"}})
    assert check_http(http_spec(web.url + "/health", json_query="db.ok", json_expect="yes",
                                body_contains='"status": true'), 5) == "HTTP 200"


def test_http_reports_wrong_status_with_body(web):
    web.routes[("GET", "/health")] = lambda h, b: (503, {"detail": "database down"})
    with pytest.raises(CheckFailed, match=r"returned HTTP 503 \(expected 200\): .*database down"):
        check_http(http_spec(web.url + "/health"), 5)


def test_http_accepts_listed_status(web):
    web.routes[("GET", "/x")] = lambda h, b: (401, {"detail": "no"})
    assert check_http(http_spec(web.url + "/x", status_code=[200, 401]), 5) == "HTTP 401"


def test_http_json_query_false_and_mismatch(web):
    web.routes[("GET", "/h")] = lambda h, b: (200, {"status": False, "version": "1.2"})
    with pytest.raises(CheckFailed, match=r"json_query 'status' gave False \(expected a true value\)"):
        check_http(http_spec(web.url + "/h", json_query="status"), 5)
    with pytest.raises(CheckFailed, match=r"json_query 'version' gave '1.2', expected '2.0'"):
        check_http(http_spec(web.url + "/h", json_query="version", json_expect="2.0"), 5)


def test_http_body_not_json_and_missing_text(web):
    web.routes[("GET", "/t")] = lambda h, b: (200, "plain text")
    with pytest.raises(CheckFailed, match="did not answer JSON: plain text"):
        check_http(http_spec(web.url + "/t", json_query="a"), 5)
    with pytest.raises(CheckFailed, match="body does not contain 'hello'"):
        check_http(http_spec(web.url + "/t", body_contains="hello"), 5)


def test_http_sends_headers_body_and_basic_auth_from_userinfo(web):
    web.routes[("POST", "/p")] = lambda h, b: (200, {"got": b})
    url = web.url.replace("http://", "http://admin:pw@") + "/p"
    check_http(http_spec(url, method="POST", headers={"X-API-Key": "k1"}, body={"a": 1}), 5)
    req = web.seen[-1]
    assert req["body"] == {"a": 1}
    assert req["headers"]["x-api-key"] == "k1"
    assert req["headers"]["authorization"] == "Basic YWRtaW46cHc="  # admin:pw


def test_http_server_down_masks_password(closed_port):
    url = f"http://admin:s3cret@127.0.0.1:{closed_port}/health"
    with pytest.raises(CheckFailed) as exc:
        check_http(http_spec(url), 2)
    assert "cannot connect" in str(exc.value) and "s3cret" not in str(exc.value)
    assert "admin:********@127.0.0.1" in str(exc.value)
