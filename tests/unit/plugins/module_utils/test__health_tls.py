"""The tls check (plugins/module_utils/_health_tls.py) with the TLS layer replaced by a context that
presents a given certificate (as ssl.getpeercert() returns it) or fails the handshake: issuer,
expiry against a fixed clock, SNI name, CA file, errors. Real certificates and a real HTTPS
server are in tests/integration/test_health_gate_services.py."""
from __future__ import annotations

import socket
import ssl

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health_tls
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_tls import check_tls

NOT_AFTER = "Jun  1 12:00:00 2030 GMT"
EXPIRY = ssl.cert_time_to_seconds(NOT_AFTER)
DAY = 86400
CERT = {"subject": ((("commonName", "chat.example.org"),),),
        "issuer": ((("countryName", "US"),), (("organizationName", "Let's Encrypt"),), (("commonName", "R11"),)),
        "notAfter": NOT_AFTER}


class FakeContext:
    """What ssl.create_default_context returns: wrap_socket presents `cert` or raises `error`."""

    def __init__(self, cert, error=None):
        self.cert, self.error, self.calls = cert, error, []

    def __call__(self, cafile=None):
        self.calls.append({"cafile": cafile})
        return self

    def wrap_socket(self, sock, server_hostname):
        self.calls[-1]["server_hostname"] = server_hostname
        if self.error:
            raise self.error
        return self

    def getpeercert(self):
        return self.cert

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def presents(monkeypatch):
    def install(cert=None, error=None):
        ctx = FakeContext(cert or CERT, error)
        monkeypatch.setattr(_health_tls.ssl, "create_default_context", ctx)
        return ctx
    return install


def spec(port, **kw):
    return {"host": "127.0.0.1", "port": port, "server_name": "chat.example.org", "ca_path": None, "issuer": None,
            "min_days": 14, "timeout": 5, **kw}


def test_valid_certificate(presents, listener):
    ctx = presents()
    detail = check_tls(spec(listener, issuer="Let's Encrypt", ca_path="/etc/ca.pem"), 5, now=EXPIRY - 30 * DAY)
    assert detail == "valid for chat.example.org, 30 days left, issuer C=US, O=Let's Encrypt, CN=R11"
    assert ctx.calls == [{"cafile": "/etc/ca.pem", "server_hostname": "chat.example.org"}]


def test_server_name_defaults_to_host_and_system_store(presents, listener):
    ctx = presents()
    check_tls(spec(listener, server_name=None), 5, now=EXPIRY - 30 * DAY)
    assert ctx.calls == [{"cafile": None, "server_hostname": "127.0.0.1"}]


def test_expires_too_soon(presents, listener):
    presents()
    with pytest.raises(CheckFailed, match=rf"^127.0.0.1:{listener}: certificate expires in 3.5 days "
                                          rf"\(Jun  1 12:00:00 2030 GMT\), less than min_days 14$"):
        check_tls(spec(listener), 5, now=EXPIRY - 3.5 * DAY)
    assert check_tls(spec(listener, min_days=3), 5, now=EXPIRY - 3.5 * DAY).startswith("valid for chat.example.org, 3 days")


def test_expired(presents, listener):
    presents()
    with pytest.raises(CheckFailed, match=r"certificate expires in -2.0 days"):
        check_tls(spec(listener, min_days=0), 5, now=EXPIRY + 2 * DAY)


def test_wrong_issuer(presents, listener):
    presents()
    with pytest.raises(CheckFailed, match=r"""issued by "C=US, O=Let's Encrypt, CN=R11", expected issuer containing 'ailab CA'$"""):
        check_tls(spec(listener, issuer="ailab CA"), 5, now=EXPIRY - 30 * DAY)


def test_handshake_refused_by_verification(presents, listener):
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "Hostname mismatch, certificate is not valid for 'chat.example.org'."
    presents(error=error)
    with pytest.raises(CheckFailed, match=rf"^127.0.0.1:{listener}: certificate not valid for chat.example.org: "
                                          r"Hostname mismatch"):
        check_tls(spec(listener), 5)


def test_handshake_timeout_and_closed_port(presents, listener, closed_port):
    presents(error=socket.timeout("timed out"))
    with pytest.raises(CheckFailed, match=rf"^127.0.0.1:{listener}: no TLS handshake within 2s$"):
        check_tls(spec(listener), 2)
    with pytest.raises(CheckFailed, match=rf"^127.0.0.1:{closed_port}: \[Errno 111\] Connection refused$"):
        check_tls(spec(closed_port), 2)
