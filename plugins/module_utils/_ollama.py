# -*- coding: utf-8 -*-

# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note: this module util is PRIVATE to ailab.stack; its API may change without notice.
"""Client for the Ollama HTTP API (and the registry manifest endpoint it pulls from).

The client raises OllamaError and never calls fail_json, so it is testable without an
AnsibleModule. Streamed answers (/api/pull, /api/create) are read line by line: Ollama reports
errors there as `{"error": ...}` lines inside an HTTP 200 answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
import typing as t
from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule  # pragma: no cover

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
# Ollama 0.5.5 replaced the Modelfile text of /api/create with JSON fields ("files", "from", ...).
JSON_CREATE_SINCE = (0, 5, 5)

OLLAMA_COMMON_ARGSPEC: dict[str, dict[str, t.Any]] = dict(
    api_url=dict(type="str", default="http://127.0.0.1:11434"),
    api_key=dict(type="str", no_log=True),
    timeout=dict(type="int", default=30),
    retries=dict(type="int", default=3),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)

_COMPONENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_NAME_RE = re.compile(
    r"^(?:(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?)/)??"
    r"(?:(?P<ns>" + _COMPONENT + r")/)?"
    r"(?P<model>" + _COMPONENT + r")"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$"
)
_CONNECTION_ERRORS = (URLError, socket.timeout, ConnectionError, HTTPException)


class OllamaError(Exception):
    def __init__(self, msg: str, status: int | None = None, body: str | None = None,
                 www_authenticate: str | None = None) -> None:
        super().__init__(msg)
        self.status, self.body, self.www_authenticate = status, body, www_authenticate


class ModelRef:
    """A model name split the way Ollama splits it: host/namespace/model:tag."""

    def __init__(self, host: str, namespace: str, model: str, tag: str) -> None:
        self.host, self.namespace, self.model, self.tag = host, namespace, model, tag

    @classmethod
    def parse(cls, name: str) -> ModelRef:
        m = _NAME_RE.match(name.strip())
        if not m:
            raise ValueError(f"'{name}' is not a model name like llama3.1:8b, team/model:tag or host:port/ns/model:tag")
        return cls(m.group("host") or DEFAULT_REGISTRY, m.group("ns") or DEFAULT_NAMESPACE,
                   m.group("model"), m.group("tag") or DEFAULT_TAG)

    @property
    def full(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def short(self) -> str:
        """The name Ollama shows in /api/tags (default host and namespace left out)."""
        if self.host != DEFAULT_REGISTRY:
            return self.full
        if self.namespace != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        """Comparison key: Ollama matches names case-insensitively."""
        return self.short.lower()

    def on_registry(self, host: str) -> ModelRef:
        return ModelRef(host, self.namespace, self.model, self.tag)

    def manifest_url(self, insecure: bool = False) -> str:
        scheme = "http" if insecure else "https"
        return f"{scheme}://{self.host}/v2/{self.namespace}/{self.model}/manifests/{self.tag}"


def model_key(name: str) -> str:
    """The comparison key of a name; names Ollama lists that we cannot parse compare as written."""
    try:
        return ModelRef.parse(name).key
    except ValueError:
        return name.lower()


def version_tuple(version: str) -> tuple[int, ...]:
    """'0.5.4-ipexllm-20250407' -> (0, 5, 4); unknown -> (0,)."""
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", version or "")
    return tuple(int(x) for x in m.groups()) if m else (0,)


def keep_alive_value(value: str | None) -> t.Any:
    """Ollama reads a number as seconds (negative: forever) and a string as a Go duration."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def is_gguf(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"


def _is_local_path(arg: str, base_dir: str) -> bool:
    if arg.startswith(("/", "./", "../", "~")):
        return True
    return os.path.isfile(os.path.join(base_dir, arg))


class ModelSource:
    """What /api/create needs for a local GGUF file or Modelfile: the text and the blobs to upload.

    `blobs` maps sha256 hex -> local path; `weights` is the digest of the FROM file (None when the
    Modelfile builds FROM another model)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.blobs: dict[str, str] = {}
        self.weights: str | None = None
        if is_gguf(path):
            self.weights = file_sha256(path)
            self.blobs[self.weights] = path
            self.lines = [("FROM", f"@sha256:{self.weights}")]
            return
        self.lines = []
        base = os.path.dirname(os.path.abspath(path))
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for command, arg in _modelfile_commands(text):
            if command in ("FROM", "ADAPTER") and _is_local_path(arg, base):
                local = os.path.normpath(os.path.join(base, os.path.expanduser(arg)))
                if not os.path.isfile(local):
                    raise OllamaError(f"{path}: {command} {arg}: no such file ({local})")
                digest = file_sha256(local)
                self.blobs[digest] = local
                if command == "FROM":
                    self.weights = digest
                arg = f"@sha256:{digest}"
            self.lines.append((command, arg))
        if not any(line[0] == "FROM" for line in self.lines):
            raise OllamaError(f"{path} is neither a GGUF file nor a Modelfile with a FROM line")

    def modelfile(self) -> str:
        return "".join(f"{c} {a}\n" if "\n" not in a else f'{c} """{a}"""\n' for c, a in self.lines)

    def create_request(self) -> dict[str, t.Any]:
        """The JSON form of /api/create (Ollama >= 0.5.5)."""
        req: dict[str, t.Any] = {}
        params: dict[str, t.Any] = {}
        for command, arg in self.lines:
            digest = arg[len("@sha256:"):] if arg.startswith("@sha256:") else None
            if command == "FROM":
                if digest:
                    req["files"] = {os.path.basename(self.blobs[digest]) or "model.gguf": f"sha256:{digest}"}
                else:
                    req["from"] = arg
            elif command == "ADAPTER" and digest:
                req.setdefault("adapters", {})[os.path.basename(self.blobs[digest])] = f"sha256:{digest}"
            elif command in ("TEMPLATE", "SYSTEM", "LICENSE"):
                req[command.lower()] = arg
            elif command == "PARAMETER":
                key, dummy, value = arg.partition(" ")
                value = value.strip().strip('"')
                if key == "stop":
                    params.setdefault("stop", []).append(value)
                else:
                    params[key] = keep_alive_value(value)
        if params:
            req["parameters"] = params
        return req


def _modelfile_commands(text: str) -> list[tuple[str, str]]:
    """(COMMAND, argument) pairs of a Modelfile; triple-quoted arguments may span lines."""
    out: list[tuple[str, str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        command, dummy, arg = stripped.partition(" ")
        arg = arg.strip()
        if arg.startswith('"""'):
            body = arg[3:]
            while '"""' not in body:
                try:
                    body += "\n" + next(lines)
                except StopIteration:
                    raise OllamaError(f'unterminated """ in the {command.upper()} argument of a Modelfile')
            arg = body[:body.index('"""')]
        out.append((command.upper(), arg))
    return out


class OllamaClient:
    def __init__(self, api_url: str, timeout: int = 30, retries: int = 3, validate_certs: bool = True,
                 ca_path: str | None = None, api_key: str | None = None,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.base_url = api_url.rstrip("/")
        self.timeout, self.retries = timeout, max(retries, 0)
        self.validate_certs, self.ca_path, self.api_key = validate_certs, ca_path, api_key
        self.sleep = sleep
        self.requests = 0  # HTTP requests sent (to the server and to registries), for benchmarks and tests

    @classmethod
    def from_module(cls, module: AnsibleModule) -> OllamaClient:
        p = module.params
        return cls(p["api_url"], timeout=p["timeout"], retries=p["retries"], validate_certs=p["validate_certs"],
                   ca_path=p["ca_path"], api_key=p["api_key"])

    # -- transport ---------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> None:
        self.sleep(min(2 ** attempt, 30))

    def _open(self, method: str, url: str, data: t.Any = None, headers: dict[str, str] | None = None,
              api: bool = True) -> t.Any:
        """Open url with retries on connection errors; HTTP errors raise OllamaError at once."""
        hdrs = dict(headers or {})
        if api and self.api_key:
            hdrs["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            if hasattr(data, "seek"):
                data.seek(0)
            self.requests += 1
            try:
                return open_url(url, data=data, method=method, headers=hdrs, timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_path, follow_redirects="safe")
            except HTTPError as e:
                body = _read_error_body(e)
                raise OllamaError(f"{method} {url} answered HTTP {e.code}: {_error_text(body) or e.reason}",
                                  status=e.code, body=body,
                                  www_authenticate=e.headers.get("WWW-Authenticate") if e.headers else None)
            except _CONNECTION_ERRORS as e:
                if attempt >= self.retries:
                    reason = getattr(e, "reason", e)
                    raise OllamaError(f"cannot reach {url} after {attempt + 1} attempt(s): {reason}")
                self._backoff(attempt)
                attempt += 1

    def _json(self, method: str, path: str, payload: dict[str, t.Any] | None = None) -> t.Any:
        data = None if payload is None else json.dumps(payload)
        headers = {} if payload is None else {"Content-Type": "application/json"}
        resp = self._open(method, self.base_url + path, data=data, headers=headers)
        try:
            raw = resp.read()
        finally:
            resp.close()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise OllamaError(f"{method} {path}: the answer is not JSON: {raw[:200]!r}")

    def _stream(self, path: str, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        """POST and read a streamed answer line by line; return the last status line.

        An `{"error": ...}` line raises OllamaError with Ollama's message. A connection that breaks
        mid-stream is retried from the start (Ollama resumes partial downloads)."""
        attempt = 0
        while True:
            resp = self._open("POST", self.base_url + path, data=json.dumps(payload),
                              headers={"Content-Type": "application/json"})
            try:
                last: dict[str, t.Any] = {}
                for raw in resp:
                    line = raw.strip()
                    if not line:
                        continue
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        raise OllamaError(f"POST {path}: unexpected line in the stream: {line[:200]!r}")
                    if msg.get("error"):
                        raise OllamaError(str(msg["error"]), status=200, body=line.decode(errors="replace"))
                    last = msg
                if last.get("status") != "success":
                    raise OllamaError(f"POST {path}: the stream ended without success (last line: {last or 'none'})")
                return last
            except (socket.timeout, ConnectionError, HTTPException) as e:
                if attempt >= self.retries:
                    raise OllamaError(f"POST {path}: the connection broke during the stream: {e}")
                self._backoff(attempt)
                attempt += 1
            finally:
                resp.close()

    # -- Ollama API ----------------------------------------------------------------------------

    def version(self) -> str:
        return self._json("GET", "/api/version")["version"]

    def tags(self) -> dict[str, dict[str, t.Any]]:
        """Models on the server keyed by model_key(name) (one GET /api/tags)."""
        models = (self._json("GET", "/api/tags") or {}).get("models") or []
        return {model_key(m["name"]): m for m in models}

    def running(self) -> dict[str, dict[str, t.Any]]:
        """Models loaded in memory keyed by model_key(name) (GET /api/ps)."""
        models = (self._json("GET", "/api/ps") or {}).get("models") or []
        return {model_key(m["name"]): m for m in models}

    def show(self, name: str) -> dict[str, t.Any] | None:
        try:
            return self._json("POST", "/api/show", {"model": name})
        except OllamaError as e:
            if e.status == 404:
                return None
            raise

    def pull(self, name: str, insecure: bool = False) -> dict[str, t.Any]:
        return self._stream("/api/pull", {"model": name, "insecure": insecure, "stream": True})

    def blob_exists(self, digest: str) -> bool:
        try:
            self._open("HEAD", f"{self.base_url}/api/blobs/sha256:{digest}").close()
            return True
        except OllamaError as e:
            if e.status == 404:
                return False
            raise

    def push_blob(self, digest: str, path: str) -> None:
        with open(path, "rb") as f:
            headers = {"Content-Length": str(os.fstat(f.fileno()).st_size),
                       "Content-Type": "application/octet-stream"}
            self._open("POST", f"{self.base_url}/api/blobs/sha256:{digest}", data=f, headers=headers).close()

    def create(self, name: str, source: ModelSource, server_version: str) -> dict[str, t.Any]:
        """Upload the blobs the server lacks, then create the model from them."""
        for digest, path in source.blobs.items():
            if not self.blob_exists(digest):
                self.push_blob(digest, path)
        if version_tuple(server_version) >= JSON_CREATE_SINCE:
            payload = dict(source.create_request(), model=name, stream=True)
        else:
            payload = {"model": name, "modelfile": source.modelfile(), "stream": True}
        return self._stream("/api/create", payload)

    def copy(self, source: str, destination: str) -> None:
        self._json("POST", "/api/copy", {"source": source, "destination": destination})

    def delete(self, name: str) -> bool:
        """Delete a model; False when it was not there."""
        try:
            self._json("DELETE", "/api/delete", {"model": name})
            return True
        except OllamaError as e:
            if e.status == 404:
                return False
            raise

    def load(self, name: str, keep_alive: str | None = None) -> None:
        """Load a model into memory with a zero-token generate, so the first user request is fast."""
        payload: dict[str, t.Any] = {"model": name, "prompt": "", "stream": False}
        if keep_alive is not None:
            payload["keep_alive"] = keep_alive_value(keep_alive)
        self._json("POST", "/api/generate", payload)

    # -- registry ------------------------------------------------------------------------------

    def registry_digest(self, ref: ModelRef, insecure: bool = False) -> str:
        """sha256 hex of the model's manifest on its registry (what /api/tags reports as digest).

        Anonymous bearer tokens are fetched when the registry asks for one (WWW-Authenticate)."""
        url = ref.manifest_url(insecure)
        headers = {"Accept": MANIFEST_ACCEPT}
        try:
            resp = self._open("GET", url, headers=headers, api=False)
        except OllamaError as e:
            challenge = _bearer_challenge(e)
            if challenge is None:
                raise OllamaError(f"cannot read the manifest of {ref.short} from {url}: {e}", e.status, e.body)
            headers["Authorization"] = f"Bearer {self._registry_token(challenge)}"
            resp = self._open("GET", url, headers=headers, api=False)
        try:
            body = resp.read()
            header = resp.headers.get("Docker-Content-Digest") or ""
        finally:
            resp.close()
        if header.startswith("sha256:"):
            return header[len("sha256:"):]
        return hashlib.sha256(body).hexdigest()

    def _registry_token(self, challenge: dict[str, str]) -> str:
        query = "&".join(f"{k}={v}" for k, v in challenge.items() if k in ("service", "scope"))
        resp = self._open("GET", challenge["realm"] + ("?" + query if query else ""), api=False)
        try:
            data = json.loads(resp.read())
        finally:
            resp.close()
        return data.get("token") or data.get("access_token") or ""


def _bearer_challenge(e: OllamaError) -> dict[str, str] | None:
    header = e.www_authenticate
    if e.status != 401 or not header or not header.lower().startswith("bearer "):
        return None
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _read_error_body(e: HTTPError) -> str:
    try:
        return e.read().decode("utf-8", errors="replace")
    except Exception:  # the body may be gone already
        return ""


def _error_text(body: str) -> str:
    """Ollama's own message from an error body ({"error": "..."}), else the body itself."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.strip()[:500]
