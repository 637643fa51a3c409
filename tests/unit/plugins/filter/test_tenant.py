# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.tenant filter: the one rule that names a tenant's objects."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.tenant import FilterModule, tenant

TIERS = {"cpu": {"models": ["llama3:8b", "mistral:7b"], "gpus": 0}, "gpu": {"models": ["llama3:70b"], "gpus": 1}}


def test_every_name_of_a_tenant():
    t = tenant({"name": "big-co", "tier": "gpu", "replicas": 2}, credentials_dir="/c", manifest_dir="/m",
               ingress_host="chat.example.org", tiers=TIERS)
    assert t == {
        "name": "big-co", "tier": "gpu", "spec": TIERS["gpu"], "models": [{"name": "llama3:70b", "loaded": True}],
        "replicas": 2, "namespace": "ai-big-co", "database": "openwebui_big_co", "db_user": "openwebui_big_co",
        "db_secret": "postgres-tenant-big-co", "credentials_dir": "/c/tenants/big-co",
        "db_password_file": "/c/tenants/big-co/db_password", "secret_key_file": "/c/tenants/big-co/webui_secret_key",
        "admin_password_file": "/c/tenants/big-co/admin_password",
        "manifest_dir": "/m/tenants/big-co", "host": "big-co.chat.example.org", "tls_secret": "openwebui-big-co-tls",
        "ollama_url": "http://ollama.ai-big-co.svc:11434"}


def test_own_host_models_prefixes_cluster_and_port():
    t = tenant({"name": "acme", "host": "ai.acme.example", "models": ["tiny", {"name": "big", "state": "latest"}]},
               namespace_prefix="t-", db_prefix="db_", cluster="pg", ollama_port="8000", tiers=TIERS)
    assert (t["namespace"], t["database"], t["db_secret"], t["host"]) == (
        "t-acme", "db_acme", "pg-tenant-acme", "ai.acme.example")
    assert t["tier"] == "cpu" and t["ollama_url"] == "http://ollama.t-acme.svc:8000"
    assert t["models"] == [{"name": "tiny", "loaded": True}, {"name": "big", "state": "latest"}]


def test_without_tiers_or_ingress_host():
    t = tenant({"name": "acme"})
    assert (t["spec"], t["models"], t["host"], t["replicas"]) == ({}, [], "", 1)


@pytest.mark.parametrize("entry, message", [
    ("acme", "expects an ailab_tenants entry"),
    ({}, r"entry \(no name\): name must be a DNS label"),
    ({"name": "Bad_Name"}, "entry Bad_Name: name must be a DNS label"),
    ({"name": "a" * 33}, "at most 32 characters"),
    ({"name": "-acme"}, "DNS label"),
    ({"name": "acme", "tier": "tpu"}, r"entry acme: tier one of cpu, gpu \(got tpu\)"),
])
def test_bad_entries_fail_naming_the_entry(entry, message):
    with pytest.raises(AnsibleFilterError, match=message):
        tenant(entry, tiers=TIERS)


def test_filter_is_registered():
    assert FilterModule().filters()["tenant"] is tenant
