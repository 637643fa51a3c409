"""The prometheus check (plugins/module_utils/_health_prometheus.py) against a loopback server that
answers like the Prometheus 2 HTTP API: /-/ready, instant queries, active targets. The real
Prometheus is in tests/integration/test_health_gate_services.py."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_prometheus import check_prometheus


def spec(url, **kw):
    return {"url": url, "query": None, "job": None, "headers": None, "validate_certs": True, "ca_path": None,
            "timeout": 5, **kw}


def target(job, health, url, error=""):
    return {"labels": {"job": job, "instance": urlsplit(url).netloc}, "scrapeUrl": url, "health": health,
            "lastError": error}


@pytest.fixture
def prom(web):
    def query(handler, body):
        expr = parse_qs(urlsplit(handler.path).query)["query"][0]
        if expr == "up{":
            return 400, {"status": "error", "errorType": "bad_data",
                         "error": 'invalid parameter "query": 1:4: parse error: unexpected end of input'}
        result = [{"metric": {"job": "node"}, "value": [1700000000, "1"]}] if "node" in expr else []
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}

    web.routes.update({
        ("GET", "/-/ready"): lambda h, b: (200, "Prometheus Server is Ready.\n"),
        ("GET", "/api/v1/query"): query,
        ("GET", "/api/v1/targets"): lambda h, b: (200, {"status": "success", "data": {"activeTargets": [
            target("node", "up", "http://10.0.0.1:9100/metrics"),
            target("node", "up", "http://10.0.0.2:9100/metrics"),
            target("gpu", "up", "http://10.0.0.1:9400/metrics"),
            target("gpu", "down", "http://exporter:s3cret@10.0.0.2:9400/metrics",
                   'Get "http://10.0.0.2:9400/metrics": dial tcp 10.0.0.2:9400: connect: connection refused'),
            target("dcgm", "unknown", "http://10.0.0.3:9400/metrics"),
        ]}}),
    })
    return web


def test_ready_without_query_or_job(prom):
    assert check_prometheus(spec(prom.url), 5) == "ready"
    prom.routes[("GET", "/-/ready")] = lambda h, b: (503, "Service Unavailable")
    with pytest.raises(CheckFailed, match=rf"^GET {prom.url}/-/ready returned HTTP 503 \(expected 200\): Service Unavailable$"):
        check_prometheus(spec(prom.url), 5)


def test_query_and_job(prom):
    detail = check_prometheus(spec(prom.url, query='up{job="node"} == 1', job="node"), 5)
    assert detail == "query returned 1 series, 2 target(s) of job node up"
    assert prom.seen[0]["path"] == "/api/v1/query?query=up%7Bjob%3D%22node%22%7D+%3D%3D+1"
    assert prom.seen[1]["path"] == "/api/v1/targets?state=active"


def test_query_without_series_and_bad_query(prom):
    with pytest.raises(CheckFailed, match=rf"""^query 'up\{{job="x"\}}' on {prom.url} returned no series$"""):
        check_prometheus(spec(prom.url, query='up{job="x"}'), 5)
    with pytest.raises(CheckFailed, match=rf"^query 'up\{{' on {prom.url} failed: bad_data invalid parameter .*"
                                          r"unexpected end of input$"):
        check_prometheus(spec(prom.url, query="up{"), 5)


def test_down_targets_are_listed_masked(prom):
    with pytest.raises(CheckFailed) as exc:
        check_prometheus(spec(prom.url, job="gpu"), 5)
    assert str(exc.value) == (
        f"targets of job 'gpu' on {prom.url}: 1 of 2 down: http://exporter:********@10.0.0.2:9400/metrics is down: "
        'Get "http://10.0.0.2:9400/metrics": dial tcp 10.0.0.2:9400: connect: connection refused')
    with pytest.raises(CheckFailed, match=r": 1 of 1 down: http://10.0.0.3:9400/metrics is unknown: not scraped yet$"):
        check_prometheus(spec(prom.url, job="dcgm"), 5)
    with pytest.raises(CheckFailed, match=rf"^targets of job 'mysql' on {prom.url}: no active target$"):
        check_prometheus(spec(prom.url, job="mysql"), 5)


def test_headers_are_sent(prom):
    check_prometheus(spec(prom.url, job="node", headers={"Authorization": "Bearer prom-token"}), 5)
    assert prom.seen[-1]["headers"]["authorization"] == "Bearer prom-token"
