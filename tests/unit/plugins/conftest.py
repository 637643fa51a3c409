"""Fixtures of the plugin unit tests: loopback ports (one that listens, one nothing listens on), a
programmable HTTP server on loopback that answers like the service a check talks to (`web`), and
the same server over HTTPS asking for a client certificate (`https_web`, with the certificates of
`pki`, made here)."""
from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@pytest.fixture
def listener() -> int:
    """A loopback port that accepts connections (never answers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _handler(routes: dict, seen: list):
    """routes: (method, path) -> callable(handler, body) returning (status, JSON-able or str[, headers])."""
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            client_cn = next((v for rdn in (peer or {}).get("subject", ()) for k, v in rdn if k == "commonName"), None)
            seen.append({"method": method, "path": self.path, "body": body, "client_cn": client_cn,
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
            route = routes.get((method, self.path.split("?")[0]))
            status, payload, *headers = route(self, body) if route else (404, {"detail": "Not Found"})
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data.encode())))
            for name, value in (headers[0] if headers else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data.encode())

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def log_message(self, *args):
            pass

    return Handler


def _serve(tls: ssl.SSLContext | None = None):
    routes, seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes, seen))
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    server.routes, server.seen = routes, seen
    return server


@pytest.fixture
def web():
    """server.url; server.routes[(method, path)] = lambda handler, body: (status, payload); server.seen: requests."""
    server = _serve()
    yield server
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------------------------
# certificates made in the test, and the HTTPS server
# ------------------------------------------------------------------------------------------------
def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject: str, key, issuer: x509.Name, signer, ca: bool = False, org: str | None = None,
                 server: bool = False):
    now = datetime.datetime.now(datetime.timezone.utc)
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []) + [
        x509.NameAttribute(NameOID.COMMON_NAME, subject)]
    builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(issuer or x509.Name(attrs))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (CN gate-admin, O
    system:masters), as PEM bytes (.ca, .server_cert, ...) and as files (.ca_path, ...)."""
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1()),
                                      ec.generate_private_key(ec.SECP256R1()))
    ca = _certificate("ailab test CA", ca_key, None, ca_key, ca=True)
    pems = {"ca": _pem(ca),
            "server_cert": _pem(_certificate("127.0.0.1", server_key, ca.subject, ca_key, server=True)),
            "server_key": _pem(server_key),
            "client_cert": _pem(_certificate("gate-admin", client_key, ca.subject, ca_key, org="system:masters")),
            "client_key": _pem(client_key)}
    where = tmp_path_factory.mktemp("pki")
    paths = {}
    for name, data in pems.items():
        (where / f"{name}.pem").write_bytes(data)
        paths[f"{name}_path"] = str(where / f"{name}.pem")
    return SimpleNamespace(**pems, **paths)


@pytest.fixture
def https_web(pki):
    """Like `web`, over HTTPS with the pki's server certificate; it asks for a client certificate
    (optional) and records its common name in seen[]["client_cn"]."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki.server_cert_path, pki.server_key_path)
    tls.load_verify_locations(pki.ca_path)
    tls.verify_mode = ssl.CERT_OPTIONAL
    server = _serve(tls)
    yield server
    server.shutdown()
    server.server_close()
