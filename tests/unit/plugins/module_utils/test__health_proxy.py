"""The proxy checks of health_gate (plugins/module_utils/_health_proxy.py): their decisions and
parsers, without a proxy (tests/integration/test_health_gate_proxy.py runs them through real nginx)."""
from __future__ import annotations

import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health_proxy as proxy
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed

NGINX_413 = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<center>nginx/1.22.1</center>"
NGINX = {"Server": "nginx/1.22.1", "Content-Type": "text/html"}


# --- http_redirect -------------------------------------------------------------------------------
def test_a_redirect_to_https_passes():
    assert proxy.judge_redirect("http://h/", 301, "https://h/", "https://h") == "HTTP 301 to https://h/"


@pytest.mark.parametrize("status, location, message", [
    (200, "", r"^GET http://h/ answered HTTP 200, not a redirect to HTTPS: redirect plain HTTP to HTTPS \(nginx"),
    (302, "http://h/login", r"redirects to 'http://h/login', expected a URL starting with 'https://h'"),
    (308, "", r"redirects to '\(no Location\)'"),
])
def test_no_redirect_or_one_elsewhere_fails(status, location, message):
    with pytest.raises(CheckFailed, match=message):
        proxy.judge_redirect("http://h/", status, location, "https://h")


class _Answer(BaseHTTPRequestHandler):
    status, headers = 301, {"Location": "https://localhost/"}

    def do_GET(self):   # noqa: N802
        self.send_response(self.status)
        for k, v in self.headers_out().items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def headers_out(self):
        return type(self).headers

    def log_message(self, *args):
        pass


@pytest.fixture
def plain_server():
    servers = []

    def start(status, headers):
        handler = type("H", (_Answer,), {"status": status, "headers": headers})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://localhost:{httpd.server_address[1]}/"
    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_redirect_check_does_not_follow_the_redirect(plain_server):
    url = plain_server(301, {"Location": "https://localhost/"})
    assert proxy.check_http_redirect({"url": url}, 5) == "HTTP 301 to https://localhost/"
    with pytest.raises(CheckFailed, match="answered HTTP 200, not a redirect"):
        proxy.check_http_redirect({"url": plain_server(200, {})}, 5)


def test_redirect_check_wants_a_plain_http_url():
    with pytest.raises(CheckFailed, match="must be a plain http:// URL"):
        proxy.check_http_redirect({"url": "https://h/"}, 5)


# --- websocket -----------------------------------------------------------------------------------
def test_accept_key_of_rfc_6455():
    assert proxy.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_status_and_headers():
    status, headers = proxy.parse_handshake(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                            b"Sec-WebSocket-Accept: abc=\r\n\r\n")
    assert status == 101 and headers == {"upgrade": "websocket", "sec-websocket-accept": "abc="}
    with pytest.raises(CheckFailed, match="not an HTTP answer"):
        proxy.parse_handshake(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_frames_short_extended_and_incomplete():
    assert proxy.parse_frame(b"\x81\x03abc") == (1, b"abc")
    assert proxy.parse_frame(b"\x81\x03ab") is None
    assert proxy.parse_frame(b"\x81") is None
    long = b"x" * 300
    assert proxy.parse_frame(b"\x81\x7e" + (300).to_bytes(2, "big") + long) == (1, long)
    assert proxy.parse_frame(b"\x82\x7f" + (5).to_bytes(8, "big") + b"12345") == (2, b"12345")


# --- openwebui_stream ----------------------------------------------------------------------------
def test_a_stream_in_pieces_passes():
    assert proxy.judge_stream([0.2, 0.5, 0.9, 1.6], 1.7) == "4 chunks from 0.20 s to 1.60 s (answer done after 1.70 s)"


def test_a_buffered_answer_fails_with_the_fix():
    with pytest.raises(CheckFailed, match=r"^the proxy buffers the answer: 24 chunks, the first after 6.64 s, the last "
                                          r"after 6.65 s: set proxy_buffering off"):
        proxy.judge_stream([6.64] * 23 + [6.65], 6.65)


def test_a_late_first_chunk_after_a_slow_model_load_still_streams():
    # 5 s to load the model, then 0.8 s of tokens: 0.8 > 10 % of 5.8
    proxy.judge_stream([5.0, 5.3, 5.8], 5.8)


def test_too_few_chunks_cannot_tell():
    with pytest.raises(CheckFailed, match="had 2 content chunk"):
        proxy.judge_stream([0.1, 0.9], 1.0)


# --- openwebui_upload ----------------------------------------------------------------------------
def test_who_refused_an_upload_and_the_fix():
    assert proxy.upload_failure(100, 413, NGINX, NGINX_413) == (
        "the proxy refused a 100 MB upload (HTTP 413 from the proxy (nginx/1.22.1): 413 Request Entity Too Large): "
        "raise client_max_body_size (nginx) to at least 100m")
    assert proxy.upload_failure(100, 413, {}, '{"detail": "File size exceeds the limit of 10 MB"}').startswith(
        "Open WebUI refused a 100 MB upload (HTTP 413 from Open WebUI: File size exceeds the limit of 10 MB): "
        "raise RAG_FILE_MAX_SIZE")
    assert "raise the proxy's read timeout" in proxy.upload_failure(100, 504, NGINX, "<html>504</html>")
    assert proxy.upload_failure(100, 401, {}, '{"detail": "Not authenticated"}') == (
        "a 100 MB upload got HTTP 401 from Open WebUI: Not authenticated")


# --- openwebui_slow_request ----------------------------------------------------------------------
def test_a_slow_request_that_is_answered_passes():
    assert proxy.judge_slow(70, 70.2, 200, {}, '{"status": true}', True) == (
        "a request silent for 70 s answered after 70.2 s")


@pytest.mark.parametrize("status, headers, body, asked, message", [
    (504, NGINX, "<html>504 Gateway Time-out</html>", True,
     r"^the proxy cut a request silent for 70 s after 60.0 s \(HTTP 504 from the proxy \(nginx/1.22.1\).*raise the "
     r"proxy's read timeout"),
    (403, {}, '{"detail": "Tool servers are disabled"}', False, "ENABLE_TOOL_SERVERS true"),
    (400, {}, '{"detail": "Failed to connect to the terminal server"}', False, "did not reach the check's helper"),
    (400, {}, '{"detail": "Failed to connect to the terminal server"}', True, "raise AIOHTTP_CLIENT_TIMEOUT"),
    (401, {}, '{"detail": "Not authenticated"}', False, r"^HTTP 401 from Open WebUI: Not authenticated after 60.0 s$"),
])
def test_a_cut_or_refused_slow_request_names_the_cause(status, headers, body, asked, message):
    with pytest.raises(CheckFailed, match=message):
        proxy.judge_slow(70, 60.0, status, headers, body, asked)


def test_an_answer_before_the_time_is_not_proof():
    with pytest.raises(CheckFailed, match="answered after 1.0 s, before the 70 s"):
        proxy.judge_slow(70, 1.0, 200, {}, "{}", True)


def test_the_slow_upstream_answers_after_its_seconds_and_stops_on_close():
    upstream = proxy.SlowUpstream("127.0.0.1", 0.3)
    try:
        start = time.monotonic()
        with urllib.request.urlopen(upstream.url + "/api/v1/policies", timeout=5) as r:
            assert r.status == 200
        assert time.monotonic() - start >= 0.3 and upstream.asked.is_set()
    finally:
        upstream.close()


def test_no_time_for_the_slow_request_fails_before_signing_in():
    with pytest.raises(CheckFailed, match="50 s left for a request that takes 70 s"):
        proxy.check_openwebui_slow_request({"seconds": 70}, 50)
