"""Kubernetes objects of ailab.stack.ollama, rendered offline (ailab_kubernetes_apply: false),
validated strictly against the Kubernetes 1.34 schemas, and checked for the invariants: GPU
requests per vendor (RuntimeClass for NVIDIA), CPU-only without any GPU field, model volumes of
the configured size and class, readiness on /api/version, PDB, and a NetworkPolicy that lets in
only Open WebUI and monitoring. No preload runs (it needs a cluster).

Every valid configuration is rendered once, in one ansible-playbook run (`renders`, one play per
configuration, each into its own directory); the failures are runs of their own."""
from __future__ import annotations

import os
import sys

import pytest

from helpers.playbook import load_manifests, render_variants, run_playbook, validate_manifests


COMMON = {
    "ailab_runtime": "kubernetes",
    "ailab_kubernetes_apply": False,
    "ailab_namespace": "ailab",
    "ollama_models": [{"name": "llama3.1:8b", "loaded": True}],  # must not be touched without a cluster
}
# name -> variables (a list: rendered in that order into the same directory, see render_variants)
VARIANTS = {
    "cpu": {"ailab_gpu_vendor": "none", "ollama_storage_class": "local-path", "ollama_storage_size": "40Gi"},
    "nvidia": {"ailab_gpu_vendor": "nvidia", "ollama_replicas": 2, "ollama_gpu_count": 2,
               "ollama_node_selector": {"nvidia.com/gpu.present": "true"}},
    "amd": {"ailab_gpu_vendor": "amd"},
    "cidrs": {"ollama_api_allowed_cidrs": ["10.0.0.5/32"]},
    "statefulset-then-deployment": [{}, {"ollama_workload_kind": "Deployment", "ollama_replicas": 2,
                                         "ollama_storage_access_mode": "ReadWriteMany", "ollama_storage_size": "200Gi"}],
}


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """{variant: its directory} of the one run that rendered every VARIANTS entry."""
    proc, dirs = render_variants("ailab.stack.ollama", VARIANTS, tmp_path_factory.mktemp("variants"), COMMON)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "models.yml for localhost" not in proc.stdout  # no preload when nothing was applied
    return dirs


def rendered(renders, variant, step="manifests"):
    """The objects a variant rendered (`step`: e.g. step1, the state before its next step), valid."""
    out = renders[variant] / step / "ollama"
    valid = validate_manifests(str(out))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    return out, load_manifests(str(out))


def one(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"{kind}: {len(found)}"
    return found[0]


def container(workload):
    return workload["spec"]["template"]["spec"]["containers"][0]


def test_cpu_only_statefulset(renders):
    out, objs = rendered(renders, "cpu")
    assert sorted(os.listdir(out)) == ["00-namespace.yaml", "10-service.yaml", "20-statefulset.yaml",
                                       "30-poddisruptionbudget.yaml", "40-networkpolicy.yaml"]
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    c = container(sts)
    assert "runtimeClassName" not in pod and "tolerations" not in pod
    assert not [k for k in c["resources"].get("limits", {}) if "gpu" in k]
    assert c["image"] == "docker.io/ollama/ollama:0.5.4"
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "local-path" and claim["resources"]["requests"]["storage"] == "40Gi"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/api/version", "port": "http"}
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["OLLAMA_HOST"] == "0.0.0.0:11434" and env["OLLAMA_MODELS"] == "/models"
    assert c["volumeMounts"] == [{"name": "models", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]  # the models: the claim template


def test_nvidia_two_replicas(renders):
    dummy, objs = rendered(renders, "nvidia")
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    assert sts["spec"]["replicas"] == 2 and sts["spec"]["serviceName"] == "ollama-headless"
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert container(sts)["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert container(sts)["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    pdb = one(objs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    services = {s["metadata"]["name"]: s for s in objs if s["kind"] == "Service"}
    assert services["ollama-headless"]["spec"]["clusterIP"] == "None"
    assert services["ollama"]["spec"]["ports"][0]["port"] == 11434


def test_amd_uses_the_rocm_image_and_amd_gpus(renders):
    dummy, objs = rendered(renders, "amd")
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    assert "runtimeClassName" not in pod
    assert container(sts)["resources"]["limits"]["amd.com/gpu"] == 1
    assert "nvidia.com/gpu" not in container(sts)["resources"]["limits"]
    assert container(sts)["image"].endswith("-rocm")
    assert pod["tolerations"][0]["key"] == "amd.com/gpu"


def test_network_policy_admits_only_open_webui_and_monitoring(renders):
    dummy, objs = rendered(renders, "cidrs")
    np = one(objs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "ollama"
    [rule] = np["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "open-webui"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"ipBlock": {"cidr": "10.0.0.5/32"}},
    ]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_deployment_with_shared_volume_and_stale_files_removed(renders):
    first, _objs = rendered(renders, "statefulset-then-deployment", "step1")  # a StatefulSet first
    assert "20-statefulset.yaml" in os.listdir(first)
    out, objs = rendered(renders, "statefulset-then-deployment")  # then a Deployment into the same directory
    assert "20-statefulset.yaml" not in os.listdir(out) and "20-deployment.yaml" in os.listdir(out)
    dep = one(objs, "Deployment")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["template"]["spec"]["volumes"] == [
        {"name": "tmp", "emptyDir": {}}, {"name": "models", "persistentVolumeClaim": {"claimName": "ollama-models"}}]
    pvc = one(objs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["resources"]["requests"]["storage"] == "200Gi"


@pytest.mark.parametrize("extra, message", [
    ({"ollama_workload_kind": "Deployment", "ollama_replicas": 2}, "Fix: set ollama_storage_access_mode: ReadWriteMany"),
    ({"ollama_replicas": 0}, "ollama_replicas is 0; allowed: 1 or more"),
    ({"ollama_gpu_vendor": "intel"}, "ollama_gpu_vendor"),
])
def test_bad_settings_fail_before_anything_is_rendered(tmp_path, extra, message):
    manifests = tmp_path / "m"
    proc = run_playbook([{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "ailab.stack.ollama"}]}],
                        extravars={"ansible_python_interpreter": sys.executable, "ailab_runtime": "kubernetes",
                                   "ailab_kubernetes_apply": False, "ailab_manifest_dir": str(manifests), **extra})
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not manifests.exists()
