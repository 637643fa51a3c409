"""AWX as code: the job-template playbook parses, every template points at a playbook that
exists, and the restore survey asks for exactly the variables playbooks/restore.yml reads."""
import json
import os
import subprocess

import yaml

from helpers.playbook import ROOT, ansible_env


def test_job_templates_playbook_syntax():
    res = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,", os.path.join(ROOT, "awx", "job_templates.yml")],
                         env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_job_template_playbook_exists_or_is_announced():
    with open(os.path.join(ROOT, "awx", "job_templates.yml")) as f:
        play = yaml.safe_load(f)[0]
    templates = play["vars"]["awx_job_templates"]
    missing = [t["playbook"] for t in templates if not os.path.exists(os.path.join(ROOT, t["playbook"]))]
    assert not missing, f"job templates point at playbooks that do not exist: {missing}"


def test_restore_survey_variables():
    with open(os.path.join(ROOT, "awx", "restore_survey.json")) as f:
        spec = json.load(f)["spec"]
    assert {q["variable"] for q in spec} == {"restore_database", "restore_file", "restore_target", "restore_confirm"}
