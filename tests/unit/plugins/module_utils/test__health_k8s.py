"""The k8s_rollout and cnpg_cluster checks (plugins/module_utils/_health_k8s.py): the rollout rules of
`kubectl rollout status`, tested on real kubernetes client model objects, and the health rules of a
CloudNativePG Cluster, on status objects shaped as tests/k8s-schemas/postgresql.cnpg.io/cluster_v1.json
describes them. The client path is tested against a loopback HTTP server that answers the
requests the client sends with fixed objects (it is not an API server); the live API server path
runs in tests/integration/test_health_gate_k8s.py when KUBECONFIG points at a cluster. The
`service` transport is in test__health_service_proxy.py."""
from __future__ import annotations

import pytest
from kubernetes import client as k8s

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_k8s import (
    CNPG_HEALTHY, check_cnpg_cluster, check_k8s_rollout, cnpg_status, rollout_status)


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


# ------------------------------------------------------------------------------------------------
# cnpg_cluster
# ------------------------------------------------------------------------------------------------
def cnpg_cluster(instances=3, ready=3, phase=CNPG_HEALTHY, reason=None, ready_condition="True", generation=1,
                 observed=1):
    status = {"instances": instances, "readyInstances": ready, "phase": phase, "currentPrimary": "postgres-1",
              "targetPrimary": "postgres-1", "instanceNames": [f"postgres-{i + 1}" for i in range(instances)]}
    if reason:
        status["phaseReason"] = reason
    if ready_condition:
        status["conditions"] = [{"type": "Ready", "status": ready_condition, "reason": "ClusterIsReady",
                                 "message": "Cluster is Ready" if ready_condition == "True" else "Cluster Is Not Ready",
                                 "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
            "metadata": {"name": "postgres", "namespace": "ailab", "generation": generation},
            "spec": {"instances": instances}, "status": status}


@pytest.mark.parametrize("kw, healthy, message", [
    ({}, True, "Cluster ailab/postgres: 3 of 3 instances ready, primary postgres-1"),
    ({"instances": 1, "ready": 1, "ready_condition": None}, True,
     "Cluster ailab/postgres: 1 of 1 instances ready, primary postgres-1"),
    ({"ready": 2, "phase": "Creating a new replica", "reason": "Creating replica postgres-3-join"}, False,
     "Cluster ailab/postgres: phase 'Creating a new replica' (Creating replica postgres-3-join), 2 of 3 instances ready"),
    ({"phase": None, "ready": 0, "ready_condition": None}, False,
     "Cluster ailab/postgres: phase 'not reported yet', 0 of 3 instances ready"),
    ({"phase": "Switchover in progress"}, False,
     "Cluster ailab/postgres: phase 'Switchover in progress', 3 of 3 instances ready"),
    ({"ready": 2}, False, "Cluster ailab/postgres: 2 of 3 instances ready"),
    ({"ready_condition": "False"}, False, "Cluster ailab/postgres: condition Ready is False: Cluster Is Not Ready"),
    ({"generation": 2}, False, "Cluster ailab/postgres: waiting for the operator to observe generation 2"),
])
def test_cnpg_cluster_health(kw, healthy, message):
    assert cnpg_status(cnpg_cluster(**kw)) == (healthy, message)


def test_cnpg_ready_pods_are_compared_with_the_instances_asked_for():
    """status.instances counts PVC groups: a scale-up from 1 to 3 still shows 1 of them and 1 ready."""
    obj = cnpg_cluster(instances=1, ready=1)
    obj["spec"]["instances"] = 3
    assert cnpg_status(obj) == (False, "Cluster ailab/postgres: 1 of 3 instances ready")


CNPG_PATH = "/apis/postgresql.cnpg.io/v1/namespaces/ailab/clusters/postgres"


def cnpg_spec(config, **kw):
    return {"name": "postgres", "namespace": "ailab", "kubeconfig": config, "context": None, "timeout": 2, **kw}


def test_cnpg_cluster_reads_the_custom_object(web, tmp_path):
    web.routes[("GET", CNPG_PATH)] = lambda h, b: (200, cnpg_cluster())
    config = kubeconfig(tmp_path, web.url)
    assert check_cnpg_cluster(cnpg_spec(config), 2) == "Cluster ailab/postgres: 3 of 3 instances ready, primary postgres-1"
    assert web.seen[-1]["headers"]["authorization"] == "Bearer gate-token"
    web.routes[("GET", CNPG_PATH)] = lambda h, b: (200, cnpg_cluster(ready=1, phase="Failing over"))
    with pytest.raises(CheckFailed, match=r"^Cluster ailab/postgres: phase 'Failing over', 1 of 3 instances ready$"):
        check_cnpg_cluster(cnpg_spec(config), 2)


def test_cnpg_cluster_missing_and_api_down(web, tmp_path, closed_port):
    with pytest.raises(CheckFailed, match=r"^Cluster ailab/postgres: HTTP 404 Not Found$"):
        check_cnpg_cluster(cnpg_spec(kubeconfig(tmp_path, web.url)), 2)
    with pytest.raises(CheckFailed, match=r"^Cluster ailab/postgres: cannot reach the API server: "):
        check_cnpg_cluster(cnpg_spec(kubeconfig(tmp_path, f"http://127.0.0.1:{closed_port}")), 2)
