# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.verify_checks: the ailab.stack.health_gate checks of platform stages."""

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_checks
short_description: The health_gate checks of platform stages, built from the verify role's variables
description:
  - Returns the list of checks that the O(ailab.stack.health_gate#module:checks) option takes, for
    the stages in the input, always in the order C(postgres), C(ollama), C(openwebui), C(ingress),
    C(monitoring), C(kubernetes) (whatever the order of the input). A check that two stages both
    build (the certificate) is listed once.
  - C(postgres) is one check that signs in and runs C(verify_postgres_query).
  - C(ollama) is "Ollama API answers", then one check per name in C(verify_ollama_models); the
    first of them also answers C(verify_ollama_prompt) within C(verify_ollama_timeout) seconds,
    unless that prompt is empty. With C(verify_ollama_on_gpu) true, one more check that every model
    runs all in VRAM (C(ollama_on_gpu), within C(verify_ollama_timeout) seconds per request).
  - C(openwebui) is one Open WebUI check; with a C(verify_openwebui_admin_email) the admin signs in,
    and with a C(verify_openwebui_chat_model) as well a chat goes through Open WebUI, as the browser
    sends it, whose reply must match C(verify_openwebui_chat_expect) when that is set. With a
    C(verify_tls_host), two more checks, the certificate of that name and
    C(https://<verify_tls_host>:<verify_tls_port>/health) (both with C(verify_tls_ca_path) when set).
  - C(ingress) is the proxy in front of Open WebUI, on C(ailab_runtime) C(systemd) with a
    C(verify_tls_host) (else nothing) - the certificate (as for C(openwebui)),
    C(http://<verify_tls_host>:<verify_ingress_http_port>/) redirects to HTTPS, the WebSocket upgrade on
    C(/ws/socket.io) answers 101; with C(verify_openwebui_admin_email), a streamed answer of
    C(verify_openwebui_chat_model) (when set) arrives in pieces, an upload of C(verify_ingress_upload_mb) MB
    is accepted and deleted (0 = none), and a request of C(verify_ingress_slow_seconds) is not cut (0 = none).
  - C(monitoring) is "Prometheus is ready", then one check per job in C(verify_prometheus_jobs).
  - C(kubernetes) is one rollout check per workload of C(verify_k8s_rollouts), in the workload's
    namespace or C(ailab_namespace).
  - On C(ailab_runtime) C(kubernetes), an endpoint that is a cluster Service name
    (C(<service>.<namespace>.svc), optionally C(.cluster.local), as the shared layer's
    C(ailab_*_url) and C(ailab_postgres_host) are there) is reached through the Kubernetes API
    server from the controller, with C(verify_kubeconfig) (kubernetes.core's default when empty).
    The Ollama, Open WebUI and Prometheus checks get a C(service) (the API server's service proxy)
    instead of a C(url), and C(postgres) becomes a C(cnpg_cluster) check of the CloudNativePG
    Cluster behind that Service (C(<cluster>-rw), C(-ro) or C(-r)). The certificate and HTTPS checks
    of C(verify_tls_host), the public ingress name, stay direct; so do endpoints that are not
    Service names. The role runs these gates once, on the controller.
  - Only the settings of the requested stages are read, so a setting of another stage may be
    undefined. Ports, timeouts and C(verify_tls_min_days) are converted to integers.
  - The C(ailab.stack.verify) role calls it from C(tasks/gate.yml) and C(tasks/kubernetes.yml),
    with the settings of C(vars/main.yml).
options:
  _input:
    description: A stage name or a list of them (C(postgres), C(ollama), C(openwebui), C(ingress), C(monitoring), C(kubernetes)).
    type: list
    elements: str
    required: true
  settings:
    description:
      - The variables of the C(ailab.stack.verify) role, by name (see its C(defaults/main.yml)), and
        C(ailab_namespace) for C(kubernetes), and C(ailab_runtime) for every stage but C(kubernetes).
      - "C(postgres): C(verify_postgres_host), C(verify_postgres_port), C(verify_postgres_user),
        C(verify_postgres_password), C(verify_postgres_database), C(verify_postgres_sslmode),
        C(verify_postgres_query)."
      - "C(ollama): C(verify_ollama_url), C(verify_ollama_models), C(verify_ollama_prompt),
        C(verify_ollama_timeout), C(verify_ollama_on_gpu) (read only with models)."
      - "C(openwebui): C(verify_openwebui_url), C(verify_openwebui_admin_email),
        C(verify_openwebui_admin_password), C(verify_openwebui_chat_model),
        C(verify_openwebui_chat_expect) (read only with a chat model), C(verify_tls_host),
        C(verify_tls_port), C(verify_tls_min_days), C(verify_tls_ca_path)."
      - "C(ingress): C(verify_tls_host), then C(verify_tls_port), C(verify_tls_min_days), C(verify_tls_ca_path),
        C(verify_ingress_http_port), C(verify_openwebui_admin_email), C(verify_openwebui_admin_password),
        C(verify_openwebui_chat_model), C(verify_ingress_upload_mb), C(verify_ingress_slow_seconds)."
      - "C(monitoring): C(verify_prometheus_url), C(verify_prometheus_jobs)."
      - "C(kubernetes): C(verify_k8s_rollouts), C(verify_kubeconfig), C(ailab_namespace)."
      - "On C(ailab_runtime) C(kubernetes), every stage also reads C(verify_kubeconfig)."
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Gate Ollama
  ailab.stack.health_gate:
    checks: "{{ ['ollama'] | ailab.stack.verify_checks(__verify_settings) }}"
  vars:
    __verify_settings:
      verify_ollama_url: http://127.0.0.1:11434
      verify_ollama_models: [llama3.1:8b]
      verify_ollama_prompt: Reply with the single word OK.
      verify_ollama_timeout: 120
      verify_ollama_on_gpu: false
"""

RETURN = r"""
_value:
  description: Checks in the format of the O(ailab.stack.health_gate#module:checks) option; empty when no stage has any.
  type: list
  elements: dict
  sample:
    - name: Ollama API answers
      ollama: {url: "http://127.0.0.1:11434", timeout: 10}
    - name: Ollama has llama3.1:8b and it answers
      ollama: {url: "http://127.0.0.1:11434", model: llama3.1:8b, prompt: Reply with the single word OK., timeout: 120}
"""

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

STAGES = ("postgres", "ollama", "openwebui", "ingress", "monitoring", "kubernetes")
# Timeout of the plain "the API answers" check of Ollama.
OLLAMA_API_TIMEOUT = 10
# Seconds the slow request's attempt may take beyond its own duration (sign-in, the answer).
SLOW_REQUEST_MARGIN = 30
# A cluster Service name: <service>.<namespace>.svc[.cluster.local] (DNS labels).
_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
SERVICE_HOST = re.compile(rf"^(?P<name>{_LABEL})\.(?P<namespace>{_LABEL})\.svc(?:\.cluster\.local)?\.?$")
# The Services CloudNativePG makes for Cluster <cluster>: <cluster>-rw (primary), -ro (replicas), -r (any).
CNPG_SERVICE = re.compile(r"^(?P<cluster>.+)-(?:rw|ro|r)$")


def _fail(msg):
    raise AnsibleFilterError(f"verify_checks: {msg}")


class _Settings:
    """Reads the settings one at a time: a setting of a stage that was not asked for is never
    read, and so never templated (the role passes a lazily templated dict)."""

    def __init__(self, settings):
        if not isinstance(settings, Mapping):
            _fail(f"settings must be a dict of the verify role's variables, got {type(settings).__name__}")
        self._settings = settings

    def __getitem__(self, name):
        if name not in self._settings:
            _fail(f"settings has no {name}")
        return self._settings[name]

    def as_int(self, name):
        value = self[name]
        if isinstance(value, bool):
            _fail(f"{name} must be an integer, got {value!r}")
        try:
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            _fail(f"{name} must be an integer, got {value!r}")
        return None  # not reached

    def as_bool(self, name):
        try:
            return boolean(self[name], strict=True)
        except TypeError:
            _fail(f"{name} must be a boolean, got {self[name]!r}")
        return None  # not reached

    def as_list(self, name):
        value = self[name]
        if isinstance(value, (str, Mapping)) or not hasattr(value, "__iter__"):
            _fail(f"{name} must be a list, got {type(value).__name__}")
        return list(value)


def _cluster_service(s, host):
    """(namespace, name) of the cluster Service `host` names on the kubernetes runtime, else None."""
    if s["ailab_runtime"] != "kubernetes":
        return None
    match = SERVICE_HOST.match(str(host or "").lower())
    return (match["namespace"], match["name"]) if match else None


def _kubeconfig(s):
    kubeconfig = s["verify_kubeconfig"]
    return {"kubeconfig": kubeconfig} if kubeconfig else {}


def _reach(s, name):
    """How the check reaches the base URL of setting `name`: {"url": ...}, or for a cluster Service
    on the kubernetes runtime, {"service": ...} through the API server's service proxy."""
    url = s[name]
    parts = urlsplit(str(url))
    service = _cluster_service(s, parts.hostname)
    if service is None:
        return {"url": url}
    if parts.path.strip("/") or parts.query or parts.username or parts.scheme not in ("http", "https"):
        _fail(f"{name} {url!r} names a cluster Service: through the Kubernetes API server only "
              "http(s)://<service>.<namespace>.svc[:port] works (no path, query or userinfo)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"service": {"namespace": service[0], "name": service[1], "port": port, "scheme": parts.scheme,
                        **_kubeconfig(s)}}


def _postgres(s):
    service = _cluster_service(s, s["verify_postgres_host"])
    if service is not None:
        namespace, name = service
        match = CNPG_SERVICE.match(name)
        cluster = match["cluster"] if match else name
        return [{"name": f"PostgreSQL cluster {cluster} is healthy", "cnpg_cluster": {
            "name": cluster, "namespace": namespace, **_kubeconfig(s)}}]
    return [{"name": "PostgreSQL answers", "postgres": {
        "host": s["verify_postgres_host"],
        "port": s.as_int("verify_postgres_port"),
        "user": s["verify_postgres_user"],
        "password": s["verify_postgres_password"],
        "dbname": s["verify_postgres_database"],
        "sslmode": s["verify_postgres_sslmode"],
        "query": s["verify_postgres_query"],
    }}]


def _ollama(s):
    reach = _reach(s, "verify_ollama_url")
    checks = [{"name": "Ollama API answers", "ollama": {**reach, "timeout": OLLAMA_API_TIMEOUT}}]
    for index, model in enumerate(s.as_list("verify_ollama_models")):
        prompt = s["verify_ollama_prompt"] if index == 0 else ""
        answers = bool(prompt)
        check = {**reach, "model": model}
        if answers:
            check.update(prompt=prompt, timeout=s.as_int("verify_ollama_timeout"))
        checks.append({"name": f"Ollama has {model}" + (" and it answers" if answers else ""), "ollama": check})
    models = s.as_list("verify_ollama_models")
    if models and s.as_bool("verify_ollama_on_gpu"):
        checks.append({"name": f"Ollama runs {', '.join(models)} on the GPU", "ollama_on_gpu": {
            **reach, "models": models, "timeout": s.as_int("verify_ollama_timeout")}})
    return checks


def _openwebui(s):
    email = s["verify_openwebui_admin_email"]
    chat_model = s["verify_openwebui_chat_model"] if email else ""
    check = _reach(s, "verify_openwebui_url")
    name = "Open WebUI answers"
    if email:
        check.update(email=email, password=s["verify_openwebui_admin_password"])
        name += ", the admin signs in"
        if chat_model:
            check["model"] = chat_model
            name += f" and chats with {chat_model}"
            if s["verify_openwebui_chat_expect"]:
                check["expect"] = s["verify_openwebui_chat_expect"]
    checks = [{"name": name, "openwebui": check}]
    host = s["verify_tls_host"]
    if host:
        port = s["verify_tls_port"]
        checks += [_certificate(s), {"name": f"Open WebUI through https://{host}",
                                     "http": {"url": f"https://{host}:{port}/health", "json_query": "status", **_ca(s)}}]
    return checks


def _ca(s):
    return {"ca_path": s["verify_tls_ca_path"]} if s["verify_tls_ca_path"] else {}


def _certificate(s):
    host = s["verify_tls_host"]
    return {"name": f"Certificate of {host}", "tls": {
        "host": host, "port": s.as_int("verify_tls_port"), "min_days": s.as_int("verify_tls_min_days"), **_ca(s)}}


def _ingress(s):
    host = s["verify_tls_host"]
    if not host or s["ailab_runtime"] == "kubernetes":
        return []
    port = s.as_int("verify_tls_port")
    https = f"https://{host}" + ("" if port == 443 else f":{port}")
    http_port = s.as_int("verify_ingress_http_port")
    checks = [
        _certificate(s),
        {"name": f"http://{host} redirects to HTTPS", "http_redirect": {
            "url": f"http://{host}" + ("" if http_port == 80 else f":{http_port}") + "/", "location": https}},
        {"name": f"WebSocket upgrade through {https}", "websocket": {"url": https, **_ca(s)}},
    ]
    email = s["verify_openwebui_admin_email"]
    if not email:
        return checks
    admin = {"url": https, "email": email, "password": s["verify_openwebui_admin_password"], **_ca(s)}
    model = s["verify_openwebui_chat_model"]
    if model:
        checks.append({"name": f"Answers of {model} stream through {https}", "openwebui_stream": {**admin, "model": model}})
    upload_mb = s.as_int("verify_ingress_upload_mb")
    if upload_mb > 0:
        checks.append({"name": f"A {upload_mb} MB upload through {https}", "openwebui_upload": {**admin, "size_mb": upload_mb}})
    seconds = s.as_int("verify_ingress_slow_seconds")
    if seconds > 0:
        checks.append({"name": f"A {seconds} s request through {https}", "openwebui_slow_request": {
            **admin, "seconds": seconds, "timeout": seconds + SLOW_REQUEST_MARGIN}})
    return checks


def _monitoring(s):
    reach = _reach(s, "verify_prometheus_url")
    return [{"name": "Prometheus is ready", "prometheus": dict(reach)}] + [
        {"name": f"Prometheus targets of job {job} are up", "prometheus": {**reach, "job": job}}
        for job in s.as_list("verify_prometheus_jobs")]


def _kubernetes(s):
    checks = []
    for workload in s.as_list("verify_k8s_rollouts"):
        if not isinstance(workload, Mapping) or "kind" not in workload or "name" not in workload:
            _fail(f"every item of verify_k8s_rollouts needs a kind and a name, got {workload!r}")
        namespace = workload["namespace"] if "namespace" in workload else s["ailab_namespace"]
        checks.append({"name": f"{workload['kind']} {workload['name']} rolled out", "k8s_rollout": {
            "kind": workload["kind"], "name": workload["name"], "namespace": namespace,
            "kubeconfig": s["verify_kubeconfig"]}})
    return checks


BUILDERS = {"postgres": _postgres, "ollama": _ollama, "openwebui": _openwebui, "ingress": _ingress,
            "monitoring": _monitoring, "kubernetes": _kubernetes}


def verify_checks(stages, settings):
    """The health_gate checks of `stages`, in the fixed stage order."""
    if isinstance(stages, str):
        stages = [stages]
    if not isinstance(stages, (list, tuple)):
        _fail(f"the stages must be a list of names, got {type(stages).__name__}")
    unknown = [str(stage) for stage in stages if stage not in STAGES]
    if unknown:
        _fail(f"unknown stages {unknown} (known: {', '.join(STAGES)})")
    reader = _Settings(settings)
    checks = []
    for stage in STAGES:
        if stage in stages:
            checks += [check for check in BUILDERS[stage](reader) if check not in checks]
    return checks


class FilterModule:
    """ailab.stack verify filters."""

    def filters(self):
        return {"verify_checks": verify_checks}
