"""Every role documents its variables twice, and the two must agree (prometheus-community's
lint_arguments_spec.sh, in Python): each key of defaults/main.yml is an option of the `main`
entry point of meta/argument_specs.yml with a type and a description; an option without a
default must be `required: true`; the shared `ailab_*` variables live only in roles/ailab. Every role also has a README.md.
Prints one line per problem and exits 1 when there is any.
"""
from __future__ import annotations

import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def check_role(role_dir: str) -> list[str]:
    role = os.path.basename(role_dir)
    problems = []
    if not os.path.exists(os.path.join(role_dir, "README.md")):
        problems.append(f"{role}: README.md is missing")
    spec_path = os.path.join(role_dir, "meta", "argument_specs.yml")
    if not os.path.exists(spec_path):
        return problems + [f"{role}: meta/argument_specs.yml is missing"]
    with open(spec_path) as f:
        specs = (yaml.safe_load(f) or {}).get("argument_specs") or {}
    if "main" not in specs:
        problems.append(f"{role}: meta/argument_specs.yml has no 'main' entry point")
    defaults_path = os.path.join(role_dir, "defaults", "main.yml")
    defaults = {}
    if os.path.exists(defaults_path):
        with open(defaults_path) as f:
            defaults = yaml.safe_load(f) or {}
    options = (specs.get("main") or {}).get("options") or {}
    for key in sorted(set(defaults) - set(options)):
        problems.append(f"{role}: defaults/main.yml sets '{key}' but meta/argument_specs.yml does not document it")
    for key in sorted(set(options) - set(defaults)):
        if not options[key].get("required"):
            problems.append(f"{role}: argument_specs option '{key}' has no default in defaults/main.yml and is not required")
    if role != "ailab":
        # The shared ailab_* variables have one home: the defaults and the spec of roles/ailab.
        for entry, spec in specs.items():
            for key in sorted(((spec or {}).get("options") or {})):
                if key.startswith("ailab_"):
                    problems.append(f"{role}: {entry} documents the shared variable '{key}'; it belongs to roles/ailab")
        for key in sorted(defaults):
            if key.startswith("ailab_"):
                problems.append(f"{role}: defaults/main.yml sets the shared variable '{key}'; it belongs to roles/ailab")
    for entry, spec in specs.items():
        if not (spec or {}).get("short_description"):
            problems.append(f"{role}: entry point '{entry}' has no short_description")
        for key, opt in ((spec or {}).get("options") or {}).items():
            if not opt.get("description"):
                problems.append(f"{role}: {entry}.{key} has no description")
            if not opt.get("type"):
                problems.append(f"{role}: {entry}.{key} has no type")
    return problems


def main() -> int:
    roles_dir = os.path.join(ROOT, "roles")
    problems = []
    roles = sorted(d for d in os.listdir(roles_dir) if os.path.isdir(os.path.join(roles_dir, d)))
    for role in roles:
        problems += check_role(os.path.join(roles_dir, role))
    for p in problems:
        print(p)
    print(f"check_argument_specs: {len(roles)} role(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
