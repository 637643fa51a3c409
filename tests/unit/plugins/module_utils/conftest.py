"""Fixtures of the health check unit tests (test__health*.py): a programmable HTTP server on
loopback that answers like the service a check talks to (`listener` and `closed_port` are in
tests/unit/plugins/conftest.py)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def _handler(routes: dict, seen: list):
    """routes: (method, path) -> callable(handler, body) returning (status, JSON-able or str)."""
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
    """server.url; server.routes[(method, path)] = lambda handler, body: (status, payload); server.seen: requests."""
    routes, seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes, seen))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.routes, server.seen = routes, seen
    yield server
    server.shutdown()
    server.server_close()
