"""The postgres check (plugins/module_utils/_health_postgres.py) with psycopg2.connect replaced:
connection arguments, the read-only transaction, statement_timeout, the expected value, errors
and masking. A real libpq connection attempt to a closed port runs too; the real PostgreSQL is
in tests/integration/test_health_gate_services.py."""
from __future__ import annotations

import psycopg2
import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health_postgres
from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_postgres import check_postgres


class FakeConnection:
    def __init__(self, rows, description=(("?column?",),), error=None):
        self.rows, self.description, self.error = rows, description, error
        self.session, self.executed, self.closed = None, [], False

    def set_session(self, **kw):
        self.session = kw

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        self.executed.append((sql, params))
        if self.error and sql == self.error[0]:
            raise psycopg2.Error(self.error[1])

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def close(self):
        self.closed = True


@pytest.fixture
def connect(monkeypatch):
    """Replace psycopg2.connect; connect.kwargs is what the check passed, connect.conn what it got."""
    class Connect:
        conn = FakeConnection([(1,)])
        kwargs: dict = {}

        def __call__(self, **kwargs):
            self.kwargs = kwargs
            return self.conn
    fake = Connect()
    monkeypatch.setattr(_health_postgres.psycopg2, "connect", fake)
    return fake


def spec(**kw):
    return {"dsn": None, "host": "db.example", "port": 5432, "user": "app", "password": "pg-secret",
            "dbname": "openwebui", "sslmode": None, "query": "SELECT 1", "expect": None, "timeout": 10, **kw}


def test_separate_options_read_only_and_statement_timeout(connect):
    assert check_postgres(spec(sslmode="require"), 2.5) == "query returned 1"
    assert connect.kwargs == {"host": "db.example", "port": 5432, "user": "app", "password": "pg-secret",
                              "dbname": "openwebui", "sslmode": "require", "connect_timeout": 2,
                              "application_name": "ailab.stack.health_gate"}
    assert connect.conn.session == {"readonly": True, "autocommit": False}
    assert connect.conn.executed == [("SET statement_timeout = %s", (2500,)), ("SELECT 1", None)]
    assert connect.conn.closed


def test_dsn_and_empty_options(connect):
    check_postgres(spec(dsn="host=db user=app password=x", host="", password=None), 0.5)
    assert connect.kwargs == {"dsn": "host=db user=app password=x", "connect_timeout": 1,
                              "application_name": "ailab.stack.health_gate"}
    check_postgres(spec(host="", password=None), 5)   # local socket, peer/trust authentication
    assert "host" not in connect.kwargs and "password" not in connect.kwargs


def test_expected_value_compared_as_text(connect):
    connect.conn = FakeConnection([(True,)])
    assert check_postgres(spec(query='SELECT count(*) > 0 FROM "user"', expect="True"), 5) == "query returned True"
    with pytest.raises(CheckFailed, match=r"""^query 'SELECT count\(\*\) > 0 FROM "user"' on app@db.example:5432/openwebui """
                                          r"returned True, expected 'False'$"):
        check_postgres(spec(query='SELECT count(*) > 0 FROM "user"', expect="False"), 5)


def test_statement_without_result(connect):
    connect.conn = FakeConnection([], description=None)
    assert check_postgres(spec(query="LISTEN x"), 5) == "query returned None"


def test_query_error_closes_the_connection(connect):
    connect.conn = FakeConnection([], error=("CREATE TABLE t (id int)",
                                             "cannot execute CREATE TABLE in a read-only transaction"))
    with pytest.raises(CheckFailed, match=r"^query 'CREATE TABLE t \(id int\)' on app@db.example:5432/openwebui failed: "
                                          r"cannot execute CREATE TABLE in a read-only transaction$"):
        check_postgres(spec(query="CREATE TABLE t (id int)"), 5)
    assert connect.conn.closed


def test_connection_error_masks_the_dsn_password(monkeypatch):
    def refuse(**kwargs):
        raise psycopg2.OperationalError("FATAL:  password authentication failed for user \"app\"")
    monkeypatch.setattr(_health_postgres.psycopg2, "connect", refuse)
    with pytest.raises(CheckFailed) as exc:
        check_postgres(spec(dsn="postgresql://app:dsn-secret@db/openwebui"), 5)
    assert str(exc.value) == ('cannot connect to PostgreSQL postgresql://app:********@db/openwebui: '
                              'FATAL: password authentication failed for user "app"')


def test_real_libpq_to_a_closed_port(closed_port):
    with pytest.raises(CheckFailed, match=rf"^cannot connect to PostgreSQL app@127.0.0.1:{closed_port}/openwebui: "
                                          r".*Connection refused"):
        check_postgres(spec(host="127.0.0.1", port=closed_port), 2)
