# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ailab.stack.inventory_check: runs on the controller only (no connection),
resolves every role's variables for every platform host the way a play would (role defaults and
vars under the inventory, templated lazily), and hands them to module_utils._inventory_check."""
from __future__ import annotations

import os
import typing as t

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ailab.stack.plugins.module_utils import _inventory_check as ic

ROLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")
# Names that only exist once a host is reached; a value that needs them is checked by the stage.
_NEEDS_HOST = ("ansible_facts", "ansible_default_ipv4", "ansible_distribution", "ansible_hostname", "ansible_env")


def load_roles(loader: t.Any, roles_dir: str = ROLES_DIR) -> tuple[dict, dict]:
    """(specs: role -> entry point -> options, defaults: name -> raw value of every role)."""
    specs: dict[str, dict[str, dict]] = {}
    defaults: dict[str, t.Any] = {}
    for role in sorted(os.listdir(roles_dir)):
        base = os.path.join(roles_dir, role)
        spec_file = os.path.join(base, "meta", "argument_specs.yml")
        if os.path.isfile(spec_file):
            data = loader.load_from_file(spec_file) or {}
            specs[role] = {ep: dict(body.get("options") or {}) for ep, body in (data.get("argument_specs") or {}).items()}
        for part in ("vars", "defaults"):  # defaults and vars/main.yml of every role, under the inventory
            path = os.path.join(base, part, "main.yml")
            if os.path.isfile(path):
                defaults.update(loader.load_from_file(path, trusted_as_template=True) or {})
    return specs, defaults


class Resolver:
    """Variables of each host as a play would see them; each templated on first use."""

    def __init__(self, templar: t.Any, defaults: dict, raw_vars: dict[str, dict], hostvars: t.Any = None) -> None:
        self._templar, self._defaults, self._raw, self._hostvars = templar, defaults, raw_vars, hostvars
        self._env: dict[str, t.Any] = {}
        self._cache: dict[tuple[str, str], t.Any] = {}
        self.errors: list[str] = []

    def explicit(self, host: str, name: str) -> bool:
        return name in self._raw.get(host, {})

    def _templar_for(self, host: str) -> t.Any:
        if host not in self._env:
            variables = dict(self._defaults)
            variables.update(self._raw.get(host, {}))
            if self._hostvars is not None:
                variables["hostvars"] = self._hostvars
            self._env[host] = self._templar.copy_with_new_env(available_variables=variables)
        return self._env[host]

    def __call__(self, host: str, name: str) -> t.Any:
        key = (host, name)
        if key not in self._cache:
            raw = self._raw.get(host, {})
            if name in raw:
                value = raw[name]
            elif name in self._defaults:
                value = self._defaults[name]
            else:
                self._cache[key] = ic.MISSING
                return ic.MISSING
            try:
                self._cache[key] = self._templar_for(host).template(value)
            except AnsibleError as e:  # a value that cannot be evaluated yet
                text = to_text(e)
                self._cache[key] = ic.UNKNOWN
                if name in raw and not any(n in text for n in _NEEDS_HOST):
                    self.errors.append(f"{host}: {name} cannot be evaluated: {text.splitlines()[0]}; fix: define what it refers to")
        return self._cache[key]


def run_checks(loader: t.Any, templar: t.Any, groups: dict, raw_vars: dict[str, dict], hostvars: t.Any = None,
               roles_dir: str = ROLES_DIR) -> tuple[list[str], dict[str, list[str]]]:
    """Every failure of the inventory and the plan (role -> hosts that run its main entry point);
    the action's result, callable without a play (tests)."""
    specs, defaults = load_roles(loader, roles_dir)
    resolver = Resolver(templar, defaults, raw_vars, hostvars)
    inv = ic.Inventory(groups, resolver, resolver.explicit)
    failures = ic.check(inv, specs)
    plan = {role: list(entries.get("main", [])) for role, entries in ic.role_hosts(inv).items()}
    return resolver.errors + failures, plan


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        fail = args.get("fail", True)
        if not isinstance(fail, bool):
            return {"failed": True, "msg": f"fail must be a boolean, got {fail!r}"}
        groups = dict(task_vars.get("groups") or {})
        hostvars = task_vars["hostvars"]
        hosts = [h for g in ("ai_servers", "k8s_servers", "k8s_agents", "db_servers") for h in groups.get(g, [])]
        raw_vars = {h: dict(hostvars.raw_get(h)) for h in dict.fromkeys(hosts)}
        failures, plan = run_checks(self._loader, self._templar, groups, raw_vars, hostvars)
        result.update(changed=False, failures=failures, plan=plan, hosts=list(raw_vars))
        if failures and fail:
            result["failed"] = True
            result["msg"] = (f"The inventory has {len(failures)} problem(s); nothing was changed. "
                             "Each line: host(s): variable = value: problem; allowed: ...; fix: ...")
        else:
            result["msg"] = f"{len(raw_vars)} host(s) checked, {len(failures)} problem(s)"
        return result
