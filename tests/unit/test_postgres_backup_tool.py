"""The backup tool's pure parts (roles/postgres/files/ailab_pg_backup.py): retention selection,
listing of real files, metrics text. The real pg_dump path is in
tests/integration/test_postgres_backup.py and molecule/postgres."""
from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import json
import os

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "postgres", "files", "ailab_pg_backup.py")
NOW = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.timezone.utc)


def load_tool():
    loader = importlib.machinery.SourceFileLoader("ailab_pg_backup", SCRIPT)
    spec = importlib.util.spec_from_loader("ailab_pg_backup", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


tool = load_tool()


def make_dumps(directory, db, ages_days):
    """Create <db>-<stamp>.dump files whose names say they were taken ages_days ago."""
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for age in ages_days:
        stamp = (NOW - dt.timedelta(days=age)).strftime(tool.STAMP_FORMAT)
        path = os.path.join(directory, f"{db}-{stamp}.dump")
        with open(path, "wb") as f:
            f.write(b"PGDMP fake")
        paths[age] = path
    return paths


def expire(directory, db, keep_min, days, keep_max=0):
    return tool.select_expired(tool.list_dumps(directory, db), NOW, keep_min, days, keep_max)


def test_deletes_exactly_those_older_than_retention_beyond_keep_min(tmp_path):
    paths = make_dumps(str(tmp_path), "openwebui", [0, 1, 2, 10, 34, 36, 40, 100])
    expired = expire(str(tmp_path), "openwebui", 3, 35)
    assert sorted(expired) == sorted([paths[36], paths[40], paths[100]])


def test_keep_min_protects_old_backups_when_backups_stopped(tmp_path):
    # Nothing newer than 35 days: the 3 newest survive anyway, whatever their age.
    paths = make_dumps(str(tmp_path), "openwebui", [50, 60, 70, 80, 90])
    assert sorted(expire(str(tmp_path), "openwebui", 3, 35)) == sorted([paths[80], paths[90]])


def test_the_newest_backup_is_never_deleted_even_with_keep_min_zero(tmp_path):
    paths = make_dumps(str(tmp_path), "db", [400, 500])
    assert expire(str(tmp_path), "db", 0, 1) == [paths[500]]


def test_keep_max_limits_the_count_regardless_of_age(tmp_path):
    paths = make_dumps(str(tmp_path), "db", [0, 1, 2, 3, 4, 5])
    assert sorted(expire(str(tmp_path), "db", 2, 35, keep_max=4)) == sorted([paths[4], paths[5]])


def test_zero_retention_days_means_no_age_limit(tmp_path):
    make_dumps(str(tmp_path), "db", [1, 100, 1000])
    assert expire(str(tmp_path), "db", 1, 0) == []


def test_boundary_exactly_at_retention_is_kept(tmp_path):
    paths = make_dumps(str(tmp_path), "db", [0, 1, 2, 35, 35.01])
    assert expire(str(tmp_path), "db", 3, 35) == [paths[35.01]]


def test_only_complete_dumps_of_that_database_are_candidates(tmp_path):
    d = str(tmp_path)
    paths = make_dumps(d, "app", [0, 1, 2, 90])
    make_dumps(d, "app-old", [95])            # another database whose name shares a prefix
    for name in (".app-20200101T000000Z.dump.partial", "app-20200101T000000Z.dump.bak", "README", ".last-run.json"):
        open(os.path.join(d, name), "w").close()
    listed = [path for _stamp, path in tool.list_dumps(d, "app")]
    assert sorted(listed) == sorted(paths.values())
    assert expire(d, "app", 3, 35) == [paths[90]]


def test_apply_retention_deletes_the_files_and_nothing_else(tmp_path):
    d = str(tmp_path)
    paths = make_dumps(d, "app", [0, 1, 2, 40, 41])
    other = os.path.join(d, "keep.txt")
    open(other, "w").close()
    backup = tool.Backup({"backup_dir": d, "keep_min": 3, "retention_days": 35})
    deleted = backup.apply_retention(tool.list_dumps(d, "app"), NOW)
    assert sorted(deleted) == sorted([paths[40], paths[41]])
    assert sorted(os.listdir(d)) == sorted([os.path.basename(paths[a]) for a in (0, 1, 2)] + ["keep.txt"])


def test_base_backups_need_a_manifest_to_count(tmp_path):
    base = tmp_path / "_base"
    for stamp, complete in (("20261120T000000Z", True), ("20261121T000000Z", False)):
        (base / f"base-{stamp}").mkdir(parents=True)
        if complete:
            (base / f"base-{stamp}" / "backup_manifest").write_text("{}")
    found = tool.list_base_backups(str(base))
    assert [path for _stamp, path in found] == [str(base / "base-20261120T000000Z")]


def test_metrics_describe_what_is_on_disk(tmp_path):
    d = str(tmp_path)
    paths = make_dumps(os.path.join(d, "openwebui"), "openwebui", [0, 3])
    with open(os.path.join(d, "openwebui", ".last-run.json"), "w") as f:
        json.dump({"success": False, "finished": NOW.timestamp(), "duration": 1.5}, f)
    os.makedirs(os.path.join(d, "_pre-restore"))
    text = tool.render_metrics(d)
    newest = NOW.timestamp()
    assert f'ailab_postgres_backup_last_success_timestamp_seconds{{database="openwebui",method="dump"}} {newest:.0f}' in text
    assert f'ailab_postgres_backup_last_size_bytes{{database="openwebui",method="dump"}} {os.path.getsize(paths[0])}' in text
    assert 'ailab_postgres_backup_count{database="openwebui",method="dump"} 2' in text
    assert 'ailab_postgres_backup_last_run_success{database="openwebui",method="dump"} 0' in text
    assert "_pre-restore" not in text
    assert "# TYPE ailab_postgres_backup_last_success_timestamp_seconds gauge" in text


@pytest.mark.parametrize("argv", [["--method", "nope"], ["--bogus"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(argv)
    assert exc.value.code == 2


def test_unreadable_config_exits_2(tmp_path, capsys):
    assert tool.main(["--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
