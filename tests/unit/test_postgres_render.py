"""CloudNativePG objects of ailab.stack.postgres (runtime kubernetes), rendered offline and
validated against the strict schemas (Kubernetes 1.34 + postgresql.cnpg.io/v1 CRDs), then checked
for what matters: the app owner's password only inside a Secret, scram-sha-256 and TLS-only
pg_hba, backups with the retention policy only when a destination is set."""
from __future__ import annotations

import os
import stat
import sys
from urllib.parse import unquote, urlsplit

from helpers.playbook import by_kind, load_manifests, run_playbook, secret_data, validate_manifests

APP_PW = "render-app-pw/with:odd@chars"
S3_SECRET = "render-s3-secret-key"


def render(tmp_path, **extra):
    manifests = tmp_path / "manifests"
    extravars = {
        "ansible_python_interpreter": sys.executable,
        "ailab_runtime": "kubernetes",
        "ailab_kubernetes_apply": False,
        "ailab_manifest_dir": str(manifests),
        "ailab_namespace": "ailab",
        "postgres_openwebui_password": APP_PW,
    }
    extravars.update(extra)
    plays = [{"name": "render", "hosts": "localhost", "gather_facts": False,
              "roles": [{"role": "ailab.stack.postgres"}]}]
    proc = run_playbook(plays, extravars=extravars)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc, manifests / "postgres"


def kinds(objs):
    return {o["kind"]: o for o in objs}


def test_default_render_is_valid_and_secret_stays_in_the_secret(tmp_path):
    proc, out = render(tmp_path)
    check = validate_manifests(str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    objs = load_manifests(str(out))
    assert sorted(o["kind"] for o in objs) == ["Cluster", "Secret"]
    k = kinds(objs)
    secret, cluster = k["Secret"], k["Cluster"]
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["stringData"] == {"username": "openwebui", "password": APP_PW}
    init = cluster["spec"]["bootstrap"]["initdb"]
    assert (init["database"], init["owner"], init["secret"]["name"]) == ("openwebui", "openwebui", secret["metadata"]["name"])
    assert cluster["metadata"]["namespace"] == secret["metadata"]["namespace"] == "ailab"
    assert cluster["spec"]["postgresql"]["parameters"]["password_encryption"] == "scram-sha-256"
    assert cluster["spec"]["postgresql"]["pg_hba"] == ["hostssl all all all scram-sha-256", "host all all all reject"]
    assert "backup" not in cluster["spec"]
    # pgvector from the start, so Open WebUI can scale to several replicas later
    assert cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"] == ['CREATE EXTENSION IF NOT EXISTS "vector"']
    assert "managed" not in cluster["spec"]  # no tenants
    for name in os.listdir(out):
        text = (out / name).read_text()
        assert (APP_PW in text) == (name == "00-secret-app.yaml")
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600
    assert APP_PW not in proc.stdout + proc.stderr


def test_backups_with_retention_when_a_destination_is_set_and_removed_when_not(tmp_path):
    _proc, out = render(tmp_path, postgres_k8s_backup_destination="s3://backups/ailab", postgres_backup_retention_days=35,
                        postgres_k8s_backup_endpoint_url="https://minio.example.org", postgres_backup_s3_access_key="AKIA1",
                        postgres_backup_s3_secret_key=S3_SECRET, postgres_openwebui_extensions=["vector"],
                        postgres_k8s_instances=3, postgres_k8s_storage_class="local-path")
    check = validate_manifests(str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    objs = load_manifests(str(out))
    assert sorted(o["kind"] for o in objs) == ["Cluster", "ScheduledBackup", "Secret", "Secret"]
    cluster, scheduled = kinds(objs)["Cluster"], kinds(objs)["ScheduledBackup"]
    backup = cluster["spec"]["backup"]
    assert backup["retentionPolicy"] == "35d"
    store = backup["barmanObjectStore"]
    assert store["destinationPath"] == "s3://backups/ailab" and store["endpointURL"] == "https://minio.example.org"
    s3_secret = by_kind(objs, "Secret", store["s3Credentials"]["secretAccessKey"]["name"])
    assert s3_secret[0]["stringData"][store["s3Credentials"]["secretAccessKey"]["key"]] == S3_SECRET
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert scheduled["spec"]["method"] == "barmanObjectStore"
    assert cluster["spec"]["instances"] == 3 and cluster["spec"]["storage"]["storageClass"] == "local-path"
    assert cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"] == ['CREATE EXTENSION IF NOT EXISTS "vector"']

    # Turning backups off again removes their objects from the directory (nothing stale is applied).
    render(tmp_path)
    assert sorted(o["kind"] for o in load_manifests(str(out))) == ["Cluster", "Secret"]


def test_missing_app_password_fails_naming_the_variable(tmp_path):
    plays = [{"name": "render", "hosts": "localhost", "gather_facts": False, "roles": [{"role": "ailab.stack.postgres"}]}]
    proc = run_playbook(plays, extravars={"ansible_python_interpreter": sys.executable, "ailab_runtime": "kubernetes",
                                          "ailab_kubernetes_apply": False, "ailab_manifest_dir": str(tmp_path)})
    assert proc.returncode != 0
    assert "postgres_openwebui_password is empty" in proc.stdout
    assert not (tmp_path / "postgres").exists()


def test_tenant_databases_match_the_tenants_open_webui(tmp_path):
    """Each tenant gets a managed role, its Secret and a Database; the password is the one the
    tenants role puts into the tenant's DATABASE_URL (generated once, shared through files)."""
    manifests = tmp_path / "manifests"
    tenants = [{"name": "acme"}, {"name": "big-co", "tier": "gpu", "replicas": 2},
               {"name": "vaulted", "db_password": "from-vault/pw"}]
    extravars = {"ansible_python_interpreter": sys.executable, "ailab_runtime": "kubernetes",
                 "ailab_kubernetes_apply": False, "ailab_manifest_dir": str(manifests), "ailab_namespace": "ailab",
                 "ailab_ingress_host": "chat.example.org", "ailab_tenants": tenants, "ailab_gpu_vendor": "nvidia",
                 "postgres_openwebui_password": APP_PW, "openwebui_admin_email": "admin@example.org",
                 "openwebui_admin_password": "render-admin-pw"}
    plays = [{"name": f"render {role}", "hosts": "localhost", "gather_facts": False,
              "roles": [{"role": f"ailab.stack.{role}"}]} for role in ("postgres", "tenants")]
    proc = run_playbook(plays, extravars=extravars)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = manifests / "postgres"
    check = validate_manifests(str(out))
    assert check.returncode == 0, check.stdout + check.stderr

    objs = load_manifests(str(out))
    cluster = kinds(objs)["Cluster"]
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert sorted(roles) == ["openwebui_acme", "openwebui_big_co", "openwebui_vaulted"]
    secrets = {o["metadata"]["name"]: o for o in by_kind(objs, "Secret")}
    databases = {o["spec"]["name"]: o["spec"] for o in by_kind(objs, "Database")}
    assert sorted(databases) == sorted(roles)
    for t in tenants:
        db = "openwebui_" + t["name"].replace("-", "_")
        role = roles[db]
        assert role["login"] is True and role["ensure"] == "present"
        secret = secrets[role["passwordSecret"]["name"]]
        assert secret["metadata"]["namespace"] == "ailab" and secret["type"] == "kubernetes.io/basic-auth"
        assert secret["stringData"]["username"] == db
        spec = databases[db]
        assert (spec["owner"], spec["cluster"]["name"], spec["databaseReclaimPolicy"]) == (db, "postgres", "retain")
        assert {"name": "vector", "ensure": "present"} in spec["extensions"]
        # the same password in the tenant's Open WebUI
        web = by_kind(load_manifests(str(manifests / "tenants" / t["name"] / "openwebui")), "Secret")[0]
        url = urlsplit(secret_data(web)["DATABASE_URL"])
        assert (url.username, url.path) == (db, "/" + db)
        assert unquote(url.password) == secret["stringData"]["password"]
        assert url.hostname == "postgres-rw.ailab.svc"
    assert secrets["postgres-tenant-vaulted"]["stringData"]["password"] == "from-vault/pw"
    assert len(secrets["postgres-tenant-acme"]["stringData"]["password"]) == 32
    assert "from-vault/pw" not in proc.stdout + proc.stderr
