"""Run ansible-playbook from tests against localhost with this tree's collection.

Used by render tests (Kubernetes manifests rendered to a directory and validated offline with
scripts/validate-manifests) and by integration tests that drive modules through a real playbook.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ansible_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "ansible.cfg"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".collections"))
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    env.update(extra)
    return env


def run_playbook(plays: list | str, extravars: dict | None = None, check: bool = False,
                 inventory: str = "localhost,", extra_args: list | None = None,
                 timeout: int = 600) -> subprocess.CompletedProcess:
    """Run plays (a list of plays or YAML text) and return the finished process (never raises)."""
    with tempfile.TemporaryDirectory(prefix="ailab-pb-") as tmp:
        pb = os.path.join(tmp, "play.yml")
        with open(pb, "w") as f:
            f.write(plays if isinstance(plays, str) else yaml.safe_dump(plays, sort_keys=False))
        cmd = ["ansible-playbook", "-i", inventory, "-c", "local", pb]
        if inventory == "localhost,":
            # the test's own interpreter: interpreter discovery may find a broken shim first
            cmd += ["-e", f"ansible_python_interpreter={sys.executable}"]
        if extravars:
            ev = os.path.join(tmp, "extra.json")
            with open(ev, "w") as f:
                json.dump(extravars, f)
            cmd += ["-e", "@" + ev]
        if check:
            cmd.append("--check")
        cmd += extra_args or []
        return subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)


def validate_manifests(*paths: str) -> subprocess.CompletedProcess:
    """Strict offline schema validation (scripts/validate-manifests)."""
    return subprocess.run([os.path.join(ROOT, "scripts", "validate-manifests"), *paths],
                          capture_output=True, text=True, timeout=300, check=False)


def load_manifests(directory: str) -> list[dict]:
    """Every object of every *.yaml under directory, in file order."""
    objs = []
    for dirpath, _dirs, files in sorted(os.walk(directory)):
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(dirpath, name)) as f:
                    objs += [d for d in yaml.safe_load_all(f) if d]
    return objs
