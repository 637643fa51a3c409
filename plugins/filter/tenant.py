# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.tenant: every name of one tenant (namespace, database, secrets, files, host)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: tenant
short_description: The names of one tenant's objects, database, credentials and host
description:
  - Takes one C(ailab_tenants) entry and returns everything that is named after the tenant, so
    that the roles that build a tenant (C(ailab.stack.tenants) for the namespace, its Ollama and
    its Open WebUI, C(ailab.stack.postgres) for its database and role) use one rule instead of
    their own expressions.
  - The database and its login role are C(<db_prefix><name>) with C(-) replaced by C(_).
  - Fails naming the entry when the name is not a DNS label of at most 32 characters, or when
    O(tiers) is given and the tenant's tier is not one of its keys.
options:
  _input:
    description: One C(ailab_tenants) entry (C(name) required; C(tier), C(host), C(models), C(replicas) optional).
    type: dict
    required: true
  namespace_prefix:
    description: Prefix of the namespace (C(ailab_tenant_namespace_prefix)).
    type: str
    default: ai-
  db_prefix:
    description: Prefix of the database and its role (C(ailab_tenant_db_prefix)).
    type: str
    default: openwebui_
  credentials_dir:
    description: Controller directory of generated credentials (C(ailab_credentials_dir)).
    type: str
    default: ""
  manifest_dir:
    description: Controller directory of rendered objects (C(ailab_manifest_dir)).
    type: str
    default: ""
  ingress_host:
    description: Platform host name; a tenant without C(host) gets C(<name>.<ingress_host>).
    type: str
    default: ""
  cluster:
    description: Name of the CloudNativePG Cluster holding the tenant databases.
    type: str
    default: postgres
  ollama_port:
    description: Port of the tenant's Ollama Service (C(ailab_ollama_port)).
    type: int
    default: 11434
  tiers:
    description: The tiers (C(tenants_tiers)); given, the tenant's tier must be one of them and its models default to the tier's.
    type: dict
  default_tier:
    description: Tier of a tenant without C(tier).
    type: str
    default: cpu
"""

EXAMPLES = r"""
- name: Show where the tenant's Open WebUI finds its database
  ansible.builtin.debug:
    msg: "{{ t.db_user }}@{{ t.database }} in {{ t.namespace }}"
  vars:
    t: "{{ {'name': 'big-co'} | ailab.stack.tenant(credentials_dir=ailab_credentials_dir) }}"
"""

RETURN = r"""
_value:
  description: The tenant's names.
  type: dict
  contains:
    name: {description: The tenant's name., type: str, sample: big-co}
    tier: {description: The tier's name., type: str, sample: cpu}
    spec: {description: The tier (empty without O(tiers))., type: dict}
    models:
      description: The tenant's models (else the tier's) as C(ollama_models) items; a plain name is preloaded (C(loaded=true)).
      type: list
      elements: dict
      sample: [{name: llama3:8b, loaded: true}]
    replicas: {description: Open WebUI replicas (default 1)., type: int, sample: 1}
    namespace: {description: The tenant's namespace., type: str, sample: ai-big-co}
    database: {description: The tenant's database., type: str, sample: openwebui_big_co}
    db_user: {description: The login role owning it., type: str, sample: openwebui_big_co}
    db_secret: {description: The Secret (and the CloudNativePG Database object) of the role., type: str, sample: postgres-tenant-big-co}
    credentials_dir: {description: Controller directory of its generated credentials., type: str, sample: /c/tenants/big-co}
    db_password_file: {description: The generated database password., type: str, sample: /c/tenants/big-co/db_password}
    secret_key_file: {description: The generated WEBUI_SECRET_KEY., type: str, sample: /c/tenants/big-co/webui_secret_key}
    admin_password_file: {description: The generated password of its first Open WebUI admin., type: str, sample: /c/tenants/big-co/admin_password}
    manifest_dir: {description: Controller directory of its rendered objects., type: str, sample: /m/tenants/big-co}
    host: {description: Public host of its Open WebUI (empty without one)., type: str, sample: big-co.chat.example.org}
    tls_secret: {description: TLS Secret of its Ingress., type: str, sample: openwebui-big-co-tls}
    ollama_url: {description: Its own Ollama Service., type: str, sample: "http://ollama.ai-big-co.svc:11434"}
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


def _models(models):
    return [dict(m) if isinstance(m, Mapping) else {"name": str(m), "loaded": True} for m in models]


def tenant(entry, namespace_prefix="ai-", db_prefix="openwebui_", credentials_dir="", manifest_dir="",
           ingress_host="", cluster="postgres", ollama_port=11434, tiers=None, default_tier="cpu"):
    """Every name derived from one ailab_tenants entry."""
    if not isinstance(entry, Mapping):
        raise AnsibleFilterError(f"tenant: expects an ailab_tenants entry (a dict), got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise AnsibleFilterError(f"ailab_tenants entry {name if name else '(no name)'}: name must be a DNS label of"
                                 " at most 32 characters (lower-case letters, digits and '-')")
    tier = entry.get("tier") or default_tier
    spec = {}
    if tiers is not None:
        if tier not in tiers:
            raise AnsibleFilterError(f"ailab_tenants entry {name}: tier one of {', '.join(tiers)} (got {tier})")
        spec = dict(tiers[tier])
    db = db_prefix + name.replace("-", "_")
    namespace = namespace_prefix + name
    creds = f"{credentials_dir}/tenants/{name}"
    host = entry.get("host") or (f"{name}.{ingress_host}" if ingress_host else "")
    return {
        "name": name,
        "tier": tier,
        "spec": spec,
        "models": _models(entry.get("models", spec.get("models", []))),
        "replicas": int(entry.get("replicas", 1)),
        "namespace": namespace,
        "database": db,
        "db_user": db,
        "db_secret": f"{cluster}-tenant-{name}",
        "credentials_dir": creds,
        "db_password_file": f"{creds}/db_password",
        "secret_key_file": f"{creds}/webui_secret_key",
        "admin_password_file": f"{creds}/admin_password",
        "manifest_dir": f"{manifest_dir}/tenants/{name}",
        "host": host,
        "tls_secret": f"openwebui-{name}-tls",
        "ollama_url": f"http://ollama.{namespace}.svc:{int(ollama_port)}",
    }


class FilterModule:
    """ailab.stack tenant filter."""

    def filters(self):
        return {"tenant": tenant}
