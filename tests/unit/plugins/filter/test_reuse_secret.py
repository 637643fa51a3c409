# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of ailab.stack.reuse_secret: the inventory's value wins, else the Secret already in
the cluster (what kubernetes.core.k8s_info registered), else "" (the role generates one)."""

from __future__ import annotations

import base64

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.reuse_secret import FilterModule, reuse_secret


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(name, **data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ai-acme"},
            "data": {k: b64(v) for k, v in data.items()}}


# what kubernetes.core.k8s_info registers: found, not found, and the task skipped (not applying)
FOUND = {"changed": False, "api_found": True, "resources": [secret("openwebui", WEBUI_SECRET_KEY="live-key")]}
NOT_FOUND = {"changed": False, "api_found": True, "resources": []}
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


def test_the_inventory_value_wins_over_the_cluster():
    assert reuse_secret(FOUND, "WEBUI_SECRET_KEY", explicit="vault-key") == "vault-key"


def test_the_live_secret_is_kept_when_the_inventory_has_none():
    assert reuse_secret(FOUND, "WEBUI_SECRET_KEY") == "live-key"
    assert reuse_secret(FOUND, "WEBUI_SECRET_KEY", explicit="") == "live-key"
    assert reuse_secret(FOUND, "WEBUI_SECRET_KEY", explicit=None) == "live-key"


@pytest.mark.parametrize("live", [NOT_FOUND, SKIPPED, None, [], {"results": []}])
def test_nothing_to_keep_means_generate(live):
    assert reuse_secret(live, "WEBUI_SECRET_KEY") == ""


def test_a_missing_or_empty_key_means_generate():
    assert reuse_secret(FOUND, "WEBUI_ADMIN_PASSWORD") == ""
    assert reuse_secret({"resources": [secret("openwebui", WEBUI_ADMIN_PASSWORD="")]}, "WEBUI_ADMIN_PASSWORD") == ""


def test_looped_registration_picks_the_secret_by_name():
    looped = {"changed": False, "results": [
        {"item": {"name": "postgres-tenant-acme"}, "resources": [secret("postgres-tenant-acme", password="db-pw")]},
        {"item": {"name": "openwebui"}, "resources": [secret("openwebui", WEBUI_ADMIN_PASSWORD="admin-pw",
                                                             password="not-this-one")]},
    ]}
    assert reuse_secret(looped, "password", name="postgres-tenant-acme") == "db-pw"
    assert reuse_secret(looped, "password", name="openwebui") == "not-this-one"
    assert reuse_secret(looped, "WEBUI_ADMIN_PASSWORD", name="openwebui") == "admin-pw"
    assert reuse_secret(looped, "WEBUI_ADMIN_PASSWORD", name="postgres-tenant-acme") == ""


def test_the_password_of_a_url():
    live = [secret("openwebui", DATABASE_URL="postgresql://openwebui_acme:p%40ss%2Fw@postgres-rw.ailab.svc:5432/openwebui_acme")]
    assert reuse_secret(live, "DATABASE_URL", part="password") == "p@ss/w"
    assert reuse_secret([secret("openwebui", DATABASE_URL="sqlite:///data/webui.db")], "DATABASE_URL", part="password") == ""


def test_string_data_of_a_secret_not_yet_applied():
    live = [{"kind": "Secret", "metadata": {"name": "x"}, "stringData": {"password": "plain"}}]
    assert reuse_secret(live, "password") == "plain"


def test_errors_never_quote_the_value():
    bad = {"resources": [{"kind": "Secret", "metadata": {"name": "x"}, "data": {"password": "not*base64-secret"}}]}
    with pytest.raises(AnsibleFilterError) as exc:
        reuse_secret(bad, "password")
    assert "not*base64-secret" not in str(exc.value) and "Secret x" in str(exc.value)
    with pytest.raises(AnsibleFilterError, match="k8s_info"):
        reuse_secret("a string", "password")
    with pytest.raises(AnsibleFilterError, match="part"):
        reuse_secret(FOUND, "WEBUI_SECRET_KEY", part="user")


def test_registered_as_a_filter():
    assert FilterModule().filters()["reuse_secret"] is reuse_secret
