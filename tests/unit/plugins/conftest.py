"""Fixtures of the plugin unit tests: loopback ports (one that listens, one nothing listens on)."""
from __future__ import annotations

import socket

import pytest


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
