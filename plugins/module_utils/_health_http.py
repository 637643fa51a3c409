# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The http check of ailab.stack.health_gate: one request, then its status, body text and JSON."""
from __future__ import annotations

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, expect_status, http_request, json_query, mask_url, register, snippet)


@register("http")
def check_http(spec: dict, timeout: float) -> str:
    url = spec["url"]
    what = f"{spec['method']} {mask_url(url)}"
    resp = http_request(url, timeout, spec["method"], spec.get("headers"), spec.get("body"),
                        spec["validate_certs"], spec.get("ca_path"))
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
