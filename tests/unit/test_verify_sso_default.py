"""The verify role signs the Open WebUI admin in only where password sign-in is on: with
openwebui_password_login: false (single sign-on only) /api/v1/auths/signin refuses every password,
so verify_openwebui_admin_email defaults to "" (health and database checks only)."""
from __future__ import annotations

import json
import os

import pytest

from helpers.playbook import ROOT, run_playbook


@pytest.mark.parametrize("password_login,expected",
                         [(None, "admin@example.org"), (True, "admin@example.org"), (False, "")])
def test_admin_sign_in_follows_password_login(password_login, expected):
    variables = {"openwebui_admin_email": "admin@example.org"}
    if password_login is not None:
        variables["openwebui_password_login"] = password_login
    play = [{"hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": [
        {"name": "Load the verify role's defaults",
         "ansible.builtin.include_vars": os.path.join(ROOT, "roles", "verify", "defaults", "main.yml")},
        {"name": "Show the e-mail", "ansible.builtin.debug": {"msg": "EMAIL={{ verify_openwebui_admin_email | to_json }}"}},
    ]}]
    proc = run_playbook(play)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if '"msg": "EMAIL=' in x)
    assert json.loads(json.loads("{" + line.strip() + "}")["msg"][len("EMAIL="):]) == expected
