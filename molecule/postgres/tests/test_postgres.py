"""Behaviour of ailab.stack.postgres on a real server: TLS + scram-sha-256 from outside the
container, tuning, backups that are proven by restoring them (restore playbook), retention,
timer and metrics. Runs from the podman host, once per platform."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time

import psycopg2
import pytest

from conftest import container_ip  # molecule/conftest.py

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
APP_USER, APP_DB, APP_PW = "openwebui", "openwebui", "molecule-openwebui-pw"  # molecule.yml group_vars
BACKUP_DIR = "/var/backups/postgresql"
PROM = "/var/lib/prometheus/node-exporter/ailab_postgres_backup.prom"
ROWS = [(1, "first chat", "héllo ✓"), (2, "second", "multi\nline"), (3, "third", "it's")]


def name_of(host):
    return host.backend.get_hostname()


def expected_major(host):
    return {"bookworm": "15", "trixie": "17"}[name_of(host).split("-")[-1]]


@pytest.fixture(scope="module")
def ca_file(host, tmp_path_factory):
    path = tmp_path_factory.mktemp(name_of(host)) / "ca.crt"
    path.write_text(host.file("/etc/postgresql/ailab-tls/ca.crt").content_string)
    return str(path)


def connect(host, ca_file, **kw):
    params = {"host": container_ip(host), "port": 5432, "dbname": APP_DB, "user": APP_USER, "password": APP_PW,
              "sslmode": "verify-full", "sslrootcert": ca_file, "connect_timeout": 10}
    params.update(kw)
    return psycopg2.connect(**params)


def query(host, ca_file, sql, dbname=APP_DB):
    with connect(host, ca_file, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute(sql)
        result = cur.fetchall() if cur.description else None
    conn.close()
    return result


def psql(host, sql, dbname="postgres"):
    """As the postgres superuser inside the container (Unix socket, peer)."""
    return host.check_output("runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d %s -c %s", dbname, sql)


def run_backup(host, *args):
    out = host.check_output("/usr/local/sbin/ailab-pg-backup " + " ".join(args))
    return [json.loads(line) for line in out.splitlines()]


def restore_playbook(host, **extravars):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name_of(host),
         os.path.join(ROOT, "playbooks", "restore.yml"), "-e", json.dumps(extravars)],
        env=env, capture_output=True, text=True, timeout=600, check=False)


def load_chats(host, ca_file):
    with connect(host, ca_file) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS chat; CREATE TABLE chat (id int PRIMARY KEY, title text, body text)")
        cur.executemany("INSERT INTO chat VALUES (%s, %s, %s)", ROWS)
    conn.close()


def chats(host, ca_file, dbname=APP_DB):
    return query(host, ca_file, "SELECT id, title, body FROM chat ORDER BY id", dbname=dbname)


# -- server, TLS and authentication ---------------------------------------------------------
def test_pinned_major_version_runs_and_is_enabled(host):
    unit = host.service(f"postgresql@{expected_major(host)}-main")
    assert unit.is_running and unit.is_enabled
    assert psql(host, "SHOW server_version").startswith(expected_major(host) + ".")


def test_app_user_connects_over_tls_with_verify_full(host, ca_file):
    rows = query(host, ca_file, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert rows[0][0] is True and rows[0][1] in ("TLSv1.2", "TLSv1.3")
    assert query(host, ca_file, "SELECT current_user")[0][0] == APP_USER


def test_scram_with_channel_binding_works_and_plain_password_is_refused(host, ca_file):
    connect(host, ca_file, channel_binding="require").close()          # SCRAM-SHA-256-PLUS over TLS
    with pytest.raises(psycopg2.OperationalError, match="server requested SASL authentication"):
        connect(host, ca_file, require_auth="password").close()       # cleartext password never asked
    with pytest.raises(psycopg2.OperationalError, match="server requested SASL authentication"):
        connect(host, ca_file, require_auth="md5").close()
    assert psql(host, "SELECT rolpassword ~ '^SCRAM-SHA-256[$]' FROM pg_authid WHERE rolname = 'openwebui'") == "t"


def test_non_tls_connection_is_rejected(host, ca_file):
    with pytest.raises(psycopg2.OperationalError, match="rejects connection .*no encryption"):
        connect(host, ca_file, sslmode="disable").close()


def test_wrong_password_is_rejected(host, ca_file):
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        connect(host, ca_file, password="not-the-password").close()


def test_other_app_role_cannot_use_openwebui_database(host, ca_file):
    with pytest.raises(psycopg2.OperationalError, match="no pg_hba.conf entry|rejects connection"):
        connect(host, ca_file, user="grafana", password="molecule-grafana-pw").close()
    connect(host, ca_file, user="grafana", password="molecule-grafana-pw", dbname="grafana").close()


def test_tuning_follows_host_memory(host):
    mem_mb = int(re.search(r"MemTotal:\s+(\d+) kB", host.file("/proc/meminfo").content_string).group(1)) // 1024
    shared_mb = int(psql(host, "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"))
    cache_mb = int(psql(host, "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'effective_cache_size'"))
    assert shared_mb == max(32, mem_mb // 4)
    assert cache_mb == mem_mb * 3 // 4
    assert psql(host, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def test_pgvector_works_where_requested(host, ca_file):
    if expected_major(host) == "15":
        pytest.skip("Debian 12 has no pgvector package (needs postgres_repository: pgdg); not requested there")
    assert query(host, ca_file, "SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector")[0][0] == 2.0


# -- backups -------------------------------------------------------------------------------
def test_timer_is_scheduled(host):
    assert host.service("ailab-pg-backup.timer").is_enabled
    assert host.check_output("systemctl is-active ailab-pg-backup.timer") == "active"
    assert host.check_output("systemctl show -p Persistent --value ailab-pg-backup.timer") == "yes"


def test_service_writes_verified_dumps_base_backup_wal_and_metrics(host, ca_file):
    load_chats(host, ca_file)
    started = time.time()
    host.check_output("systemctl start ailab-pg-backup.service")    # oneshot: returns when done
    assert host.check_output("systemctl show -p ExecMainStatus --value ailab-pg-backup.service") == "0"
    newest = host.check_output(f"ls -1 {BACKUP_DIR}/{APP_DB}/{APP_DB}-*Z.dump | tail -n 1")
    host.check_output("runuser -u postgres -- pg_restore --list %s", newest)
    assert host.file(newest).user == "postgres" and host.file(newest).mode == 0o600
    assert host.check_output(f"ls {BACKUP_DIR}/grafana | grep -c '^grafana-.*Z.dump$'") != "0"
    base = host.check_output(f"ls -1d {BACKUP_DIR}/_base/base-* | tail -n 1")
    assert host.file(f"{base}/base.tar.gz").exists and host.file(f"{base}/backup_manifest").exists
    assert host.check_output(f"ls {BACKUP_DIR}/_wal | grep -c '.gz$'") != "0"       # archive_command works
    prom = host.file(PROM).content_string
    stamp = re.search(r'^ailab_postgres_backup_last_success_timestamp_seconds\{database="openwebui",method="dump"\} (\d+)$',
                      prom, re.M)
    assert stamp and int(stamp.group(1)) >= int(started) - 1
    size = re.search(r'^ailab_postgres_backup_last_size_bytes\{database="openwebui",method="dump"\} (\d+)$', prom, re.M)
    assert int(size.group(1)) == host.file(newest).size
    assert 'ailab_postgres_backup_last_run_success{database="openwebui",method="dump"} 1' in prom
    assert 'ailab_postgres_backup_last_run_success{method="basebackup"} 1' in prom


def test_retention_deletes_exactly_the_expired_backups(host):
    psql(host, "DROP DATABASE IF EXISTS retention_probe")
    psql(host, "CREATE DATABASE retention_probe")
    directory = f"{BACKUP_DIR}/retention_probe"
    host.check_output(f"rm -rf {directory}")         # verify may run more than once
    host.check_output(f"install -d -o postgres -g postgres -m 0700 {directory}")
    now = dt.datetime.now(dt.timezone.utc)
    fake = {}
    for age in (1, 2, 30, 36, 90):  # defaults: keep_min 3, retention 35 days
        fake[age] = f"retention_probe-{(now - dt.timedelta(days=age)).strftime('%Y%m%dT%H%M%SZ')}.dump"
        host.check_output(f"echo fake > {directory}/{fake[age]}")
    host.check_output(f"echo keep > {directory}/notes.txt")
    new = os.path.basename(run_backup(host, "--database", "retention_probe")[-1]["file"])
    left = host.check_output(f"ls -1 {directory}").split()
    assert sorted(left) == sorted([new, fake[1], fake[2], fake[30], "notes.txt"])


def test_retention_keeps_keep_min_even_when_all_are_old(host):
    psql(host, "DROP DATABASE IF EXISTS retention_old")
    psql(host, "CREATE DATABASE retention_old")
    directory = f"{BACKUP_DIR}/retention_old"
    host.check_output(f"rm -rf {directory}")
    host.check_output(f"install -d -o postgres -g postgres -m 0700 {directory}")
    old = [f"retention_old-20200{m}01T000000Z.dump" for m in (1, 2, 3, 4)]
    for name in old:
        host.check_output(f"echo fake > {directory}/{name}")
    new = os.path.basename(run_backup(host, "--database", "retention_old")[-1]["file"])
    left = host.check_output(f"ls -1 {directory}").split()
    assert sorted(left) == sorted([new, old[3], old[2]])        # the 3 newest, whatever their age


# -- restore (playbooks/restore.yml against this instance) --------------------------------------
def replaced_databases(host):
    return set(psql(host, f"SELECT datname FROM pg_database WHERE datname LIKE '{APP_DB}_replaced_%' "
                          "AND NOT datallowconn").split())


def test_backup_drop_restore_existing_returns_the_same_rows(host, ca_file):
    query(host, ca_file, "DROP TABLE IF EXISTS after_backup")
    load_chats(host, ca_file)
    replaced_before = replaced_databases(host)
    before = chats(host, ca_file)
    backup = run_backup(host, "--database", APP_DB)[-1]["file"]
    query(host, ca_file, "DROP TABLE chat; CREATE TABLE after_backup (x int)")

    refused = restore_playbook(host, restore_database=APP_DB, restore_target="existing")
    assert refused.returncode == 2 and "= 'yes-destroy-openwebui'" in refused.stderr, refused.stdout[-3000:]
    assert query(host, ca_file, "SELECT to_regclass('after_backup') IS NOT NULL")[0][0] is True  # untouched

    done = restore_playbook(host, restore_database=APP_DB, restore_target="existing",
                            restore_confirm=f"yes-destroy-{APP_DB}", restore_file=backup)
    assert done.returncode == 0, done.stdout[-3000:]
    assert chats(host, ca_file) == before == [tuple(r) for r in ROWS]
    assert query(host, ca_file, "SELECT to_regclass('after_backup')")[0][0] is None
    assert psql(host, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{APP_DB}'") == APP_USER
    # What was replaced is kept twice: a verified safety dump and the renamed database.
    safety = host.check_output(f"ls -1 {BACKUP_DIR}/_pre-restore/{APP_DB}-*Z.dump | tail -n 1")
    assert "after_backup" in host.check_output("runuser -u postgres -- pg_restore --list %s", safety)
    # connections disabled, so the application cannot use it by mistake
    assert len(replaced_databases(host) - replaced_before) == 1


def test_restore_into_a_new_database_leaves_the_existing_one_alone(host, ca_file):
    psql(host, "DROP DATABASE IF EXISTS openwebui_copy")
    load_chats(host, ca_file)
    run_backup(host, "--database", APP_DB)
    query(host, ca_file, "DELETE FROM chat WHERE id = 1")
    done = restore_playbook(host, restore_database=APP_DB, restore_new_name="openwebui_copy")
    assert done.returncode == 0, done.stdout[-3000:]
    assert psql(host, "SELECT count(*) FROM chat", dbname="openwebui_copy") == "3"
    assert len(chats(host, ca_file)) == 2
    assert psql(host, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'openwebui_copy'") == APP_USER


def test_unreadable_backup_file_changes_nothing(host):
    host.check_output("echo garbage > /tmp/not-a-dump.dump")
    before = psql(host, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    failed = restore_playbook(host, restore_database=APP_DB, restore_file="/tmp/not-a-dump.dump")
    assert failed.returncode == 2, failed.stdout[-3000:]
    assert "pg_restore" in failed.stderr and "not-a-dump.dump" in failed.stderr
    assert psql(host, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") == before


# -- a configuration the server rejects never stays on disk ----------------------------------

def configure(host, extravars):
    """The role's configure phase (converge.yml --tags postgres_configure) with extra variables."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name_of(host),
         "--tags", "postgres_configure", os.path.join(ROOT, "molecule", "postgres", "converge.yml"),
         "-e", json.dumps(extravars)],
        env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("extravars, error", [
    ({"postgres_settings": {"work_mem": "lots"}}, "invalid value for parameter"),
    ({"postgres_settings": {"no_such_setting": 1}}, "unrecognized configuration parameter"),
    # Passes the role's own preflight (a CIDR-looking address), refused by PostgreSQL's parser.
    ({"postgres_hba_entries": [{"database": "openwebui", "user": "openwebui", "address": "10.0.0.0/99"}]},
     "invalid CIDR mask"),
], ids=["bad-value", "unknown-setting", "bad-hba-mask"])
def test_rejected_configuration_is_put_back(host, extravars, error):
    conf_dir = f"/etc/postgresql/{expected_major(host)}/main"
    files = [f"{conf_dir}/conf.d/50-ailab.conf", f"{conf_dir}/pg_hba.conf"]
    before = {path: host.file(path).sha256sum for path in files}
    live = psql(host, "SELECT setting FROM pg_settings WHERE name IN ('work_mem', 'max_connections') ORDER BY name")
    started = psql(host, "SELECT pg_postmaster_start_time()")

    result = configure(host, extravars)
    out = result.stdout + result.stderr   # ansible-core 2.19 writes a task's failure to stderr
    assert result.returncode != 0, out[-3000:]
    assert "PostgreSQL rejected the new configuration" in out, out[-3000:]
    assert error in out, out[-3000:]

    # Same files, no backup copies left beside them, same live values, no restart.
    assert {path: host.file(path).sha256sum for path in files} == before
    assert "~" not in host.check_output(f"ls -A {conf_dir} {conf_dir}/conf.d")
    assert psql(host, "SELECT setting FROM pg_settings WHERE name IN ('work_mem', 'max_connections') "
                      "ORDER BY name") == live
    assert psql(host, "SELECT pg_postmaster_start_time()") == started
    assert psql(host, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL") == "0"
    assert psql(host, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"
    # The next restart (a reboot, an upgrade) starts the server.
    host.check_output(f"systemctl restart postgresql@{expected_major(host)}-main")
    assert psql(host, "SELECT 1") == "1"
