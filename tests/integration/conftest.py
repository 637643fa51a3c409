"""Session-wide real services for the integration tests (see services.py)."""
from __future__ import annotations

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import health_servers  # noqa: E402
import services  # noqa: E402


@pytest.fixture(scope="session")
def ollama_server():
    """A real `ollama serve` on a free loopback port with the tiny gemma3 model created as `tiny`."""
    reason = services.ollama_available()
    if reason:
        pytest.skip(reason)
    workdir = tempfile.mkdtemp(prefix="ailab-ollama-")
    svc = services.start_ollama(workdir)
    svc.create_tiny("tiny")
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL cluster on a free loopback port (superuser postgres, scram-sha-256)."""
    reason = services.postgres_available()
    if reason:
        pytest.skip(reason)
    workdir = tempfile.mkdtemp(prefix="ailab-pg-")
    os.chmod(workdir, 0o755)
    svc = services.start_postgres(workdir)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def prometheus_server():
    """A real Prometheus (Debian package) on a free loopback port, scraping itself."""
    reason = health_servers.prometheus_available()
    if reason:
        pytest.skip(reason)
    svc = health_servers.start_prometheus(tempfile.mkdtemp(prefix="ailab-prom-"))
    yield svc
    svc.close()
