# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""What ailab.stack.health_gate reads from the Kubernetes API, with the kubernetes Python client
(imported only when a check needs it) and a kubeconfig:

- the k8s_rollout check: a Deployment, StatefulSet or DaemonSet has rolled out, by the rules of
  `kubectl rollout status`;
- the cnpg_cluster check: a CloudNativePG Cluster (postgresql.cnpg.io/v1) is healthy, with every
  instance ready;
- service_endpoint: the transport of the HTTP checks with a `service` option, the API server's
  service proxy (/api/v1/namespaces/<ns>/services/<scheme>:<name>:<port>/proxy), authenticated
  with the kubeconfig's credentials (CA, client certificate and key, bearer token, basic auth;
  tokens of exec plugins and token files as the client loads them).
"""
from __future__ import annotations

import re
import typing as t
from urllib.parse import quote

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed, Endpoint, register, snippet

# The phase CloudNativePG reports when every instance runs and nothing is pending (PhaseHealthy,
# api/v1/cluster_types.go); the others name what is in progress (switchover, upgrade, ...).
CNPG_HEALTHY = "Cluster in healthy state"
# A Service port named as in its spec.ports[].name (an IANA service name), or a number.
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


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


# ---------------------------------------------------------------------------------------------
# kubeconfig
# ---------------------------------------------------------------------------------------------
def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> t.Any:
    """A kubernetes.client.Configuration from `kubeconfig`/`context`; with neither, the in-cluster
    config, then KUBECONFIG or ~/.kube/config."""
    from kubernetes import client, config  # only when a check talks to Kubernetes
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if kubeconfig or context:
            config.load_kube_config(config_file=kubeconfig or None, context=context or None,
                                    client_configuration=configuration)
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except ConfigException:
                config.load_kube_config(client_configuration=configuration)
    except (ConfigException, OSError) as e:
        raise CheckFailed(f"cannot load kubeconfig {kubeconfig or '(default)'}: {e}")
    return configuration


def _read(spec: dict, what: str, read: t.Callable[[t.Any], t.Any]) -> dict:
    """read(api_client) with the check's kubeconfig; the object as a dict (camelCase API fields).
    API errors become CheckFailed naming `what`."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api_client = client.ApiClient(load_configuration(spec.get("kubeconfig"), spec.get("context")))
    try:
        return api_client.sanitize_for_serialization(read(api_client))
    except ApiException as e:
        raise CheckFailed(f"{what}: HTTP {e.status} {e.reason}")
    except Exception as e:  # urllib3 connection errors
        raise CheckFailed(f"{what}: cannot reach the API server: {snippet(str(e))}")
    finally:
        api_client.close()


# ---------------------------------------------------------------------------------------------
# k8s_rollout
# ---------------------------------------------------------------------------------------------
@register("k8s_rollout")
def check_k8s_rollout(spec: dict, timeout: float) -> str:
    from kubernetes import client

    kind, name, ns = spec["kind"], spec["name"], spec["namespace"]

    def read(api_client: t.Any) -> t.Any:
        apps = client.AppsV1Api(api_client)
        return {"Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
                "DaemonSet": apps.read_namespaced_daemon_set}[kind](name, ns, _request_timeout=timeout)

    done, message = rollout_status(kind, _read(spec, f"{kind} {ns}/{name}", read))
    if not done:
        raise CheckFailed(message)
    return message


# ---------------------------------------------------------------------------------------------
# cnpg_cluster
# ---------------------------------------------------------------------------------------------
def cnpg_status(obj: dict) -> tuple[bool, str]:
    """(healthy, message) of a CloudNativePG Cluster as a dict.

    Healthy: the phase is CNPG_HEALTHY and status.readyInstances (ready instance pods) equals
    spec.instances (what was asked for; status.instances counts PVC groups, which a dangling PVC
    or a scale-up still in progress makes differ), and the Ready condition, once reported for
    the current generation, is True.
    """
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    name = f"Cluster {meta.get('namespace', '')}/{meta.get('name', '')}"
    want, ready = spec.get("instances", 1), status.get("readyInstances") or 0
    instances = f"{ready} of {want} instances ready"
    phase = status.get("phase")
    if phase != CNPG_HEALTHY:
        reason = f" ({status['phaseReason']})" if status.get("phaseReason") else ""
        return False, f"{name}: phase {phase or 'not reported yet'!r}{reason}, {instances}"
    if ready != want:
        return False, f"{name}: {instances}"
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if cond and (cond.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, f"{name}: waiting for the operator to observe generation {meta.get('generation')}"
    if cond and cond.get("status") != "True":
        return False, f"{name}: condition Ready is {cond.get('status')}: {cond.get('message', '')}".rstrip(": ")
    return True, f"{name}: {instances}, primary {status.get('currentPrimary') or 'unknown'}"


@register("cnpg_cluster")
def check_cnpg_cluster(spec: dict, timeout: float) -> str:
    from kubernetes import client

    name, ns = spec["name"], spec["namespace"]

    def read(api_client: t.Any) -> t.Any:
        return client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "postgresql.cnpg.io", "v1", ns, "clusters", name, _request_timeout=timeout)

    healthy, message = cnpg_status(_read(spec, f"Cluster {ns}/{name}", read))
    if not healthy:
        raise CheckFailed(message)
    return message


# ---------------------------------------------------------------------------------------------
# service proxy: the transport of the HTTP checks' `service` option
# ---------------------------------------------------------------------------------------------
def proxy_url(server: str, service: dict) -> str:
    """The API server URL that proxies to `port` of Service `namespace`/`name` (kubectl's
    `get --raw /api/v1/namespaces/<ns>/services/<scheme>:<name>:<port>/proxy/<path>`)."""
    port = service["port"]
    if isinstance(port, bool) or not (isinstance(port, int) and 0 < port < 65536
                                      or isinstance(port, str) and (port.isdigit() and 0 < int(port) < 65536
                                                                    or _PORT_NAME.match(port))):
        raise CheckFailed(f"service port must be a port number or a port name, got {port!r}")
    scheme = service.get("scheme") or "http"
    return (f"{server.rstrip('/')}/api/v1/namespaces/{quote(service.get('namespace') or 'default', safe='')}"
            f"/services/{scheme}:{quote(service['name'], safe='')}:{port}/proxy")


def service_endpoint(service: dict, headers: dict | None = None, secrets: list[str] | None = None) -> Endpoint:
    """The Endpoint of a Service through the API server, with the credentials of the service's
    kubeconfig (added to `secrets`) and the check's `headers`."""
    configuration = load_configuration(service.get("kubeconfig"), service.get("context"))
    if getattr(configuration, "tls_server_name", None):
        raise CheckFailed(f"kubeconfig {service.get('kubeconfig') or '(default)'}: tls-server-name "
                          f"{configuration.tls_server_name} is not supported for a service check")
    sent = dict(headers or {})
    # A bearer token (static, from a token file or an exec plugin, refreshed when it expired) or
    # basic auth. The client keeps a token file's final newline, which no header may hold.
    authorization = (configuration.get_api_key_with_prefix("authorization") or "").strip()
    if authorization:
        sent["Authorization"] = authorization
        if secrets is not None:
            secrets += [authorization, authorization.split(" ", 1)[-1]]
    return Endpoint(proxy_url(configuration.host, service), sent, configuration.verify_ssl,
                    configuration.ssl_ca_cert, configuration.cert_file, configuration.key_file, via_api_server=True)
