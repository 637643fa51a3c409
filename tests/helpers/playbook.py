"""Run ansible-playbook from tests against localhost with this tree's collection.

Used by render tests (Kubernetes manifests rendered to a directory and validated offline with
scripts/validate-manifests) and by integration tests that drive modules through a real playbook.
Render tests render all their valid configurations in one run (`render_variants`): each
ansible-playbook run pays its start-up, so one run per configuration made those suites slow.
"""
from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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
                 timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run plays (a list of plays or YAML text) and return the finished process (never raises).
    `env`: extra environment variables of the run (e.g. HOME, where ailab_state_dir defaults to)."""
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
        return subprocess.run(cmd, env=ansible_env(**(env or {})), capture_output=True, text=True, timeout=timeout, check=False)


def render_variants(role: str, variants: dict, base: str | os.PathLike, common: dict | None = None,
                    jobs: int = 2, timeout: int = 1200) -> tuple[subprocess.CompletedProcess, dict[str, Path]]:
    """Render several configurations of `role`, one play per configuration, in `jobs` concurrent runs.

    `variants` maps a name to the role's variables, or to a list of them: a list is rendered in
    order into the same directory (a re-run with other settings), and after each step but the last
    the manifest directory is copied to `<dir>/step<N>` so a test can read that intermediate state.
    Variant `name` renders with `ailab_manifest_dir` = `<base>/<name>/manifests` (the roles keep
    generated credentials next to it, in `<base>/<name>/credentials`). `common` and the variant's
    variables are play vars, not extra vars (-e would override every play); the roles set no fact
    over a public variable, so play vars act like the -e of a single run.
    The role's template loop, not ansible-playbook's start-up, is most of the time, so the plays are
    shared out (whole variants, by number of steps) over `jobs` ansible-playbook processes run side by
    side (2: the CI machine's cores). Returns one process for them all (returncode: the first that is
    not 0; stdout and stderr: all runs', one after the other; never raises; a failing play stops its
    run, so check the returncode first) and {name: Path(<base>/<name>)}.
    """
    groups: list[list] = [[] for _group in range(max(1, min(jobs, len(variants))))]
    weight = [0] * len(groups)
    dirs = {}
    for name, steps in sorted(variants.items(), key=lambda kv: -len(kv[1]) if isinstance(kv[1], list) else -1):
        dirs[name] = Path(base) / name
        manifests = dirs[name] / "manifests"
        steps = steps if isinstance(steps, list) else [steps]
        i = weight.index(min(weight))
        weight[i] += len(steps)
        for n, step in enumerate(steps, 1):
            groups[i].append({"name": f"{name} ({n}/{len(steps)})", "hosts": "localhost", "gather_facts": False,
                              "vars": {**(common or {}), **step, "ailab_manifest_dir": str(manifests)},
                              "roles": [{"role": role}]})
            if n < len(steps):
                groups[i].append({"name": f"{name}: keep step {n}", "hosts": "localhost", "gather_facts": False,
                                  "tasks": [{"name": "Copy the manifests", "ansible.builtin.command": {
                                      "argv": ["cp", "-a", str(manifests), str(dirs[name] / f"step{n}")]}}]})
    with concurrent.futures.ThreadPoolExecutor(len(groups)) as pool:
        procs = list(pool.map(lambda plays: run_playbook(plays, timeout=timeout), groups))
    failed = [p.returncode for p in procs if p.returncode != 0]
    return subprocess.CompletedProcess([p.args for p in procs], failed[0] if failed else 0,
                                       "".join(p.stdout for p in procs), "".join(p.stderr for p in procs)), dirs


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


def by_kind(objs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    """The objects of that kind (and name)."""
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def container_env(workload: dict, container: str = "open-webui") -> dict:
    """name -> value (or valueFrom) of a container's (or init container's) environment."""
    pod = workload["spec"]["template"]["spec"]
    c = [x for x in pod.get("initContainers", []) + pod["containers"] if x["name"] == container][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def secret_data(secret: dict) -> dict:
    """A Secret's data, base64-decoded."""
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
