# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The checks of ailab.stack.health_gate for the reverse proxy in front of Open WebUI (nginx on the
systemd runtime, Traefik on Kubernetes): what Open WebUI needs from a proxy, each proven with a real
request through it (the certificate is the `tls` check).

- ``http_redirect``: plain HTTP answers with a redirect to HTTPS.
- ``websocket``: the Socket.IO endpoint upgrades to a WebSocket (HTTP 101) and the upgraded
  connection carries Engine.IO's open packet.
- ``openwebui_stream``: a streamed chat completion (``/api/chat/completions``, ``stream: true``)
  arrives in pieces, not all at once when the model is done (a buffering proxy).
- ``openwebui_upload``: a file of ``size_mb`` MB is accepted by ``POST /api/v1/files/?process=false``
  (what the chat's attach button sends, without the text extraction and embedding), then deleted.
- ``openwebui_slow_request``: a request whose answer takes ``seconds`` (more than the 60 s read
  timeout nginx and Traefik default to) is not cut. Open WebUI has no endpoint that waits, so the
  check makes one: it serves a loopback helper that answers after ``seconds``, and asks Open WebUI
  (as the admin) to verify a terminal server at that address
  (``POST /api/v1/configs/terminal_servers/verify``, read-only: nothing is saved). Open WebUI then
  waits for the helper, and nothing crosses the proxy for ``seconds``: the shape of a slow model's
  non-streamed answer. The gate must run where Open WebUI can reach the helper (its host).

The Open WebUI checks sign in as the admin with the session of the ``openwebui`` check
(_health_openwebui.sign_in), so they add no sign-ins to Open WebUI's rate limit. Stdlib only
(http.client, socket, ssl).
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, Endpoint, register, snippet, transport_failure)
from ansible_collections.ailab.stack.plugins.module_utils._health_openwebui import (
    model_id, parse_reply, session_headers, sign_in)

REDIRECT_STATUS = (301, 302, 303, 307, 308)
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
UPLOAD_NAME = "ailab-health-gate-upload.bin"
UPLOAD_CHUNK = 1024 * 1024
# A stream counts as streamed when its content did not arrive in one burst at the end: the time
# from the first to the last content chunk is at least this share of the time from the request to
# the last chunk (and at least MIN_SPREAD seconds). A buffering proxy hands the whole answer over
# at once: first and last chunk within milliseconds.
STREAM_SHARE = 0.1
MIN_SPREAD = 0.05
MIN_CHUNKS = 3

HINTS = {
    "redirect": "redirect plain HTTP to HTTPS (nginx: a server on port 80 with `return 301 https://$host$request_uri;`)",
    "websocket": ("forward the WebSocket upgrade on /ws/socket.io (nginx: proxy_http_version 1.1; "
                  "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\")"),
    "buffering": "set proxy_buffering off for Open WebUI (nginx; Traefik does not buffer)",
    "body_size": "raise client_max_body_size (nginx) to at least {size}m",
    "read_timeout": ("raise the proxy's read timeout above the slowest answer (nginx: proxy_read_timeout, "
                     "proxy_send_timeout; Traefik: respondingTimeouts.readTimeout/writeTimeout)"),
}


# ---------------------------------------------------------------------------------------------
# transport: http.client / socket where the checks need more than one request and its answer
# ---------------------------------------------------------------------------------------------
def tls_context(spec: dict) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=spec.get("ca_path") or None)
    if not spec.get("validate_certs", True):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connection(url: str, spec: dict, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """An HTTP(S) connection to the host of `url` (not yet connected), and the URL's path prefix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckFailed(f"{url!r} is not an http(s) URL")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=tls_context(spec))
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    return conn, parts.path.rstrip("/")


def _header(headers: t.Any, name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def served_by(status: int, headers: t.Any, body: str) -> str:
    """Who answered an error: Open WebUI answers JSON (`detail`), a proxy an HTML page."""
    try:
        detail = json.loads(body).get("detail")
        return f"HTTP {status} from Open WebUI: {snippet(str(detail))}"
    except (ValueError, AttributeError):
        server = _header(headers, "Server")
        title = re.search(r"<title>(.*?)</title>", body, re.I | re.S)
        return f"HTTP {status} from the proxy{f' ({server})' if server else ''}: {snippet(title[1] if title else body, 80)}"


def open_session(spec: dict, timeout: float, secrets: list[str] | None) -> tuple[Endpoint, dict]:
    """The Open WebUI endpoint behind the proxy, and the admin's session headers."""
    target = Endpoint(spec["url"], None, spec.get("validate_certs", True), spec.get("ca_path"))
    token, _user = sign_in(target, spec["email"], spec["password"], timeout, secrets)
    return target, session_headers(target, token)


# ---------------------------------------------------------------------------------------------
# http_redirect
# ---------------------------------------------------------------------------------------------
def judge_redirect(url: str, status: int, location: str, want: str) -> str:
    if status not in REDIRECT_STATUS:
        raise CheckFailed(f"GET {url} answered HTTP {status}, not a redirect to HTTPS: {HINTS['redirect']}")
    if not location.startswith(want):
        raise CheckFailed(f"GET {url} redirects to {location or '(no Location)'!r}, expected a URL starting "
                          f"with {want!r}: {HINTS['redirect']}")
    return f"HTTP {status} to {location}"


@register("http_redirect")
def check_http_redirect(spec: dict, timeout: float) -> str:
    url = spec["url"]
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise CheckFailed(f"http_redirect.url must be a plain http:// URL, got {url!r}")
    conn, _prefix = connection(url, spec, timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        resp.read()
    except (OSError, http.client.HTTPException) as e:
        raise transport_failure(f"GET {url}", e, timeout)
    finally:
        conn.close()
    want = spec.get("location") or f"https://{parts.hostname}"
    return judge_redirect(url, resp.status, resp.getheader("Location") or "", want)


# ---------------------------------------------------------------------------------------------
# websocket
# ---------------------------------------------------------------------------------------------
def parse_handshake(raw: bytes) -> tuple[int, dict]:
    """Status and headers (lower-case names) of an HTTP answer head."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1")
    lines = head.split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise CheckFailed(f"not an HTTP answer: {snippet(lines[0], 80)!r}")
    headers = {}
    for line in lines[1:]:
        name, _sep, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(fields[1]), headers


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


def parse_frame(data: bytes) -> tuple[int, bytes] | None:
    """(opcode, payload) of the first complete unmasked frame in data, None while it is incomplete."""
    if len(data) < 2:
        return None
    opcode, length, pos = data[0] & 0x0F, data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, pos = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, pos = int.from_bytes(data[2:10], "big"), 10
    if data[1] & 0x80:   # a server never masks; skip the key anyway
        pos += 4
    if len(data) < pos + length:
        return None
    return opcode, data[pos:pos + length]


def _receive(sock: socket.socket, data: bytes, done: t.Callable[[bytes], t.Any]) -> t.Any:
    while True:
        found = done(data)
        if found:
            return found, data
        chunk = sock.recv(65536)
        if not chunk:
            raise CheckFailed("the connection was closed")
        data += chunk


@register("websocket")
def check_websocket(spec: dict, timeout: float) -> str:
    url = spec["url"].rstrip("/") + spec["path"]
    parts = urlsplit(url)
    where = f"WebSocket upgrade of {url}"
    key = base64.b64encode(os.urandom(16)).decode()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host_header = parts.hostname + (f":{parts.port}" if parts.port else "")
    request = (f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\nHost: {host_header}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout) as raw:
            sock = tls_context(spec).wrap_socket(raw, server_hostname=parts.hostname) \
                if parts.scheme == "https" else raw
            with sock:
                sock.sendall(request.encode())
                _found, data = _receive(sock, b"", lambda d: b"\r\n\r\n" in d)
                head, rest = data.split(b"\r\n\r\n", 1)
                status, headers = parse_handshake(head)
                if status != 101:
                    length = int(headers.get("content-length") or 0)
                    with contextlib.suppress(OSError, CheckFailed):
                        _found, rest = _receive(sock, rest, lambda d: len(d) >= length)
                    body = rest.decode("utf-8", "replace")
                    raise CheckFailed(f"{where} answered HTTP {status} instead of 101 "
                                      f"({snippet(body, 80) or 'no body'}): {HINTS['websocket']}")
                if headers.get("sec-websocket-accept") != accept_key(key):
                    raise CheckFailed(f"{where}: HTTP 101 with a wrong Sec-WebSocket-Accept: {HINTS['websocket']}")
                frame, _data = _receive(sock, rest, parse_frame)
    except CheckFailed as e:
        raise CheckFailed(str(e) if str(e).startswith(where) else f"{where}: {e}")
    except (OSError, ValueError) as e:
        raise transport_failure(where, e, timeout)
    opcode, payload = frame
    text = payload.decode("utf-8", "replace")
    # Engine.IO (Socket.IO's transport) opens with packet type 0 and the session id
    if opcode != 1 or not text.startswith("0") or "sid" not in text:
        raise CheckFailed(f"{where}: HTTP 101, but the first frame is not Engine.IO's open packet: {snippet(text, 80)!r}")
    return "HTTP 101, Engine.IO session opened"


# ---------------------------------------------------------------------------------------------
# openwebui_stream
# ---------------------------------------------------------------------------------------------
def judge_stream(arrivals: list[float], elapsed: float) -> str:
    """arrivals: seconds from the request to each content chunk; elapsed: to the end of the answer."""
    if len(arrivals) < MIN_CHUNKS:
        raise CheckFailed(f"the answer had {len(arrivals)} content chunk(s), too few to tell a stream from a "
                          "buffered answer: use a prompt with a longer answer (or a larger max_tokens)")
    first, last = arrivals[0], arrivals[-1]
    if last - first < max(MIN_SPREAD, STREAM_SHARE * last):
        raise CheckFailed(f"the proxy buffers the answer: {len(arrivals)} chunks, the first after {first:.2f} s, "
                          f"the last after {last:.2f} s: {HINTS['buffering']}")
    return f"{len(arrivals)} chunks from {first:.2f} s to {last:.2f} s (answer done after {elapsed:.2f} s)"


@register("openwebui_stream", learns_secrets=True)
def check_openwebui_stream(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target, session = open_session(spec, timeout, secrets)
    what = f"streamed chat with {spec['model']} through {target.shown}"
    body = json.dumps({"model": model_id(spec["model"]), "stream": True, "params": {"max_tokens": spec["max_tokens"]},
                       "messages": [{"role": "user", "content": spec["prompt"]}]})
    conn, prefix = connection(spec["url"], spec, timeout)
    arrivals: list[float] = []
    lines: list[str] = []
    try:
        start = time.monotonic()
        conn.request("POST", prefix + "/api/chat/completions", body,
                     {**session, "Content-Type": "application/json", "Accept": "text/event-stream"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise CheckFailed(f"{what}: {served_by(resp.status, resp.headers, resp.read().decode('utf-8', 'replace'))}")
        while True:
            line = resp.readline()
            if not line:
                break
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if parse_reply(text).content:
                arrivals.append(time.monotonic() - start)
        elapsed = time.monotonic() - start
    except (OSError, http.client.HTTPException) as e:
        raise transport_failure(f"POST {target.shown}/api/chat/completions", e, timeout)
    finally:
        conn.close()
    reply = parse_reply("\n".join(lines), "text/event-stream")
    if reply.errors:
        raise CheckFailed(f"{what}: error in the answer: {snippet('; '.join(reply.errors))}")
    try:
        return judge_stream(arrivals, elapsed)
    except CheckFailed as e:
        raise CheckFailed(f"{what}: {e}")


# ---------------------------------------------------------------------------------------------
# openwebui_upload
# ---------------------------------------------------------------------------------------------
def upload_failure(size_mb: int, status: int, headers: t.Any, body: str) -> str:
    """Why an upload was refused, and the fix."""
    answer = served_by(status, headers, body)
    if status == 413 and "from the proxy" in answer:
        return f"the proxy refused a {size_mb} MB upload ({answer}): {HINTS['body_size'].format(size=size_mb)}"
    if status == 413:
        return f"Open WebUI refused a {size_mb} MB upload ({answer}): raise RAG_FILE_MAX_SIZE (Admin Settings > Documents)"
    if status in (502, 504) and "from the proxy" in answer:
        return f"the proxy gave up on a {size_mb} MB upload ({answer}): {HINTS['read_timeout']}"
    return f"a {size_mb} MB upload got {answer}"


def _multipart() -> tuple[str, bytes, bytes]:
    boundary = "ailab-health-gate-" + os.urandom(8).hex()
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{UPLOAD_NAME}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, head, tail


@register("openwebui_upload", learns_secrets=True)
def check_openwebui_upload(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target, session = open_session(spec, timeout, secrets)
    size_mb = spec["size_mb"]
    where = f"POST {target.shown}/api/v1/files/"
    boundary, head, tail = _multipart()
    conn, prefix = connection(spec["url"], spec, timeout)
    start = time.monotonic()
    try:
        conn.putrequest("POST", prefix + "/api/v1/files/?process=false")
        for name, value in {**session, "Content-Type": f"multipart/form-data; boundary={boundary}",
                            "Content-Length": str(len(head) + size_mb * UPLOAD_CHUNK + len(tail))}.items():
            conn.putheader(name, value)
        conn.endheaders()
        zeros = bytes(UPLOAD_CHUNK)
        try:
            conn.send(head)
            for _i in range(size_mb):
                conn.send(zeros)
            conn.send(tail)
        except OSError:
            pass   # a proxy that refuses the size answers (413) and closes: read that answer
        resp = conn.getresponse()
        status, headers, body = resp.status, resp.headers, resp.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        raise transport_failure(where, e, timeout)
    finally:
        conn.close()
    seconds = time.monotonic() - start
    if status != 200:
        raise CheckFailed(f"{where}: {upload_failure(size_mb, status, headers, body)}")
    try:
        file_id = json.loads(body)["id"]
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(f"{where}: no file id in the answer: {snippet(body)}")
    resp = target.request(f"/api/v1/files/{file_id}", timeout, "DELETE", session)
    if resp.status != 200:
        raise CheckFailed(f"{where}: the {size_mb} MB upload was accepted, but deleting it (file {file_id}) answered "
                          f"HTTP {resp.status}: {snippet(resp.body)}; delete {UPLOAD_NAME} by hand")
    return f"{size_mb} MB accepted in {seconds:.1f} s, then deleted"


# ---------------------------------------------------------------------------------------------
# openwebui_slow_request
# ---------------------------------------------------------------------------------------------
class SlowUpstream:
    """A loopback HTTP server whose every GET answers after `seconds` (Open WebUI's terminal server
    verification asks GET /api/v1/policies first and takes any 2xx)."""

    def __init__(self, host: str, seconds: float) -> None:
        stop = self.stop = threading.Event()
        asked = self.asked = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):   # noqa: N802 - http.server's name
                asked.set()
                if stop.wait(seconds):
                    return
                data = b'{"policies": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def judge_slow(seconds: float, elapsed: float, status: int, headers: t.Any, body: str, asked: bool) -> str:
    if status == 200:
        if elapsed < seconds:
            raise CheckFailed(f"answered after {elapsed:.1f} s, before the {seconds:g} s the request should take")
        return f"a request silent for {seconds:g} s answered after {elapsed:.1f} s"
    answer = served_by(status, headers, body)
    if "from the proxy" in answer:
        raise CheckFailed(f"the proxy cut a request silent for {seconds:g} s after {elapsed:.1f} s ({answer}): "
                          f"{HINTS['read_timeout']}")
    if status == 403 and "disabled" in body:
        raise CheckFailed(f"{answer}: the check needs Open WebUI's terminal server verification "
                          "(ENABLE_TOOL_SERVERS true)")
    if status == 400 and not asked:
        raise CheckFailed(f"{answer}: Open WebUI did not reach the check's helper: run the gate on the Open WebUI "
                          "host, or set callback_host to an address of this machine that Open WebUI reaches")
    if status == 400:
        raise CheckFailed(f"{answer} after {elapsed:.1f} s: Open WebUI itself gave up on its upstream: raise "
                          "AIOHTTP_CLIENT_TIMEOUT above the slowest answer")
    raise CheckFailed(f"{answer} after {elapsed:.1f} s")


@register("openwebui_slow_request", learns_secrets=True)
def check_openwebui_slow_request(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    seconds = spec["seconds"]
    if timeout <= seconds:
        raise CheckFailed(f"{timeout:g} s left for a request that takes {seconds:g} s: raise the check's timeout "
                          "(and the gate's deadline)")
    target, session = open_session(spec, timeout, secrets)
    path = "/api/v1/configs/terminal_servers/verify"
    upstream = SlowUpstream(spec["callback_host"], seconds)
    try:
        start = time.monotonic()
        resp = target.request(path, timeout, "POST", session, {"url": upstream.url, "auth_type": "none", "key": ""})
        elapsed = time.monotonic() - start
    except CheckFailed as e:
        raise CheckFailed(f"a request silent for {seconds:g} s: {e}")
    finally:
        upstream.close()
    try:
        return judge_slow(seconds, elapsed, resp.status, resp.headers, resp.body, upstream.asked.is_set())
    except CheckFailed as e:
        raise CheckFailed(f"POST {target.shown}{path}: {e}")
