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
          url: &ollama_url
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
      ollama_on_gpu:
        description:
          - Every model of O(checks[].ollama_on_gpu.models) is loaded and all of it is in VRAM (Ollama's
            C(/api/ps) reports its C(size_vram) equal to its C(size)).
          - A model that is not loaded is loaded first (C(/api/generate) with an empty prompt, the way
            Ollama documents loading a model) unless O(checks[].ollama_on_gpu.load) is false.
          - "The reason names the numbers, such as C(runs on the CPU: 0 of 290 MiB in VRAM) or
            C(20.1 of 25.3 GiB in VRAM, 21 % on the CPU)."
        type: dict
        suboptions:
          url: *ollama_url
          models:
            description: Models that must run on the GPU, named as M(ailab.stack.ollama_model) accepts them.
            type: list
            elements: str
            required: true
          load:
            description: Load a model that is not loaded yet; when false, such a model fails the check.
            type: bool
            default: true
          keep_alive:
            description:
              - How long a model the check loads stays loaded (Ollama's C(keep_alive), a number of seconds
                or a duration such as C(10m); C(-1) keeps it). Without it, the server's C(OLLAMA_KEEP_ALIVE).
            type: str
          headers: *headers
          validate_certs: *validate_certs
          ca_path: *ca_path
          service: *service
          timeout:
            description: *timeout_description
            type: int
            default: 120
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
      http_redirect:
        description:
          - Plain HTTP answers with a redirect (301, 302, 303, 307 or 308) to HTTPS, as the proxy in front
            of Open WebUI should. Redirects are not followed.
        type: dict
        suboptions:
          url:
            description: The C(http://) URL to request, for example C(http://chat.example.org/).
            type: str
            required: true
          location:
            description: Start the C(Location) must have (default C(https://<host of url>)).
            type: str
          timeout: *timeout
      websocket:
        description:
          - The WebSocket upgrade of Open WebUI's Socket.IO endpoint works through the proxy - the answer is
            HTTP 101 with the right C(Sec-WebSocket-Accept), and the upgraded connection carries Engine.IO's
            open packet (a proxy that drops the C(Upgrade)/C(Connection) headers gets HTTP 400 from Open WebUI).
        type: dict
        suboptions:
          url:
            description: Base URL of Open WebUI through the proxy, for example C(https://chat.example.org).
            type: str
            required: true
          path:
            description: Path (and query) of the upgrade request.
            type: str
            default: /ws/socket.io/?EIO=4&transport=websocket
          validate_certs: *validate_certs
          ca_path: *ca_path
          timeout: *timeout
      openwebui_stream:
        description:
          - A streamed chat completion through the proxy (C(POST /api/chat/completions), C(stream) true, as the
            admin) arrives in pieces. It fails when the time from the first to the last content chunk is less
            than a tenth of the time to the last one (a buffering proxy hands the whole answer over at once),
            or when fewer than 3 content chunks came.
          - Signs in with the session of O(checks[].openwebui) (no more sign-ins). Stores no chat.
        type: dict
        suboptions:
          url: &proxy_url
            description: Base URL of Open WebUI through the proxy, for example C(https://chat.example.org).
            type: str
            required: true
          email: &proxy_email
            description: Admin e-mail to sign in with.
            type: str
            required: true
          password: &proxy_password
            description: Admin password.
            type: str
            required: true
          model:
            description: Model to chat with (named as for O(checks[].openwebui.model)).
            type: str
            required: true
          prompt:
            description: The message; its answer needs more than a few tokens.
            type: str
            default: Count from 1 to 30, one number per line.
          max_tokens:
            description: Cap of the answer's length.
            type: int
            default: 24
          validate_certs: *validate_certs
          ca_path: *ca_path
          timeout: *timeout_completion
      openwebui_upload:
        description:
          - A file of O(checks[].openwebui_upload.size_mb) MB is accepted through the proxy by
            C(POST /api/v1/files/?process=false) (what the chat's attach button sends, without the text
            extraction and embedding), then deleted with C(DELETE /api/v1/files/<id>).
          - A 413 names who refused it, the proxy (C(client_max_body_size)) or Open WebUI (C(RAG_FILE_MAX_SIZE)).
        type: dict
        suboptions:
          url: *proxy_url
          email: *proxy_email
          password: *proxy_password
          size_mb:
            description: Size of the upload in MB (1 or more).
            type: int
            default: 100
          validate_certs: *validate_certs
          ca_path: *ca_path
          timeout:
            description: *timeout_description
            type: int
            default: 120
      openwebui_slow_request:
        description:
          - A request through the proxy whose answer takes O(checks[].openwebui_slow_request.seconds) (more than
            the 60 s read timeout of nginx and Traefik by default) is not cut.
          - Open WebUI has no endpoint that waits, so the check serves a helper on
            O(checks[].openwebui_slow_request.callback_host) that answers after that many seconds, and asks
            Open WebUI, as the admin, to verify a terminal server there
            (C(POST /api/v1/configs/terminal_servers/verify), which saves nothing). Nothing crosses the proxy
            until the helper answers, as with a slow model's non-streamed answer.
          - Open WebUI must reach the helper, so the gate runs on the Open WebUI host, and C(ENABLE_TOOL_SERVERS)
            must be true (its default). Open WebUI's own C(AIOHTTP_CLIENT_TIMEOUT) (300 s) must exceed the seconds.
        type: dict
        suboptions:
          url: *proxy_url
          email: *proxy_email
          password: *proxy_password
          seconds:
            description: How long the request takes.
            type: int
            default: 70
          callback_host:
            description: Address the helper listens on, which Open WebUI connects to.
            type: str
            default: 127.0.0.1
          validate_certs: *validate_certs
          ca_path: *ca_path
          timeout:
            description:
              - Seconds each connection or request of an attempt may take; more than
                O(checks[].openwebui_slow_request.seconds).
              - It is cut to the time left before O(deadline), at least 1 s.
            type: int
            default: 120
"""
