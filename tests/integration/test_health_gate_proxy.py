"""health_gate's proxy checks (plugins/module_utils/_health_proxy.py) through a real nginx (Debian,
on loopback, certificate of a CA made here) in front of a real Open WebUI 0.12.4 and the real Ollama:
the verify role's `ingress` entry point passes with a good configuration, and each broken setting
(proxy_buffering on, no Upgrade/Connection headers, client_max_body_size 1m, proxy_read_timeout 3s,
no redirect) fails its check, and only it, with the message naming the fix. One Open WebUI and one
nginx for the module; the configurations are swapped by `nginx -s reload`. The slow request takes
5 s here (the role's default is 70 s, the nginx timeout it proves is then 60 s)."""
from __future__ import annotations

import datetime
import re
import sys
import tempfile

import pytest

import health_servers
from helpers.playbook import run_playbook

from ansible_collections.ailab.stack.plugins.module_utils import _health_proxy as proxy
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_tls import check_tls

SLOW_SECONDS = 5


@pytest.fixture(scope="module")
def openwebui(ollama_server, postgres_server):
    reason = health_servers.openwebui_available() or health_servers.nginx_available()
    if reason:
        pytest.skip(reason)
    postgres_server.psql("DROP DATABASE IF EXISTS openwebui_proxy")
    postgres_server.psql("CREATE DATABASE openwebui_proxy")
    svc = health_servers.start_openwebui(tempfile.mkdtemp(prefix="ailab-owui-proxy-"), ollama_server.url,
                                         postgres_server.dsn("openwebui_proxy"))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def pki():
    return health_servers.make_ca(tempfile.mkdtemp(prefix="ailab-proxy-pki-"))


@pytest.fixture(scope="module")
def nginx(openwebui, pki):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = pki.issue("proxy", ["localhost"], now - datetime.timedelta(days=1), now + datetime.timedelta(days=90))
    svc = health_servers.start_nginx(tempfile.mkdtemp(prefix="ailab-nginx-"), openwebui.url, cert, key)
    yield svc
    svc.close()


@pytest.fixture
def proxy_with(nginx):
    """Reconfigure nginx (health_servers.nginx_conf settings) for one test, the good one afterwards."""
    yield nginx.configure
    nginx.configure()


def specs(nginx, openwebui, pki) -> dict:
    """Each check's options as the verify role builds them for https://localhost:<port>."""
    https = f"https://localhost:{nginx.https_port}"
    admin = {"url": https, "email": openwebui.email, "password": openwebui.password, "ca_path": pki.ca_pem}
    return {
        "redirect": (proxy.check_http_redirect, {"url": f"http://localhost:{nginx.http_port}/", "location": https}),
        "websocket": (proxy.check_websocket, {"url": https, "path": "/ws/socket.io/?EIO=4&transport=websocket",
                                              "ca_path": pki.ca_pem}),
        "stream": (proxy.check_openwebui_stream, {**admin, "model": "tiny", "max_tokens": 24,
                                                  "prompt": "Count from 1 to 30, one number per line."}),
        "upload": (proxy.check_openwebui_upload, {**admin, "size_mb": 100}),
        "slow": (proxy.check_openwebui_slow_request, {**admin, "seconds": SLOW_SECONDS, "callback_host": "127.0.0.1"}),
    }


def outcomes(nginx, openwebui, pki, names) -> dict:
    """name -> None (passed) or the CheckFailed message."""
    result = {}
    for name in names:
        func, spec = specs(nginx, openwebui, pki)[name]
        try:
            kwargs = {} if name in ("redirect", "websocket") else {"secrets": []}
            func(spec, 60, **kwargs)
            result[name] = None
        except CheckFailed as e:
            result[name] = str(e)
    return result


def test_verify_role_ingress_gate_passes_through_a_good_proxy(nginx, openwebui, pki):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Verify", "ansible.builtin.include_role": {"name": "ailab.stack.verify", "tasks_from": "ingress"}}]}]
    extravars = {"ansible_python_interpreter": sys.executable, "ailab_ingress_host": "localhost",
                 "verify_tls_port": nginx.https_port, "verify_tls_ca_path": pki.ca_pem,
                 "verify_ingress_http_port": nginx.http_port, "verify_openwebui_admin_email": openwebui.email,
                 "verify_openwebui_admin_password": openwebui.password, "verify_openwebui_chat_model": "tiny",
                 "verify_ingress_slow_seconds": SLOW_SECONDS, "verify_deadline": 120, "verify_interval": 0.5}
    proc = run_playbook(play, extravars, extra_args=["-v"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Check end to end that these stages work - ingress" in out and "all 6 checks passed" in out, out
    https = f"https://localhost:{nginx.https_port}"
    for detail in ("valid for localhost", f"HTTP 301 to {https}/", "HTTP 101, Engine.IO session opened",
                   "chunks from", "100 MB accepted in", f"a request silent for {SLOW_SECONDS} s answered after"):
        assert detail in out, out
    assert openwebui.password not in out


def test_the_certificate_is_the_tls_check(nginx, pki):
    spec = {"host": "localhost", "port": nginx.https_port, "ca_path": pki.ca_pem, "min_days": 120}
    with pytest.raises(CheckFailed, match=r"certificate expires in (89|90)\.\d days .* less than min_days 120"):
        check_tls(spec, 10)


CHEAP = ("redirect", "websocket", "stream", "upload")


@pytest.mark.parametrize("settings, failing, message", [
    ({"buffering": "on"}, "stream",
     r"^streamed chat with tiny through https://localhost:\d+: the proxy buffers the answer: \d+ chunks, the first "
     r"after (\d+\.\d\d) s, the last after \1 s: set proxy_buffering off"),
    ({"upgrade": False}, "websocket",
     r"^WebSocket upgrade of https://localhost:\d+/ws/socket.io/\?EIO=4&transport=websocket answered HTTP 400 instead "
     r"of 101 \(\{\"detail\":\"Invalid WebSocket upgrade request\"\}\): forward the WebSocket upgrade"),
    ({"body_size": "1m"}, "upload",
     r"^POST https://localhost:\d+/api/v1/files/: the proxy refused a 100 MB upload \(HTTP 413 from the proxy "
     r"\(nginx/[\d.]+\): 413 Request Entity Too Large\): raise client_max_body_size \(nginx\) to at least 100m$"),
    ({"redirect": False}, "redirect",
     r"^GET http://localhost:\d+/ answered HTTP 200, not a redirect to HTTPS: redirect plain HTTP to HTTPS"),
])
def test_a_broken_setting_fails_its_check_only(proxy_with, nginx, openwebui, pki, settings, failing, message):
    proxy_with(**settings)
    result = outcomes(nginx, openwebui, pki, CHEAP)
    assert {k: v for k, v in result.items() if k != failing} == {k: None for k in CHEAP if k != failing}
    assert result[failing] is not None, result
    assert re.match(message, result[failing]), result[failing]


def test_a_short_read_timeout_cuts_the_slow_request_only(proxy_with, nginx, openwebui, pki):
    proxy_with(read_timeout="3s")
    result = outcomes(nginx, openwebui, pki, ("websocket", "stream", "slow"))
    assert result["websocket"] is None and result["stream"] is None, result
    assert result["slow"].startswith(
        f"POST https://localhost:{nginx.https_port}/api/v1/configs/terminal_servers/verify: the proxy cut a request "
        f"silent for {SLOW_SECONDS} s after 3.0 s (HTTP 504 from the proxy"), result["slow"]
    assert result["slow"].endswith("504 Gateway Time-out): raise the proxy's read timeout above the slowest answer "
                                   "(nginx: proxy_read_timeout, proxy_send_timeout; Traefik: "
                                   "respondingTimeouts.readTimeout/writeTimeout)"), result["slow"]
