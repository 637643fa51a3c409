# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The k8s_rollout check of ailab.stack.health_gate: a Deployment, StatefulSet or DaemonSet has rolled
out, by the rules of `kubectl rollout status`, read with the kubernetes Python client (imported
only when such a check runs)."""
from __future__ import annotations

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed, register, snippet


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


@register("k8s_rollout")
def check_k8s_rollout(spec: dict, timeout: float) -> str:
    from kubernetes import client, config  # only when a k8s_rollout check runs
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    try:
        if spec.get("kubeconfig") or spec.get("context"):
            api_client = config.new_client_from_config(config_file=spec.get("kubeconfig") or None,
                                                       context=spec.get("context") or None)
        else:
            try:
                config.load_incluster_config()
                api_client = client.ApiClient()
            except ConfigException:
                api_client = config.new_client_from_config()
    except (ConfigException, OSError) as e:
        raise CheckFailed(f"cannot load kubeconfig {spec.get('kubeconfig') or '(default)'}: {e}")
    apps = client.AppsV1Api(api_client)
    kind, name, ns = spec["kind"], spec["name"], spec["namespace"]
    read = {"Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
            "DaemonSet": apps.read_namespaced_daemon_set}[kind]
    try:
        obj = read(name, ns, _request_timeout=timeout)
    except ApiException as e:
        raise CheckFailed(f"{kind} {ns}/{name}: HTTP {e.status} {e.reason}")
    except Exception as e:  # urllib3 connection errors
        raise CheckFailed(f"{kind} {ns}/{name}: cannot reach the API server: {snippet(str(e))}")
    finally:
        api_client.close()
    done, message = rollout_status(kind, api_client.sanitize_for_serialization(obj))
    if not done:
        raise CheckFailed(message)
    return message
