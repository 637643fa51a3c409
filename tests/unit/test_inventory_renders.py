"""Each Kubernetes reference inventory, rendered end to end offline: the postgres, ollama,
openwebui and tenants roles run with the inventory's own variables (ailab_kubernetes_apply: false, secrets
given here as vault would), every object validates against the strict schemas, and the things
each deployment is about hold across the roles (replicas, GPU, pgvector, tenant databases), and checkov's
Kubernetes checks pass on every render but the checks tests/checkov/skips.yml skips with a reason."""
from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from urllib.parse import unquote, urlsplit

import pytest

import yaml

from helpers.playbook import ROOT, by_kind, container_env, load_manifests, run_playbook, secret_data, validate_manifests

K8S_INVENTORIES = ["single-gpu", "microk8s", "ha", "multitenant"]
# name -> (inventory, extra variables): the multitenant inventory on AMD GPUs too, with its images pinned by digest
DIGESTS = {"ollama_image_digest": "sha256:" + "a" * 64, "ollama_image_digest_rocm": "sha256:" + "b" * 64,
           "openwebui_image_digest": "sha256:" + "c" * 64, "openwebui_redis_image_digest": "sha256:" + "d" * 64}
RENDERS = {**{name: (name, {}) for name in K8S_INVENTORIES},
           "multitenant-amd": ("multitenant", {"ailab_gpu_vendor": "amd", **DIGESTS})}
SECRETS = {"postgres_openwebui_password": "inv-db-password", "openwebui_admin_email": "admin@example.org",
           "openwebui_admin_password": "inv-admin-password", "ingress_acme_rfc2136_key_secret": "inv-tsig-secret"}
PLAYS = [{"name": f"render {role}", "hosts": "localhost", "gather_facts": False, "roles": [{"role": f"ailab.stack.{role}"}]}
         for role in ("ingress", "postgres", "ollama", "openwebui", "tenants")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{inventory: its manifest directory}, rendered two inventories at a time (2 cores)."""
    renders = tmp_path_factory.mktemp("renders")   # only these: checkov scans their common parent

    def render(name):
        inventory, extra = RENDERS[name]
        out = renders / name / "manifests"
        proc = run_playbook(PLAYS, inventory=os.path.join(ROOT, "inventories", inventory), extravars={
            "ansible_python_interpreter": sys.executable, "ailab_kubernetes_apply": False,
            "ailab_manifest_dir": str(out), **SECRETS, **extra})
        return name, proc, out
    # Every render under one directory: checkov scans them all in one run.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(render, RENDERS))
    for name, proc, _out in results:
        assert proc.returncode == 0, f"{name}:\n" + proc.stdout[-4000:] + proc.stderr[-2000:]
        for secret in SECRETS.values():
            assert secret not in proc.stdout + proc.stderr
    return {name: out for name, _proc, out in results}


@pytest.mark.parametrize("name", list(RENDERS))
def test_every_object_validates(rendered, name):
    res = validate_manifests(str(rendered[name]))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", list(RENDERS))
def test_every_ingress_names_the_inventorys_cluster_issuer(rendered, name):
    """The ingress role's ClusterIssuers (tests/unit/test_ingress_render.py has the rest) and the issuer every
    Ingress, the platform's and each tenant's, is annotated with (ailab_ingress_cluster_issuer)."""
    with open(os.path.join(ROOT, "inventories", RENDERS[name][0], "group_vars", "all", "ailab.yml")) as f:
        issuer = yaml.safe_load(f)["ailab_ingress_cluster_issuer"]
    assert issuer in {o["metadata"]["name"] for o in by_kind(load_manifests(rendered[name] / "ingress"), "ClusterIssuer")}
    ingresses = [o for d in rendered[name].iterdir() if d.is_dir() for o in by_kind(load_manifests(d), "Ingress")]
    assert len(ingresses) == 1 + (2 if name.startswith("multitenant") else 0)
    assert {o["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] for o in ingresses} == {issuer}


def test_single_gpu_box(rendered):
    ollama = load_manifests(rendered["single-gpu"] / "ollama")
    pod = [o for o in ollama if o["kind"] in ("StatefulSet", "Deployment")][0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert pod["runtimeClassName"] == "nvidia"


def test_ha_cluster(rendered):
    d = rendered["ha"]
    workload = [o for o in load_manifests(d / "ollama") if o["kind"] in ("StatefulSet", "Deployment")][0]
    assert workload["spec"]["replicas"] == 2
    web = load_manifests(d / "openwebui")
    dep = by_kind(web, "Deployment", "openwebui")[0]
    env = container_env(dep)
    assert dep["spec"]["replicas"] == 3
    assert (env["WEBSOCKET_MANAGER"], env["VECTOR_DB"]) == ("redis", "pgvector")
    assert by_kind(web, "PodDisruptionBudget")
    # pgvector needs the extension in the database the postgres role creates
    cluster = by_kind(load_manifests(d / "postgres"), "Cluster")[0]
    assert 'CREATE EXTENSION IF NOT EXISTS "vector"' in cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"]


def workload(objs, name="ollama"):
    return [o for o in objs if o["kind"] in ("StatefulSet", "Deployment") and o["metadata"]["name"] == name][0]


@pytest.mark.parametrize("name, gpu", [("multitenant", "nvidia.com/gpu"), ("multitenant-amd", "amd.com/gpu")])
def test_multitenant_tenants_are_built_from_the_stage_roles(rendered, name, gpu):
    """Each tenant: its namespace, quota and network policy; an Ollama rendered by the ollama role
    (the platform Ollama's image, the vendor's GPU resource); an Open WebUI on its own Ollama and on
    the database and user the postgres role creates for it (one naming function)."""
    d = rendered[name]
    pg = load_manifests(d / "postgres")
    roles = {r["name"]: r["passwordSecret"]["name"] for r in by_kind(pg, "Cluster")[0]["spec"]["managed"]["roles"]}
    databases = {o["spec"]["name"]: o["spec"]["owner"] for o in by_kind(pg, "Database")}
    passwords = {o["metadata"]["name"]: o["stringData"]["password"] for o in by_kind(pg, "Secret")}
    assert set(databases) == set(roles) == {"openwebui_research", "openwebui_support"}
    platform_image = workload(load_manifests(d / "ollama"))["spec"]["template"]["spec"]["containers"][0]["image"]
    for tenant, tier_gpus in (("research", 1), ("support", 0)):
        ns = f"ai-{tenant}"
        objs = load_manifests(d / "tenants" / tenant)
        assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objs} == {ns}
        assert by_kind(objs, "Namespace", ns) and by_kind(objs, "NetworkPolicy", "default-deny")
        hard = by_kind(objs, "ResourceQuota", "tenant-quota")[0]["spec"]["hard"]
        assert not by_kind(objs, "Job")
        ollama = load_manifests(d / "tenants" / tenant / "ollama")
        sts = workload(ollama)
        assert sts["kind"] == "StatefulSet" and by_kind(ollama, "Service", "ollama-headless")
        c = sts["spec"]["template"]["spec"]["containers"][0]
        # the platform Ollama's image and version (a CPU tier without the -rocm build of an AMD cluster)
        tag = platform_image.split("@")[0]
        assert c["image"].split("@")[0] == (tag if tier_gpus else tag.removesuffix("-rocm"))
        if tier_gpus:
            assert c["resources"]["limits"][gpu] == 1 and hard[f"requests.{gpu}"] == "1"
        assert not {k for k in c["resources"]["limits"] if k.endswith("/gpu")} - ({gpu} if tier_gpus else set())
        web = load_manifests(d / "tenants" / tenant / "openwebui")
        env = container_env(by_kind(web, "Deployment", "openwebui")[0])
        assert env["OLLAMA_BASE_URLS"] == f"http://ollama.{ns}.svc:11434"
        url = urlsplit(secret_data(by_kind(web, "Secret")[0])["DATABASE_URL"])
        db = url.path.lstrip("/")
        assert databases[db] == url.username == db == f"openwebui_{tenant}"
        assert unquote(url.password) == passwords[roles[url.username]]


def test_microk8s_box(rendered):
    web = load_manifests(rendered["microk8s"] / "openwebui")
    ingress = by_kind(web, "Ingress")[0]
    assert ingress["spec"]["rules"][0]["host"] == "chat.box1.example.net"


def test_gated_services_admit_the_api_server_nodes(rendered):
    """The verify gates reach Ollama and Open WebUI through the API server's service proxy: their
    NetworkPolicies admit the k8s_servers' addresses (ailab_api_server_cidrs), PostgreSQL's Cluster
    is the one ailab_postgres_host names."""
    d = rendered["ha"]
    servers = [{"ipBlock": {"cidr": f"192.0.2.{n}/32"}} for n in (11, 12, 13)]
    ollama_np = by_kind(load_manifests(d / "ollama"), "NetworkPolicy", "ollama")[0]["spec"]
    web_np = by_kind(load_manifests(d / "openwebui"), "NetworkPolicy", "openwebui")[0]["spec"]
    for np in (ollama_np, web_np):
        assert all(source in np["ingress"][0]["from"] for source in servers), np
    cluster = by_kind(load_manifests(d / "postgres"), "Cluster")[0]["metadata"]["name"]
    env_db = urlsplit(secret_data(by_kind(load_manifests(d / "openwebui"), "Secret")[0])["DATABASE_URL"]).hostname
    assert env_db == f"{cluster}-rw.ailab.svc"


CHECKOV = os.path.join(os.environ.get("AILAB_HOME", "/opt/ailab-stack"), "checkov-venv", "bin", "checkov")
with open(os.path.join(ROOT, "tests", "checkov", "skips.yml")) as _f:
    CHECKOV_SKIPS = yaml.safe_load(_f)


def checkov_failures(directory) -> dict[str, set[str]]:
    """check id -> {"<file>: <resource>"} of every Kubernetes check checkov fails under directory (no skips:
    the test compares the failures with the skip list itself). Offline: no download, no API key."""
    assert os.access(CHECKOV, os.X_OK), f"{CHECKOV} missing: run scripts/bootstrap (requirements-checkov.lock)"
    proc = subprocess.run([CHECKOV, "--directory", str(directory), "--framework", "kubernetes", "--skip-download",
                           "--quiet", "--compact", "--output", "json"], capture_output=True, text=True, timeout=600,
                          check=False, env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_CODE": "1"})
    assert proc.returncode in (0, 1) and proc.stdout.lstrip().startswith("{"), proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["resource_count"] > 0, report["summary"]
    failures: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failures.setdefault(check["check_id"], set()).add(f"{check['file_path']}: {check['resource']}")
    return failures


def test_checkov_skips_carry_their_reason():
    assert CHECKOV_SKIPS and all(k.startswith("CKV_K8S_") for k in CHECKOV_SKIPS)
    assert not [k for k, reason in CHECKOV_SKIPS.items() if not isinstance(reason, str) or len(reason.split()) < 8]


def test_checkov(rendered):
    """checkov's Kubernetes checks on the objects of every render (one run over all of them): nothing fails but
    the checks skips.yml lists, and each of those still fails somewhere (else its entry is stale)."""
    base = os.path.commonpath([str(d) for d in rendered.values()])
    failures = checkov_failures(base)
    unexpected = {k: sorted(v) for k, v in failures.items() if k not in CHECKOV_SKIPS}
    assert not unexpected, "checkov checks failing (fix the template, or skip in tests/checkov/skips.yml with a reason):\n" + \
        json.dumps(unexpected, indent=1)
    assert not set(CHECKOV_SKIPS) - set(failures), f"skipped but passing now, drop from skips.yml: {set(CHECKOV_SKIPS) - set(failures)}"


POD_SECURITY = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted"}


@pytest.mark.parametrize("name", list(RENDERS))
def test_pods_meet_pod_security_restricted(rendered, name):
    """Every pod of every render: non-root, seccomp RuntimeDefault, no token, and each container without
    privilege escalation or capabilities on a read-only root; every Namespace labelled restricted."""
    objs = load_manifests(str(rendered[name]))
    namespaces = by_kind(objs, "Namespace")
    assert namespaces and all(POD_SECURITY.items() <= ns["metadata"]["labels"].items() for ns in namespaces)
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    assert {w["metadata"]["name"] for w in workloads} >= {"ollama", "openwebui"}
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        ctx = pod["securityContext"]
        assert pod["automountServiceAccountToken"] is False, w["metadata"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] >= 10000 and ctx["fsGroup"] == ctx["runAsGroup"]
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod.get("initContainers", []) + pod["containers"]:
            assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}, (w["metadata"], c["name"])
        mounts = {m["mountPath"] for c in pod["containers"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts or w["metadata"]["name"] == "openwebui-redis"


def test_ollama_writes_only_its_volume(rendered):
    """The Ollama image's HOME (/root) is read-only and not its user's: HOME and the models are on the volume."""
    pod = workload(load_manifests(rendered["ha"] / "ollama"))["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert env["OLLAMA_MODELS"] == env["HOME"] == "/models" and mounts == {"/models": "models", "/tmp": "tmp"}
    assert "supplementalGroups" not in pod["securityContext"]


def test_amd_gpu_pods_join_the_device_groups(rendered):
    d = rendered["multitenant-amd"]
    assert workload(load_manifests(d / "ollama"))["spec"]["template"]["spec"]["securityContext"]["supplementalGroups"] == [44, 109]
    # a tenant on the CPU tier has no GPU device to open
    cpu = workload(load_manifests(d / "tenants" / "support" / "ollama"))["spec"]["template"]["spec"]
    assert "supplementalGroups" not in cpu["securityContext"]


def test_images_pinned_by_digest(rendered):
    """The digest variables render image@digest: the -rocm build's for AMD GPU pods, the plain build's for a CPU
    tenant of the same cluster; unset, the tag alone."""
    d = rendered["multitenant-amd"]

    def image(objs, name="ollama"):
        return workload(objs, name)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image(load_manifests(d / "ollama")) == "docker.io/ollama/ollama:0.5.4-rocm@" + DIGESTS["ollama_image_digest_rocm"]
    assert image(load_manifests(d / "tenants" / "research" / "ollama")).endswith("-rocm@" + DIGESTS["ollama_image_digest_rocm"])
    assert image(load_manifests(d / "tenants" / "support" / "ollama")) == "docker.io/ollama/ollama:0.5.4@" + DIGESTS["ollama_image_digest"]
    assert image(load_manifests(d / "openwebui"), "openwebui").endswith(":v0.12.4@" + DIGESTS["openwebui_image_digest"])
    assert "@" not in image(load_manifests(rendered["multitenant"] / "ollama"))
