# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The http check of ailab.stack.health_gate: one request, then its status, body text and JSON.
With `service`, the url is a path on that Service, requested through the Kubernetes API server."""
from __future__ import annotations

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, endpoint, expect_status, json_query, register, snippet)


@register("http", learns_secrets=True)
def check_http(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target = endpoint(spec, secrets)
    path = spec["url"] if spec.get("service") else ""
    what = target.where(path, spec["method"])
    resp = target.request(path, timeout, spec["method"], body=spec.get("body"))
    expect_status(resp, spec["status_code"], what)
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
