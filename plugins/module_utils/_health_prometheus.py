# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The prometheus check of ailab.stack.health_gate: ready, a query returns series, a job's targets are up
(at its url, or its Service through the Kubernetes API server)."""
from __future__ import annotations

from urllib.parse import urlencode

from ansible_collections.ailab.stack.plugins.module_utils._health import (
    CheckFailed, endpoint, expect_status, mask_url, register, snippet)


@register("prometheus", learns_secrets=True)
def check_prometheus(spec: dict, timeout: float, secrets: list[str] | None = None) -> str:
    target = endpoint(spec, secrets)
    base = target.shown
    details = []
    if not spec.get("query") and not spec.get("job"):
        resp = target.request("/-/ready", timeout)
        expect_status(resp, [200], target.where("/-/ready"))
        details.append("ready")
    if spec.get("query"):
        what = f"query {spec['query']!r} on {base}"
        resp = target.request("/api/v1/query?" + urlencode({"query": spec["query"]}), timeout)
        data = resp.json(what)
        if data.get("status") != "success":
            raise CheckFailed(f"{what} failed: {data.get('errorType', '')} {data.get('error', snippet(resp.body))}".strip())
        result = (data.get("data") or {}).get("result")
        if not result:
            raise CheckFailed(f"{what} returned no series")
        details.append(f"query returned {len(result) if isinstance(result, list) else 1} series")
    if spec.get("job"):
        what = f"targets of job {spec['job']!r} on {base}"
        resp = target.request("/api/v1/targets?state=active", timeout)
        expect_status(resp, [200], what)
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
