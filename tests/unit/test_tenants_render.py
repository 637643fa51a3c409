"""Kubernetes objects of ailab.stack.tenants, rendered offline (ailab_kubernetes_apply: false) and
validated against the strict schemas: each tenant's own namespace, quota and default-deny network
policies, its Ollama rendered by the ollama role (same image variable as the platform's, GPU
resource from the vendor map) and its Open WebUI rendered by the openwebui role, pointing at its
own Ollama and at the database named by ailab.stack.tenant; the tiers of an inventory written for
the openwebui role still work; the layout before the role is moved without losing objects.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from helpers.playbook import (ROOT, by_kind, container_env, load_manifests, render_variants, run_playbook, secret_data,
                              validate_manifests)

ADMIN_PW = "tenants-admin-password"
COMMON = {
    "ailab_runtime": "kubernetes",
    "ailab_kubernetes_apply": False,
    "ailab_namespace": "ailab",
    "ailab_ingress_host": "chat.example.org",
    "ailab_gpu_vendor": "nvidia",
    "openwebui_admin_email": "admin@example.org",
    "openwebui_admin_password": ADMIN_PW,
}
TENANTS = [{"name": "acme"}, {"name": "globex", "tier": "gpu", "replicas": 2, "host": "ai.globex.example"}]
OLD_TIERS = {"small": {"models": ["tiny"], "gpus": 0, "ollama_storage_size": "5Gi",
                       "ollama_resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
                       "quota": {"requests.cpu": "2", "limits.cpu": "4", "pods": "10"}}}
VARIANTS = {
    "tenants": {"ailab_tenants": TENANTS},
    "amd": {"ailab_gpu_vendor": "amd", "ailab_tenants": [{"name": "globex", "tier": "gpu"}]},
    "old-tiers": {"openwebui_tenant_tiers": OLD_TIERS, "ailab_tenants": [{"name": "legacy", "tier": "small"}]},
    "migrate": {"ailab_tenants": [{"name": "acme"}]},
    "systemd": {"ailab_runtime": "systemd", "ailab_tenants": [{"name": "acme"}]},
}
OLLAMA_VERSION = yaml.safe_load(Path(ROOT, "roles", "ollama", "defaults", "main.yml").read_text())["ollama_version"]


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    proc, dirs = render_variants("ailab.stack.tenants", VARIANTS, tmp_path_factory.mktemp("tenants"), COMMON)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert ADMIN_PW not in proc.stdout + proc.stderr
    return proc, dirs


def tenant_dir(renders, variant, name):
    return renders[1][variant] / "manifests" / "tenants" / name


def ollama_pod(objs):
    return [o for o in objs if o["kind"] in ("StatefulSet", "Deployment") and o["metadata"]["name"] == "ollama"][0]


@pytest.mark.parametrize("variant", ["tenants", "amd", "old-tiers"])
def test_every_object_validates(renders, variant):
    res = validate_manifests(str(renders[1][variant] / "manifests"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_each_tenant_is_a_namespace_with_quota_and_isolation(renders):
    for name in ("acme", "globex"):
        d = tenant_dir(renders, "tenants", name)
        objs = load_manifests(str(d))
        ns = f"ai-{name}"
        assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objs} == {ns}
        namespaces = by_kind(objs, "Namespace")
        assert len(namespaces) == 1 and namespaces[0]["metadata"]["labels"]["ailab.stack/tenant"] == name
        assert namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert sorted(os.listdir(d)) == ["00-namespace.yaml", "01-quota.yaml", "02-tenant-networkpolicy.yaml",
                                         "ollama", "openwebui"]
        assert by_kind(objs, "NetworkPolicy", "default-deny")[0]["spec"] == {"podSelector": {},
                                                                             "policyTypes": ["Ingress", "Egress"]}
        assert by_kind(objs, "ResourceQuota")[0]["spec"]["hard"]["limits.memory"]
        assert by_kind(objs, "LimitRange")
        assert not by_kind(objs, "Job")  # models go through ailab.stack.ollama_model, not a shell loop


def test_tenant_ollama_is_the_ollama_roles_workload(renders):
    acme = load_manifests(str(tenant_dir(renders, "tenants", "acme")))
    globex = load_manifests(str(tenant_dir(renders, "tenants", "globex")))
    for objs in (acme, globex):
        sts = ollama_pod(objs)
        assert sts["kind"] == "StatefulSet"
        c = sts["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == f"docker.io/ollama/ollama:{OLLAMA_VERSION}"
        assert c["volumeMounts"] == [{"name": "models", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
        assert by_kind(objs, "Service", "ollama-headless") and by_kind(objs, "NetworkPolicy", "ollama")
    acme_pod = ollama_pod(acme)["spec"]["template"]["spec"]
    assert "runtimeClassName" not in acme_pod and "nvidia.com/gpu" not in acme_pod["containers"][0]["resources"]["limits"]
    assert acme_pod["containers"][0]["resources"]["limits"] == {"cpu": "8", "memory": "16Gi"}
    pod = ollama_pod(globex)["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1 and pod["runtimeClassName"] == "nvidia"
    assert by_kind(globex, "ResourceQuota")[0]["spec"]["hard"]["requests.nvidia.com/gpu"] == "1"


def test_amd_tenant_gets_the_amd_gpu_resource(renders):
    objs = load_manifests(str(tenant_dir(renders, "amd", "globex")))
    pod = ollama_pod(objs)["spec"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits["amd.com/gpu"] == 1 and "nvidia.com/gpu" not in limits and "runtimeClassName" not in pod
    assert pod["containers"][0]["image"] == f"docker.io/ollama/ollama:{OLLAMA_VERSION}-rocm"
    hard = by_kind(objs, "ResourceQuota")[0]["spec"]["hard"]
    assert hard["requests.amd.com/gpu"] == "1" and "requests.nvidia.com/gpu" not in hard


def test_tenant_openwebui_uses_its_own_ollama_and_database(renders):
    tmp = renders[1]["tenants"]
    keys = set()
    for t in TENANTS:
        name, ns = t["name"], f"ai-{t['name']}"
        web = load_manifests(str(tenant_dir(renders, "tenants", name) / "openwebui"))
        assert not by_kind(web, "Namespace")  # the tenants role owns it
        env = container_env(by_kind(web, "Deployment", "openwebui")[0])
        assert env["OLLAMA_BASE_URLS"] == env["RAG_OLLAMA_BASE_URL"] == f"http://ollama.{ns}.svc:11434"
        data = secret_data(by_kind(web, "Secret", "openwebui")[0])
        url = urlsplit(data["DATABASE_URL"])
        assert (url.username, url.path, url.hostname) == (f"openwebui_{name}", f"/openwebui_{name}", "postgres-rw.ailab.svc")
        assert url.password == (tmp / "credentials" / "tenants" / name / "db_password").read_text().strip()
        assert data["WEBUI_SECRET_KEY"] == (tmp / "credentials" / "tenants" / name / "webui_secret_key").read_text().strip()
        keys.add(data["WEBUI_SECRET_KEY"])
    assert len(keys) == 2
    acme = container_env(by_kind(load_manifests(str(tenant_dir(renders, "tenants", "acme"))), "Deployment", "openwebui")[0])
    assert acme["DEFAULT_MODELS"] == "llama3:8b,mistral:7b" and "WEBSOCKET_MANAGER" not in acme
    assert acme["WEBUI_URL"] == "https://acme.chat.example.org"
    globex = load_manifests(str(tenant_dir(renders, "tenants", "globex")))
    genv = container_env(by_kind(globex, "Deployment", "openwebui")[0])
    assert genv["DEFAULT_MODELS"] == "llama3:70b" and genv["WEBSOCKET_MANAGER"] == "redis"
    assert genv["WEBUI_URL"] == "https://ai.globex.example" and genv["VECTOR_DB"] == "pgvector"
    assert by_kind(globex, "Deployment", "openwebui-redis")


def test_tiers_of_the_openwebui_role_still_work(renders):
    proc = renders[0]
    assert "DEPRECATED: openwebui_tenant_tiers" in proc.stdout
    objs = load_manifests(str(tenant_dir(renders, "old-tiers", "legacy")))
    assert by_kind(objs, "ResourceQuota")[0]["spec"]["hard"] == {"requests.cpu": "2", "limits.cpu": "4", "pods": "10"}
    env = container_env(by_kind(objs, "Deployment", "openwebui")[0])
    assert env["DEFAULT_MODELS"] == "tiny"


def test_systemd_runtime_does_nothing(renders):
    assert not (renders[1]["systemd"] / "manifests").exists()


def test_layout_before_the_role_is_moved_not_pruned(renders):
    """The files of a tenant rendered by the openwebui role (all in tenants/<name>/) move to the
    composed roles' directories; the old Ollama file is pruned by the ollama role."""
    base = renders[1]["migrate"]
    d = base / "manifests" / "tenants" / "acme"
    before = {p.name: p.read_text() for p in (d / "openwebui").iterdir()}
    for p in (d / "openwebui").iterdir():
        shutil.move(str(p), d / p.name)
    (d / "35-ollama.yaml").write_text("apiVersion: batch/v1\nkind: Job\nmetadata: {name: ollama-pull-1, namespace: ai-acme}\n"
                                      "spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: pull, image: x}]}}}\n")
    proc = run_playbook([{"name": "again", "hosts": "localhost", "gather_facts": False,
                          "vars": {**COMMON, **VARIANTS["migrate"], "ailab_manifest_dir": str(base / "manifests")},
                          "roles": [{"role": "ailab.stack.tenants"}]}],
                        extravars={"ansible_python_interpreter": sys.executable})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert sorted(os.listdir(d)) == ["00-namespace.yaml", "01-quota.yaml", "02-tenant-networkpolicy.yaml",
                                     "ollama", "openwebui"]
    assert {p.name: p.read_text() for p in (d / "openwebui").iterdir()} == before
    assert "35-ollama.yaml" not in os.listdir(d / "ollama")


@pytest.mark.parametrize("tenants,extra,message", [
    ([{"name": "Bad_Name"}], {}, "DNS label"),
    ([{"name": "acme", "tier": "tpu"}], {}, "tier one of cpu, gpu"),
    ([{"name": "acme"}, {"name": "acme"}], {}, "must be unique"),
    ([{"name": "acme", "tier": "gpu"}], {"ailab_gpu_vendor": "none"}, "ailab_gpu_vendor must be nvidia or amd"),
])
def test_bad_tenants_fail_early_naming_the_entry(tmp_path, tenants, extra, message):
    proc = run_playbook([{"name": "bad", "hosts": "localhost", "gather_facts": False,
                          "vars": {**COMMON, **extra, "ailab_tenants": tenants, "ailab_manifest_dir": str(tmp_path / "m")},
                          "roles": [{"role": "ailab.stack.tenants"}]}],
                        extravars={"ansible_python_interpreter": sys.executable})
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (tmp_path / "m").exists()
