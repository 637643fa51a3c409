#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: health_gate
short_description: Wait until every platform health check passes, or fail with a report
version_added: 0.1.0
description:
  - Runs a list of named checks (HTTP, TLS certificate, TCP, PostgreSQL, Ollama, Ollama on the GPU, Open WebUI,
    Prometheus, Kubernetes rollout, CloudNativePG cluster) and retries the ones that fail, with
    backoff, until all pass or O(deadline) seconds have gone by.
  - The HTTP checks (O(checks[].http), O(checks[].ollama), O(checks[].openwebui),
    O(checks[].prometheus)) reach their service at its URL, or with O(checks[].http.service)
    through the Kubernetes API server's service proxy, from wherever the module runs (typically
    the controller, for services only the cluster can resolve).
  - When a check still fails at the deadline the task fails, and C(msg) holds one table of every
    check with its result, number of attempts, how long it was tried and its last error.
  - The checks only read. PostgreSQL queries run in a read-only transaction. The module never
    reports C(changed) and runs the same way in check mode.
  - Passwords, tokens, header values, the password of a URL's userinfo, sensitive query
    parameters, the password of a DSN and the credentials taken from a kubeconfig never appear in
    the report or the result.
author: ailab.stack maintainers (@ailab-stack)
requirements:
  - C(jmespath) for O(checks[].http.json_query) expressions beyond simple paths such as C(a.b[0].c).
  - C(psycopg2) for O(checks[].postgres).
  - C(kubernetes) for O(checks[].k8s_rollout), O(checks[].cnpg_cluster) and O(checks[].http.service).
extends_documentation_fragment:
  - ailab.stack.health
  - ailab.stack.attributes
  - ailab.stack.attributes.info_module
options:
  # checks (one suboption per check type): the ailab.stack.health doc fragment, plugins/doc_fragments/health.py
  deadline:
    description:
      - Seconds to keep retrying failed checks. C(0) tries each check once.
      - The timeout of each attempt is cut to the time left before the deadline (at least 1 s), so
        a deadline shorter than a check's own timeout (for example an Ollama completion) can make it fail.
    type: int
    default: 300
  interval:
    description: Seconds to wait before the second round of attempts.
    type: float
    default: 2
  backoff:
    description: Factor applied to the wait after each round.
    type: float
    default: 1.5
  max_interval:
    description: Longest wait between two rounds, in seconds.
    type: float
    default: 30
seealso:
  - name: ailab.stack.verify role
    description: Builds the checks of each platform stage from the other roles' variables.
    link: https://example.invalid/ailab/stack/docs/roles/verify.md
"""

EXAMPLES = r"""
- name: Ollama answers before Open WebUI is deployed
  ailab.stack.health_gate:
    deadline: 120
    checks:
      - name: Ollama answers
        ollama:
          url: http://127.0.0.1:11434
          model: llama3.1:8b
          prompt: Say OK.
          timeout: 60

- name: Whole platform
  ailab.stack.health_gate:
    checks:
      - name: Open WebUI over HTTPS
        http:
          url: "https://{{ ailab_ingress_host }}/health"
          json_query: status
          ca_path: /etc/ssl/certs/internal-ca.pem
      - name: Certificate
        tls:
          host: "{{ ailab_ingress_host }}"
          issuer: Let's Encrypt
          min_days: 20
      - name: PostgreSQL
        postgres:
          user: openwebui
          password: "{{ openwebui_db_password }}"
          dbname: openwebui
          query: SELECT count(*) > 0 FROM "user"
          expect: "True"
      - name: Admin signs in and chats
        openwebui:
          url: http://127.0.0.1:8080
          email: "{{ openwebui_admin_email }}"
          password: "{{ openwebui_admin_password }}"
          model: llama3.1:8b
      - name: Node exporters up
        prometheus:
          job: node
      - name: Open WebUI rolled out
        k8s_rollout:
          kind: Deployment
          name: open-webui
          namespace: ailab
          kubeconfig: "{{ ailab_kubeconfig }}"
  delegate_to: localhost

- name: What Open WebUI needs from nginx in front of it (on the Open WebUI host)
  ailab.stack.health_gate:
    deadline: 300
    checks:
      - name: Certificate of chat.example.org
        tls: {host: chat.example.org, min_days: 14}
      - name: HTTP redirects to HTTPS
        http_redirect: {url: "http://chat.example.org/"}
      - name: WebSocket upgrade on /ws/socket.io
        websocket: {url: "https://chat.example.org"}
      - name: Answers stream through the proxy
        openwebui_stream:
          url: https://chat.example.org
          email: "{{ openwebui_admin_email }}"
          password: "{{ openwebui_admin_password }}"
          model: llama3.1:8b
      - name: 100 MB upload accepted
        openwebui_upload:
          url: https://chat.example.org
          email: "{{ openwebui_admin_email }}"
          password: "{{ openwebui_admin_password }}"
          size_mb: 100
      - name: A 70 s request is not cut
        openwebui_slow_request:
          url: https://chat.example.org
          email: "{{ openwebui_admin_email }}"
          password: "{{ openwebui_admin_password }}"
          seconds: 70

- name: Platform on Kubernetes, from the controller through the API server
  ailab.stack.health_gate:
    checks:
      - name: PostgreSQL cluster healthy
        cnpg_cluster:
          name: postgres
          namespace: ailab
          kubeconfig: ~/.kube/config
      - name: Ollama answers
        ollama:
          service: {name: ollama, namespace: ailab, port: 11434, kubeconfig: ~/.kube/config}
          model: llama3.1:8b
      - name: Open WebUI health
        http:
          service: {name: openwebui, namespace: ailab, port: 8080, kubeconfig: ~/.kube/config}
          url: /health
          json_query: status
  delegate_to: localhost
  run_once: true
  become: false
"""

RETURN = r"""
msg:
  description: A summary; on failure the summary and a table of every check.
  returned: always
  type: str
  sample: |-
    health_gate: 1 of 2 checks failed (deadline 30s)
    NAME          TYPE  RESULT  TRIES  SECONDS  LAST ERROR / DETAIL
    ------------------------------------------------------------------
    web           http  ok          1      0.0  HTTP 200
    database      tcp   FAILED      6     30.0  cannot connect to 127.0.0.1:5432: Connection refused
report:
  description: One entry per check, in the given order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check.
      returned: always
      type: str
      sample: Ollama answers
    type:
      description: Check type.
      returned: always
      type: str
      sample: ollama
    ok:
      description: Whether the check passed.
      returned: always
      type: bool
      sample: true
    attempts:
      description: How many times the check ran.
      returned: always
      type: int
      sample: 3
    seconds:
      description: Seconds from the start of the gate to the end of the check's last attempt.
      returned: always
      type: float
      sample: 4.2
    last_error:
      description: Reason of the last failed attempt (masked), empty when the check passed.
      returned: always
      type: str
      sample: "model tiny:latest not present on http://127.0.0.1:11434 (have: none)"
    detail:
      description: What the passing attempt saw, empty when the check failed.
      returned: always
      type: str
      sample: "tiny:latest present, answered 'OK'"
  sample:
    - {name: web, type: http, ok: true, attempts: 1, seconds: 0.0, last_error: "", detail: HTTP 200}
failed_checks:
  description: Names of the checks that did not pass.
  returned: always
  type: list
  elements: str
  sample: [database]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.ailab.stack.plugins.module_utils import _health
# One module util per check type; importing it registers its check in _health.CHECKS.
from ansible_collections.ailab.stack.plugins.module_utils import (  # noqa: F401 pylint: disable=unused-import
    _health_http, _health_k8s, _health_ollama, _health_openwebui, _health_postgres, _health_prometheus,
    _health_proxy, _health_tcp, _health_tls)

CHECK_TYPES = ("http", "tls", "tcp", "postgres", "ollama", "ollama_on_gpu", "openwebui", "prometheus", "k8s_rollout", "cnpg_cluster",
               "http_redirect", "websocket", "openwebui_stream", "openwebui_upload", "openwebui_slow_request")
# Check types that send HTTP requests: to their url, or with `service` through the Kubernetes API server.
HTTP_TYPES = ("http", "ollama", "ollama_on_gpu", "openwebui", "prometheus")
HTTP_TLS_OPTIONS = {
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}
HEADERS = {"headers": {"type": "dict", "no_log": True}}
KUBECONFIG = {
    "kubeconfig": {"type": "path"},
    "context": {"type": "str"},
}
SERVICE = {"service": {"type": "dict", "options": dict(
    name={"type": "str", "required": True},
    namespace={"type": "str", "default": "default"},
    port={"type": "raw", "required": True},
    scheme={"type": "str", "default": "http", "choices": ["http", "https"]},
    **KUBECONFIG)}}
# The proxy checks that sign in to Open WebUI through the proxy (plugins/module_utils/_health_proxy.py).
OPENWEBUI_BEHIND_PROXY = {
    "url": {"type": "str", "required": True},
    "email": {"type": "str", "required": True},
    "password": {"type": "str", "required": True, "no_log": True},
    **HTTP_TLS_OPTIONS,
}

CHECK_SPECS = {
    "http": dict(
        url={"type": "str", "required": True},
        method={"type": "str", "default": "GET", "choices": ["GET", "HEAD", "POST", "OPTIONS"]},
        body={"type": "raw"},
        status_code={"type": "list", "elements": "int", "default": [200]},
        body_contains={"type": "str"},
        json_query={"type": "str"},
        json_expect={"type": "raw"},
        timeout={"type": "int", "default": 10},
        **HEADERS, **HTTP_TLS_OPTIONS, **SERVICE),
    "tls": dict(
        host={"type": "str", "required": True},
        port={"type": "int", "default": 443},
        server_name={"type": "str"},
        ca_path={"type": "path"},
        issuer={"type": "str"},
        min_days={"type": "int", "default": 14},
        timeout={"type": "int", "default": 10}),
    "tcp": dict(
        host={"type": "str", "required": True},
        port={"type": "int", "required": True},
        timeout={"type": "int", "default": 5}),
    "postgres": dict(
        dsn={"type": "str", "no_log": True},
        host={"type": "str", "default": "127.0.0.1"},
        port={"type": "int", "default": 5432},
        user={"type": "str", "default": "postgres"},
        password={"type": "str", "no_log": True},
        dbname={"type": "str", "default": "postgres"},
        sslmode={"type": "str", "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
        query={"type": "str", "default": "SELECT 1"},
        expect={"type": "str"},
        timeout={"type": "int", "default": 10}),
    "ollama": dict(
        url={"type": "str", "default": "http://127.0.0.1:11434"},
        model={"type": "str"},
        loaded={"type": "bool", "default": False},
        prompt={"type": "str"},
        num_predict={"type": "int", "default": 8},
        timeout={"type": "int", "default": 60},
        **HEADERS, **HTTP_TLS_OPTIONS, **SERVICE),
    "ollama_on_gpu": dict(
        url={"type": "str", "default": "http://127.0.0.1:11434"},
        models={"type": "list", "elements": "str", "required": True},
        load={"type": "bool", "default": True},
        keep_alive={"type": "str", "no_log": False},
        timeout={"type": "int", "default": 120},
        **HEADERS, **HTTP_TLS_OPTIONS, **SERVICE),
    "openwebui": dict(
        url={"type": "str", "default": "http://127.0.0.1:8080"},
        check_db={"type": "bool", "default": True},
        email={"type": "str"},
        password={"type": "str", "no_log": True},
        model={"type": "str"},
        prompt={"type": "str", "default": "Reply with the single word OK."},
        expect={"type": "str"},
        timeout={"type": "int", "default": 60},
        **HTTP_TLS_OPTIONS, **SERVICE),
    "prometheus": dict(
        url={"type": "str", "default": "http://127.0.0.1:9090"},
        query={"type": "str"},
        job={"type": "str"},
        timeout={"type": "int", "default": 10},
        **HEADERS, **HTTP_TLS_OPTIONS, **SERVICE),
    "k8s_rollout": dict(
        kind={"type": "str", "required": True, "choices": ["Deployment", "StatefulSet", "DaemonSet"]},
        name={"type": "str", "required": True},
        namespace={"type": "str", "default": "default"},
        timeout={"type": "int", "default": 10},
        **KUBECONFIG),
    "cnpg_cluster": dict(
        name={"type": "str", "required": True},
        namespace={"type": "str", "default": "default"},
        timeout={"type": "int", "default": 10},
        **KUBECONFIG),
    "http_redirect": dict(
        url={"type": "str", "required": True},
        location={"type": "str"},
        timeout={"type": "int", "default": 10}),
    "websocket": dict(
        url={"type": "str", "required": True},
        path={"type": "str", "default": "/ws/socket.io/?EIO=4&transport=websocket"},
        timeout={"type": "int", "default": 10},
        **HTTP_TLS_OPTIONS),
    "openwebui_stream": dict(
        model={"type": "str", "required": True},
        prompt={"type": "str", "default": "Count from 1 to 30, one number per line."},
        max_tokens={"type": "int", "default": 24, "no_log": False},
        timeout={"type": "int", "default": 60},
        **OPENWEBUI_BEHIND_PROXY),
    "openwebui_upload": dict(
        size_mb={"type": "int", "default": 100},
        timeout={"type": "int", "default": 120},
        **OPENWEBUI_BEHIND_PROXY),
    "openwebui_slow_request": dict(
        seconds={"type": "int", "default": 70},
        callback_host={"type": "str", "default": "127.0.0.1"},
        timeout={"type": "int", "default": 120},
        **OPENWEBUI_BEHIND_PROXY),
}
# Through the API server the kubeconfig decides how TLS is verified; a url is then a path (http) or none.
SERVICE_EXCLUDES = [["service", "validate_certs"], ["service", "ca_path"]]
CHECK_RULES = {
    "http": {"mutually_exclusive": SERVICE_EXCLUDES},
    "ollama": {"required_if": [("loaded", True, ["model"])], "required_by": {"prompt": "model"},
               "mutually_exclusive": SERVICE_EXCLUDES + [["service", "url"]]},
    "ollama_on_gpu": {"mutually_exclusive": SERVICE_EXCLUDES + [["service", "url"]]},
    "openwebui": {"required_together": [["email", "password"]], "required_by": {"model": "email", "expect": "model"},
                  "mutually_exclusive": SERVICE_EXCLUDES + [["service", "url"]]},
    "prometheus": {"mutually_exclusive": SERVICE_EXCLUDES + [["service", "url"]]},
}


def argument_spec() -> dict:
    check_options = {"name": {"type": "str", "required": True}}
    for kind, options in CHECK_SPECS.items():
        check_options[kind] = {"type": "dict", "options": options, **CHECK_RULES.get(kind, {})}
    return dict(
        checks=dict(type="list", elements="dict", required=True, options=check_options,
                    mutually_exclusive=[CHECK_TYPES], required_one_of=[CHECK_TYPES]),
        deadline=dict(type="int", default=300),
        interval=dict(type="float", default=2),
        backoff=dict(type="float", default=1.5),
        max_interval=dict(type="float", default=30),
    )


def build_checks(params: dict) -> list:
    return [_health.Check(item["name"], kind, item[kind])
            for item in params["checks"] for kind in CHECK_TYPES if item.get(kind) is not None]


def secrets_of(checks: list) -> list:
    """Every secret value in the checks' options, to mask in errors and results."""
    found = []
    for check in checks:
        spec = check.spec
        found += [str(v) for v in (spec.get("headers") or {}).values()]
        found += [spec[k] for k in ("password",) if spec.get(k)]
        if spec.get("url"):
            found += _health.url_secrets(spec["url"])
        if spec.get("dsn"):
            found += _health.dsn_secrets(spec["dsn"])
    return [s for s in found if s]


def check_args(module: AnsibleModule, checks: list) -> None:
    names = [c.name for c in checks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        module.fail_json(msg=f"checks: names must be unique, repeated: {', '.join(dupes)}")
    for name in ("deadline", "interval", "max_interval"):
        if module.params[name] < 0:
            module.fail_json(msg=f"{name} must be 0 or more, got {module.params[name]}")
    for check in checks:
        if check.type == "openwebui_slow_request" and check.spec["timeout"] <= check.spec["seconds"]:
            module.fail_json(msg=f"checks: {check.name}: openwebui_slow_request.timeout ({check.spec['timeout']}) "
                                 f"must be more than its seconds ({check.spec['seconds']})")
        if check.type == "ollama_on_gpu" and not check.spec["models"]:
            module.fail_json(msg=f"checks: {check.name}: ollama_on_gpu.models must name at least one model")
        if check.type == "openwebui_upload" and check.spec["size_mb"] < 1:
            module.fail_json(msg=f"checks: {check.name}: openwebui_upload.size_mb must be 1 or more")
    if module.params["backoff"] < 1:
        module.fail_json(msg=f"backoff must be 1 or more, got {module.params['backoff']}")
    kinds = {c.type for c in checks}
    if "postgres" in kinds and not _health_postgres.HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    queries = [c.spec["json_query"] for c in checks if c.type == "http" and c.spec.get("json_query")]
    if not _health.HAS_JMESPATH and not all(_health.is_simple_query(q) for q in queries):
        module.fail_json(msg=missing_required_lib("jmespath") + " (json_query beyond simple a.b[0].c paths)")
    for check in checks:
        service = check.spec.get("service") if check.type in HTTP_TYPES else None
        if not service:
            continue
        if check.type == "http" and not check.spec["url"].startswith("/"):
            module.fail_json(msg=f"checks: {check.name}: with service, http.url is the path on the Service "
                                 f"(for example /health), got {check.spec['url']!r}")
        if any(str(k).lower() == "authorization" for k in check.spec.get("headers") or {}):
            module.fail_json(msg=f"checks: {check.name}: an Authorization header cannot go through the Kubernetes "
                                 "API server (it authenticates the request with the kubeconfig and removes it)")
    if kinds & {"k8s_rollout", "cnpg_cluster"} or any(c.spec.get("service") for c in checks if c.type in HTTP_TYPES):
        try:
            import kubernetes  # noqa: F401 pylint: disable=unused-import
        except ImportError:
            module.fail_json(msg=missing_required_lib("kubernetes"), exception=traceback.format_exc())


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    checks = build_checks(module.params)
    check_args(module, checks)
    secrets = secrets_of(checks)
    module.no_log_values.update(secrets)  # masks them in every returned value, as no_log does

    p = module.params
    passed = _health.run_gate(checks, p["deadline"], p["interval"], p["backoff"], p["max_interval"], secrets)
    module.no_log_values.update(secrets)  # plus what the checks learned (session tokens)
    failed = [c.name for c in checks if not c.ok]
    report = [c.report() for c in checks]
    if passed:
        module.exit_json(changed=False, msg=f"health_gate: all {len(checks)} checks passed",
                         report=report, failed_checks=[])
    msg = (f"health_gate: {len(failed)} of {len(checks)} checks failed (deadline {p['deadline']}s)\n"
           + _health.format_table(checks))
    module.fail_json(msg=msg, changed=False, report=report, failed_checks=failed)


if __name__ == "__main__":
    main()
