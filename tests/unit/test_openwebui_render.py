"""Kubernetes objects of ailab.stack.openwebui, rendered offline (ailab_kubernetes_apply: false)
and validated against the Kubernetes 1.34 schemas, then checked for the invariants that make
several replicas correct: one shared secret key (secretKeyRef to one Secret), Redis for the
websocket manager and the app state, PostgreSQL (never SQLite), pgvector, PDB, probes on /health,
rolling updates that never drop below the wanted replicas; plus single sign-on mapping, secrets
only inside Secret objects (tenants: tests/unit/test_tenants_render.py).

Every valid configuration is rendered once, in one ansible-playbook run (`renders`, one play per
configuration, each into its own directory); only the failures and the second run of the secret
key test are runs of their own.
"""
from __future__ import annotations

import os
import stat
import sys

import pytest

from helpers.openwebui_env import parse_env_file, render_env_file
from helpers.playbook import (by_kind, container_env, load_manifests, render_variants, run_playbook, secret_data,
                              validate_manifests)

ADMIN_PW = "render-admin-password"
DB_PW = "render/db@pass:word"
OAUTH_SECRET = "render-oauth-client-secret"
SECRETS = [ADMIN_PW, OAUTH_SECRET, "render%2Fdb%40pass%3Aword"]
COMMON = {
    "ailab_runtime": "kubernetes",
    "ailab_kubernetes_apply": False,
    "ailab_namespace": "ailab",
    "ailab_ingress_host": "chat.example.org",
    "openwebui_admin_email": "admin@example.org",
    "openwebui_admin_password": ADMIN_PW,
    "openwebui_db_password": DB_PW,
}
SSO_CASES = [
    ("google", {}, {"GOOGLE_CLIENT_ID": "cid", "GOOGLE_OAUTH_SCOPE": "openid email profile"}, "GOOGLE_CLIENT_SECRET"),
    ("microsoft", {"openwebui_oauth_microsoft_tenant_id": "tid-1"},
     {"MICROSOFT_CLIENT_ID": "cid", "MICROSOFT_CLIENT_TENANT_ID": "tid-1"}, "MICROSOFT_CLIENT_SECRET"),
]
# Seed 003: Cognito, its groups claim mapped to roles, no password sign-in.
SSO_GROUPS = {
    "openwebui_oauth_provider": "oidc", "openwebui_oauth_client_id": "ai-chat",
    "openwebui_oauth_client_secret": OAUTH_SECRET,
    "openwebui_oauth_discovery_url": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/openid-configuration",
    "openwebui_oauth_provider_name": "Cognito", "openwebui_oauth_groups_claim": "cognito:groups",
    "openwebui_oauth_admin_groups": ["Admins"], "openwebui_oauth_user_groups": ["Users", "Staff"],
    "openwebui_oauth_redirect_uri": "https://chat.example.org/oauth/oidc/callback",
    "openwebui_password_login": False,
}
SSO_GROUPS_ENV = {
    "ENABLE_OAUTH_ROLE_MANAGEMENT": "true", "OAUTH_ROLES_CLAIM": "cognito:groups", "OAUTH_ROLES_SEPARATOR": ",",
    "OAUTH_ADMIN_ROLES": "Admins", "OAUTH_ALLOWED_ROLES": "Users,Staff", "OAUTH_PROVIDER_NAME": "Cognito",
    "OPENID_REDIRECT_URI": "https://chat.example.org/oauth/oidc/callback",
    "ENABLE_PASSWORD_AUTH": "false", "ENABLE_LOGIN_FORM": "false", "ENABLE_OAUTH_SIGNUP": "true",
}
# name -> variables (a list: rendered in that order into the same directory, see render_variants)
VARIANTS = {
    "one": {},
    "three": {"openwebui_replicas": 3, "openwebui_oauth_provider": "oidc", "openwebui_oauth_client_id": "ai-chat",
              "openwebui_oauth_client_secret": OAUTH_SECRET,
              "openwebui_oauth_discovery_url": "https://sso.example.org/realms/ai/.well-known/openid-configuration"},
    **{provider: {"openwebui_oauth_provider": provider, "openwebui_oauth_client_id": "cid",
                  "openwebui_oauth_client_secret": OAUTH_SECRET, **extra}
       for provider, extra, _plain, _secret in SSO_CASES},
    "reused-key": {"openwebui_replicas": 2},  # the first run; test_secret_key_generated_once_and_reused runs again
    "vault-key": {"openwebui_secret_key": "k" * 48},
    "hpa-then-one": [{"openwebui_replicas": 2, "openwebui_hpa_enabled": True, "openwebui_hpa_max_replicas": 6}, {}],
    "external-redis": {"openwebui_replicas": 2, "openwebui_redis_url": "redis://:pw@redis.example.org:6379/3"},
    "sso-only": {**SSO_GROUPS},
}


def render(tmp_path, **extra):
    """One run of its own (failures, re-runs): the variables of COMMON with `extra` on top, as -e."""
    manifests = tmp_path / "manifests"
    extravars = {
        "ansible_python_interpreter": sys.executable,  # the toolchain venv, not whatever `python3` is here
        **COMMON,
        "ailab_manifest_dir": str(manifests),
    }
    extravars.update(extra)
    plays = [{"name": "render", "hosts": "localhost", "gather_facts": False,
              "roles": [{"role": "ailab.stack.openwebui"}]}]
    proc = run_playbook(plays, extravars=extravars)
    return proc, manifests


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """(process, {variant: its directory}) of the one run that rendered every VARIANTS entry."""
    proc, dirs = render_variants("ailab.stack.openwebui", VARIANTS, tmp_path_factory.mktemp("variants"), COMMON)
    return ok(proc), dirs


@pytest.fixture(scope="module")
def single(renders):
    proc, dirs = renders
    return proc, dirs["one"] / "manifests" / "openwebui", dirs["one"]


@pytest.fixture(scope="module")
def three(renders):
    proc, dirs = renders
    return proc, dirs["three"] / "manifests" / "openwebui", dirs["three"]


@pytest.mark.parametrize("fixture", ["single", "three"])
def test_manifests_are_valid(fixture, request):
    _proc, d, _tmp = request.getfixturevalue(fixture)
    res = validate_manifests(str(d))
    assert res.returncode == 0, res.stdout + res.stderr


def test_single_replica_objects(single):
    _proc, d, _tmp = single
    objs = load_manifests(str(d))
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(["Namespace", "Secret", "PersistentVolumeClaim", "Deployment", "Service",
                            "NetworkPolicy", "Ingress"])
    dep = by_kind(objs, "Deployment")[0]
    env = container_env(dep)
    assert dep["spec"]["replicas"] == 1
    assert "WEBSOCKET_MANAGER" not in env and "REDIS_URL" not in env
    assert env["VECTOR_DB"] == "chroma"
    assert env["ENABLE_DB_MIGRATIONS"] == "true" and "initContainers" not in dep["spec"]["template"]["spec"]
    assert by_kind(objs, "PersistentVolumeClaim")[0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert env["OLLAMA_BASE_URLS"] == "http://ollama.ailab.svc:11434"


def test_multi_replica_invariants(three):
    _proc, d, _tmp = three
    objs = load_manifests(str(d))
    dep = by_kind(objs, "Deployment", "openwebui")[0]
    spec = dep["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    secret = by_kind(objs, "Secret", "openwebui")[0]
    data = secret_data(secret)
    for container in ("open-webui", "migrate"):
        env = container_env(dep, container)
        # one secret key for all replicas: a reference to the one Secret, never a literal
        assert env["WEBUI_SECRET_KEY"] == {"secretKeyRef": {"name": "openwebui", "key": "WEBUI_SECRET_KEY"}}
        assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "openwebui", "key": "DATABASE_URL"}}
        assert env["WEBSOCKET_MANAGER"] == "redis"
        assert env["REDIS_URL"]["secretKeyRef"]["key"] == "REDIS_URL"
        assert env["WEBSOCKET_REDIS_URL"]["secretKeyRef"]["key"] == "WEBSOCKET_REDIS_URL"
        assert env["VECTOR_DB"] == "pgvector"
        assert env["ENABLE_PERSISTENT_CONFIG"] == "false"
    assert container_env(dep)["ENABLE_DB_MIGRATIONS"] == "false"
    assert container_env(dep, "migrate")["ENABLE_DB_MIGRATIONS"] == "true"
    assert len(data["WEBUI_SECRET_KEY"]) >= 32
    assert data["DATABASE_URL"] == ("postgresql://openwebui:render%2Fdb%40pass%3Aword@postgres-rw.ailab.svc:5432/"
                                    "openwebui?sslmode=require")
    assert data["REDIS_URL"] == data["WEBSOCKET_REDIS_URL"] == "redis://openwebui-redis:6379/0"
    # the in-cluster Redis exists, is reachable only from Open WebUI
    assert by_kind(objs, "Deployment", "openwebui-redis")[0]["spec"]["template"]["spec"]["containers"][0]["image"] \
        == "docker.io/library/redis:7.4-alpine"
    assert by_kind(objs, "Service", "openwebui-redis")
    redis_np = by_kind(objs, "NetworkPolicy", "openwebui-redis")[0]["spec"]
    assert redis_np["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "open-webui"}}}]
    pdb = by_kind(objs, "PodDisruptionBudget")[0]["spec"]
    assert pdb["minAvailable"] == 2 and pdb["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    main = [c for c in spec["template"]["spec"]["containers"] if c["name"] == "open-webui"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["path"] == "/health"
    assert main["resources"]["requests"] and main["resources"]["limits"]
    assert by_kind(objs, "PersistentVolumeClaim")[0]["spec"]["accessModes"] == ["ReadWriteMany"]
    ingress = by_kind(objs, "Ingress")[0]["spec"]
    assert ingress["rules"][0]["host"] == "chat.example.org"
    np = by_kind(objs, "NetworkPolicy", "openwebui")[0]["spec"]
    assert np["policyTypes"] == ["Ingress"] and np["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert not by_kind(objs, "HorizontalPodAutoscaler")


def test_no_sqlite_anywhere(single, three):
    for _proc, d, _tmp in (single, three):
        for obj in load_manifests(str(d)):
            text = str(obj) + "".join(secret_data(obj).values() if obj["kind"] == "Secret" else [])
            assert "sqlite" not in text.lower()


def test_oidc_mapping(three):
    _proc, d, _tmp = three
    objs = load_manifests(str(d))
    env = container_env(by_kind(objs, "Deployment", "openwebui")[0])
    assert env["OAUTH_CLIENT_ID"] == "ai-chat"
    assert env["OPENID_PROVIDER_URL"].endswith("/.well-known/openid-configuration")
    assert env["OAUTH_PROVIDER_NAME"] == "SSO" and env["OAUTH_SCOPES"] == "openid email profile"
    assert env["ENABLE_OAUTH_SIGNUP"] == "true" and env["OAUTH_MERGE_ACCOUNTS_BY_EMAIL"] == "false"
    assert env["OAUTH_CLIENT_SECRET"] == {"secretKeyRef": {"name": "openwebui", "key": "OAUTH_CLIENT_SECRET"}}
    assert secret_data(by_kind(objs, "Secret")[0])["OAUTH_CLIENT_SECRET"] == OAUTH_SECRET
    assert env["WEBUI_URL"] == "https://chat.example.org"
    assert env["CORS_ALLOW_ORIGIN"] == "https://chat.example.org"   # only the public origin behind the ingress


def test_defaults_keep_password_sign_in_and_no_role_mapping(single):
    env = container_env(by_kind(load_manifests(str(single[1])), "Deployment", "openwebui")[0])
    assert env["ENABLE_PASSWORD_AUTH"] == "true" and env["ENABLE_LOGIN_FORM"] == "true"
    assert not [k for k in env if k.startswith(("OAUTH_", "ENABLE_OAUTH_", "OPENID_")) and k != "ENABLE_OAUTH_PERSISTENT_CONFIG"]


def test_oidc_groups_to_roles_and_sso_only_kubernetes(renders):
    objs = load_manifests(str(renders[1]["sso-only"] / "manifests" / "openwebui"))
    env = container_env(by_kind(objs, "Deployment", "openwebui")[0])
    assert {k: env.get(k) for k in SSO_GROUPS_ENV} == SSO_GROUPS_ENV
    assert env["OAUTH_CLIENT_SECRET"] == {"secretKeyRef": {"name": "openwebui", "key": "OAUTH_CLIENT_SECRET"}}
    assert secret_data(by_kind(objs, "Secret")[0])["OAUTH_CLIENT_SECRET"] == OAUTH_SECRET
    for name in os.listdir(renders[1]["sso-only"] / "manifests" / "openwebui"):
        if name != "10-secret.yaml":
            assert OAUTH_SECRET not in (renders[1]["sso-only"] / "manifests" / "openwebui" / name).read_text()


def test_oidc_groups_to_roles_and_sso_only_systemd(tmp_path):
    """The same settings in the systemd unit's 0600 environment file (the client secret only there)."""
    dest = tmp_path / "open-webui.env"
    variables = {k: v for k, v in COMMON.items() if k not in ("ailab_runtime", "ailab_kubernetes_apply")}
    proc = ok(render_env_file(str(dest), {**variables, **SSO_GROUPS}))
    env = parse_env_file(str(dest))
    assert {k: env.get(k) for k in SSO_GROUPS_ENV} == SSO_GROUPS_ENV
    assert env["OAUTH_CLIENT_SECRET"] == OAUTH_SECRET and env["OAUTH_CLIENT_ID"] == "ai-chat"
    assert env["WEBUI_URL"] == "https://chat.example.org"
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    for s in SECRETS:
        assert s not in proc.stdout + proc.stderr


@pytest.mark.parametrize("provider,extra,plain,secret", SSO_CASES)
def test_other_sso_providers(renders, provider, extra, plain, secret):
    assert VARIANTS[provider] == {"openwebui_oauth_provider": provider, "openwebui_oauth_client_id": "cid",
                                  "openwebui_oauth_client_secret": OAUTH_SECRET, **extra}
    objs = load_manifests(str(renders[1][provider] / "manifests" / "openwebui"))
    env = container_env(by_kind(objs, "Deployment")[0])
    for k, v in plain.items():
        assert env[k] == v
    assert env[secret] == {"secretKeyRef": {"name": "openwebui", "key": secret}}
    assert "OAUTH_CLIENT_ID" not in env


def test_secrets_only_inside_secret_objects(single, three):
    for proc, d, _tmp in (single, three):
        for name in os.listdir(d):
            text = (d / name).read_text()
            mode = stat.S_IMODE(os.stat(d / name).st_mode)
            if name == "10-secret.yaml":
                assert mode == 0o600
                continue
            for s in SECRETS:
                assert s not in text, f"{s} in {name}"
        for s in SECRETS:
            assert s not in proc.stdout


def test_secret_key_generated_once_and_reused(renders):
    tmp_path = renders[1]["reused-key"]  # the first run (openwebui_replicas: 2) was the shared one
    d = tmp_path / "manifests"
    key1 = secret_data(by_kind(load_manifests(str(d / "openwebui")), "Secret")[0])["WEBUI_SECRET_KEY"]
    second, _dir = render(tmp_path, openwebui_replicas=2)
    ok(second)
    key2 = secret_data(by_kind(load_manifests(str(d / "openwebui")), "Secret")[0])["WEBUI_SECRET_KEY"]
    assert key1 == key2
    assert (tmp_path / "credentials" / "openwebui" / "webui_secret_key").read_text().strip() == key1
    assert "changed=0" in second.stdout.split("PLAY RECAP")[-1]


def test_vault_secret_key_wins(renders):
    data = secret_data(by_kind(load_manifests(str(renders[1]["vault-key"] / "manifests" / "openwebui")), "Secret")[0])
    assert data["WEBUI_SECRET_KEY"] == "k" * 48


def test_hpa_and_switching_features_off(renders):
    # step 1 (2 replicas and an HPA) as it was on disk before step 2 (defaults) rendered into the same directory
    d = renders[1]["hpa-then-one"] / "step1" / "openwebui"
    objs = load_manifests(str(d))
    hpa = by_kind(objs, "HorizontalPodAutoscaler")[0]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert "replicas" not in by_kind(objs, "Deployment", "openwebui")[0]["spec"]  # owned by the HPA
    assert validate_manifests(str(d)).returncode == 0
    assert {"30-redis.yaml", "50-pdb.yaml", "51-hpa.yaml"} <= set(os.listdir(d))  # so "gone" below means removed
    # back to one replica: Redis, PDB and HPA files are gone, not left behind to be applied
    d = renders[1]["hpa-then-one"] / "manifests" / "openwebui"
    assert sorted(os.listdir(d)) == ["00-namespace.yaml", "10-secret.yaml", "20-pvc.yaml", "40-deployment.yaml",
                                     "41-service.yaml", "60-networkpolicy.yaml", "70-ingress.yaml"]


def test_external_redis(renders):
    objs = load_manifests(str(renders[1]["external-redis"] / "manifests" / "openwebui"))
    assert not by_kind(objs, "Deployment", "openwebui-redis")
    assert secret_data(by_kind(objs, "Secret")[0])["REDIS_URL"] == "redis://:pw@redis.example.org:6379/3"


@pytest.mark.parametrize("extra,message", [
    ({"openwebui_replicas": 3, "openwebui_vector_db": "chroma"}, "openwebui_vector_db"),
    ({"openwebui_oauth_provider": "oidc", "openwebui_oauth_client_id": "x", "openwebui_oauth_client_secret": "y"},
     "openwebui_oauth_discovery_url"),
    ({"openwebui_oauth_provider": "saml"}, "openwebui_oauth_provider"),
    # single sign-on settings without a provider: forgotten, or nobody could sign in
    ({"openwebui_oauth_client_id": "x", "openwebui_oauth_discovery_url": "https://sso.example.org/x"},
     "openwebui_oauth_provider is none, but single sign-on settings are set"),
    ({"openwebui_password_login": False}, "openwebui_password_login is false (nobody could sign in)"),
    ({"openwebui_oauth_admin_groups": ["Admins"]}, "Set openwebui_oauth_provider"),
    ({**SSO_GROUPS, "openwebui_oauth_user_groups": ["Users,Staff"]}, "have no comma"),
    ({**SSO_GROUPS, "openwebui_oauth_groups_claim": ""}, "need openwebui_oauth_groups_claim"),
    ({**SSO_GROUPS, "openwebui_oauth_redirect_uri": "chat.example.org/cb"}, "openwebui_oauth_redirect_uri must be"),
    ({"openwebui_admin_password": ""}, "openwebui_admin_password"),
    ({"openwebui_db_password": ""}, "openwebui_db_password"),
    ({"ailab_runtime": "docker"}, "kubernetes, systemd"),
])
def test_bad_values_fail_early_naming_the_variable(tmp_path, extra, message):
    proc, d = render(tmp_path, **extra)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (d / "openwebui").exists()
