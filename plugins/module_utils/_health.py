# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""Health checks for ailab.stack.health_gate.

Each check is a function ``check_<type>(spec, timeout) -> str`` that returns a short detail on
success and raises CheckFailed with a readable reason otherwise. They only read: HTTP GETs,
sign-ins, completions and read-only PostgreSQL transactions. ``run_gate`` retries the checks that
have not passed yet, with backoff, until all pass or the deadline. Nothing here calls fail_json.
"""
from __future__ import annotations

import json
import re
import socket
import ssl
import time
import typing as t
import urllib.error
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import open_url

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

try:
    import psycopg2
    HAS_PSYCOPG2 = True
except ImportError:
    HAS_PSYCOPG2 = False

MASK = "********"
# Header, query parameter and DSN keys whose values are secrets.
SENSITIVE_KEY = re.compile(r"(authorization|cookie|token|api[-_]?key|secret|passw(or)?d|session|credential)", re.I)


class CheckFailed(Exception):
    """A check did not pass; str(exc) is the reason shown in the report."""


# ---------------------------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------------------------
def mask_url(url: str) -> str:
    """The URL with the password of its userinfo and sensitive query values replaced by MASK."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SENSITIVE_KEY.search(pair[0]) for pair in pairs):
            query = urlencode([(k, MASK if SENSITIVE_KEY.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_dsn(dsn: str) -> str:
    """A libpq connection string (URI or key=value form) without its password."""
    if "://" in dsn:
        return mask_url(dsn)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1" + MASK, dsn, flags=re.I)


def mask_headers(headers: dict | None) -> dict:
    return {k: (MASK if SENSITIVE_KEY.search(str(k)) else v) for k, v in (headers or {}).items()}


def mask_text(text: str, secrets: t.Iterable[str]) -> str:
    """Replace every known secret (longest first) in text by MASK."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def url_secrets(url: str) -> list[str]:
    """The secret parts of a URL (userinfo password, sensitive query values), raw and quoted."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if parts.password:
        found.append(parts.password)
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if SENSITIVE_KEY.search(k) and v]
    return found + [quote(s, safe="") for s in found]


def dsn_secrets(dsn: str) -> list[str]:
    """The password(s) of a libpq connection string (URI or key=value form)."""
    if "://" in dsn:
        return url_secrets(dsn)
    found = []
    for value in re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn, flags=re.I):
        found.append(value)
        if value.startswith("'"):
            found.append(re.sub(r"\\(.)", r"\1", value[1:-1]))
    return found


# ---------------------------------------------------------------------------------------------
# HTTP helper
# ---------------------------------------------------------------------------------------------
class Response(t.NamedTuple):
    status: int
    headers: dict
    body: str

    def json(self, what: str) -> t.Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailed(f"{what} did not answer JSON: {snippet(self.body)}")


def snippet(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def http_request(url: str, timeout: float, method: str = "GET", headers: dict | None = None,
                 body: t.Any = None, validate_certs: bool = True, ca_path: str | None = None) -> Response:
    """One HTTP request; any HTTP status is returned, transport errors raise CheckFailed."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        else:
            data = str(body)
    where = f"{method} {mask_url(url)}"
    try:
        resp = open_url(url, data=data, headers=headers, method=method, timeout=timeout,
                        validate_certs=validate_certs, ca_path=ca_path or None, follow_redirects="safe",
                        force_basic_auth=True, use_netrc=False)
        return Response(resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:
        try:
            text = e.read().decode("utf-8", "replace")
        except Exception:
            text = ""
        return Response(e.code, dict(e.headers or {}), text)
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise CheckFailed(f"{where}: TLS certificate not trusted: {reason.verify_message}")
        raise CheckFailed(f"{where}: cannot connect: {reason}")
    except (socket.timeout, TimeoutError):
        raise CheckFailed(f"{where}: no answer within {timeout:g}s")
    except ssl.SSLCertVerificationError as e:
        raise CheckFailed(f"{where}: TLS certificate not trusted: {e.verify_message}")
    except (OSError, ValueError) as e:  # ssl.SSLError, ConnectionResetError, malformed URL...
        raise CheckFailed(f"{where}: {e}")


# json_query expressions that need no jmespath: dotted keys with optional [index], e.g. data.result[0].value
_SIMPLE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[-?\d+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[-?\d+\])*)*$")


def is_simple_query(expr: str) -> bool:
    return bool(_SIMPLE_PATH.match(expr))


def json_query(expr: str, data: t.Any) -> t.Any:
    """jmespath.search when jmespath is importable; otherwise the simple subset (same results)."""
    if HAS_JMESPATH:
        try:
            return jmespath.search(expr, data)
        except jmespath.exceptions.JMESPathError as e:
            raise CheckFailed(f"invalid json_query {expr!r}: {e}")
    if not is_simple_query(expr):
        raise CheckFailed(f"json_query {expr!r} needs the jmespath Python library (only a.b[0].c paths work without it)")
    for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[-?\d+\]", expr):
        if part.startswith("["):
            index = int(part[1:-1])
            data = data[index] if isinstance(data, list) and -len(data) <= index < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def _expect_status(resp: Response, want: t.Iterable[int], what: str) -> None:
    want = list(want)
    if resp.status not in want:
        raise CheckFailed(f"{what} returned HTTP {resp.status} (expected {', '.join(map(str, want))}): "
                          f"{snippet(resp.body)}")


# ---------------------------------------------------------------------------------------------
# checks: each returns a short detail or raises CheckFailed
# ---------------------------------------------------------------------------------------------
def check_http(spec: dict, timeout: float) -> str:
    url = spec["url"]
    what = f"{spec['method']} {mask_url(url)}"
    resp = http_request(url, timeout, spec["method"], spec.get("headers"), spec.get("body"),
                        spec["validate_certs"], spec.get("ca_path"))
    _expect_status(resp, spec["status_code"], what)
    if spec.get("body_contains") and spec["body_contains"] not in resp.body:
        raise CheckFailed(f"{what}: body does not contain {spec['body_contains']!r}: {snippet(resp.body)}")
    if spec.get("json_query"):
        found = json_query(spec["json_query"], resp.json(what))
        want = spec.get("json_expect")
        if want is None and not found:
            raise CheckFailed(f"{what}: json_query {spec['json_query']!r} gave {found!r} (expected a true value)")
        if want is not None and found != want:
            raise CheckFailed(f"{what}: json_query {spec['json_query']!r} gave {found!r}, expected {want!r}")
    return f"HTTP {resp.status}"


def _format_name(name: t.Any) -> str:
    """ssl.getpeercert() issuer/subject tuples -> 'CN=x, O=y'."""
    short = {"commonName": "CN", "organizationName": "O", "countryName": "C",
             "organizationalUnitName": "OU", "localityName": "L", "stateOrProvinceName": "ST"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in name or () for k, v in rdn)


def check_tls(spec: dict, timeout: float, now: float | None = None) -> str:
    host, port = spec["host"], spec["port"]
    server_name = spec.get("server_name") or host
    where = f"{host}:{port}"
    ctx = ssl.create_default_context(cafile=spec.get("ca_path") or None)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
                cert = tls.getpeercert()
    except ssl.SSLCertVerificationError as e:
        raise CheckFailed(f"{where}: certificate not valid for {server_name}: {e.verify_message}")
    except (socket.timeout, TimeoutError):
        raise CheckFailed(f"{where}: no TLS handshake within {timeout:g}s")
    except OSError as e:
        raise CheckFailed(f"{where}: {e}")
    issuer = _format_name(cert.get("issuer"))
    if spec.get("issuer") and spec["issuer"] not in issuer:
        raise CheckFailed(f"{where}: certificate issued by {issuer!r}, expected issuer containing {spec['issuer']!r}")
    not_after = cert["notAfter"]
    days = (ssl.cert_time_to_seconds(not_after) - (time.time() if now is None else now)) / 86400
    if days < spec["min_days"]:
        raise CheckFailed(f"{where}: certificate expires in {days:.1f} days ({not_after}), "
                          f"less than min_days {spec['min_days']}")
    return f"valid for {server_name}, {int(days)} days left, issuer {issuer}"


def check_tcp(spec: dict, timeout: float) -> str:
    where = f"{spec['host']}:{spec['port']}"
    try:
        socket.create_connection((spec["host"], spec["port"]), timeout=timeout).close()
    except (socket.timeout, TimeoutError):
        raise CheckFailed(f"{where}: no connection within {timeout:g}s")
    except OSError as e:
        raise CheckFailed(f"cannot connect to {where}: {e.strerror or e}")
    return f"{where} accepts connections"


def check_postgres(spec: dict, timeout: float) -> str:
    if spec.get("dsn"):
        args: dict = {"dsn": spec["dsn"]}
        where = mask_dsn(spec["dsn"])
    else:
        args = {k: spec[k] for k in ("host", "port", "user", "password", "dbname") if spec.get(k) not in (None, "")}
        where = f"{spec.get('user') or ''}@{spec.get('host') or 'local socket'}:{spec.get('port')}/{spec.get('dbname') or ''}"
    if spec.get("sslmode"):
        args["sslmode"] = spec["sslmode"]
    try:
        conn = psycopg2.connect(connect_timeout=max(1, int(timeout)), application_name="ailab.stack.health_gate", **args)
    except psycopg2.Error as e:
        raise CheckFailed(f"cannot connect to PostgreSQL {where}: {snippet(str(e), 300)}")
    try:
        # The gate only reads: every query runs in a read-only transaction.
        conn.set_session(readonly=True, autocommit=False)
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (int(timeout * 1000),))
            cur.execute(spec["query"])
            row = cur.fetchone() if cur.description else None
    except psycopg2.Error as e:
        raise CheckFailed(f"query {spec['query']!r} on {where} failed: {snippet(str(e), 300)}")
    finally:
        conn.close()
    value = None if row is None else row[0]
    if spec.get("expect") is not None and str(value) != spec["expect"]:
        raise CheckFailed(f"query {spec['query']!r} on {where} returned {value!r}, expected {spec['expect']!r}")
    return f"query returned {value!r}"


def _model_ref(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def _ollama_models(base: str, path: str, spec: dict, timeout: float) -> list[str]:
    resp = http_request(base + path, timeout, headers=spec.get("headers"), validate_certs=spec["validate_certs"],
                        ca_path=spec.get("ca_path"))
    what = f"GET {mask_url(base)}{path}"
    _expect_status(resp, [200], what)
    data = resp.json(what)
    if isinstance(data, dict) and data.get("error"):
        raise CheckFailed(f"{what}: {data['error']}")
    return [m.get("name") or m.get("model") for m in (data or {}).get("models") or []]


def check_ollama(spec: dict, timeout: float) -> str:
    base = spec["url"].rstrip("/")
    model = spec.get("model")
    if not model:
        resp = http_request(base + "/api/version", timeout, headers=spec.get("headers"),
                            validate_certs=spec["validate_certs"], ca_path=spec.get("ca_path"))
        _expect_status(resp, [200], f"GET {mask_url(base)}/api/version")
        return f"Ollama {resp.json('Ollama').get('version', '?')} answers"
    ref = _model_ref(model)
    present = _ollama_models(base, "/api/tags", spec, timeout)
    if ref not in present:
        raise CheckFailed(f"model {ref} not present on {mask_url(base)} (have: {', '.join(present) or 'none'})")
    detail = f"{ref} present"
    if spec["loaded"]:
        loaded = _ollama_models(base, "/api/ps", spec, timeout)
        if ref not in loaded:
            raise CheckFailed(f"model {ref} not loaded on {mask_url(base)} (loaded: {', '.join(loaded) or 'none'})")
        detail += ", loaded"
    if spec.get("prompt"):
        what = f"POST {mask_url(base)}/api/generate ({ref})"
        payload = {"model": ref, "prompt": spec["prompt"], "stream": False,
                   "options": {"num_predict": spec["num_predict"]}}
        resp = http_request(base + "/api/generate", timeout, "POST", spec.get("headers"), payload,
                            spec["validate_certs"], spec.get("ca_path"))
        data = resp.json(what) if resp.body.strip() else {}
        if isinstance(data, dict) and data.get("error"):
            raise CheckFailed(f"{what}: {data['error']}")
        _expect_status(resp, [200], what)
        if not data.get("done") or not data.get("response"):
            raise CheckFailed(f"{what}: no completion in the answer: {snippet(resp.body)}")
        detail += f", answered {snippet(data['response'], 40)!r}"
    return detail


def check_openwebui(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    base = spec["url"].rstrip("/")
    tls = {"validate_certs": spec["validate_certs"], "ca_path": spec.get("ca_path")}
    paths = ["/health", "/health/db"] if spec["check_db"] else ["/health"]
    for path in paths:
        what = f"GET {mask_url(base)}{path}"
        resp = http_request(base + path, timeout, **tls)
        _expect_status(resp, [200], what)
        if resp.json(what).get("status") is not True:
            raise CheckFailed(f"{what}: status is not true: {snippet(resp.body)}")
    detail = "healthy" + (", database ok" if spec["check_db"] else "")
    if not spec.get("email"):
        return detail
    what = f"sign-in as {spec['email']} at {mask_url(base)}"
    resp = http_request(base + "/api/v1/auths/signin", timeout, "POST",
                        body={"email": spec["email"], "password": spec["password"]}, **tls)
    if resp.status != 200:
        try:
            reason = json.loads(resp.body).get("detail") or resp.body
        except (ValueError, AttributeError):
            reason = resp.body
        raise CheckFailed(f"{what} failed: HTTP {resp.status}: {snippet(str(reason))}")
    token = resp.json(what).get("token")
    if not token:
        raise CheckFailed(f"{what}: no token in the answer")
    if secrets is not None:
        secrets.append(token)
    detail += f", signed in as {spec['email']}"
    if spec.get("model"):
        what = f"chat completion with {spec['model']} through {mask_url(base)}"
        # Open WebUI lists Ollama models by their full reference (tiny -> tiny:latest)
        # max_tokens bounds the answer: a small model may otherwise ramble for minutes on a CPU
        payload = {"model": _model_ref(spec["model"]), "stream": False, "max_tokens": 16,
                   "messages": [{"role": "user", "content": spec["prompt"]}]}
        resp = http_request(base + "/api/chat/completions", timeout, "POST",
                            {"Authorization": f"Bearer {token}"}, payload, **tls)
        _expect_status(resp, [200], what)
        data = resp.json(what)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise CheckFailed(f"{what}: no choices[0].message.content in the answer: {snippet(resp.body)}")
        if not content:
            raise CheckFailed(f"{what}: empty answer")
        detail += f", {spec['model']} answered {snippet(content, 40)!r}"
    return detail


def check_prometheus(spec: dict, timeout: float) -> str:
    base = spec["url"].rstrip("/")
    tls = {"headers": spec.get("headers"), "validate_certs": spec["validate_certs"], "ca_path": spec.get("ca_path")}
    details = []
    if not spec.get("query") and not spec.get("job"):
        resp = http_request(base + "/-/ready", timeout, **tls)
        _expect_status(resp, [200], f"GET {mask_url(base)}/-/ready")
        details.append("ready")
    if spec.get("query"):
        what = f"query {spec['query']!r} on {mask_url(base)}"
        resp = http_request(base + "/api/v1/query?" + urlencode({"query": spec["query"]}), timeout, **tls)
        data = resp.json(what)
        if data.get("status") != "success":
            raise CheckFailed(f"{what} failed: {data.get('errorType', '')} {data.get('error', snippet(resp.body))}".strip())
        result = (data.get("data") or {}).get("result")
        if not result:
            raise CheckFailed(f"{what} returned no series")
        details.append(f"query returned {len(result) if isinstance(result, list) else 1} series")
    if spec.get("job"):
        what = f"targets of job {spec['job']!r} on {mask_url(base)}"
        resp = http_request(base + "/api/v1/targets?state=active", timeout, **tls)
        _expect_status(resp, [200], what)
        targets = [x for x in (resp.json(what).get("data") or {}).get("activeTargets") or []
                   if (x.get("labels") or {}).get("job") == spec["job"]]
        if not targets:
            raise CheckFailed(f"{what}: no active target")
        down = [x for x in targets if x.get("health") != "up"]
        if down:
            raise CheckFailed(f"{what}: {len(down)} of {len(targets)} down: " + "; ".join(
                f"{mask_url(x.get('scrapeUrl', '?'))} is {x.get('health')}: {x.get('lastError') or 'not scraped yet'}"
                for x in down))
        details.append(f"{len(targets)} target(s) of job {spec['job']} up")
    return ", ".join(details)


def rollout_status(kind: str, obj: dict) -> tuple[bool, str]:
    """(done, message) for a Deployment/StatefulSet/DaemonSet as a dict (camelCase API fields).

    Follows `kubectl rollout status` (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go).
    """
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    name = f"{kind} {meta.get('namespace', '')}/{meta.get('name', '')}"
    if (meta.get("generation") or 0) > (status.get("observedGeneration") or 0):
        return False, f"{name}: waiting for the controller to observe generation {meta.get('generation')}"
    if kind == "Deployment":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return False, f"{name}: exceeded its progress deadline: {cond.get('message', '')}"
        want = spec.get("replicas", 1)
        updated, total = status.get("updatedReplicas") or 0, status.get("replicas") or 0
        available = status.get("availableReplicas") or 0
        if updated < want:
            return False, f"{name}: {updated} of {want} replicas updated"
        if total > updated:
            return False, f"{name}: {total - updated} old replicas pending termination"
        if available < updated:
            return False, f"{name}: {available} of {updated} updated replicas available"
        return True, f"{name}: {available} of {want} replicas available"
    if kind == "StatefulSet":
        want = spec.get("replicas", 1)
        ready = status.get("readyReplicas") or 0
        if ready < want:
            return False, f"{name}: {ready} of {want} replicas ready"
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
            if partition:
                if (status.get("updatedReplicas") or 0) < want - partition:
                    return False, f"{name}: {status.get('updatedReplicas') or 0} of {want - partition} replicas updated"
            elif status.get("updateRevision") != status.get("currentRevision"):
                return False, f"{name}: rolling update to revision {status.get('updateRevision')} in progress"
        return True, f"{name}: {ready} of {want} replicas ready"
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled") or 0
        updated, available = status.get("updatedNumberScheduled") or 0, status.get("numberAvailable") or 0
        if updated < want:
            return False, f"{name}: {updated} of {want} pods updated"
        if available < want:
            return False, f"{name}: {available} of {want} pods available"
        return True, f"{name}: {available} of {want} pods available"
    raise CheckFailed(f"unsupported kind {kind!r} (allowed: Deployment, StatefulSet, DaemonSet)")


def check_k8s_rollout(spec: dict, timeout: float) -> str:
    from kubernetes import client, config  # only when a k8s_rollout check runs
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    try:
        if spec.get("kubeconfig") or spec.get("context"):
            api_client = config.new_client_from_config(config_file=spec.get("kubeconfig") or None,
                                                       context=spec.get("context") or None)
        else:
            try:
                config.load_incluster_config()
                api_client = client.ApiClient()
            except ConfigException:
                api_client = config.new_client_from_config()
    except (ConfigException, OSError) as e:
        raise CheckFailed(f"cannot load kubeconfig {spec.get('kubeconfig') or '(default)'}: {e}")
    apps = client.AppsV1Api(api_client)
    kind, name, ns = spec["kind"], spec["name"], spec["namespace"]
    read = {"Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
            "DaemonSet": apps.read_namespaced_daemon_set}[kind]
    try:
        obj = read(name, ns, _request_timeout=timeout)
    except ApiException as e:
        raise CheckFailed(f"{kind} {ns}/{name}: HTTP {e.status} {e.reason}")
    except Exception as e:  # urllib3 connection errors
        raise CheckFailed(f"{kind} {ns}/{name}: cannot reach the API server: {snippet(str(e))}")
    finally:
        api_client.close()
    done, message = rollout_status(kind, api_client.sanitize_for_serialization(obj))
    if not done:
        raise CheckFailed(message)
    return message


CHECKS: dict[str, t.Callable[..., str]] = {
    "http": check_http, "tls": check_tls, "tcp": check_tcp, "postgres": check_postgres,
    "ollama": check_ollama, "openwebui": check_openwebui, "prometheus": check_prometheus,
    "k8s_rollout": check_k8s_rollout,
}


# ---------------------------------------------------------------------------------------------
# runner and report
# ---------------------------------------------------------------------------------------------
class Check:
    """One named check and what happened to it."""

    def __init__(self, name: str, check_type: str, spec: dict) -> None:
        self.name, self.type, self.spec = name, check_type, spec
        self.ok = False
        self.attempts = 0
        self.seconds = 0.0
        self.last_error = ""
        self.detail = ""

    def report(self) -> dict:
        return {"name": self.name, "type": self.type, "ok": self.ok, "attempts": self.attempts,
                "seconds": round(self.seconds, 1), "last_error": self.last_error, "detail": self.detail}


def run_gate(checks: list[Check], deadline: float, interval: float = 2.0, backoff: float = 1.5,
             max_interval: float = 30.0, secrets: list[str] | None = None,
             clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> bool:
    """Try every pending check once per round until all passed or `deadline` seconds went by.

    A check that passed is not tried again. Each attempt gets its own timeout, cut to the time
    left (at least 1 s). Errors are masked with `secrets` (which checks may extend, e.g. tokens).
    """
    secrets = secrets if secrets is not None else []
    start = clock()
    end = start + deadline
    delay = interval
    while True:
        for check in [c for c in checks if not c.ok]:
            timeout = max(1.0, min(float(check.spec.get("timeout") or 10), end - clock()))
            check.attempts += 1
            try:
                func = CHECKS[check.type]
                if check.type == "openwebui":
                    detail = func(check.spec, timeout, secrets=secrets)
                else:
                    detail = func(check.spec, timeout)
                check.ok, check.last_error, check.detail = True, "", mask_text(detail, secrets)
            except CheckFailed as e:
                check.last_error = mask_text(str(e), secrets)
            except Exception as e:  # a bug or an unexpected library error must not hide the other checks
                check.last_error = mask_text(f"{type(e).__name__}: {e}", secrets)
            check.seconds = clock() - start
        if all(c.ok for c in checks):
            return True
        left = end - clock()
        if left <= 0:
            return False
        sleep(min(delay, left))
        delay = min(delay * backoff, max_interval)


def format_table(checks: list[Check], width: int = 100) -> str:
    """A plain-text table: NAME TYPE RESULT ATTEMPTS SECONDS LAST ERROR (or detail when passed)."""
    rows = [("NAME", "TYPE", "RESULT", "TRIES", "SECONDS", "LAST ERROR / DETAIL")]
    for c in checks:
        rows.append((c.name, c.type, "ok" if c.ok else "FAILED", str(c.attempts), f"{c.seconds:.1f}",
                     c.detail if c.ok else c.last_error))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        head = "  ".join(r[i].ljust(widths[i]) if i != 3 and i != 4 else r[i].rjust(widths[i]) for i in range(5))
        lines.append(f"{head}  {r[5]}".rstrip())
    rule = "-" * min(width, max(len(x) for x in lines))
    return "\n".join([lines[0], rule] + lines[1:])
