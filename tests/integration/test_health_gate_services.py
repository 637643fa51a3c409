"""health_gate against real servers on loopback: HTTPS http.server with certificates made here,
PostgreSQL 15 (postgres_server), Prometheus 2.42 (Debian), closed ports. The checks (tls, http,
tcp, postgres, prometheus: plugins/module_utils/_health_<type>.py) are run both through their
functions and as the real module inside ansible-playbook, where the report table is asserted.
Ollama is in test_health_gate_ollama.py, Open WebUI in test_health_gate_openwebui.py.
"""
from __future__ import annotations

import datetime
import json
import sys
import urllib.request

import pytest

import health_servers
import services
from helpers.playbook import run_playbook

from ansible_collections.ailab.stack.plugins.module_utils import _health
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_http import check_http
from ansible_collections.ailab.stack.plugins.module_utils._health_postgres import check_postgres
from ansible_collections.ailab.stack.plugins.module_utils._health_prometheus import check_prometheus
from ansible_collections.ailab.stack.plugins.module_utils._health_tcp import check_tcp
from ansible_collections.ailab.stack.plugins.module_utils._health_tls import check_tls

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
PY = {"ansible_python_interpreter": sys.executable}


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return health_servers.make_ca(str(tmp_path_factory.mktemp("pki")))


def _https(pki, name, not_before, not_after, pages=None):
    cert, key = pki.issue(name, ["localhost"], not_before, not_after)
    return health_servers.JsonServer(pages or {"/health": (200, {"status": True})}, cert, key)


@pytest.fixture(scope="module")
def good_https(pki):
    server = _https(pki, "good", NOW - DAY, NOW + 365 * DAY,
                    {"/health": (200, {"status": True}), "/degraded": (200, {"status": False, "db": "down"})})
    yield server
    server.close()


@pytest.fixture(scope="module")
def expired_https(pki):
    server = _https(pki, "expired", NOW - 90 * DAY, NOW - DAY)
    yield server
    server.close()


@pytest.fixture(scope="module")
def expiring_https(pki):
    server = _https(pki, "expiring", NOW - 87 * DAY, NOW + 3 * DAY)
    yield server
    server.close()


def closed_port() -> int:
    return services.free_port()


def tls(port, **kw):
    return {"host": "localhost", "port": port, "server_name": None, "ca_path": None, "issuer": None,
            "min_days": 14, "timeout": 5, **kw}


def http(url, **kw):
    return {"url": url, "method": "GET", "headers": None, "body": None, "status_code": [200], "body_contains": None,
            "json_query": None, "json_expect": None, "validate_certs": True, "ca_path": None, "timeout": 5, **kw}


# ------------------------------------------------------------------------------------------------
# tls
# ------------------------------------------------------------------------------------------------
def test_tls_valid_certificate(pki, good_https):
    detail = check_tls(tls(good_https.port, ca_path=pki.ca_pem, issuer="O=ailab test CA"), 5)
    assert detail.startswith("valid for localhost, 36")   # 364 or 365 days left
    assert detail.endswith("issuer O=ailab test CA, CN=ailab test CA root")


def test_tls_expired_certificate(pki, expired_https):
    with pytest.raises(CheckFailed) as exc:
        check_tls(tls(expired_https.port, ca_path=pki.ca_pem), 5)
    assert str(exc.value) == f"localhost:{expired_https.port}: certificate not valid for localhost: certificate has expired"


def test_tls_expires_too_soon(pki, expiring_https):
    with pytest.raises(CheckFailed, match=r"certificate expires in 3\.0 days \(.*\), less than min_days 14$"):
        check_tls(tls(expiring_https.port, ca_path=pki.ca_pem), 5)
    assert "days left" in check_tls(tls(expiring_https.port, ca_path=pki.ca_pem, min_days=2), 5)


def test_tls_wrong_name_untrusted_and_wrong_issuer(pki, good_https):
    with pytest.raises(CheckFailed, match="certificate not valid for chat.example.org: Hostname mismatch"):
        check_tls(tls(good_https.port, ca_path=pki.ca_pem, server_name="chat.example.org"), 5)
    with pytest.raises(CheckFailed, match="certificate not valid for localhost: unable to get local issuer certificate"):
        check_tls(tls(good_https.port), 5)
    with pytest.raises(CheckFailed, match="issued by 'O=ailab test CA, CN=ailab test CA root', expected issuer "
                                          "containing \"Let's Encrypt\""):
        check_tls(tls(good_https.port, ca_path=pki.ca_pem, issuer="Let's Encrypt"), 5)


def test_tls_server_down():
    port = closed_port()
    with pytest.raises(CheckFailed, match=f"localhost:{port}: .*Connection refused"):
        check_tls(tls(port), 2)


# ------------------------------------------------------------------------------------------------
# http over TLS
# ------------------------------------------------------------------------------------------------
def test_https_with_ca_and_json_query(pki, good_https):
    assert check_http(http(good_https.url + "/health", ca_path=pki.ca_pem, json_query="status"), 5) == "HTTP 200"
    # validate_certs false accepts the certificate without the CA
    assert check_http(http(good_https.url + "/health", validate_certs=False), 5) == "HTTP 200"


def test_https_untrusted_and_expired(pki, good_https, expired_https):
    with pytest.raises(CheckFailed, match="TLS certificate not trusted: unable to get local issuer certificate"):
        check_http(http(good_https.url + "/health"), 5)
    with pytest.raises(CheckFailed, match="TLS certificate not trusted: certificate has expired"):
        check_http(http(expired_https.url + "/health", ca_path=pki.ca_pem), 5)


def test_https_wrong_body(pki, good_https):
    with pytest.raises(CheckFailed) as exc:
        check_http(http(good_https.url + "/degraded", ca_path=pki.ca_pem, json_query="db", json_expect="ok"), 5)
    assert str(exc.value) == f"GET {good_https.url}/degraded: json_query 'db' gave 'down', expected 'ok'"


# ------------------------------------------------------------------------------------------------
# tcp
# ------------------------------------------------------------------------------------------------
def test_tcp_real_server_and_closed_port(postgres_server, good_https):
    for port in (postgres_server.port, good_https.port):
        assert check_tcp({"host": "127.0.0.1", "port": port, "timeout": 5}, 5) == f"127.0.0.1:{port} accepts connections"
    down = closed_port()
    with pytest.raises(CheckFailed, match=f"^cannot connect to 127.0.0.1:{down}: Connection refused$"):
        check_tcp({"host": "127.0.0.1", "port": down, "timeout": 5}, 5)


# ------------------------------------------------------------------------------------------------
# postgres
# ------------------------------------------------------------------------------------------------
def pg(server, **kw):
    return {"dsn": None, "host": server.host, "port": server.port, "user": "postgres", "password": server.password,
            "dbname": "postgres", "sslmode": None, "query": "SELECT 1", "expect": None, "timeout": 5, **kw}


def test_postgres_query_returns_expected(postgres_server):
    by_user = pg(postgres_server, query="SELECT current_user", expect="postgres")
    assert check_postgres(by_user, 5) == "query returned 'postgres'"
    by_dsn = pg(postgres_server, password=None, dsn=postgres_server.dsn(), query="SELECT 40 + 2", expect="42")
    assert check_postgres(by_dsn, 5) == "query returned 42"


def test_postgres_wrong_password_and_wrong_value(postgres_server):
    with pytest.raises(CheckFailed) as exc:
        check_postgres(pg(postgres_server, password="not-the-password"), 5)
    assert 'password authentication failed for user "postgres"' in str(exc.value)
    assert "not-the-password" not in str(exc.value)
    with pytest.raises(CheckFailed, match=r"query 'SELECT 1' on postgres@127.0.0.1:\d+/postgres returned 1, expected '2'"):
        check_postgres(pg(postgres_server, expect="2"), 5)


def test_postgres_gate_is_read_only(postgres_server):
    with pytest.raises(CheckFailed, match="cannot execute CREATE TABLE in a read-only transaction"):
        check_postgres(pg(postgres_server, query="CREATE TABLE health_gate_was_here (id int)"), 5)
    assert postgres_server.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'health_gate_was_here'") == "0"


# ------------------------------------------------------------------------------------------------
# prometheus
# ------------------------------------------------------------------------------------------------
def prom(server, **kw):
    return {"url": server.url, "query": None, "job": None, "headers": None, "validate_certs": True, "ca_path": None,
            "timeout": 5, **kw}


def test_prometheus_self_scrape_up(prometheus_server):
    check = _health.Check("prometheus up", "prometheus",
                          prom(prometheus_server, query='up{job="prometheus"} == 1', job="prometheus"))
    # the first scrape happens about a second after start: the gate waits for it
    assert _health.run_gate([check], deadline=60, interval=0.5) is True, check.last_error
    assert check.detail == "query returned 1 series, 1 target(s) of job prometheus up"
    assert check_prometheus(prom(prometheus_server), 5) == "ready"


def test_prometheus_down_target_empty_and_bad_query(prometheus_server):
    def down_scraped():
        with urllib.request.urlopen(prometheus_server.url + "/api/v1/targets?state=active", timeout=5) as r:
            targets = json.load(r)["data"]["activeTargets"]
        return any(x["labels"]["job"] == "down" and x["health"] == "down" for x in targets)
    services.wait_for(down_scraped, 60, "first scrape of job down")
    with pytest.raises(CheckFailed) as exc:
        check_prometheus(prom(prometheus_server, job="down"), 5)
    assert str(exc.value).startswith(
        f"targets of job 'down' on {prometheus_server.url}: 1 of 1 down: "
        f"http://127.0.0.1:{prometheus_server.down_port}/metrics is down: Get ")
    assert str(exc.value).endswith("connect: connection refused")
    with pytest.raises(CheckFailed, match=r"""query 'up\{job="nope"\}' on .* returned no series"""):
        check_prometheus(prom(prometheus_server, query='up{job="nope"}'), 5)
    with pytest.raises(CheckFailed, match=r"query 'up\{' on .* failed: bad_data .*unexpected end of input"):
        check_prometheus(prom(prometheus_server, query="up{"), 5)
    with pytest.raises(CheckFailed, match="no active target"):
        check_prometheus(prom(prometheus_server, job="node"), 5)


# ------------------------------------------------------------------------------------------------
# the module in a real playbook
# ------------------------------------------------------------------------------------------------
def gate_play(checks, deadline=30):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Run the gate", "ailab.stack.health_gate": {"deadline": deadline, "interval": 0.5, "checks": checks},
         "register": "gate"},
        {"name": "Show the report", "ansible.builtin.debug": {"msg": "{{ gate.report | to_json }}"}},
    ]}]


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_gate_passes_on_real_services(pki, good_https, postgres_server, prometheus_server, check_mode):
    checks = [
        {"name": "Open WebUI health over HTTPS",
         "http": {"url": good_https.url + "/health", "ca_path": pki.ca_pem, "json_query": "status"}},
        {"name": "Certificate", "tls": {"host": "localhost", "port": good_https.port, "ca_path": pki.ca_pem}},
        {"name": "PostgreSQL port", "tcp": {"host": "127.0.0.1", "port": postgres_server.port}},
        {"name": "PostgreSQL answers", "postgres": {"port": postgres_server.port, "password": postgres_server.password,
                                                    "query": "SELECT current_user", "expect": "postgres"}},
        {"name": "Prometheus scrapes itself", "prometheus": {"url": prometheus_server.url, "job": "prometheus"}},
    ]
    proc = run_playbook(gate_play(checks), extravars=PY, check=check_mode)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = health_servers.gate_report(proc.stdout)
    assert [(r["name"], r["ok"]) for r in report] == [(c["name"], True) for c in checks]
    assert "changed=0" in proc.stdout and postgres_server.password not in proc.stdout


def test_module_gate_fails_with_report(pki, good_https, expired_https, postgres_server):
    down = closed_port()
    checks = [
        {"name": "Good site", "http": {"url": good_https.url + "/health", "ca_path": pki.ca_pem}},
        {"name": "Expired site", "tls": {"host": "localhost", "port": expired_https.port, "ca_path": pki.ca_pem}},
        {"name": "Degraded site", "http": {"url": good_https.url + "/degraded", "ca_path": pki.ca_pem,
                                           "json_query": "status"}},
        {"name": "Server down", "http": {"url": f"http://admin:url-secret@127.0.0.1:{down}/health"}},
        {"name": "Database login", "postgres": {"port": postgres_server.port, "password": "wrong-db-secret"}},
    ]
    proc = run_playbook(gate_play(checks, deadline=2), extravars=PY, extra_args=["-v"])
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    assert "health_gate: 4 of 5 checks failed (deadline 2s)" in out
    # the table (ansible-core prints the msg of a failed task as text in the error summary)
    table = [x.strip() for x in out.splitlines() if x.strip().startswith(
        ("NAME ", "Good site", "Expired site", "Degraded site", "Server down", "Database login"))][:6]
    assert table[0].split()[:6] == ["NAME", "TYPE", "RESULT", "TRIES", "SECONDS", "LAST"]
    assert table[1].split()[2:5] == ["http", "ok", "1"]
    assert table[2].endswith(f"localhost:{expired_https.port}: certificate not valid for localhost: "
                             "certificate has expired")
    assert table[3].endswith(f"GET {good_https.url}/degraded: json_query 'status' gave False (expected a true value)")
    assert table[4].endswith(f"GET http://admin:********@127.0.0.1:{down}/health: cannot connect: "
                             "[Errno 111] Connection refused")
    assert 'password authentication failed for user "postgres"' in table[5]
    assert [x.split()[3] for x in table[2:]] == ["FAILED"] * 4
    assert "url-secret" not in out and "wrong-db-secret" not in out
