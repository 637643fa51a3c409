"""The environment file the openwebui role writes on the systemd runtime
(roles/openwebui/templates/open-webui.env.j2 with __openwebui_systemd_env), rendered on the
controller without a host: the role's preflight (with its variables made public), then the role's
own template. Used by the render tests and by the integration tests that start a real Open WebUI
with the settings the role would give it.
"""
from __future__ import annotations

import json
import os
import subprocess

from helpers.playbook import ROOT, run_playbook

TEMPLATE = os.path.join(ROOT, "roles", "openwebui", "templates", "open-webui.env.j2")


def render_env_file(dest: str, variables: dict) -> subprocess.CompletedProcess:
    """Render the systemd environment file of `variables` (play vars, ailab_runtime systemd) to dest."""
    play = [{"name": "render the environment file", "hosts": "localhost", "gather_facts": False,
             "vars": {"ailab_runtime": "systemd", **variables},
             "tasks": [
                 {"name": "Check the settings as the role does",
                  "ansible.builtin.include_role": {"name": "ailab.stack.openwebui", "tasks_from": "preflight.yml",
                                                   "public": True}},
                 {"name": "Write the environment file", "no_log": True,
                  "ansible.builtin.template": {"src": TEMPLATE, "dest": dest, "mode": "0600"},
                  "vars": {"__openwebui_all_env": "{{ __openwebui_systemd_env }}"}}]}]
    return run_playbook(play)


def parse_env_file(path: str) -> dict:
    """NAME=<JSON string> lines (the template's format; systemd reads the same quoting)."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, value = line.split("=", 1)
                env[name] = json.loads(value)
    return env
