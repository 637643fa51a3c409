# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""A small client of Open WebUI's HTTP API (0.12): sign-in, the models it lists, a model's tool
support as Ollama reports it (through Open WebUI's /ollama/api/show, so Open WebUI's own Ollama
connection is used), and its per-model records (Admin Settings > Models). Raises OpenWebUIError;
never calls fail_json."""
from __future__ import annotations

import json
import re
import typing as t
import urllib.error
from urllib.parse import quote

from ansible.module_utils.urls import open_url

# Ollama 0.6+ lists what a model can do in /api/show `capabilities`; older servers (0.5.4, the
# pinned one) decide tool support from the template: a template that uses .Tools supports tools
# (server/images.go CheckCapabilities: "tools" in Template.Vars()).
TEMPLATE_TOOLS = re.compile(r"\.Tools\b")


class OpenWebUIError(Exception):
    def __init__(self, msg: str, status: int | None = None, body: str | None = None) -> None:
        super().__init__(msg)
        self.status, self.body = status, body


def supports_tools(show: dict[str, t.Any]) -> bool:
    """Whether Ollama accepts tools for a model, from its /api/show answer."""
    capabilities = show.get("capabilities")
    if isinstance(capabilities, list):
        return "tools" in capabilities
    return bool(TEMPLATE_TOOLS.search(show.get("template") or ""))


def builtin_tools_of(record: dict[str, t.Any] | None) -> bool | None:
    """The model record's own capabilities.builtin_tools (None: not set, the default applies)."""
    value = (((record or {}).get("meta") or {}).get("capabilities") or {}).get("builtin_tools")
    return None if value is None else bool(value)


def record_with_builtin_tools(model_id: str, name: str, record: dict[str, t.Any] | None, value: bool) -> dict[str, t.Any]:
    """The ModelForm that sets capabilities.builtin_tools on a model and keeps the rest of its record
    (a new record for a base model: same id, no base model, like Admin Settings > Models > Save)."""
    record = record or {}
    meta = dict(record.get("meta") or {})
    meta["capabilities"] = {**(meta.get("capabilities") or {}), "builtin_tools": value}
    form = {"id": model_id, "base_model_id": record.get("base_model_id"), "name": record.get("name") or name,
            "meta": meta, "params": record.get("params") or {}, "is_active": record.get("is_active", True)}
    if record.get("access_grants") is not None:
        form["access_grants"] = record["access_grants"]
    return form


class OpenWebUIClient:
    def __init__(self, url: str, timeout: float = 30, validate_certs: bool = True, ca_path: str | None = None) -> None:
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self.validate_certs, self.ca_path = validate_certs, ca_path
        self.token: str | None = None

    def _request(self, method: str, path: str, data: t.Any = None, query: str = "") -> t.Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base_url + path + (f"?{query}" if query else "")
        try:
            resp = open_url(url, data=None if data is None else json.dumps(data), headers=headers, method=method,
                            timeout=self.timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                            use_netrc=False)
            body = resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            try:
                body = e.read().decode("utf-8", "replace")
            except Exception:
                body = ""
            try:
                reason = json.loads(body).get("detail") or body
            except (ValueError, AttributeError):
                reason = body
            raise OpenWebUIError(f"{method} {path}: HTTP {e.code}: {reason}", e.code, body)
        except (OSError, ValueError) as e:
            raise OpenWebUIError(f"{method} {url}: {e}")
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            raise OpenWebUIError(f"{method} {path}: not JSON: {body[:160]}", body=body)

    def sign_in(self, email: str, password: str) -> None:
        answer = self._request("POST", "/api/v1/auths/signin", {"email": email, "password": password})
        self.token = (answer or {}).get("token")
        if not self.token:
            raise OpenWebUIError("sign-in answered without a token")

    def models(self) -> list[dict[str, t.Any]]:
        """The models Open WebUI lists (GET /api/models), as the chat page sees them."""
        answer = self._request("GET", "/api/models")
        return list((answer or {}).get("data") or []) if isinstance(answer, dict) else list(answer or [])

    def ollama_show(self, model_id: str) -> dict[str, t.Any]:
        return self._request("POST", "/ollama/api/show", {"model": model_id}) or {}

    def model_record(self, model_id: str) -> dict[str, t.Any] | None:
        """The model's own record (Admin Settings > Models), None when it has none."""
        try:
            return self._request("GET", "/api/v1/models/model", query=f"id={quote(model_id, safe='')}")
        except OpenWebUIError as e:
            if e.status == 404:
                return None
            raise

    def save_model_record(self, form: dict[str, t.Any], exists: bool) -> None:
        self._request("POST", "/api/v1/models/model/update" if exists else "/api/v1/models/create", form)
