# -*- coding: utf-8 -*-

# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The checks option of ailab.stack.health_gate, one suboption per check type (the argument spec
# is CHECK_SPECS in plugins/modules/health_gate.py; the checks are plugins/module_utils/_health_*.py).
# Ansible merges a fragment's options into a module's only at the top level (merge_fragment in
# ansible/utils/plugin_docs.py), so the repeated suboptions cannot come from a fragment of their
# own: the options several check types share (headers, validate_certs, ca_path, timeout, service,
# kubeconfig, context) are written once here, at their first use (&anchor), and the other check
# types refer to them (*alias).
# No `<<:` merge keys: ansible-core 2.19 warns about a key that overrides a merged one.

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  checks:
    description:
      - The checks. Each one has a unique O(checks[].name) and exactly one check type key.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name shown in the report, unique within the gate.
        type: str
        required: true
      http:
        description: An HTTP(S) request must answer with an expected status and body.
        type: dict
        suboptions:
          url:
            description:
              - URL to request. A password in its userinfo is sent as basic auth and masked.
              - With O(checks[].http.service), the path (and query) to request on that Service, for example C(/health).
            type: str
            required: true
          method:
            description: HTTP method.
            type: str
            default: GET
            choices: [GET, HEAD, POST, OPTIONS]
          headers: &headers
            description: Request headers (for example for an authenticating proxy). Their values are treated as secrets.
            type: dict
          body:
            description: Request body; a dict or list is sent as JSON.
            type: raw
          status_code:
            description: Accepted status codes.
            type: list
            elements: int
            default: [200]
          body_contains:
            description: Text the body must contain.
            type: str
          json_query:
            description:
              - JMESPath expression evaluated on the JSON body. Without O(checks[].http.json_expect)
                the result must be true (non-empty, non-zero, not false/null).
              - Simple paths (C(status), C(data.result[0].value)) work without the C(jmespath)
                library, which servers often lack; other expressions need it.
            type: str
          json_expect:
            description: Value the O(checks[].http.json_query) result must equal.
            type: raw
          validate_certs: &validate_certs
            description: Verify the server certificate for C(https) URLs.
            type: bool
            default: true
          ca_path: &ca_path
            description: PEM file of CA certificates to trust instead of the system store.
            type: path
          timeout: &timeout
            description: &timeout_description
              - Seconds each connection or request of an attempt may take (a completion included).
              - It is cut to the time left before O(deadline), at least 1 s.
            type: int
            default: 10
          service: &service
            description:
              - Reach a Kubernetes Service through the API server's service proxy instead of a URL
                the host running the module may not resolve (such as C(http://ollama.ailab.svc:11434)).
                The check's requests go to
                C(<server>/api/v1/namespaces/<namespace>/services/<scheme>:<name>:<port>/proxy) plus
                the path the check asks for, authenticated with the credentials of
                O(checks[].http.service.kubeconfig) (the API server's CA, a client certificate and
                key, a bearer token, basic auth; tokens of exec plugins and token files as the
                C(kubernetes) Python client loads them). What the check requests and expects is the same.
              - Mutually exclusive with the check's C(validate_certs) and C(ca_path) (the kubeconfig
                says how to trust the API server) and, for O(checks[].ollama),
                O(checks[].openwebui) and O(checks[].prometheus), with their C(url). For
                O(checks[].http), O(checks[].http.url) is then the path.
              - The API server removes the C(Authorization) header before it forwards a request, so
                the check's C(headers) cannot hold one; O(checks[].openwebui) sends its session in
                Open WebUI's C(token) cookie instead. Redirects are not followed, so the
                credentials go to the API server only.
              - The identity of the kubeconfig needs C(get) on C(services/proxy) in the namespace.
            type: dict
            suboptions:
              name:
                description: Name of the Service.
                type: str
                required: true
              namespace:
                description: Namespace of the Service.
                type: str
                default: default
              port:
                description: Port of the Service, its number (C(11434)) or its name (C(http)).
                type: raw
                required: true
              scheme:
                description: Scheme the API server speaks to the Service's pods (it does not verify their certificate).
                type: str
                default: http
                choices: [http, https]
              kubeconfig: &kubeconfig
                description:
                  - Kubeconfig file on the host running the module. Without it (and a C(context)), the
                    in-cluster config, then C(KUBECONFIG) or C(~/.kube/config), is used.
                type: path
              context: &context
                description: Kubeconfig context (default its current context).
                type: str
      tls:
        description:
          - The TLS certificate served on O(checks[].tls.host):O(checks[].tls.port) must be trusted,
            valid for O(checks[].tls.server_name), optionally from a given issuer, and expire in more
            than O(checks[].tls.min_days) days.
        type: dict
        suboptions:
          host:
            description: Host name or address to connect to.
            type: str
            required: true
          port:
            description: TCP port.
            type: int
            default: 443
          server_name:
            description: Name sent as SNI and checked against the certificate. Defaults to O(checks[].tls.host).
            type: str
          ca_path: *ca_path
          issuer:
            description: Text the issuer (formatted C(CN=..., O=...)) must contain.
            type: str
          min_days:
            description: Minimum number of days before the certificate expires.
            type: int
            default: 14
          timeout: *timeout
      tcp:
        description: A TCP port must accept connections.
        type: dict
        suboptions:
          host:
            description: Host name or address.
            type: str
            required: true
          port:
            description: TCP port.
            type: int
            required: true
          timeout:
            description: *timeout_description
            type: int
            default: 5
      postgres:
        description:
          - Connect to PostgreSQL and run O(checks[].postgres.query) in a read-only transaction.
          - Give either O(checks[].postgres.dsn) or the separate connection options.
        type: dict
        suboptions:
          dsn:
            description: libpq connection string or URI. Its password is masked.
            type: str
          host:
            description: Host name, address or socket directory.
            type: str
            default: 127.0.0.1
          port:
            description: Port.
            type: int
            default: 5432
          user:
            description: User name.
            type: str
            default: postgres
          password:
            description: Password.
            type: str
          dbname:
            description: Database.
            type: str
            default: postgres
          sslmode:
            description: libpq C(sslmode).
            type: str
            choices: [disable, allow, prefer, require, verify-ca, verify-full]
          query:
            description: Query to run.
            type: str
            default: SELECT 1
          expect:
            description: Text the first column of the first row must equal (compared as a string).
            type: str
          timeout: *timeout
      ollama:
        description:
          - The Ollama API answers; optionally O(checks[].ollama.model) is present (C(/api/tags)),
            loaded (C(/api/ps)), and answers O(checks[].ollama.prompt) (C(/api/generate)) within
            O(checks[].ollama.timeout) seconds.
        type: dict
        suboptions:
          url:
            description: Base URL of the Ollama API.
            type: str
            default: http://127.0.0.1:11434
          model:
            description:
              - Model that must be present, named as M(ailab.stack.ollama_model) accepts it. C(llama3.1),
                C(llama3.1:latest), C(library/llama3.1) and C(registry.ollama.ai/library/llama3.1:latest)
                are the same model (C(:latest) is added when no tag is given); case does not matter.
            type: str
          loaded:
            description: The model must also be loaded in memory.
            type: bool
            default: false
          prompt:
            description: When set, a completion of this prompt must answer.
            type: str
          num_predict:
            description: Maximum number of tokens to generate for O(checks[].ollama.prompt).
            type: int
            default: 8
          headers: *headers
          validate_certs: *validate_certs
          ca_path: *ca_path
          service: *service
          timeout: &timeout_completion
            description: *timeout_description
            type: int
            default: 60
      openwebui:
        description:
          - Open WebUI answers C(/health) and C(/health/db); with O(checks[].openwebui.email) the
            admin signs in, and with O(checks[].openwebui.model) a chat completion through Open WebUI answers.
        type: dict
        suboptions:
          url:
            description: Base URL of Open WebUI.
            type: str
            default: http://127.0.0.1:8080
          check_db:
            description: Also require C(/health/db).
            type: bool
            default: true
          email:
            description: Admin e-mail to sign in with.
            type: str
          password:
            description: Admin password.
            type: str
          model:
            description:
              - Model to chat with through C(/api/chat/completions) (needs O(checks[].openwebui.email)), the
                way a person's first message in the browser reaches it.
              - An Ollama model may be named as for O(checks[].ollama.model); it is sent as Ollama lists it.
              - The request is the one Open WebUI's chat page sends (C(Chat.svelte) of Open WebUI 0.12) -
                streaming unless the model's or the user's C(stream_response) is off, the features the page
                turns on by default for that model (its C(defaultFeatureIds), memory, web search set to
                always), the model's default tools, the model as C(/api/models) lists it and a
                C(session_id), which makes Open WebUI hand the model its builtin tools as it does in the
                browser. Without C(chat_id) and C(parent_id), so Open WebUI answers over HTTP (Server-Sent
                Events) and stores no chat. The reply is capped at 16 tokens.
              - The check fails when the person would get an error notice instead of an answer - an HTTP
                error (for example C(<model> does not support tools)), an error event in the stream, or an
                empty reply - and names the model, what was sent and the notice.
            type: str
          prompt:
            description: The message sent to O(checks[].openwebui.model).
            type: str
            default: Reply with the single word OK.
          expect:
            description:
              - Regular expression (Python C(re.search)) the reply must match, for a known answer (needs
                O(checks[].openwebui.model)). Without it any reply that is not an error notice passes.
            type: str
          validate_certs: *validate_certs
          ca_path: *ca_path
          service: *service
          timeout: *timeout_completion
      prometheus:
        description:
          - Prometheus answers; O(checks[].prometheus.query) returns at least one series and every
            active target of O(checks[].prometheus.job) is up. With neither, C(/-/ready) must answer 200.
        type: dict
        suboptions:
          url:
            description: Base URL of Prometheus.
            type: str
            default: http://127.0.0.1:9090
          query:
            description: PromQL instant query that must return a non-empty result.
            type: str
          job:
            description: Scrape job whose active targets must all be up (at least one).
            type: str
          headers: *headers
          validate_certs: *validate_certs
          ca_path: *ca_path
          service: *service
          timeout: *timeout
      k8s_rollout:
        description:
          - A Deployment, StatefulSet or DaemonSet has finished rolling out, with the same rules as
            C(kubectl rollout status), read with the C(kubernetes) Python client.
        type: dict
        suboptions:
          kind:
            description: Kind of the workload.
            type: str
            required: true
            choices: [Deployment, StatefulSet, DaemonSet]
          name:
            description: Name of the workload.
            type: str
            required: true
          namespace:
            description: Namespace of the workload.
            type: str
            default: default
          kubeconfig: *kubeconfig
          context: *context
          timeout: *timeout
      cnpg_cluster:
        description:
          - A CloudNativePG Cluster (C(postgresql.cnpg.io/v1)) is healthy, read with the C(kubernetes)
            Python client. Its C(status.phase) is C(Cluster in healthy state), C(status.readyInstances)
            equals C(spec.instances) (C(status.instances) counts PVC groups, not ready pods), and its
            C(Ready) condition, once reported for the current generation, is C(True).
          - PostgreSQL on Kubernetes has no HTTP endpoint; this is its gate from outside the cluster.
        type: dict
        suboptions:
          name:
            description: Name of the Cluster.
            type: str
            required: true
          namespace:
            description: Namespace of the Cluster.
            type: str
            default: default
          kubeconfig: *kubeconfig
          context: *context
          timeout: *timeout
"""
