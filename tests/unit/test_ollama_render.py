"""Kubernetes objects of ailab.stack.ollama, rendered offline (ailab_kubernetes_apply: false),
validated strictly against the Kubernetes 1.34 schemas, and checked for the invariants: GPU
requests per vendor (RuntimeClass for NVIDIA), CPU-only without any GPU field, model volumes of
the configured size and class, readiness on /api/version, PDB, and a NetworkPolicy that lets in
only Open WebUI and monitoring. No preload runs (it needs a cluster)."""
from __future__ import annotations

import os
import sys

import pytest

from helpers.playbook import load_manifests, run_playbook, validate_manifests


def render(tmp_path, **extra):
    manifests = tmp_path / "manifests"
    extravars = {
        "ansible_python_interpreter": sys.executable,
        "ailab_runtime": "kubernetes",
        "ailab_kubernetes_apply": False,
        "ailab_manifest_dir": str(manifests),
        "ailab_namespace": "ailab",
        "ollama_models": [{"name": "llama3.1:8b", "loaded": True}],  # must not be touched without a cluster
    }
    extravars.update(extra)
    proc = run_playbook([{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "ailab.stack.ollama"}]}],
                        extravars=extravars)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "models.yml for localhost" not in proc.stdout  # no preload when nothing was applied
    out = manifests / "ollama"
    valid = validate_manifests(str(out))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    return out, load_manifests(str(out))


def one(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"{kind}: {len(found)}"
    return found[0]


def container(workload):
    return workload["spec"]["template"]["spec"]["containers"][0]


def test_cpu_only_statefulset(tmp_path):
    out, objs = render(tmp_path, ailab_gpu_vendor="none", ollama_storage_class="local-path", ollama_storage_size="40Gi")
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
    assert c["volumeMounts"] == [{"name": "models", "mountPath": "/models"}]


def test_nvidia_two_replicas(tmp_path):
    dummy, objs = render(tmp_path, ailab_gpu_vendor="nvidia", ollama_replicas=2, ollama_gpu_count=2,
                         ollama_node_selector={"nvidia.com/gpu.present": "true"})
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


def test_amd_uses_the_rocm_image_and_amd_gpus(tmp_path):
    dummy, objs = render(tmp_path, ailab_gpu_vendor="amd")
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    assert "runtimeClassName" not in pod
    assert container(sts)["resources"]["limits"]["amd.com/gpu"] == 1
    assert "nvidia.com/gpu" not in container(sts)["resources"]["limits"]
    assert container(sts)["image"].endswith("-rocm")
    assert pod["tolerations"][0]["key"] == "amd.com/gpu"


def test_network_policy_admits_only_open_webui_and_monitoring(tmp_path):
    dummy, objs = render(tmp_path, ollama_api_allowed_cidrs=["10.0.0.5/32"])
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


def test_deployment_with_shared_volume_and_stale_files_removed(tmp_path):
    render(tmp_path)  # a StatefulSet first
    out, objs = render(tmp_path, ollama_workload_kind="Deployment", ollama_replicas=2,
                       ollama_storage_access_mode="ReadWriteMany", ollama_storage_size="200Gi")
    assert "20-statefulset.yaml" not in os.listdir(out) and "20-deployment.yaml" in os.listdir(out)
    dep = one(objs, "Deployment")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["template"]["spec"]["volumes"] == [
        {"name": "models", "persistentVolumeClaim": {"claimName": "ollama-models"}}]
    pvc = one(objs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["resources"]["requests"]["storage"] == "200Gi"


@pytest.mark.parametrize("extra, message", [
    ({"ollama_workload_kind": "Deployment", "ollama_replicas": 2}, "needs ollama_storage_access_mode ReadWriteMany"),
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
