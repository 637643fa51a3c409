"""The k8s_rollout check (plugins/module_utils/_health_k8s.py): the rollout rules of `kubectl rollout
status`, tested on real kubernetes client model objects. The live API server path runs in
tests/integration/test_health_gate_k8s.py when KUBECONFIG points at a cluster."""
from __future__ import annotations

import pytest
from kubernetes import client as k8s

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_k8s import check_k8s_rollout, rollout_status


def as_dict(obj):
    return k8s.ApiClient().sanitize_for_serialization(obj)


def deployment(replicas=3, generation=2, observed=2, updated=3, total=3, available=3, conditions=None):
    return as_dict(k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="open-webui", namespace="ailab", generation=generation),
        spec=k8s.V1DeploymentSpec(replicas=replicas, selector=k8s.V1LabelSelector(match_labels={"a": "b"}),
                                  template=k8s.V1PodTemplateSpec()),
        status=k8s.V1DeploymentStatus(observed_generation=observed, updated_replicas=updated, replicas=total,
                                      available_replicas=available, conditions=conditions)))


@pytest.mark.parametrize("kw, done, message", [
    ({}, True, "Deployment ailab/open-webui: 3 of 3 replicas available"),
    ({"observed": 1}, False, "Deployment ailab/open-webui: waiting for the controller to observe generation 2"),
    ({"updated": 1, "total": 3, "available": 1}, False, "Deployment ailab/open-webui: 1 of 3 replicas updated"),
    ({"total": 4}, False, "Deployment ailab/open-webui: 1 old replicas pending termination"),
    ({"available": 2}, False, "Deployment ailab/open-webui: 2 of 3 updated replicas available"),
    ({"replicas": 0, "updated": None, "total": None, "available": None}, True,
     "Deployment ailab/open-webui: 0 of 0 replicas available"),
])
def test_deployment_rollout(kw, done, message):
    assert rollout_status("Deployment", deployment(**kw)) == (done, message)


def test_deployment_progress_deadline():
    cond = k8s.V1DeploymentCondition(type="Progressing", status="False", reason="ProgressDeadlineExceeded",
                                     message='ReplicaSet "open-webui-1" has timed out progressing.')
    done, message = rollout_status("Deployment", deployment(available=1, conditions=[cond]))
    assert not done and "exceeded its progress deadline" in message and "timed out" in message


def statefulset(ready=1, current="r1", update="r1", partition=None, updated=1):
    strategy = k8s.V1StatefulSetUpdateStrategy(
        type="RollingUpdate", rolling_update=k8s.V1RollingUpdateStatefulSetStrategy(partition=partition))
    return as_dict(k8s.V1StatefulSet(
        metadata=k8s.V1ObjectMeta(name="postgres", namespace="ailab", generation=1),
        spec=k8s.V1StatefulSetSpec(replicas=1, service_name="postgres", update_strategy=strategy,
                                   selector=k8s.V1LabelSelector(match_labels={"a": "b"}),
                                   template=k8s.V1PodTemplateSpec()),
        status=k8s.V1StatefulSetStatus(observed_generation=1, replicas=1, ready_replicas=ready,
                                       current_revision=current, update_revision=update,
                                       updated_replicas=updated)))


@pytest.mark.parametrize("kw, done, message", [
    ({}, True, "StatefulSet ailab/postgres: 1 of 1 replicas ready"),
    ({"ready": 0}, False, "StatefulSet ailab/postgres: 0 of 1 replicas ready"),
    ({"update": "r2"}, False, "StatefulSet ailab/postgres: rolling update to revision r2 in progress"),
    ({"update": "r2", "partition": 1, "updated": 0}, True, "StatefulSet ailab/postgres: 1 of 1 replicas ready"),
])
def test_statefulset_rollout(kw, done, message):
    assert rollout_status("StatefulSet", statefulset(**kw)) == (done, message)


@pytest.mark.parametrize("status, done, message", [
    ({"desired": 2, "updated": 2, "available": 2}, True, "DaemonSet ailab/node-exporter: 2 of 2 pods available"),
    ({"desired": 2, "updated": 1, "available": 2}, False, "DaemonSet ailab/node-exporter: 1 of 2 pods updated"),
    ({"desired": 2, "updated": 2, "available": 1}, False, "DaemonSet ailab/node-exporter: 1 of 2 pods available"),
])
def test_daemonset_rollout(status, done, message):
    obj = as_dict(k8s.V1DaemonSet(
        metadata=k8s.V1ObjectMeta(name="node-exporter", namespace="ailab", generation=1),
        status=k8s.V1DaemonSetStatus(observed_generation=1, desired_number_scheduled=status["desired"],
                                     current_number_scheduled=status["desired"], number_misscheduled=0,
                                     number_ready=status["available"], updated_number_scheduled=status["updated"],
                                     number_available=status["available"])))
    assert rollout_status("DaemonSet", obj) == (done, message)


def test_k8s_rollout_with_missing_kubeconfig(tmp_path):
    spec = {"kind": "Deployment", "name": "x", "namespace": "ailab", "kubeconfig": str(tmp_path / "none"),
            "context": None, "timeout": 2}
    with pytest.raises(CheckFailed, match="cannot load kubeconfig .*none"):
        check_k8s_rollout(spec, 2)


def test_unsupported_kind():
    with pytest.raises(CheckFailed, match=r"unsupported kind 'Pod' \(allowed: Deployment, StatefulSet, DaemonSet\)"):
        rollout_status("Pod", {"metadata": {"name": "x"}})


# ------------------------------------------------------------------------------------------------
# the client path, against a loopback server that answers like the API server
# ------------------------------------------------------------------------------------------------
def kubeconfig(tmp_path, server):
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: test, cluster: {{server: "{server}"}}}}]
users: [{{name: gate, user: {{token: gate-token}}}}]
contexts: [{{name: test, context: {{cluster: test, user: gate}}}}]
current-context: test
""")
    return str(path)


def rollout_spec(config, **kw):
    return {"kind": "Deployment", "name": "open-webui", "namespace": "ailab", "kubeconfig": config,
            "context": None, "timeout": 2, **kw}


def test_k8s_rollout_reads_the_workload_from_the_api(web, tmp_path):
    path = "/apis/apps/v1/namespaces/ailab/deployments/open-webui"
    web.routes[("GET", path)] = lambda h, b: (200, deployment(available=3))
    config = kubeconfig(tmp_path, web.url)
    assert check_k8s_rollout(rollout_spec(config), 2) == "Deployment ailab/open-webui: 3 of 3 replicas available"
    assert web.seen[-1]["headers"]["authorization"] == "Bearer gate-token"
    web.routes[("GET", path)] = lambda h, b: (200, deployment(available=1))
    with pytest.raises(CheckFailed, match=r"^Deployment ailab/open-webui: 1 of 3 updated replicas available$"):
        check_k8s_rollout(rollout_spec(config), 2)


def test_k8s_rollout_missing_workload_and_api_down(web, tmp_path, closed_port):
    with pytest.raises(CheckFailed, match=r"^StatefulSet ailab/open-webui: HTTP 404 Not Found$"):
        check_k8s_rollout(rollout_spec(kubeconfig(tmp_path, web.url), kind="StatefulSet"), 2)
    with pytest.raises(CheckFailed, match=r"^Deployment ailab/open-webui: cannot reach the API server: "):
        check_k8s_rollout(rollout_spec(kubeconfig(tmp_path, f"http://127.0.0.1:{closed_port}")), 2)
