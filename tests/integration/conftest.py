"""Session-wide real services for the integration tests (see services.py)."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import health_servers  # noqa: E402
import services  # noqa: E402


@contextlib.contextmanager
def running(available, start, prefix, mode=0o700):
    """Skip with the reason `available()` gives, else start(workdir) and close the service afterwards."""
    reason = available()
    if reason:
        pytest.skip(reason)
    workdir = tempfile.mkdtemp(prefix=prefix)
    os.chmod(workdir, mode)
    svc = start(workdir)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="session")
def ollama_server():
    """A real `ollama serve` on a free loopback port with the tiny gemma3 model created as `tiny`."""
    with running(services.ollama_available, services.start_ollama, "ailab-ollama-") as svc:
        svc.create_tiny("tiny")
        yield svc


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL cluster on a free loopback port (superuser postgres, scram-sha-256)."""
    # 0755: the server runs as the postgres user inside this directory.
    with running(services.postgres_available, services.start_postgres, "ailab-pg-", mode=0o755) as svc:
        yield svc


@pytest.fixture(scope="session")
def prometheus_server():
    """A real Prometheus (Debian package) on a free loopback port, scraping itself."""
    with running(health_servers.prometheus_available, health_servers.start_prometheus, "ailab-prom-") as svc:
        yield svc
