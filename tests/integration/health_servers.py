"""Real servers for the health_gate integration tests: TLS certificates made in the test, an HTTPS
http.server on loopback, a real Prometheus (Debian `prometheus`) scraping itself, and a real
Open WebUI (the version the openwebui role pins, from the wheelhouse scripts/bootstrap builds).

Additive to services.py (same Service handle, wait_for, free_port); used by
tests/integration/test_health_gate*.py.
"""
from __future__ import annotations

import datetime
import fcntl
import glob
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import services


# ------------------------------------------------------------------------------------------------
# certificates
# ------------------------------------------------------------------------------------------------
@dataclass
class Pki:
    ca_pem: str                 # path of the CA certificate (trust anchor for the checks)
    ca_cert: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    workdir: str

    def issue(self, name: str, dns: list[str], not_before: datetime.datetime, not_after: datetime.datetime) -> tuple[str, str]:
        """A server certificate signed by the CA; returns (cert.pem path, key.pem path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]))
                .issuer_name(self.ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.ca_key, hashes.SHA256()))
        return _write(self.workdir, name, cert, key)


def _write(workdir: str, name: str, cert: x509.Certificate, key) -> tuple[str, str]:
    cert_path, key_path = os.path.join(workdir, f"{name}.crt"), os.path.join(workdir, f"{name}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def make_ca(workdir: str, org: str = "ailab test CA") -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{org} root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    ca_pem = _write(workdir, "ca", cert, key)[0]
    return Pki(ca_pem=ca_pem, ca_cert=cert, ca_key=key, workdir=workdir)


# ------------------------------------------------------------------------------------------------
# HTTPS (or HTTP) server answering fixed JSON
# ------------------------------------------------------------------------------------------------
class JsonServer:
    """http.server in a thread; `pages` maps path -> (status, JSON-able). TLS when cert/key are given."""

    def __init__(self, pages: dict, cert: str | None = None, key: str | None = None) -> None:
        pages_ = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, payload = pages_.get(self.path, (404, {"detail": "Not Found"}))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://localhost:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def gate_report(stdout: str) -> list:
    """The health_gate report a play printed with debug: msg="{{ gate.report | to_json }}"."""
    line = next(x for x in stdout.splitlines() if x.strip().startswith('"msg": "[{'))
    return json.loads(json.loads("{" + line.strip() + "}")["msg"])


# ------------------------------------------------------------------------------------------------
# Prometheus
# ------------------------------------------------------------------------------------------------
def prometheus_available() -> str | None:
    return None if shutil.which("prometheus") else "no prometheus binary: run scripts/bootstrap (tests/requirements-apt.txt)"


@dataclass
class Prometheus(services.Service):
    url: str = ""
    down_port: int = 0


def start_prometheus(workdir: str) -> Prometheus:
    """Prometheus on a free loopback port; job `prometheus` scrapes itself, job `down` a closed port."""
    port, down_port = services.free_port(), services.free_port()
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
  - job_name: down
    static_configs: [{{targets: ["127.0.0.1:{down_port}"]}}]
""")
    log = os.path.join(workdir, "prometheus.log")
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir}/data",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=workdir)
    svc = Prometheus(proc=proc, workdir=workdir, url=f"http://127.0.0.1:{port}", down_port=down_port)
    try:
        services.wait_for(lambda: urllib.request.urlopen(svc.url + "/-/ready", timeout=2).status == 200, 60,
                          "prometheus", proc, log)
    except Exception:
        svc.close()
        raise
    return svc


# ------------------------------------------------------------------------------------------------
# Open WebUI
# ------------------------------------------------------------------------------------------------
OPENWEBUI_VERSION = "0.12.4"   # roles/openwebui/defaults/main.yml openwebui_version
OPENWEBUI_WHEELHOUSE = os.path.join(services.AILAB_HOME, "wheelhouse", "openwebui")
# Installed once from the wheelhouse (about 4 minutes and 3 GB), then reused by every run.
OPENWEBUI_VENV = os.path.join(services.AILAB_HOME, f"openwebui-{OPENWEBUI_VERSION}-test-venv")


def openwebui_available() -> str | None:
    if os.path.exists(os.path.join(OPENWEBUI_VENV, ".ready")):
        return None
    if not glob.glob(os.path.join(OPENWEBUI_WHEELHOUSE, f".ready-open-webui-{OPENWEBUI_VERSION}-*")):
        return (f"no Open WebUI {OPENWEBUI_VERSION} wheelhouse in {OPENWEBUI_WHEELHOUSE}: run scripts/bootstrap "
                "(scripts/setup-openwebui-wheels)")
    if sys.version_info[:2] != (3, 11):
        return f"the Open WebUI wheelhouse is built for Python 3.11, the tests run on {sys.version.split()[0]}"
    return None


def openwebui_venv() -> str:
    """The open-webui command of a virtualenv installed from the wheelhouse (no index), made once."""
    os.makedirs(services.AILAB_HOME, exist_ok=True)
    with open(OPENWEBUI_VENV + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # another test session may be installing it right now
        if not os.path.exists(os.path.join(OPENWEBUI_VENV, ".ready")):
            shutil.rmtree(OPENWEBUI_VENV, ignore_errors=True)
            try:
                subprocess.run([sys.executable, "-m", "venv", OPENWEBUI_VENV], check=True, capture_output=True)
                subprocess.run([os.path.join(OPENWEBUI_VENV, "bin", "pip"), "install", "-q", "--isolated",
                                "--no-index", "--find-links", OPENWEBUI_WHEELHOUSE,
                                f"open-webui[postgres]=={OPENWEBUI_VERSION}"],
                               check=True, capture_output=True, text=True, timeout=1800)
            except subprocess.CalledProcessError as e:
                shutil.rmtree(OPENWEBUI_VENV, ignore_errors=True)
                raise RuntimeError(f"installing open-webui from {OPENWEBUI_WHEELHOUSE} failed: {e.stderr}") from e
            open(os.path.join(OPENWEBUI_VENV, ".ready"), "w").close()
    return os.path.join(OPENWEBUI_VENV, "bin", "open-webui")


@dataclass
class OpenWebUI(services.Service):
    url: str = ""
    email: str = "admin@example.org"
    password: str = "test-admin-pw"


def start_openwebui(workdir: str, ollama_url: str, database_url: str, port: int | None = None,
                    extra_env: dict | None = None) -> OpenWebUI:
    """Open WebUI on a free loopback port (or `port`) with its database in PostgreSQL and Ollama at
    ollama_url, set up as the openwebui role sets it up (roles/openwebui/vars/main.yml): offline,
    embeddings from Ollama, no OpenAI connection, the first admin from WEBUI_ADMIN_*, no builtin tools
    for a model without a setting of its own (the role's tasks then give them to the models with tool
    support: ailab.stack.openwebui_model_tools); `extra_env` on top (e.g. the single sign-on settings
    of an environment file the role rendered)."""
    command = openwebui_venv()
    port = port or services.free_port()
    svc = OpenWebUI(proc=None, workdir=workdir, url=f"http://127.0.0.1:{port}")
    env = dict(os.environ, DATA_DIR=os.path.join(workdir, "data"), DATABASE_URL=database_url,
               WEBUI_SECRET_KEY="health-gate-test-secret-key-0123456789", WEBUI_ADMIN_EMAIL=svc.email,
               WEBUI_ADMIN_PASSWORD=svc.password, WEBUI_ADMIN_NAME="Admin", ENABLE_SIGNUP="false",
               ENABLE_OLLAMA_API="true", OLLAMA_BASE_URLS=ollama_url, ENABLE_OPENAI_API="false",
               ENABLE_PERSISTENT_CONFIG="false", RAG_EMBEDDING_ENGINE="ollama", RAG_EMBEDDING_MODEL="nomic-embed-text",
               RAG_OLLAMA_BASE_URL=ollama_url, OFFLINE_MODE="true", HF_HUB_OFFLINE="1",
               DEFAULT_MODEL_METADATA=json.dumps({"capabilities": {"builtin_tools": False}}),
               ENABLE_VERSION_UPDATE_CHECK="false", ANONYMIZED_TELEMETRY="false", SCARF_NO_ANALYTICS="true",
               DO_NOT_TRACK="true")
    env.update(extra_env or {})
    os.makedirs(env["DATA_DIR"], exist_ok=True)
    log = os.path.join(workdir, "open-webui.log")
    svc.proc = subprocess.Popen([command, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=workdir,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def healthy() -> bool:
        with urllib.request.urlopen(svc.url + "/health/db", timeout=5) as r:
            return json.load(r).get("status") is True
    try:
        services.wait_for(healthy, 300, "open-webui serve", svc.proc, log)   # about a minute on 2 CPUs
    except Exception:
        svc.close()
        raise
    return svc


# ------------------------------------------------------------------------------------------------
# nginx (Debian) as the reverse proxy in front of Open WebUI
# ------------------------------------------------------------------------------------------------
NGINX_GOOD = {
    "redirect": True,          # the plain-HTTP server answers 301 to https
    "upgrade": True,           # WebSocket upgrade headers on /ws/socket.io
    "buffering": "off",        # proxy_buffering
    "body_size": "200m",       # client_max_body_size
    "read_timeout": "600s",    # proxy_read_timeout / proxy_send_timeout
}


def nginx_available() -> str | None:
    return None if shutil.which("nginx") else "no nginx binary: run scripts/bootstrap (tests/requirements-apt.txt)"


def nginx_conf(workdir: str, upstream: str, http_port: int, https_port: int, cert: str, key: str,
               generation: int = 0, **settings) -> str:
    """An nginx.conf in workdir: HTTPS on https_port in front of `upstream`, plain HTTP on http_port,
    `/generation` answering `generation` on both (to see a reload done); `settings` override
    NGINX_GOOD (a false `redirect` or `upgrade` leaves that part out)."""
    s = {**NGINX_GOOD, **settings}
    upgrade = ("proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n"
               "            proxy_set_header Connection \"upgrade\";") if s["upgrade"] else ""
    plain = "return 301 https://$host:%d$request_uri;" % https_port if s["redirect"] else f"proxy_pass {upstream};"
    user = "user www-data;\n" if os.geteuid() == 0 else ""
    return f"""daemon off;
{user}pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{http_port};
        server_name localhost;
        location = /generation {{ return 200 "{generation}"; }}
        location / {{ {plain} }}
    }}
    server {{
        listen 127.0.0.1:{https_port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size {s['body_size']};
        proxy_read_timeout {s['read_timeout']};
        proxy_send_timeout {s['read_timeout']};
        proxy_buffering {s['buffering']};
        location = /generation {{ return 200 "{generation}"; }}
        location /ws/socket.io {{
            proxy_pass {upstream};
            {upgrade}
        }}
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@dataclass
class Nginx(services.Service):
    http_port: int = 0
    https_port: int = 0
    conf: str = ""
    upstream: str = ""
    cert: str = ""
    key: str = ""
    generation: int = 0

    def workers(self) -> set[str]:
        """PIDs of the master's worker processes."""
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return set(f.read().split())

    def configure(self, **settings) -> None:
        """Write the configuration with `settings` (see nginx_conf), test it, reload nginx and wait
        until its workers answer with it."""
        self.generation += 1
        with open(self.conf, "w") as f:
            f.write(nginx_conf(self.workdir, self.upstream, self.http_port, self.https_port, self.cert, self.key,
                               self.generation, **settings))
        subprocess.run(["nginx", "-t", "-q", "-c", self.conf], check=True, capture_output=True, timeout=30)
        if self.proc is None:
            return
        old_workers = self.workers()
        subprocess.run(["nginx", "-s", "reload", "-c", self.conf], check=True, capture_output=True, timeout=30)

        # Done when the old workers are gone: until each has seen the signal it may still accept a
        # new connection and answer it with the old configuration.
        def reloaded() -> bool:
            url = f"http://127.0.0.1:{self.http_port}/generation"
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode() == str(self.generation) and not old_workers & self.workers()
        services.wait_for(reloaded, 30, "nginx reload", self.proc, os.path.join(self.workdir, "error.log"))


def start_nginx(workdir: str, upstream: str, cert: str, key: str) -> Nginx:
    """nginx in the foreground with the good configuration, HTTPS and plain HTTP on free loopback
    ports (as root its workers run as www-data: they own the temporary directories)."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(os.path.join(workdir, sub), "www-data")
    os.chmod(workdir, 0o711)   # the workers reach their directories
    svc = Nginx(proc=None, workdir=workdir, http_port=services.free_port(), https_port=services.free_port(),
                conf=os.path.join(workdir, "nginx.conf"), upstream=upstream, cert=cert, key=key)
    svc.configure()
    log = os.path.join(workdir, "nginx.log")
    svc.proc = subprocess.Popen(["nginx", "-c", svc.conf], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        services.wait_for(lambda: socket.create_connection(("127.0.0.1", svc.https_port), 1).close() is None, 30,
                          "nginx", svc.proc, os.path.join(workdir, "error.log"))
    except Exception:
        svc.close()
        raise
    return svc
