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

import ast
import hashlib
import json
import os
import re
import socket
import struct
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


_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_ADAPTER_BLOB = re.compile(r"^ADAPTER\s.*?sha256[-:]([0-9a-f]{64})\"?\s*$", re.MULTILINE)


def comparable_text(text: str) -> str:
    """Text as Ollama keeps it: the Modelfile parser of Ollama < 0.5.5 drops every character Go does
    not call printable (control and format characters, spaces other than ASCII) except tab and newlines."""
    return "".join(c for c in text if c.isprintable() or c in "\t\n\r")


def parameter_value(value: t.Any) -> t.Any:
    """One PARAMETER value in the form both sides of a comparison share.

    Text is read the way Ollama reads a Modelfile (true/false, decimal numbers); whole numbers
    compare as int and other numbers as the float32 Ollama keeps (0.95 stays 0.95, 1.0 is 1)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if not _NUMBER.match(text):
            return comparable_text(value)
        value = float(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int) or value.is_integer():
        return int(value)
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return value
    # The shortest decimal that is the same float32, as Go prints it.
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == single:
            return short
    return value


def parameters_from_show(text: str | None) -> dict[str, list[t.Any]]:
    """The `parameters` text of /api/show (one `name<spaces>value` line per value, strings
    Go-quoted, e.g. `stop                           "<end_of_turn>"`) as name -> list of values."""
    out: dict[str, list[t.Any]] = {}
    for line in (text or "").splitlines():
        name, dummy, raw = line.strip().partition(" ")
        if not name:
            continue
        raw = raw.strip()
        if raw.startswith('"'):
            try:
                raw = str(ast.literal_eval(raw))  # Go's %#v quoting: \n, \t, \", \u00e9 ... are Python escapes too
            except (ValueError, SyntaxError):
                pass
        out.setdefault(name, []).append(parameter_value(raw))
    return out


def _as_list(value: t.Any) -> list[t.Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _modelfile_quote(command: str, value: str) -> str:
    """An argument for the Modelfile parser of Ollama < 0.5.5, which knows no escapes.

    In double quotes, or in triple quotes when the text has a quote (as `ollama show` writes it);
    text with three quotes in a row cannot be written at all."""
    if '"""' in value:
        raise OllamaError(f'{command}: text with """ cannot be sent to Ollama before 0.5.5 (it takes a Modelfile)')
    return f'"""{value}"""' if '"' in value else f'"{value}"'


class ModelConfig:
    """The first-class fields of a model created from a GGUF file: template, system, parameters,
    license and adapters (local GGUF LoRA files). Fields left out (None) are not managed.

    They become Modelfile lines (Ollama < 0.5.5) or JSON fields of /api/create, and are compared
    with what /api/show reports for the existing model."""

    FIELDS = ("template", "system", "parameters", "license", "adapters")

    def __init__(self, template: str | None = None, system: str | None = None,
                 parameters: dict[str, t.Any] | None = None, license: str | None = None,
                 adapters: list[str] | None = None) -> None:
        self.template, self.system, self.license = template, system, license
        self.adapters = None if adapters is None else list(adapters)
        self.parameters: dict[str, list[t.Any]] | None = None
        if parameters is not None:
            self.parameters = {}
            for name, value in parameters.items():
                if not _PARAMETER_NAME.match(str(name)):
                    raise ValueError(f"parameters: '{name}' is not a parameter name (letters, digits, _)")
                values = _as_list(value)
                if not values or any(isinstance(v, (dict, list, tuple)) or v is None for v in values):
                    raise ValueError(f"parameters.{name}: give a value or a list of values, not {value!r}")
                self.parameters[str(name)] = values
        for path in self.adapters or []:
            if not os.path.isfile(path):
                raise ValueError(f"adapters: {path} is not a file on the host the module runs on")
        self._digests: list[str] | None = None

    @classmethod
    def from_source(cls, source: dict[str, t.Any]) -> ModelConfig | None:
        """The fields of a `source` option, or None when it sets none of them."""
        if all(source.get(f) is None for f in cls.FIELDS):
            return None
        return cls(**{f: source.get(f) for f in cls.FIELDS})

    @property
    def managed(self) -> list[str]:
        return [f for f in self.FIELDS if getattr(self, f) is not None]

    @property
    def adapter_digests(self) -> list[str]:
        if self._digests is None:
            self._digests = [file_sha256(p) for p in self.adapters or []]
        return self._digests

    def wanted(self) -> dict[str, t.Any]:
        """The managed fields as the model should have them, in the form current() reads them
        (adapters by sha256, parameters as name -> list of values)."""
        out = {f: comparable_text(getattr(self, f)) for f in ("template", "system", "license") if f in self.managed}
        if self.parameters is not None:
            out["parameters"] = {name: [parameter_value(v) for v in values] for name, values in self.parameters.items()}
        if self.adapters is not None:
            out["adapters"] = list(self.adapter_digests)
        return out

    def current(self, shown: dict[str, t.Any]) -> dict[str, t.Any]:
        """The managed fields as /api/show reports them (parameters: only the names managed here)."""
        out: dict[str, t.Any] = {}
        for field in self.managed:
            if field == "parameters":
                have = parameters_from_show(shown.get("parameters"))
                out[field] = {name: have.get(name, []) for name in self.parameters or {}}
            elif field == "adapters":
                out[field] = _ADAPTER_BLOB.findall(shown.get("modelfile") or "")
            else:
                out[field] = comparable_text(shown.get(field) or "")
        return out

    def changes(self, shown: dict[str, t.Any]) -> list[str]:
        """Names of the managed fields that differ from the model /api/show describes."""
        wanted, current = self.wanted(), self.current(shown)
        return [f for f in self.managed if wanted[f] != current[f]]

    def blobs(self) -> dict[str, str]:
        return dict(zip(self.adapter_digests, self.adapters or []))

    def modelfile_lines(self) -> list[str]:
        lines = [f"ADAPTER @sha256:{d}" for d in self.adapter_digests]
        for command in ("template", "system"):
            if getattr(self, command) is not None:
                lines.append(f"{command.upper()} {_modelfile_quote(command.upper(), getattr(self, command))}")
        for name, values in (self.parameters or {}).items():
            for value in values:
                if isinstance(value, bool):
                    text = "true" if value else "false"
                elif isinstance(value, (int, float)):
                    text = str(value)
                else:
                    text = _modelfile_quote(f"PARAMETER {name}", value)
                lines.append(f"PARAMETER {name} {text}")
        if self.license is not None:
            lines.append(f"LICENSE {_modelfile_quote('LICENSE', self.license)}")
        return lines

    def create_fields(self) -> dict[str, t.Any]:
        """The JSON fields of /api/create (Ollama >= 0.5.5)."""
        req: dict[str, t.Any] = {f: getattr(self, f) for f in ("template", "system", "license")
                                 if getattr(self, f) is not None}
        params = {}
        for name, values in (self.parameters or {}).items():
            values = [str(v) if name == "stop" else parameter_value(v) for v in values]
            params[name] = values if len(values) > 1 or name == "stop" else values[0]
        if params:
            req["parameters"] = params
        if self.adapters:
            req["adapters"] = {os.path.basename(p): f"sha256:{d}" for p, d in zip(self.adapters, self.adapter_digests)}
        return req


class ModelSource:
    """What /api/create needs for a local GGUF file or Modelfile: the text and the blobs to upload.

    `blobs` maps sha256 hex -> local path; `weights` is the digest of the FROM file (None when the
    Modelfile builds FROM another model). `config` (a GGUF file only) adds template, system,
    parameters, license and adapters."""

    def __init__(self, path: str, config: ModelConfig | None = None) -> None:
        self.path = path
        self.config = config
        self.blobs: dict[str, str] = {}
        self.weights: str | None = None
        if is_gguf(path):
            self.weights = file_sha256(path)
            self.blobs[self.weights] = path
            self.lines = [("FROM", f"@sha256:{self.weights}")]
            if config is not None:
                self.blobs.update(config.blobs())
            return
        if config is not None:
            raise OllamaError(f"{path} is a Modelfile: {', '.join(config.managed)} are for a GGUF file "
                              "(write TEMPLATE, SYSTEM, PARAMETER, LICENSE or ADAPTER lines in the Modelfile)")
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
        text = "".join(f"{c} {a}\n" if "\n" not in a else f'{c} """{a}"""\n' for c, a in self.lines)
        return text + "".join(f"{line}\n" for line in (self.config.modelfile_lines() if self.config else []))

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
        if self.config is not None:
            req.update(self.config.create_fields())
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
