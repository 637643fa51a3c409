"""Booleans: every boolean default is typed bool in the role's argument spec, and every condition
that reads a bool-typed variable casts it with `| bool` (a string "false" from an extra-var or a
survey would otherwise be true). Strings given for them are refused by ailab.stack.inventory_check
(tests/unit/plugins/action)."""
import glob
import os
import re

import pytest
import yaml

from helpers.playbook import ROOT

ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))
CONDITIONS = ("when", "that", "failed_when", "changed_when", "until")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def spec_options(role):
    specs = load(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"))["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    return options


def bool_names():
    return sorted({n for role in ROLES for n, o in spec_options(role).items() if o.get("type") == "bool"})


@pytest.mark.parametrize("role", ROLES)
def test_every_boolean_default_is_typed_bool(role):
    path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
    defaults = load(path) if os.path.exists(path) else {}
    options = spec_options(role)
    untyped = [n for n, v in defaults.items() if isinstance(v, bool) and options.get(n, {}).get("type") != "bool"]
    assert untyped == [], f"{role}: boolean defaults without type: bool in meta/argument_specs.yml: {untyped}"


def conditions(node):
    """Every condition string of a task file (when/that/failed_when/changed_when/until), nested blocks too."""
    if isinstance(node, list):
        for item in node:
            yield from conditions(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in CONDITIONS:
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str):
                        yield v
            elif isinstance(value, (list, dict)):
                yield from conditions(value)


def test_every_boolean_is_read_with_the_bool_filter():
    names = bool_names()
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b(?!\s*\|\s*bool)(?!\s*\|\s*ternary)(?!\s*\])(?![\w'])")
    bare = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")) + glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        for cond in conditions(load(path) or []):
            for match in pattern.finditer(cond):
                bare.append(f"{os.path.relpath(path, ROOT)}: {match.group(1)} in {cond!r}")
    assert bare == [], "booleans read without | bool:\n" + "\n".join(bare)
