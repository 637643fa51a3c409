"""A real OCI registry for Ollama pull tests: Debian `docker-registry` behind nginx, on loopback.

Ollama (0.5.x) asks for each blob with a GET and expects a 307 redirect to another host name (the
ollama.com registry redirects to its CDN); a 200 there is an error ("unexpected status code 200").
So nginx answers blob GETs sent to 127.0.0.1 with a 307 to the same port on `localhost`, and
proxies everything else (and the redirected GETs) to the registry.

`start_registry(workdir)` returns a handle with `host` (``127.0.0.1:PORT``, the registry part of
an Ollama model name) and `break_blobs()` / `fix_blobs()`, which make nginx answer blob downloads
with an error page while manifests (and blob HEADs) still work: a registry that breaks in the
middle of a pull, after Ollama has read the manifest and set up the download of its blobs.

The error page comes with status 200 and no redirect, as from a broken proxy or CDN front: Ollama
0.5 fails the pull at once ("unexpected status code 200"). A 4xx/5xx there makes it back off and
retry for 30 s first (a fixed timeout in its downloader, no setting or environment variable
shortens it; the module's `timeout` cannot either, as progress lines keep the stream busy), and
the test would only wait longer for the same failure. (An Ollama that accepts a 200 as the blob
itself would still fail the pull, after its download retries: the page is not the blob.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass

from services import Service, free_port, wait_for

REGISTRY_BIN = "/usr/bin/docker-registry"
NGINX_BIN = "/usr/sbin/nginx"

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

NGINX_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log {work}/nginx-access.log;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  server {{
    listen 127.0.0.1:{port};
    include {work}/blobs.conf;
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
    }}
  }}
}}
"""

BLOBS_OK = """\
location ~ ^/v2/.+/blobs/sha256:[0-9a-f]+$ {
  if ($request_method = GET) { set $redirect "G"; }
  if ($host = "127.0.0.1") { set $redirect "${redirect}H"; }
  if ($redirect = "GH") { return 307 http://localhost:$server_port$request_uri; }
  proxy_pass http://127.0.0.1:%d;
  proxy_set_header Host $http_host;
  proxy_http_version 1.1;
}
"""

BLOBS_BROKEN = """\
location ~ ^/v2/.+/blobs/sha256:[0-9a-f]+$ {
  if ($request_method = GET) { return 200 "registry storage unavailable\\n"; }
  proxy_pass http://127.0.0.1:%d;
}
"""


def registry_available() -> str | None:
    """None when the registry and nginx binaries are installed, else the reason they are not."""
    missing = [b for b in (REGISTRY_BIN, NGINX_BIN) if not os.path.exists(b)]
    if missing:
        return f"missing {', '.join(missing)}: run scripts/bootstrap (tests/requirements-apt.txt)"
    return None


@dataclass
class Registry(Service):
    port: int = 0
    upstream: int = 0
    nginx: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_blobs(self, template: str) -> None:
        with open(os.path.join(self.workdir, "blobs.conf"), "w") as f:
            f.write(template % self.upstream)

    def _start_nginx(self) -> None:
        log = os.path.join(self.workdir, "nginx.out")
        self.nginx = subprocess.Popen([NGINX_BIN, "-c", os.path.join(self.workdir, "nginx.conf"),
                                       "-p", self.workdir], stdout=open(log, "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).status == 200, 30,
                 "nginx in front of the registry", self.nginx, log)

    def _stop_nginx(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(10)

    def _restart_nginx(self, template: str) -> None:
        self._stop_nginx()
        self._write_blobs(template)
        self._start_nginx()

    def break_blobs(self) -> None:
        """Blob downloads get an error page; manifests still answer (a pull breaks after its manifest)."""
        self._restart_nginx(BLOBS_BROKEN)

    def fix_blobs(self) -> None:
        self._restart_nginx(BLOBS_OK)

    def close(self) -> None:
        self._stop_nginx()
        super().close()


def start_registry(workdir: str) -> Registry:
    upstream, port = free_port(), free_port()
    storage = os.path.join(workdir, "storage")
    os.makedirs(storage, exist_ok=True)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    config = os.path.join(workdir, "registry.yml")
    with open(config, "w") as f:
        f.write(REGISTRY_CONFIG.format(root=storage, port=upstream))
    with open(os.path.join(workdir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONFIG.format(work=workdir, port=port, upstream=upstream))
    log = os.path.join(workdir, "registry.log")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", config], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    reg = Registry(proc=proc, workdir=workdir, port=port, upstream=upstream)
    reg.cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{upstream}/v2/", timeout=2).status == 200, 30,
                 "docker-registry", proc, log)
        reg._write_blobs(BLOBS_OK)
        reg._start_nginx()
    except Exception:
        reg.close()
        raise
    return reg
