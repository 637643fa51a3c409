# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ailab-pg-backup: verified PostgreSQL backups with retention (installed by ailab.stack.postgres).

Installed as /usr/local/lib/ailab/ailab_pg_backup.py and run through the wrapper
/usr/local/sbin/ailab-pg-backup (python3 from the distribution).

For each database: pg_dump -Fc (compressed) into <backup_dir>/<db>/.<name>.partial, check the
archive with pg_restore --list, then rename it to <db>-<UTC timestamp>.dump, so a file with the
final name is always a complete, readable backup. Optionally a base backup (pg_basebackup, tar,
gzip) into <backup_dir>/_base/base-<timestamp>/. Then, only for what succeeded, retention:
the keep_min newest are always kept, older than retention_days or beyond keep_max are deleted.
Optionally each new file is copied to S3-compatible storage (aws, s3cmd or rclone). Finally the
node-exporter textfile metrics are rewritten (atomically) from what is on disk.

Exit status: 0 = every backup succeeded; 1 = at least one failed (others may have succeeded);
2 = usage or configuration error. One JSON line per backup goes to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_CONFIG = "/etc/ailab/pg-backup.json"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
DUMP_RE = re.compile(r"^(?P<db>.+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
BASE_RE = re.compile(r"^base-(?P<stamp>\d{8}T\d{6}Z)$")
BASE_DIR = "_base"
# WAL segments archived up to this long before the oldest kept base backup started are kept too.
WAL_MARGIN = dt.timedelta(hours=1)


class BackupError(Exception):
    """A backup step failed; the message says which and why."""


def parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=dt.timezone.utc)


def select_expired(backups, now, keep_min, retention_days, keep_max=0):
    """Return the paths to delete among backups, a list of (UTC datetime, path).

    The keep_min newest (at least 1: the newest backup is never deleted) are kept whatever
    their age; of the others, those beyond the keep_max newest (0 = no limit) or older than
    retention_days (0 = no age limit) are expired. Pure: reads and deletes nothing.
    """
    keep_min = max(1, int(keep_min))
    keep_max = int(keep_max)
    cutoff = now - dt.timedelta(days=int(retention_days)) if int(retention_days) > 0 else None
    ordered = sorted(backups, key=lambda item: item[0], reverse=True)
    expired = []
    for index, (stamp, path) in enumerate(ordered):
        if index < keep_min:
            continue
        if (keep_max and index >= keep_max) or (cutoff is not None and stamp < cutoff):
            expired.append(path)
    return expired


def list_dumps(directory: str, database: str):
    """(timestamp, path) of the complete dumps of database in directory (partial files never match)."""
    found = []
    if not os.path.isdir(directory):
        return found
    for name in os.listdir(directory):
        match = DUMP_RE.match(name)
        if match and match.group("db") == database:
            found.append((parse_stamp(match.group("stamp")), os.path.join(directory, name)))
    return sorted(found)


def list_base_backups(directory: str):
    found = []
    if not os.path.isdir(directory):
        return found
    for name in os.listdir(directory):
        match = BASE_RE.match(name)
        if match and os.path.isfile(os.path.join(directory, name, "backup_manifest")):
            found.append((parse_stamp(match.group("stamp")), os.path.join(directory, name)))
    return sorted(found)


class Backup:
    """One run of the tool with a loaded configuration."""

    def __init__(self, config: dict) -> None:
        self.cfg = config
        self.backup_dir = config["backup_dir"]
        self.bin_dir = config.get("pg_bin_dir", "")
        self.run_as = config.get("run_as", "")
        if os.geteuid() != 0 or self.run_as in ("", "root"):
            self.run_as = ""

    # -- helpers -------------------------------------------------------------------------
    def _prefix(self):
        return ["runuser", "-u", self.run_as, "--"] if self.run_as else []

    def _bin(self, name: str) -> str:
        path = os.path.join(self.bin_dir, name) if self.bin_dir else name
        return path if os.path.exists(path) else name

    def _conn_args(self):
        args = []  # what the config leaves out, libpq's own defaults decide
        if self.cfg.get("port"):
            args += ["-p", str(self.cfg["port"])]
        if self.cfg.get("host"):
            args += ["-h", self.cfg["host"]]
        if self.cfg.get("user"):
            args += ["-U", self.cfg["user"]]
        return args

    def run(self, args, what: str, timeout: int | None = None) -> str:
        try:
            proc = subprocess.run(self._prefix() + args, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupError(f"{what}: {exc}") from None
        if proc.returncode != 0:
            raise BackupError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return proc.stdout

    def make_dir(self, path: str) -> None:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(path, user.pw_uid, user.pw_gid)

    def write_state(self, directory: str, state: dict) -> None:
        """Outcome of the last run for one target, read back by render_metrics."""
        self.make_dir(directory)
        atomic_write(os.path.join(directory, ".last-run.json"), json.dumps(state) + "\n", 0o600)

    def databases(self, wanted):
        if wanted:
            return list(wanted)
        out = self.run([self._bin("psql"), "-X", "-A", "-t", "-d", "postgres", *self._conn_args(), "-c",
                        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
                        " AND datname <> 'postgres' ORDER BY 1"], "list databases")
        return [line for line in out.splitlines() if line]

    # -- backups -------------------------------------------------------------------------
    def dump(self, database: str, directory: str, stamp: str) -> str:
        self.make_dir(directory)
        name = f"{database}-{stamp}.dump"
        final = os.path.join(directory, name)
        partial = os.path.join(directory, f".{name}.partial")
        try:
            self.run([self._bin("pg_dump"), "-Fc", "-Z", str(self.cfg.get("compress_level", 6)),
                      *self._conn_args(), "-f", partial, "-d", database], f"pg_dump of {database}")
            self.run([self._bin("pg_restore"), "--list", partial], f"pg_restore --list of {partial}")
            fsync_file(partial)
            os.rename(partial, final)
            fsync_file(directory)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return final

    def base_backup(self, stamp: str) -> str:
        parent = os.path.join(self.backup_dir, BASE_DIR)
        self.make_dir(parent)
        final = os.path.join(parent, f"base-{stamp}")
        partial = os.path.join(parent, f".base-{stamp}.partial")
        try:
            self.run([self._bin("pg_basebackup"), *self._conn_args(), "-D", partial, "-F", "t", "-z",
                      "-X", "stream", "-c", "fast", "--no-password"], "pg_basebackup")
            for required in ("base.tar.gz", "backup_manifest"):
                if not os.path.isfile(os.path.join(partial, required)):
                    raise BackupError(f"pg_basebackup wrote no {required} in {partial}")
            self.run(["tar", "-tzf", os.path.join(partial, "base.tar.gz")], "reading base.tar.gz")
            for name in os.listdir(partial):
                fsync_file(os.path.join(partial, name))
            os.rename(partial, final)
            fsync_file(parent)
        finally:
            if os.path.exists(partial):
                shutil.rmtree(partial, ignore_errors=True)
        return final

    def upload(self, path: str, key: str) -> None:
        s3 = self.cfg.get("s3") or {}
        if not s3.get("enabled"):
            return
        url = s3["url"].rstrip("/") + "/" + key
        tool = s3.get("tool", "aws")
        recursive = os.path.isdir(path)
        if tool == "aws":
            cmd = ["aws", "s3", "cp", *(["--recursive"] if recursive else []), path, url]
            if s3.get("endpoint_url"):
                cmd += ["--endpoint-url", s3["endpoint_url"]]
        elif tool == "s3cmd":
            cmd = ["s3cmd", "put", *(["--recursive"] if recursive else []), path + ("/" if recursive else ""), url]
        elif tool == "rclone":
            cmd = ["rclone", "copy" if recursive else "copyto", path, url]
        else:
            raise BackupError(f"unknown s3 tool {tool!r} (aws, s3cmd, rclone)")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=6 * 3600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupError(f"upload of {path} to {url}: {exc}") from None
        if proc.returncode != 0:
            raise BackupError(f"upload of {path} to {url} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")

    # -- retention -----------------------------------------------------------------------
    def apply_retention(self, backups, now):
        expired = select_expired(backups, now, self.cfg.get("keep_min", 3), self.cfg.get("retention_days", 35),
                                 self.cfg.get("keep_max", 0))
        for path in expired:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        return expired

    def clean_wal(self) -> list:
        """Delete archived WAL older than the oldest kept base backup (it cannot be replayed onto any)."""
        wal_dir = self.cfg.get("wal_dir", "")
        bases = list_base_backups(os.path.join(self.backup_dir, BASE_DIR))
        if not wal_dir or not bases or not os.path.isdir(wal_dir):
            return []
        limit = (bases[0][0] - WAL_MARGIN).timestamp()
        deleted = []
        for name in sorted(os.listdir(wal_dir)):
            path = os.path.join(wal_dir, name)
            if os.path.isfile(path) and os.stat(path).st_mtime < limit:
                os.unlink(path)
                deleted.append(path)
        return deleted


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, text: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def render_metrics(backup_dir: str) -> str:
    """Prometheus text format for every database directory and the base backups under backup_dir."""
    metrics = {
        "ailab_postgres_backup_last_success_timestamp_seconds": ("gauge", "Time of the newest verified backup."),
        "ailab_postgres_backup_last_size_bytes": ("gauge", "Size of the newest verified backup."),
        "ailab_postgres_backup_count": ("gauge", "Verified backups kept on local disk."),
        "ailab_postgres_backup_last_run_success": ("gauge", "1 if the last run for this target succeeded."),
        "ailab_postgres_backup_last_run_timestamp_seconds": ("gauge", "Time the last run for this target ended."),
        "ailab_postgres_backup_last_duration_seconds": ("gauge", "Duration of the last run for this target."),
    }
    samples = {name: [] for name in metrics}
    targets = []
    if os.path.isdir(backup_dir):
        for name in sorted(os.listdir(backup_dir)):
            path = os.path.join(backup_dir, name)
            if name == BASE_DIR:
                targets.append(("", "basebackup", path, list_base_backups(path)))
            elif not name.startswith(("_", ".")) and os.path.isdir(path):
                targets.append((name, "dump", path, list_dumps(path, name)))
    for database, method, path, found in targets:
        labels = f'{{database="{database}",method="{method}"}}' if database else f'{{method="{method}"}}'
        samples["ailab_postgres_backup_count"].append(f"{labels} {len(found)}")
        if found:
            stamp, newest = found[-1]
            samples["ailab_postgres_backup_last_success_timestamp_seconds"].append(f"{labels} {stamp.timestamp():.0f}")
            samples["ailab_postgres_backup_last_size_bytes"].append(f"{labels} {tree_size(newest)}")
        state_file = os.path.join(path, ".last-run.json")
        if os.path.isfile(state_file):
            with open(state_file, encoding="utf-8") as handle:
                state = json.load(handle)
            samples["ailab_postgres_backup_last_run_success"].append(f"{labels} {1 if state['success'] else 0}")
            samples["ailab_postgres_backup_last_run_timestamp_seconds"].append(f"{labels} {state['finished']:.0f}")
            samples["ailab_postgres_backup_last_duration_seconds"].append(f"{labels} {state['duration']:.3f}")
    lines = []
    for name, (kind, text) in metrics.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [name + sample for sample in samples[name]]
    return "\n".join(lines) + "\n"


def tree_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name)) for root, _dirs, names in os.walk(path) for name in names)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="ailab-pg-backup", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"JSON configuration (default {DEFAULT_CONFIG})")
    parser.add_argument("--database", action="append", default=[], help="dump only this database (repeatable)")
    parser.add_argument("--method", choices=["dump", "basebackup", "both"], help="override the configured method")
    parser.add_argument("--output-dir", help="write the dump here instead of <backup_dir>/<db> (no retention)")
    parser.add_argument("--no-retention", action="store_true", help="delete nothing")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"ailab-pg-backup: cannot read {args.config}: {exc}", file=sys.stderr)
        return 2
    # Naming databases asks for their dumps only, unless a method is given too.
    method = args.method or ("dump" if args.database else config.get("method", "dump"))
    backup = Backup(config)
    backup.make_dir(backup.backup_dir)
    failures = 0
    with open(os.path.join(backup.backup_dir, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jobs = []
        if method in ("dump", "both"):
            try:
                jobs += [("dump", name) for name in backup.databases(args.database or config.get("databases"))]
            except BackupError as exc:
                print(f"ailab-pg-backup: {exc}", file=sys.stderr)
                failures += 1
        if method in ("basebackup", "both") and not args.output_dir:
            jobs.append(("basebackup", ""))
        for kind, database in jobs:
            started = time.time()
            stamp = dt.datetime.now(dt.timezone.utc).strftime(STAMP_FORMAT)
            result = {"method": kind, "database": database, "success": False}
            target_dir = os.path.join(backup.backup_dir, database if kind == "dump" else BASE_DIR)
            try:
                if kind == "dump":
                    path = backup.dump(database, args.output_dir or target_dir, stamp)
                    key = f"{database}/{os.path.basename(path)}"
                else:
                    path = backup.base_backup(stamp)
                    key = f"{BASE_DIR}/{os.path.basename(path)}"
                result.update(file=path, size=tree_size(path))
                if not args.output_dir:
                    backup.upload(path, key)
                    result["uploaded"] = bool((config.get("s3") or {}).get("enabled"))
                result["success"] = True
            except BackupError as exc:
                result["error"] = str(exc)
                print(f"ailab-pg-backup: {exc}", file=sys.stderr)
                failures += 1
            if "file" in result and not (args.no_retention or args.output_dir):
                now = dt.datetime.now(dt.timezone.utc)
                found = list_dumps(target_dir, database) if kind == "dump" else list_base_backups(target_dir)
                result["deleted"] = backup.apply_retention(found, now)
                if kind == "basebackup":
                    result["deleted_wal"] = len(backup.clean_wal())
            result["duration"] = round(time.time() - started, 3)
            if not args.output_dir:
                backup.write_state(target_dir, {"success": result["success"], "finished": time.time(),
                                                "duration": result["duration"]})
            print(json.dumps(result), flush=True)
        metrics_file = config.get("metrics_file", "")
        if metrics_file and os.path.isdir(os.path.dirname(metrics_file)):
            atomic_write(metrics_file, render_metrics(backup.backup_dir))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
