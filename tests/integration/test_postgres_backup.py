"""The installed backup tool (roles/postgres/files/ailab_pg_backup.py) against a real PostgreSQL
on loopback: dump -> drop -> restore gives the same rows; retention; base backup; metrics."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

import services

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "postgres", "files", "ailab_pg_backup.py")

ROWS = [(1, "first chat", "héllo ✓"), (2, "second chat", "multi\nline"), (3, "third", None)]


@pytest.fixture()
def tool_config(postgres_server, tmp_path):
    """Configuration of the tool for the loopback server; backups under tmp_path."""
    cfg = {
        "backup_dir": str(tmp_path / "backups"),
        "method": "dump",
        "databases": [],
        "retention_days": 35,
        "keep_min": 2,
        "keep_max": 0,
        "metrics_file": str(tmp_path / "metrics" / "ailab_postgres_backup.prom"),
        "pg_bin_dir": services.pg_bindir(),
        "host": postgres_server.host,
        "port": postgres_server.port,
        "user": postgres_server.user,
        "run_as": "",
        "wal_dir": "",
        "s3": {"enabled": False},
    }
    os.makedirs(tmp_path / "metrics")
    path = tmp_path / "pg-backup.json"
    path.write_text(json.dumps(cfg))
    return path, cfg


def run_tool(postgres_server, config_path, *args):
    env = dict(os.environ, PGPASSWORD=postgres_server.password)
    return subprocess.run([sys.executable, SCRIPT, "--config", str(config_path), *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def make_db(pg, name):
    pg.psql(f'DROP DATABASE IF EXISTS "{name}"')
    pg.psql(f'CREATE DATABASE "{name}"')
    pg.psql("CREATE TABLE chat (id int PRIMARY KEY, title text NOT NULL, body text)", dbname=name)
    for row in ROWS:
        body = "NULL" if row[2] is None else "'" + row[2].replace("'", "''") + "'"
        pg.psql(f"INSERT INTO chat VALUES ({row[0]}, '{row[1]}', {body})", dbname=name)


def rows(pg, name):
    return pg.psql("SELECT id, title, coalesce(body, '<null>') FROM chat ORDER BY id", dbname=name)


def test_dump_drop_restore_returns_the_same_rows(postgres_server, tool_config):
    pg = postgres_server
    config_path, cfg = tool_config
    make_db(pg, "it_chats")
    before = rows(pg, "it_chats")
    proc = run_tool(pg, config_path, "--database", "it_chats")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["success"] and os.path.basename(result["file"]).startswith("it_chats-")
    assert os.path.getsize(result["file"]) == result["size"] > 0
    assert not [n for n in os.listdir(os.path.dirname(result["file"])) if n.endswith(".partial")]

    pg.psql('DROP DATABASE "it_chats"')
    pg.psql('CREATE DATABASE "it_chats"')
    env = dict(os.environ, PGPASSWORD=pg.password)
    subprocess.run([os.path.join(services.pg_bindir(), "pg_restore"), "--exit-on-error", "--single-transaction",
                    "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-d", "it_chats", result["file"]],
                   env=env, check=True, capture_output=True, timeout=120)
    assert rows(pg, "it_chats") == before

    metrics = open(cfg["metrics_file"]).read()
    assert 'ailab_postgres_backup_last_run_success{database="it_chats",method="dump"} 1' in metrics
    assert f'ailab_postgres_backup_last_size_bytes{{database="it_chats",method="dump"}} {result["size"]}' in metrics


def test_retention_deletes_exactly_the_expired_backups(postgres_server, tool_config):
    pg = postgres_server
    config_path, cfg = tool_config
    make_db(pg, "it_retention")
    directory = os.path.join(cfg["backup_dir"], "it_retention")
    os.makedirs(directory)
    now = dt.datetime.now(dt.timezone.utc)
    names = {}
    for age in (1, 20, 36, 60):
        stamp = (now - dt.timedelta(days=age)).strftime("%Y%m%dT%H%M%SZ")
        names[age] = f"it_retention-{stamp}.dump"
        with open(os.path.join(directory, names[age]), "wb") as f:
            f.write(b"old")
    proc = run_tool(pg, config_path, "--database", "it_retention")
    assert proc.returncode == 0, proc.stderr
    new = os.path.basename(json.loads(proc.stdout.splitlines()[-1])["file"])
    # keep_min 2 keeps the new one and the 1-day one; 20 days is within 35; 36 and 60 are expired.
    assert sorted(n for n in os.listdir(directory) if n.endswith(".dump")) == sorted([new, names[1], names[20]])


def test_failed_dump_keeps_every_old_backup_and_reports_failure(postgres_server, tool_config):
    pg = postgres_server
    config_path, cfg = tool_config
    directory = os.path.join(cfg["backup_dir"], "it_missing")
    os.makedirs(directory)
    old = "it_missing-20200101T000000Z.dump"
    open(os.path.join(directory, old), "wb").close()
    proc = run_tool(pg, config_path, "--database", "it_missing")
    assert proc.returncode == 1
    assert "pg_dump of it_missing failed" in proc.stderr
    assert sorted(os.listdir(directory)) == sorted([old, ".last-run.json"])
    assert 'ailab_postgres_backup_last_run_success{database="it_missing",method="dump"} 0' in open(cfg["metrics_file"]).read()


def test_base_backup_is_complete_and_readable(postgres_server, tool_config):
    config_path, cfg = tool_config
    proc = run_tool(postgres_server, config_path, "--method", "basebackup")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["method"] == "basebackup" and result["success"]
    assert {"base.tar.gz", "backup_manifest"} <= set(os.listdir(result["file"]))
    listing = subprocess.run(["tar", "-tzf", os.path.join(result["file"], "base.tar.gz")], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "PG_VERSION" in listing and "global/pg_control" in listing
    assert 'ailab_postgres_backup_count{method="basebackup"} 1' in open(cfg["metrics_file"]).read()
