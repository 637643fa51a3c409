# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-inventory checks of ailab.stack: every role's argument spec for the hosts that run it,
and the checks that span roles. Pure Python: the caller (the inventory_check action plugin)
resolves the variables; this file only judges them and returns every failure at once.

Note: this module util is PRIVATE to ailab.stack.
"""
from __future__ import annotations

import ipaddress
import re
import typing as t
from dataclasses import dataclass

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

MISSING = object()  # the variable is not set anywhere (no default either)
UNKNOWN = object()  # the variable cannot be evaluated before the hosts are reached (facts)

SECRET_NAME = re.compile(r"(password|secret|token|_key)$|^(password|secret|token|key)$")
PLACEHOLDERS = frozenset({
    "changeme", "change-me", "change_me", "changeit", "password", "passw0rd", "admin", "administrator",
    "secret", "default", "example", "test", "testing", "root", "toor", "letmein", "qwerty", "123456",
    "12345678", "123456789", "xxx", "xxxx", "todo", "fixme", "replaceme", "replace-me", "your-password",
    "yourpassword", "openwebui", "postgres",
})
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|[kMGTPE]|[eE][0-9]+)?$")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "")
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany", "ReadOnlyMany")


@dataclass(frozen=True)
class Failure:
    """One refused value: where, what, why, what is allowed and how to fix it."""

    variable: str
    value: str
    problem: str
    allowed: str
    fix: str

    def line(self, hosts: t.Sequence[str]) -> str:
        return f"{', '.join(hosts)}: {self.variable} = {self.value}: {self.problem}; allowed: {self.allowed}; fix: {self.fix}"


def show(value: t.Any, secret: bool = False) -> str:
    """The value as the inventory would write it (JSON-like); secrets are never shown."""
    if secret:
        return "(secret, not shown)"
    if value is MISSING:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def kind_of(value: t.Any) -> str:
    """'a string', 'an integer', ... (tagged str subclasses of Ansible 2.19 included)."""
    for base, word in ((bool, "a boolean"), (str, "a string"), (int, "an integer"), (float, "a number"),
                       (list, "a list"), (dict, "a mapping")):
        if isinstance(value, base):
            return word
    return "a " + type(value).__name__


def is_secret(name: str, option: dict | None = None) -> bool:
    return bool((option or {}).get("no_log")) or bool(SECRET_NAME.search(name))


# --- argument specs ----------------------------------------------------------------------------

def _allowed(option: dict) -> str:
    if option.get("choices"):
        return ", ".join(str(c) for c in option["choices"])
    kind = option.get("type", "str")
    if kind == "bool":
        return "true, false (YAML booleans, unquoted)"
    if kind == "list":
        return f"a list of {option.get('elements', 'values')}"
    return f"a value of type {kind}"


def strict_bools(name: str, option: dict, value: t.Any) -> list[Failure]:
    """ArgumentSpecValidator converts "false" to False; a `when: var` would see a true string.
    Every bool option (nested ones too) must be a real boolean."""
    failures = []
    kind = option.get("type", "str")
    if kind == "bool" and value is not MISSING and not isinstance(value, bool):
        failures.append(Failure(
            name, show(value), f"{kind_of(value)}, not a boolean (a non-empty string is true in a `when`)",
            _allowed(option), f"write {name}: {'true' if str(value).lower() in ('true', 'yes', 'on', '1') else 'false'} without quotes"))
    sub = option.get("options")
    if sub and kind == "dict" and isinstance(value, dict):
        for key, opt in sub.items():
            failures += strict_bools(f"{name}.{key}", opt, value.get(key, MISSING))
    if sub and kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                for key, opt in sub.items():
                    failures += strict_bools(f"{name}[{index}].{key}", opt, item.get(key, MISSING))
    return failures


def validate_option(name: str, option: dict, value: t.Any) -> list[Failure]:
    """The role argument spec of one variable, as ansible's role validation runs it, with the
    error tied to this variable (a combined validation would only name the first)."""
    if value is UNKNOWN:
        return []
    if value is MISSING:
        if option.get("required"):
            return [Failure(name, show(value), "required by the role", _allowed(option), f"set {name} in the inventory")]
        return []
    failures = strict_bools(name, option, value)
    result = ArgumentSpecValidator({name: option}).validate({name: value})
    secret = is_secret(name, option)
    for error in result.error_messages:
        failures.append(Failure(name, show(value, secret), error if not secret else "does not fit the argument spec",
                                _allowed(option), f"correct {name} (see the role's meta/argument_specs.yml)"))
    return failures


# --- the checks that span roles ----------------------------------------------------------------

class Inventory:
    """What the checks read: groups, the hosts of each role, and one resolver per host."""

    def __init__(self, groups: dict[str, list[str]], resolve: t.Callable[[str, str], t.Any],
                 explicit: t.Callable[[str, str], bool]) -> None:
        self.groups = {k: list(v) for k, v in groups.items()}
        self._resolve = resolve
        self._explicit = explicit

    def group(self, name: str) -> list[str]:
        return self.groups.get(name, [])

    def get(self, host: str, name: str, default: t.Any = MISSING) -> t.Any:
        value = self._resolve(host, name)
        return default if value is MISSING else value

    def explicit(self, host: str, name: str) -> bool:
        return self._explicit(host, name)

    @property
    def platform(self) -> list[str]:
        seen: list[str] = []
        for g in ("ai_servers", "k8s_servers", "k8s_agents", "db_servers"):
            seen += [h for h in self.group(g) if h not in seen]
        return seen

    def runtime(self, host: str) -> str:
        return str(self.get(host, "ailab_runtime", "systemd"))


def role_hosts(inv: Inventory) -> dict[str, dict[str, list[str]]]:
    """role -> entry point -> hosts that run it, as playbooks/site.yml does."""
    platform = inv.platform
    first = platform[0] if platform else None
    kube = first is not None and inv.runtime(first) == "kubernetes"
    servers = inv.group("k8s_servers")[:1]
    apps = servers if kube else inv.group("ai_servers")
    plan = {
        "ailab": {"main": platform},
        "preflight": {"main": platform},
        "hardening": {"main": inv.group("ai_servers")},
        "postgres": {"main": inv.group("db_servers") if not kube else servers},
        "ollama": {"main": apps},
        "openwebui": {"main": apps},
        "ingress": {"main": apps},
        "verify": {"main": inv.group("ai_servers"), "ollama": inv.group("ai_servers"), "ingress": inv.group("ai_servers"),
                   "openwebui": inv.group("ai_servers"), "postgres": inv.group("db_servers")},
    }
    if kube and first is not None and inv.get(first, "ailab_tenants", []):
        plan["tenants"] = {"main": servers}
    return plan


def _num(value: t.Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_layout(inv: Inventory) -> list[tuple[list[str], Failure]]:
    out = []
    servers = inv.group("ai_servers")
    outside = [h for h in inv.group("k8s_servers") + inv.group("k8s_agents") if h not in servers]
    if outside:
        out.append((outside, Failure(
            "groups.ai_servers", show(servers), "Kubernetes hosts that are not in ai_servers are never hardened",
            "every host of k8s_servers and k8s_agents also in ai_servers",
            "add k8s_servers and k8s_agents as children of ai_servers (see inventories/ha/hosts.yml)")))
    if inv.platform and inv.runtime(inv.platform[0]) == "systemd" and servers:
        dbs = inv.group("db_servers")
        if not dbs:
            out.append((servers, Failure(
                "groups.db_servers", "[]", "ailab_runtime systemd runs PostgreSQL on a db_servers host, and there is none",
                "one host (it may be an ai_servers host)", "put the database host in group db_servers")))
        elif len(dbs) == 1:
            db = dbs[0]
            for host in servers:
                dbhost = str(inv.get(host, "openwebui_db_host", inv.get(host, "ailab_postgres_host", "127.0.0.1")))
                if dbhost in LOOPBACK and host != db:
                    out.append(([host], Failure(
                        "openwebui_db_host", show(dbhost),
                        f"Open WebUI on {host} would look for PostgreSQL on its own loopback, but the database runs on {db}",
                        f"the address of {db} (its ansible_host), with {db} listening there",
                        f"set ailab_postgres_host to {db}'s address and postgres_listen_addresses on {db} to include it,"
                        f" or put {host} in db_servers")))
                elif dbhost not in LOOPBACK and host != db:
                    listen = inv.get(db, "postgres_listen_addresses", ["localhost"])
                    listen = listen if isinstance(listen, list) else [listen]
                    if not any(str(a) in ("*", "0.0.0.0", "::", dbhost) for a in listen):
                        out.append(([db], Failure(
                            "postgres_listen_addresses", show(listen),
                            f"Open WebUI on {host} connects to {dbhost}, where PostgreSQL does not listen",
                            f"a list that contains {dbhost} (or \"*\")",
                            f"add {dbhost} to postgres_listen_addresses on {db}")))
    return out


def check_host(inv: Inventory, host: str, plan: dict[str, dict[str, list[str]]], secrets: t.Sequence[str] = ()) -> list[Failure]:
    """Cross-role checks of one host (values resolved for it)."""
    out: list[Failure] = []
    runs = {role for role, eps in plan.items() for hosts in eps.values() if host in hosts}
    get = inv.get
    kube = inv.runtime(host) == "kubernetes"
    groups = set(inv.groups) - {"all", "ungrouped"}

    if "preflight" in runs:
        checks = get(host, "preflight_disk_checks", [])
        for i, item in enumerate(checks if isinstance(checks, list) else []):
            n = _num(item.get("min_free_gb")) if isinstance(item, dict) else None
            if n is not None and n < 0:
                out.append(Failure(f"preflight_disk_checks[{i}].min_free_gb", show(item.get("min_free_gb")),
                                   "a negative free-space threshold checks nothing", "0 or more (GB)",
                                   f"set min_free_gb of {item.get('path')} to the space it needs"))

    if "hardening" in runs:
        rules = get(host, "hardening_firewall_custom_rules", [])
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            sources = rule.get("from", ["any"])
            for src in sources if isinstance(sources, list) else [sources]:
                src = str(src)
                if src in ("any", "admin") or src in groups:
                    continue
                try:
                    ipaddress.ip_network(src, strict=False)
                    continue
                except ValueError:
                    pass
                if re.match(r"^[0-9a-fA-F:.]+(/[0-9]+)?$", src) and re.search(r"[.:/]", src):
                    out.append(Failure(f"hardening_firewall_custom_rules[{i}].from", show(src),
                                       f"rule {rule.get('name')!r}: not a valid address or CIDR",
                                       "any, admin, an address or CIDR (10.0.0.0/8), or an inventory group",
                                       "correct the network (e.g. 192.0.2.0/24)"))
                else:
                    out.append(Failure(f"hardening_firewall_custom_rules[{i}].from", show(src),
                                       f"rule {rule.get('name')!r}: no inventory group of that name (the rule would allow nobody)",
                                       "any, admin, a CIDR or one of " + ", ".join(sorted(groups)),
                                       "use an existing group or a CIDR"))
            for dst in rule.get("to", []) if isinstance(rule.get("to", []), list) else [rule.get("to")]:
                if str(dst) not in groups:
                    out.append(Failure(f"hardening_firewall_custom_rules[{i}].to", show(dst),
                                       f"rule {rule.get('name')!r}: no inventory group of that name",
                                       ", ".join(sorted(groups)), "name the group of the hosts that get the rule"))

    if "ollama" in runs:
        if get(host, "ollama_models_prune", False) is True and not get(host, "ollama_models", []):
            out.append(Failure("ollama_models_prune", "true", "with an empty ollama_models it would delete every model",
                               "true only with a non-empty ollama_models", "list the models to keep, or set ollama_models_prune: false"))
        if kube:
            out += _ollama_kube(inv, host)

    if "openwebui" in runs and kube:
        out += _openwebui_kube(inv, host)

    if kube and host in plan.get("ailab", {}).get("main", []):
        for name in ("ailab_namespace", "ailab_monitoring_namespace", "ailab_ingress_controller_namespace"):
            out += _k8s_name(name, get(host, name), DNS_LABEL, 63, "a DNS label")
        host_name = get(host, "ailab_ingress_host", "")
        if host_name:
            out += _k8s_name("ailab_ingress_host", host_name, DNS_SUBDOMAIN, 253, "a DNS name")
        if host in inv.group("k8s_servers") + inv.group("k8s_agents"):
            out += _k8s_name("inventory_hostname", host, DNS_SUBDOMAIN, 253, "a DNS name (the node name)")

    if "tenants" in runs:
        out += _tenants(inv, host)

    out += _secrets(inv, host, runs, secrets)
    return out


def _k8s_name(name: str, value: t.Any, rule: re.Pattern, length: int, what: str) -> list[Failure]:
    if value is MISSING or value is UNKNOWN:
        return []
    s = str(value)
    if len(s) <= length and rule.match(s):
        return []
    return [Failure(name, show(value), f"Kubernetes refuses it as {what}",
                    f"lower-case letters, digits, '-'{' and .' if rule is DNS_SUBDOMAIN else ''}, at most {length} characters,"
                    " starting and ending with a letter or digit",
                    f"rename it, e.g. {show(re.sub(r'[^a-z0-9.-]+', '-', s.lower()).strip('-.') or 'ailab')}")]


def _size(name: str, value: t.Any) -> list[Failure]:
    if value is MISSING or value is UNKNOWN or QUANTITY.match(str(value)):
        return []
    return [Failure(name, show(value), "not a Kubernetes quantity", "a number with a suffix such as 10Gi, 500Mi or 1Ti",
                    f"write it as {re.sub(r'[^0-9.]', '', str(value)) or '10'}Gi")]


def _ollama_kube(inv: Inventory, host: str) -> list[Failure]:
    get, out = inv.get, []
    replicas = _num(get(host, "ollama_replicas", 1))
    if replicas is not None and replicas < 1:
        out.append(Failure("ollama_replicas", show(get(host, "ollama_replicas")), "Ollama needs at least one pod",
                           "1 or more", "set ollama_replicas: 1 (or more)"))
    kind = get(host, "ollama_workload_kind", "StatefulSet")
    mode = get(host, "ollama_storage_access_mode", "ReadWriteOnce")
    if kind == "Deployment" and (replicas or 1) > 1 and mode != "ReadWriteMany":
        out.append(Failure("ollama_storage_access_mode", show(mode),
                           f"a Deployment with {int(replicas or 1)} replicas shares one volume", "ReadWriteMany",
                           "set ollama_storage_access_mode: ReadWriteMany, or ollama_workload_kind: StatefulSet"))
    out += _size("ollama_storage_size", get(host, "ollama_storage_size"))
    out += _k8s_name("ollama_namespace", get(host, "ollama_namespace"), DNS_LABEL, 63, "a namespace")
    return out


def _openwebui_kube(inv: Inventory, host: str) -> list[Failure]:
    get, out = inv.get, []
    replicas = _num(get(host, "openwebui_replicas", 1)) or 0
    hpa = get(host, "openwebui_hpa_enabled", False) is True
    multi = replicas > 1 or hpa
    mode = get(host, "openwebui_storage_access_mode")
    vector = get(host, "openwebui_vector_db")
    if multi:
        why = f"openwebui_replicas {int(replicas)}" + (" with openwebui_hpa_enabled" if hpa else "")
        implicit = [n for n in ("openwebui_vector_db", "openwebui_storage_access_mode") if not inv.explicit(host, n)]
        if implicit:
            out.append(Failure(
                ", ".join(implicit), ", ".join(show(get(host, n)) for n in implicit),
                f"{why} would silently switch the vector store (chroma files are not moved to pgvector) and the"
                " volume's access mode (a bound PVC cannot change it)",
                "set explicitly: openwebui_vector_db: pgvector and openwebui_storage_access_mode: ReadWriteMany",
                "set both in the inventory once the data is migrated (docs/roles/openwebui.md), or keep one replica"))
        if mode in ("ReadWriteOnce", "ReadWriteOncePod"):
            out.append(Failure("openwebui_storage_access_mode", show(mode),
                               f"{why}: the pods run on several nodes and cannot all mount a {mode} volume",
                               "ReadWriteMany", "set openwebui_storage_access_mode: ReadWriteMany (a storage class that offers it)"))
        if vector == "chroma":
            out.append(Failure("openwebui_vector_db", show(vector), f"{why}: chroma keeps its files in one pod",
                               "pgvector", "set openwebui_vector_db: pgvector"))
    if mode not in (MISSING, UNKNOWN) and mode not in ACCESS_MODES:
        out.append(Failure("openwebui_storage_access_mode", show(mode), "not a Kubernetes access mode",
                           ", ".join(ACCESS_MODES), "use one of the allowed modes"))
    out += _size("openwebui_storage_size", get(host, "openwebui_storage_size"))
    out += _size("postgres_k8s_storage_size", get(host, "postgres_k8s_storage_size"))
    out += _k8s_name("openwebui_namespace", get(host, "openwebui_namespace"), DNS_LABEL, 63, "a namespace")
    return out


def _tenants(inv: Inventory, host: str) -> list[Failure]:
    get, out = inv.get, []
    vendor = get(host, "ailab_gpu_vendor", "none")
    tiers = get(host, "tenants_tiers", {})
    tiers = tiers if isinstance(tiers, dict) else {}
    prefix = str(get(host, "ailab_tenant_namespace_prefix", "ai-"))
    for tier_name, tier in tiers.items():
        if not isinstance(tier, dict):
            continue
        out += _size(f"tenants_tiers.{tier_name}.ollama_storage_size", tier.get("ollama_storage_size", MISSING))
        tier_vendor = tier.get("gpu_vendor")
        if tier_vendor is not None and tier_vendor != vendor:
            out.append(Failure(f"tenants_tiers.{tier_name}.gpu_vendor", show(tier_vendor),
                               f"the cluster's GPUs are {vendor} (ailab_gpu_vendor)", show(vendor),
                               f"set gpu_vendor: {vendor} on tier {tier_name}, or give the tenants a tier of their vendor"))
    tenants = get(host, "ailab_tenants", [])
    for i, entry in enumerate(tenants if isinstance(tenants, list) else []):
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name", ""))
        out += _k8s_name(f"ailab_tenants[{i}].name (namespace {prefix}{name})", prefix + name, DNS_LABEL, 63, "a namespace")
        tier_name = entry.get("tier", "cpu")
        tier = tiers.get(tier_name, {}) if isinstance(tiers.get(tier_name, {}), dict) else {}
        want = entry.get("gpu_vendor")
        have = tier.get("gpu_vendor") or (vendor if int(_num(tier.get("gpus", 0)) or 0) > 0 else None)
        if want is not None and want != have:
            out.append(Failure(f"ailab_tenants[{i}].tier", show(tier_name),
                               f"tenant {name} needs {want} GPUs, tier {tier_name} gives "
                               f"{have if have else 'none'}",
                               ", ".join(k for k, v in tiers.items() if isinstance(v, dict)
                                         and (v.get("gpu_vendor") or (vendor if (_num(v.get("gpus", 0)) or 0) > 0 else None)) == want)
                               or f"a tier with gpu_vendor: {want}",
                               f"give tenant {name} a tier of its vendor (or drop its gpu_vendor)"))
        if "host" in entry:
            out += _k8s_name(f"ailab_tenants[{i}].host", entry["host"], DNS_SUBDOMAIN, 253, "a DNS name")
        for key in ("db_password", "secret_key", "admin_password"):
            if _placeholder(entry.get(key)):
                out.append(_placeholder_failure(f"ailab_tenants[{i}].{key}"))
    return out


def _placeholder(value: t.Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in PLACEHOLDERS


def _placeholder_failure(name: str) -> Failure:
    return Failure(name, show("", secret=True), "a well-known placeholder value, the first one an attacker tries",
                   "a unique random secret, e.g. from `openssl rand -base64 24`",
                   f"set {name} from ansible-vault, or leave it empty where the role generates one")


def _secrets(inv: Inventory, host: str, runs: set[str], secrets: t.Sequence[str]) -> list[Failure]:
    out = []
    prefixes = tuple(f"{role}_" for role in runs)
    for name in secrets:
        # only where the inventory sets it: a default derived from another secret is reported there
        if name.startswith(prefixes) and inv.explicit(host, name) and _placeholder(inv.get(host, name, None)):
            out.append(_placeholder_failure(name))
    users = inv.get(host, "postgres_users", []) if "postgres" in runs else []
    for i, user in enumerate(users if isinstance(users, list) else []):
        if isinstance(user, dict) and _placeholder(user.get("password")):
            out.append(_placeholder_failure(f"postgres_users[{i}].password"))
    return out


def check(inv: Inventory, specs: dict[str, dict[str, dict]]) -> list[str]:
    """Every failure of the inventory, one line each, hosts with the same failure joined."""
    plan = role_hosts(inv)
    secrets = sorted({n for eps in specs.values() for ep in eps.values() for n, o in ep.items() if is_secret(n, o)})
    found: dict[Failure, list[str]] = {}

    def add(hosts: list[str], failure: Failure) -> None:
        found.setdefault(failure, [])
        found[failure] += [h for h in hosts if h not in found[failure]]

    for hosts, failure in check_layout(inv):
        add(hosts, failure)
    for role, entries in plan.items():
        for entry, hosts in entries.items():
            options = specs.get(role, {}).get(entry, {})
            for host in hosts:
                for name, option in options.items():
                    for failure in validate_option(name, option, inv.get(host, name)):
                        add([host], failure)
    for host in inv.platform:
        for failure in check_host(inv, host, plan, secrets):
            add([host], failure)
    return [failure.line(hosts) for failure, hosts in found.items()]
