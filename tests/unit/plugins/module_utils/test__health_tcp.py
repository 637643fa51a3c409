"""The tcp check (plugins/module_utils/_health_tcp.py) against loopback sockets."""
from __future__ import annotations

import socket

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_tcp import check_tcp


def test_open_port(listener):
    assert check_tcp({"host": "127.0.0.1", "port": listener}, 2) == f"127.0.0.1:{listener} accepts connections"


def test_closed_port(closed_port):
    with pytest.raises(CheckFailed, match=f"^cannot connect to 127.0.0.1:{closed_port}: Connection refused$"):
        check_tcp({"host": "127.0.0.1", "port": closed_port}, 2)


def test_unknown_host():
    with pytest.raises(CheckFailed, match="^cannot connect to no-such-host.invalid:5432: "):
        check_tcp({"host": "no-such-host.invalid", "port": 5432}, 2)


def test_no_answer_within_timeout(monkeypatch):
    def hangs(address, timeout):
        raise socket.timeout("timed out")
    monkeypatch.setattr(socket, "create_connection", hangs)
    with pytest.raises(CheckFailed, match=r"^10\.255\.255\.1:80: no connection within 1\.5s$"):
        check_tcp({"host": "10.255.255.1", "port": 80}, 1.5)
