"""Real services for integration tests, started on loopback in a temporary directory.

Each starter returns a small handle and stops the service when the handle is closed. The
binaries come from scripts/bootstrap (Debian packages, $AILAB_HOME/ollama); a test that needs a
service that is not installed is skipped with the reason, never faked.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field

AILAB_HOME = os.environ.get("AILAB_HOME", "/opt/ailab-stack")
OLLAMA_DIR = os.path.join(AILAB_HOME, "ollama")
TINY_GGUF = os.path.join(OLLAMA_DIR, "gemma-3-270m-q4_k_m.gguf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: str | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s: {_tail(log)}")


def _tail(path: str | None, n: int = 2000) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()[-n:]


@dataclass
class Service:
    proc: subprocess.Popen | None
    workdir: str
    cleanups: list = field(default_factory=list)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for c in reversed(self.cleanups):
            c()


@dataclass
class Ollama(Service):
    url: str = ""
    models_dir: str = ""

    def api(self, path: str, payload: dict | None = None, timeout: float = 120):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read().decode()
        lines = [json.loads(x) for x in body.splitlines() if x.strip()]
        return lines[-1] if lines else None

    def create_tiny(self, name: str = "tiny") -> None:
        """Create a model from the real GGUF through the HTTP API (needs a server on this host)."""
        env = ollama_env(self.url)
        subprocess.run([os.path.join(OLLAMA_DIR, "bin", "ollama-lib"), "create", name, "-f", self._modelfile()],
                       check=True, env=env, capture_output=True, timeout=300)

    def _modelfile(self) -> str:
        path = os.path.join(self.workdir, "Modelfile")
        with open(path, "w") as f:
            f.write(f"FROM {TINY_GGUF}\n")
        return path


def ollama_available() -> str | None:
    """None when a real Ollama can start here, else the reason it cannot."""
    if not os.path.exists(os.path.join(OLLAMA_DIR, "bin", ".ready")) or not os.path.exists(TINY_GGUF):
        return f"no Ollama in {OLLAMA_DIR}: run scripts/bootstrap (scripts/setup-ollama)"
    return None


def ollama_env(url: str, models_dir: str | None = None) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{OLLAMA_DIR}/bin:{env.get('PATH', '')}"
    env["LD_LIBRARY_PATH"] = f"{OLLAMA_DIR}/bin:{OLLAMA_DIR}/lib"
    env["OLLAMA_HOST"] = url.split("//", 1)[-1]
    if models_dir:
        env["OLLAMA_MODELS"] = models_dir
    return env


def start_ollama(workdir: str, port: int | None = None, extra_env: dict | None = None) -> Ollama:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    models = os.path.join(workdir, "models")
    os.makedirs(models, exist_ok=True)
    env = ollama_env(url, models)
    env.update(extra_env or {})
    log = os.path.join(workdir, "ollama.log")
    proc = subprocess.Popen([os.path.join(OLLAMA_DIR, "bin", "ollama-lib"), "serve"], env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    svc = Ollama(proc=proc, workdir=workdir, url=url, models_dir=models)
    try:
        wait_for(lambda: urllib.request.urlopen(url + "/api/version", timeout=2).status == 200, 60,
                 "ollama serve", proc, log)
    except Exception:
        svc.close()
        raise
    return svc


def pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@dataclass
class Postgres(Service):
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "postgres"
    password: str = ""

    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        return (f"postgresql://{user or self.user}:{password if password is not None else self.password}"
                f"@{self.host}:{self.port}/{dbname}")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        env = dict(os.environ, PGPASSWORD=self.password)
        out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port),
                              "-U", self.user, "-d", dbname, "-c", sql], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        return out.stdout.strip()


def postgres_available() -> str | None:
    return None if pg_bindir() else "no PostgreSQL server binaries: run scripts/bootstrap (tests/requirements-apt.txt)"


def start_postgres(workdir: str, password: str = "test-superuser-pw") -> Postgres:
    """A throw-away cluster (initdb) on a free loopback port, scram-sha-256 for TCP."""
    bindir = pg_bindir()
    data = os.path.join(workdir, "pgdata")
    pwfile = os.path.join(workdir, "pwfile")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(pwfile, "postgres")
    subprocess.run([*run_as, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--pwfile", pwfile,
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    log = os.path.join(workdir, "postgres.log")
    proc = subprocess.Popen([*run_as, f"{bindir}/postgres", "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                             "-c", f"unix_socket_directories={workdir}", "-c", "fsync=off"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    svc = Postgres(proc=proc, workdir=workdir, port=port, password=password)
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() is None
                 and subprocess.run([f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                                    capture_output=True, check=False).returncode == 0, 60, "postgres", proc, log)
    except Exception:
        svc.close()
        raise
    return svc
