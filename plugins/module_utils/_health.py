# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""What the checks of ailab.stack.health_gate share, and the runner.

Each check type has its own file, ``_health_<type>.py`` (http, tls, tcp, postgres, ollama,
openwebui, prometheus, k8s), with a function ``check_<type>(spec, timeout) -> str`` that returns a
short detail on success and raises CheckFailed with a readable reason otherwise, registered with
``@register("<type>")`` in CHECKS. The checks only read: HTTP GETs, sign-ins, completions and
read-only PostgreSQL transactions. Here: CheckFailed, masking of secrets, the HTTP transport
(``Endpoint``: a check's url, or its Service through the Kubernetes API server), json_query, the
registry, ``run_gate`` (retries the checks that have not passed yet, with backoff, until all pass
or the deadline) and ``format_table``. Nothing here calls fail_json.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import time
import typing as t
import urllib.error
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.urls import open_url

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

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


class Endpoint:
    """Where the HTTP requests of a check go, and how: a base URL, headers sent with every request
    (basic auth from the URL's userinfo, the check's headers, an API server's credentials), the
    TLS options (CA, client certificate) and whether redirects are followed.

    endpoint(spec) builds it from the check's url, or, with the check's `service` option, through
    the Kubernetes API server's service proxy (_health_k8s.service_endpoint). The checks append
    their paths to the base, so what they request and expect is the same either way.
    """

    def __init__(self, base: str, headers: dict | None = None, validate_certs: bool = True,
                 ca_path: str | None = None, client_cert: str | None = None, client_key: str | None = None,
                 via_api_server: bool = False) -> None:
        self.base = base
        self.validate_certs, self.ca_path = validate_certs, ca_path or None
        self.client_cert, self.client_key = client_cert or None, client_key or None
        # The API server takes its own Authorization header and forwards no redirect: its
        # credentials must not follow a redirect to another host either.
        self.via_api_server = via_api_server
        self.headers: dict = {}
        self._open_base = base
        try:
            parts = urlsplit(base)
        except ValueError:  # reported by the request as a malformed URL
            parts = None
        if parts is not None and parts.username is not None:  # sent up front, not after a 401 challenge
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
            self._open_base = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
        self.headers.update(headers or {})

    def url(self, path: str = "") -> str:
        """The URL to request: the base, and a path (starting with /) appended to it."""
        return self._open_base.rstrip("/") + path if path else self._open_base

    @property
    def shown(self) -> str:
        """The base URL as reports show it (masked, without a trailing /)."""
        return mask_url(self.base.rstrip("/"))

    def where(self, path: str = "", method: str = "GET") -> str:
        """"METHOD masked-url", as failures name a request."""
        return f"{method} {mask_url(self.base.rstrip('/') + path if path else self.base)}"

    def open(self, method: str, path: str, data: t.Any = None, headers: dict | None = None,
             timeout: float = 10) -> t.Any:
        """The raw answer of one request (HTTP errors raise urllib.error.HTTPError, transport errors
        OSError or ValueError)."""
        return open_url(self.url(path), data=data, headers={**self.headers, **(headers or {})}, method=method,
                        timeout=timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                        client_cert=self.client_cert, client_key=self.client_key,
                        follow_redirects="none" if self.via_api_server else "safe", use_netrc=False)

    def request(self, path: str, timeout: float, method: str = "GET", headers: dict | None = None,
                body: t.Any = None) -> Response:
        """One HTTP request; any HTTP status is returned, transport errors raise CheckFailed."""
        data = None
        headers = dict(headers or {})
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body)
                headers.setdefault("Content-Type", "application/json")
            else:
                data = str(body)
        try:
            resp = self.open(method, path, data, headers, timeout)
            return Response(resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers or {}), read_error_body(e))
        except (OSError, ValueError) as e:  # URLError, timeouts, ssl.SSLError, ConnectionResetError, malformed URL...
            raise transport_failure(self.where(path, method), e, timeout)


def read_error_body(error: urllib.error.HTTPError) -> str:
    try:
        return error.read().decode("utf-8", "replace")
    except Exception:
        return ""


def endpoint(spec: dict, secrets: list[str] | None = None) -> Endpoint:
    """The Endpoint of an HTTP check: its `service` through the Kubernetes API server (whose
    credentials are added to `secrets`), or else its `url`."""
    if spec.get("service"):
        # imported here: _health_k8s imports this module
        from ansible_collections.ailab.stack.plugins.module_utils._health_k8s import service_endpoint
        return service_endpoint(spec["service"], spec.get("headers"), secrets)
    return Endpoint(spec["url"], spec.get("headers"), spec.get("validate_certs", True), spec.get("ca_path"))


def http_request(url: str, timeout: float, method: str = "GET", headers: dict | None = None,
                 body: t.Any = None, validate_certs: bool = True, ca_path: str | None = None) -> Response:
    """One HTTP request to `url` (see Endpoint.request)."""
    return Endpoint(url, headers, validate_certs, ca_path).request("", timeout, method, body=body)


def transport_failure(where: str, error: BaseException, timeout: float) -> CheckFailed:
    """Why a request got no HTTP answer; `where` is "METHOD masked-url" (also used by _health_ollama)."""
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return CheckFailed(f"{where}: TLS certificate not trusted: {reason.verify_message}")
        return CheckFailed(f"{where}: cannot connect: {reason}")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return CheckFailed(f"{where}: no answer within {timeout:g}s")
    if isinstance(error, ssl.SSLCertVerificationError):
        return CheckFailed(f"{where}: TLS certificate not trusted: {error.verify_message}")
    return CheckFailed(f"{where}: {error}")


def expect_status(resp: Response, want: t.Iterable[int], what: str) -> None:
    want = list(want)
    if resp.status not in want:
        raise CheckFailed(f"{what} returned HTTP {resp.status} (expected {', '.join(map(str, want))}): "
                          f"{snippet(resp.body)}")


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


# ---------------------------------------------------------------------------------------------
# registry: check type -> check function (each _health_<type>.py registers its own)
# ---------------------------------------------------------------------------------------------
CheckFunction = t.Callable[..., str]
CHECKS: dict[str, CheckFunction] = {}
# Check types whose function also takes secrets=: a list it adds what it learns to (session tokens).
LEARNS_SECRETS: set[str] = set()


def register(check_type: str, learns_secrets: bool = False) -> t.Callable[[CheckFunction], CheckFunction]:
    """Decorator: ``@register("tcp")`` makes run_gate call the function for checks of type tcp."""
    def add(func: CheckFunction) -> CheckFunction:
        CHECKS[check_type] = func
        if learns_secrets:
            LEARNS_SECRETS.add(check_type)
        return func
    return add


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
        self.full_error = ""   # the error of the last attempt that had its whole timeout
        self.detail = ""

    def report(self) -> dict:
        return {"name": self.name, "type": self.type, "ok": self.ok, "attempts": self.attempts,
                "seconds": round(self.seconds, 1), "last_error": self.last_error, "detail": self.detail}


def run_gate(checks: list[Check], deadline: float, interval: float = 2.0, backoff: float = 1.5,
             max_interval: float = 30.0, secrets: list[str] | None = None,
             clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> bool:
    """Try every pending check once per round until all passed or `deadline` seconds went by.

    A check that passed is not tried again. Each attempt gets its own timeout, cut to the time
    left (at least 1 s); when such a cut attempt fails, the report keeps the last full attempt's
    error first (the cut one may have failed for lack of time alone). Errors are masked with `secrets` (which checks may extend, e.g. tokens).
    """
    secrets = secrets if secrets is not None else []
    start = clock()
    end = start + deadline
    delay = interval
    while True:
        for check in [c for c in checks if not c.ok]:
            own_timeout = float(check.spec.get("timeout") or 10)
            timeout = max(1.0, min(own_timeout, end - clock()))
            check.attempts += 1
            try:
                func = CHECKS.get(check.type)
                if func is None:
                    raise CheckFailed(f"unknown check type {check.type!r} (is its _health_* module imported?)")
                if check.type in LEARNS_SECRETS:
                    detail = func(check.spec, timeout, secrets=secrets)
                else:
                    detail = func(check.spec, timeout)
                check.ok, check.last_error, check.detail = True, "", mask_text(detail, secrets)
            except CheckFailed as e:
                check.last_error = mask_text(str(e), secrets)
            except Exception as e:  # a bug or an unexpected library error must not hide the other checks
                check.last_error = mask_text(f"{type(e).__name__}: {e}", secrets)
            if check.ok or timeout >= own_timeout:
                check.full_error = check.last_error
            elif check.full_error:
                # An attempt the deadline cut short may have failed for that alone: the report leads
                # with what the last full attempt said.
                check.last_error = (f"{check.full_error} (the final attempt, cut to {timeout:g}s by the "
                                    f"deadline: {check.last_error})")
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
