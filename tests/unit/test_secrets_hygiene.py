"""No secret of the Kubernetes stages in a log, a diff or a file inside the repository.

The Kubernetes stages (postgres, ollama, openwebui, tenants) run on inventories/multitenant as it
is (its own ailab_state_dir default, under a HOME of the test's), offline (ailab_kubernetes_apply:
false: render and validate) with -vvv --diff and known secrets passed in as vault would. None of
them, none of the generated ones and none of their base64 or URL-encoded forms may appear in the
output or in any file of the repository; the rendered Secrets and generated credentials land in
~/.ailab/multitenant (0700, files 0600, a .gitignore of everything), the run says where they are,
and each tenant's admin has a password of its own, not the platform admin's.
"""
from __future__ import annotations

import base64
import os
import secrets
import stat
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers.playbook import ROOT, by_kind, load_manifests, run_playbook, secret_data

INVENTORY = os.path.join(ROOT, "inventories", "multitenant")
# New values each run, so that the repository (this file included) cannot hold them by chance.
KNOWN = {"postgres_openwebui_password": f"db-{secrets.token_hex(8)}/pw", "openwebui_admin_email": "admin@example.org",
         "openwebui_admin_password": f"admin-{secrets.token_hex(8)}", "openwebui_secret_key": f"key-{secrets.token_hex(16)}"}
# As the stage playbooks do: once, from the first k8s_servers host (run locally here).
PLAYS = [{"name": f"stage {role}", "hosts": "k8s_servers[0]", "gather_facts": False, "roles": [{"role": f"ailab.stack.{role}"}]}
         for role in ("postgres", "ollama", "openwebui", "tenants")]
TENANTS = ("research", "support")


def forms(value):
    """A secret as it could show: itself, base64 (a Secret's data) and URL-encoded (a DATABASE_URL)."""
    return {value, base64.b64encode(value.encode()).decode(), quote(value, safe=""), quote(value)}


def repository_files():
    """(path, contents) of every file of the tree. A file removed before it is read leaks nothing: the unit step's
    other worker rebuilds scripts/build-ee's tarball (build/collection) while this one walks."""
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git"]  # os.walk does not follow the .collections symlink
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.isfile(path):
                continue
            try:
                data = Path(path).read_bytes()
            except FileNotFoundError:
                continue
            yield path, data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    before = sorted(str(p) for p in Path(INVENTORY).rglob("*"))
    proc = run_playbook(PLAYS, inventory=INVENTORY, env={"HOME": str(home)}, extra_args=["-vvv", "--diff"], extravars={
        "ansible_python_interpreter": sys.executable, "ansible_become": False, "ailab_kubernetes_apply": False, **KNOWN})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    state = home / ".ailab" / "multitenant"
    generated = {str(p.relative_to(state / "credentials")): p.read_text().strip() for p in (state / "credentials").rglob("*")
                 if p.is_file() and p.name != ".gitignore"}
    return {"proc": proc, "state": state, "generated": generated, "inventory_before": before}


def secret_forms(run):
    values = [v for k, v in KNOWN.items() if k != "openwebui_admin_email"] + list(run["generated"].values())
    return {form for v in values for form in forms(v)}


def test_every_tenant_secret_was_generated(run):
    assert set(run["generated"]) == {f"tenants/{t}/{f}" for t in TENANTS for f in ("db_password", "webui_secret_key", "admin_password")}
    assert all(len(v) >= 24 for v in run["generated"].values())


def test_no_secret_in_the_output_of_a_verbose_diff_run(run):
    out = run["proc"].stdout + run["proc"].stderr
    assert "TASK [ailab.stack._common : Render the Secret objects]" in out  # -vvv output of the whole path
    assert "<localhost> EXEC" in out or "ESTABLISH LOCAL CONNECTION" in out
    leaked = sorted(s for s in secret_forms(run) if s in out)
    assert not leaked, f"{len(leaked)} secret forms in the output"


def test_no_secret_in_any_file_of_the_repository(run):
    wanted = [s.encode() for s in secret_forms(run)]
    leaking = [os.path.relpath(p, ROOT) for p, data in repository_files() if any(s in data for s in wanted)]
    assert not leaking
    assert sorted(str(p) for p in Path(INVENTORY).rglob("*")) == run["inventory_before"]  # nothing written near the inventory


def test_rendered_secrets_and_credentials_are_private_and_ignored_by_git(run):
    state = run["state"]
    assert not str(state).startswith(ROOT)
    for sub in ("manifests", "credentials"):
        d = state / sub
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, sub
        assert (d / ".gitignore").read_text().splitlines()[-1] == "*"
    for path in list((state / "credentials").rglob("*")) + list((state / "manifests").rglob("*.yaml")):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # the tenants' Secrets are there, with the generated values
    for tenant in TENANTS:
        data = secret_data(by_kind(load_manifests(str(state / "manifests" / "tenants" / tenant / "openwebui")), "Secret")[0])
        assert data["WEBUI_SECRET_KEY"] == run["generated"][f"tenants/{tenant}/webui_secret_key"]


def test_the_run_says_where_the_credentials_are(run):
    out = run["proc"].stdout
    creds = run["state"] / "credentials" / "tenants"
    for tenant in TENANTS:
        assert (f"Tenant {tenant} credentials: database password in {creds / tenant / 'db_password'}; "
                f"WEBUI_SECRET_KEY in {creds / tenant / 'webui_secret_key'}; first admin's password "
                f"in {creds / tenant / 'admin_password'}.") in out
    assert "WEBUI_SECRET_KEY of ailab/openwebui in the inventory (openwebui_secret_key)" in out


def test_each_tenant_admin_has_its_own_password(run):
    passwords = {}
    for tenant in TENANTS:
        data = secret_data(by_kind(load_manifests(str(run["state"] / "manifests" / "tenants" / tenant / "openwebui")), "Secret")[0])
        passwords[tenant] = data["WEBUI_ADMIN_PASSWORD"]
        assert passwords[tenant] == run["generated"][f"tenants/{tenant}/admin_password"]
    assert KNOWN["openwebui_admin_password"] not in passwords.values()
    assert len(set(passwords.values())) == len(TENANTS)
