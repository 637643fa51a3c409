"""Where a secret could leave a task: the decisions, checked on the tasks themselves.

- Every kubernetes.core task that can return a Secret (k8s_info reading one, k8s applying or
  deleting one) is no_log for it: the module returns the object, and its data would show in -v,
  --diff and AWX job events. The no_log expressions of _common's apply and prune tasks are
  evaluated with Ansible's own templating for the items their loops give them. (A real apply
  needs an API server, which cannot run here; that the rendered Secret files are flagged is
  checked by k8s_manifest_errors, tests/unit/plugins/filter/test_k8s_manifests.py.)
- No command or shell task puts a secret on a command line (the process list shows it to every
  user of the host): passwords and keys go through environment files, libpq's own files or stdin.
"""
from __future__ import annotations

import glob
import os
import re

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from helpers.playbook import ROOT

K8S_MODULES = ("kubernetes.core.k8s", "kubernetes.core.k8s_info")
COMMAND_MODULES = ("ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw", "ansible.builtin.script",
                   "ansible.builtin.expect")
SECRETISH = re.compile(r"(password|passwd|secret|token|_key\b|access_key|credential)", re.I)


def tasks(files):
    """(file, task) of every task in the task files, blocks opened."""
    found = []

    def walk(path, items):
        for task in items or []:
            if not isinstance(task, dict):
                continue
            found.append((path, task))
            for key in ("block", "rescue", "always"):
                walk(path, task.get(key))
    for path in files:
        with open(path, encoding="utf-8") as f:
            walk(os.path.relpath(path, ROOT), yaml.safe_load(f))
    return found


ROLE_TASKS = tasks(sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))))


def no_log(task, **variables):
    """What the task's no_log is for these variables (Ansible's own templating)."""
    value = task.get("no_log", False)
    if isinstance(value, str):  # the task file's text, trusted as Ansible trusts a playbook's
        value = trust_as_template(value)
    return Templar(loader=DataLoader(), variables=variables).template(value) in (True, "True", "true")


def test_the_role_tasks_were_found():
    assert len(ROLE_TASKS) > 100
    assert sum(1 for _p, t in ROLE_TASKS if any(m in t for m in K8S_MODULES)) >= 5


@pytest.mark.parametrize("path, task", [(p, t) for p, t in ROLE_TASKS if "kubernetes.core.k8s_info" in t],
                         ids=lambda v: v if isinstance(v, str) else v.get("name", "?"))
def test_every_read_of_a_secret_is_no_log(path, task):
    assert task["kubernetes.core.k8s_info"]["kind"] == "Secret", f"{path}: a k8s_info that is not a Secret read: decide its no_log"
    assert task.get("no_log") is True, f"{path}: {task['name']}"


K8S_OBJECTS = dict((t["name"], t) for _p, t in tasks([os.path.join(ROOT, "roles", "_common", "tasks", "k8s_objects.yml")]))
SECRET_ITEM = {"file": "10-secret.yaml", "template": "/t/secret.yaml.j2", "secret": True}
PLAIN_ITEM = {"file": "40-deployment.yaml", "template": "/t/deployment.yaml.j2"}


def test_apply_hides_exactly_the_secret_files():
    apply = K8S_OBJECTS["Apply the objects with server-side apply"]
    assert "kubernetes.core.k8s" in apply
    secrets = [SECRET_ITEM]  # __common_k8s_secrets: the rendered objects flagged secret
    assert no_log(apply, item=SECRET_ITEM, __common_k8s_secrets=secrets)
    assert not no_log(apply, item=PLAIN_ITEM, __common_k8s_secrets=secrets)  # the others stay readable


def test_prune_hides_secret_objects():
    prune = K8S_OBJECTS["Delete the objects of files no longer rendered"]
    assert "kubernetes.core.k8s" in prune
    assert no_log(prune, item={"apiVersion": "v1", "kind": "Secret", "name": "openwebui", "file": "10-secret.yaml"})
    assert not no_log(prune, item={"apiVersion": "apps/v1", "kind": "Deployment", "name": "x", "file": "40-deployment.yaml"})


def test_secret_files_are_rendered_without_log_or_diff():
    render = K8S_OBJECTS["Render the Secret objects"]
    assert render["no_log"] is True and render["diff"] is False
    assert "__common_k8s_secrets" in render["loop"]
    assert "reject('in', __common_k8s_secrets)" in K8S_OBJECTS["Render the objects"]["loop"]


def test_every_kubernetes_task_of_the_roles_decides_no_log():
    for path, task in ROLE_TASKS:
        if "kubernetes.core.k8s" in task:
            assert "no_log" in task, f"{path}: {task['name']} applies or deletes objects that may be Secrets"


def command_args(task):
    module = next(m for m in COMMAND_MODULES if m in task)
    args = task[module]
    return " ".join(str(v) for v in (args.values() if isinstance(args, dict) else [args])) + " " + str(task.get("cmd", ""))


COMMAND_TASKS = [(p, t) for p, t in ROLE_TASKS if any(m in t for m in COMMAND_MODULES)]


def test_the_command_tasks_were_found():
    assert len(COMMAND_TASKS) >= 10


@pytest.mark.parametrize("path, task", COMMAND_TASKS, ids=lambda v: v if isinstance(v, str) else v.get("name", "?"))
def test_no_secret_on_a_command_line(path, task):
    """A command's arguments show in `ps` for every user: no variable that holds a secret in them."""
    names = re.findall(r"\{\{(.*?)\}\}", command_args(task), re.S)
    leaking = [n.strip() for n in names if SECRETISH.search(n)]
    assert not leaking, f"{path}: {task['name']} passes {leaking} on the command line; use an environment file or stdin"


def test_the_command_line_check_sees_a_password():
    task = {"name": "bad", "ansible.builtin.command": {"argv": ["psql", "-c", "ALTER ROLE x PASSWORD '{{ postgres_openwebui_password }}'"]}}
    assert re.findall(r"\{\{(.*?)\}\}", command_args(task)) and SECRETISH.search(command_args(task))
