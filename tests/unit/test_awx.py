"""AWX as code (playbooks/awx_configure.yml), checked offline: no AWX can run on these machines.

- The playbook runs for real (ansible-playbook, check mode and not) with a test-only `normal` action
  (tests/unit/fixtures/awx_record) that records every awx.awx task's arguments as Ansible rendered
  them and runs no module: nothing is sent anywhere. Each recording is validated against the
  awx.awx module's own argument_spec (imported from the installed collection) by Ansible's
  ArgumentSpecValidator: unknown options, wrong types, bad choices, mutually exclusive options fail.
- Surveys are generated from the roles' argument specs (ailab.stack.awx_survey); a survey that
  disagrees with its spec or with the variables its playbook reads fails `survey_disagreements`.
- A live test against a real AWX runs only when CONTROLLER_HOST is set.
"""
from __future__ import annotations

import functools
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from helpers.playbook import ROOT, ansible_env

PLAYBOOK = Path(ROOT, "playbooks", "awx_configure.yml")
RECORDER = Path(ROOT, "tests", "unit", "fixtures", "awx_record")
SECRETS = {"awx_machine_ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----\ntest\n-----END OPENSSH PRIVATE KEY-----",
           "awx_vault_password": "test-vault-password"}
NOTIFY = {"awx_notification_type": "webhook",
          "awx_notification_configuration": {"url": "https://hooks.example.com/x", "http_method": "POST", "headers": {}},
          "awx_machine_become_password": "test-become", "awx_controller_host": "https://awx.example.com"}


def _play() -> dict:
    return yaml.safe_load(PLAYBOOK.read_text())[0]


def _record(tmp_path: Path, extravars: dict, check: bool = False) -> list[dict]:
    out = tmp_path / "awx-calls.jsonl"
    ev = tmp_path / "extra.json"
    ev.write_text(json.dumps(extravars))
    cmd = ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", "@" + str(ev)] + (["--check"] if check else [])
    res = subprocess.run(cmd, env=ansible_env(ANSIBLE_ACTION_PLUGINS=str(RECORDER), AILAB_AWX_RECORD=str(out)),
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "test-vault-password" not in res.stdout + res.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> list[dict]:
    return _record(tmp_path_factory.mktemp("awx"), {**SECRETS, **NOTIFY})


@pytest.fixture(scope="module")
def calls_default(tmp_path_factory) -> list[dict]:
    return _record(tmp_path_factory.mktemp("awx-default"), SECRETS, check=True)


# Run in a fresh interpreter: in this one, other tests have set up Ansible's collection loader for
# their own paths, and importing awx.awx through it then fails ("collection metadata was not loaded").
_MODULE_SPEC = """
import importlib, pickle, sys
from unittest import mock
mod = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + sys.argv[1])
from ansible_collections.awx.awx.plugins.module_utils.controller_api import ControllerModule
captured = {}
class Captured(Exception):
    pass
def capture(*args, **kwargs):
    captured.update(kwargs)
    raise Captured
with mock.patch.object(mod, "ControllerAPIModule", side_effect=capture):
    try:
        mod.main()
    except Captured:
        pass
spec = dict(captured.pop("argument_spec"))
spec.update(ControllerModule.AUTH_ARGSPEC)
constraints = ("mutually_exclusive", "required_if", "required_one_of", "required_together")
sys.stdout.buffer.write(pickle.dumps((spec, {k: v for k, v in captured.items() if k in constraints})))
"""


@functools.lru_cache(maxsize=None)
def _module_spec_pickle(name: str) -> bytes:
    proc = subprocess.run([sys.executable, "-c", _MODULE_SPEC, name], capture_output=True, timeout=120,
                          check=False, env=ansible_env())
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return proc.stdout


def module_spec(name: str) -> tuple[dict, dict]:
    """The argument_spec (with the controller connection options) and the constraints an awx.awx
    module builds in main(), captured where it hands them to ControllerAPIModule."""
    return pickle.loads(_module_spec_pickle(name))  # the spec's fallbacks are functions


def test_every_awx_call_matches_the_module_argument_spec(calls, calls_default):
    errors = []
    for call in calls + calls_default:
        spec, constraints = module_spec(call["module"].rsplit(".", 1)[1])
        result = ArgumentSpecValidator(spec, **constraints).validate(call["args"])
        errors += [f"{call['name']} ({call['module']}): {e}" for e in result.error_messages]
    assert not errors, "\n".join(errors)


def test_objects_created(calls, calls_default):
    by_module = {}
    for c in calls:
        by_module.setdefault(c["module"].rsplit(".", 1)[1], []).append(c["args"])
    layouts = sorted(p.name for p in Path(ROOT, "inventories").iterdir() if (p / "hosts.yml").is_file())
    assert sorted(a["name"] for a in by_module["inventory"]) == [f"ailab-{x}" for x in layouts]
    for src in by_module["inventory_source"]:
        assert src["source"] == "scm" and Path(ROOT, src["source_path"]).is_file(), src
    creds = {a["name"]: a for a in by_module["credential"]}
    assert {c["credential_type"] for c in creds.values()} == {"Machine", "Vault"}
    # secrets are kept when unchanged: AWX shows $encrypted$, awx.awx cannot compare it
    assert all(c["update_secrets"] is False for c in creds.values())
    assert creds["ailab-machine"]["inputs"]["become_password"] == "test-become"
    assert by_module["notification_template"][0]["notification_type"] == "webhook"
    wf = by_module["workflow_job_template"][0]
    assert wf["notification_templates_error"] == ["ailab-failure"]
    nodes = {n["identifier"]: n for n in wf["workflow_nodes"]}
    assert nodes["site"]["related"]["success_nodes"] == [{"identifier": "verify"}]
    templates = {a["name"] for a in by_module["job_template"]}
    # every reference resolves to an object the playbook creates, created before it is referenced
    inventories = {a["name"] for a in by_module["inventory"]}
    for jt in by_module["job_template"]:
        assert jt["inventory"] in inventories and jt["project"] == by_module["project"][0]["name"], jt
        assert jt["execution_environment"] == by_module["execution_environment"][0]["name"]
        assert set(jt["credentials"]) == set(creds)
    assert all(a["notification_templates_error"] == ["ailab-failure"] for a in by_module["job_template"])
    order = [c["module"] for c in calls]
    assert order.index("awx.awx.notification_template") < order.index("awx.awx.job_template")
    assert {n["unified_job_template"]["name"] for n in nodes.values()} <= templates
    assert {s["unified_job_template"] for s in by_module["schedule"]} == {"ailab: verify", "ailab: backup"}
    assert all(s["rrule"].startswith("DTSTART") for s in by_module["schedule"])
    # without a notification configured none is created and nothing notifies
    default = [c for c in calls_default if c["module"].endswith(("notification_template", "workflow_job_template"))]
    assert [c["module"] for c in default] == ["awx.awx.workflow_job_template"]
    assert default[0]["args"]["notification_templates_error"] == []
    assert all(c["check_mode"] for c in calls_default)
    # the controller: variables when set (module_defaults), else awx.awx's CONTROLLER_* environment
    assert all(c["args"]["controller_host"] == "https://awx.example.com" for c in calls)
    assert not [k for c in calls_default for k in c["args"] if k.startswith("controller_")]


def test_secret_tasks_are_no_log():
    tasks = [t for t in _play()["tasks"] if any(k.endswith(("credential", "notification_template")) for k in t)]
    assert len(tasks) == 3 and all(t.get("no_log") is True for t in tasks)


def test_every_job_template_playbook_exists():
    templates = _play()["vars"]["awx_job_templates"]
    missing = [t["playbook"] for t in templates if not Path(ROOT, t["playbook"]).exists()]
    assert not missing, f"job templates point at playbooks that do not exist: {missing}"
    stages = [p.stem for p in Path(ROOT, "playbooks").glob("*.yml") if p.stem != "awx_configure"]
    assert {Path(t["playbook"]).stem for t in templates} == set(stages)


# --- surveys ------------------------------------------------------------------------------------
# The mapping written independently of the filter: a changed filter or spec shows here.
EXPECTED_TYPE = {"str": "text", "path": "text", "int": "integer", "bool": "multiplechoice"}
FALLBACK = re.compile(r"^\{\{\s*(\w+)\s*\|\s*default\((.*)\)\s*\}\}$")


def _playbook_reads(playbook: Path) -> dict[str, tuple[str, object]]:
    """option -> (extra variable, fallback) for the include_role vars of a playbook."""
    reads = {}
    for play in yaml.safe_load(playbook.read_text()):
        for task in play.get("tasks", []):
            for option, value in (task.get("vars") or {}).items():
                m = FALLBACK.match(str(value))
                if m:
                    reads[option] = (m.group(1), yaml.safe_load(m.group(2)))
    return reads


def survey_disagreements(template: dict, survey: dict) -> list[str]:
    """What differs between a job template's survey, its role's argument spec and its playbook."""
    conf = template["survey"]
    specs = yaml.safe_load(Path(ROOT, "roles", conf["role"], "meta", "argument_specs.yml").read_text())
    options = specs["argument_specs"][conf["entry_point"]]["options"]
    reads = _playbook_reads(Path(ROOT, template["playbook"]))
    bad = []
    asked = {q["variable"]: q for q in survey["spec"]}
    for question in conf["questions"]:
        option, q = question["option"], asked.get(question.get("variable", question["option"]))
        spec = options.get(option)
        if spec is None or q is None:
            bad.append(f"{option}: not in the spec or not asked")
            continue
        if reads.get(option, (None,))[0] != q["variable"]:
            bad.append(f"{option}: {template['playbook']} does not read {q['variable']} into it")
        elif "default" in spec and reads[option][1] != spec["default"]:
            bad.append(f"{option}: playbook fallback {reads[option][1]!r} != spec default {spec.get('default')!r}")
        want = "password" if spec.get("no_log") else ("multiplechoice" if spec.get("choices") else EXPECTED_TYPE[spec["type"]])
        if q["type"] != want:
            bad.append(f"{option}: survey type {q['type']} != {want} for spec type {spec['type']}")
        if spec.get("required") and not q["required"]:
            bad.append(f"{option}: required in the spec, optional in the survey")
        choices = [str(c).lower() if isinstance(c, bool) else c for c in spec.get("choices", [True, False] if spec["type"] == "bool" else [])]
        if sorted(q.get("choices", [])) != sorted(c for c in choices if c != ""):
            bad.append(f"{option}: survey choices {q.get('choices')} != spec choices {spec.get('choices')}")
        default = spec.get("default", "")
        if (str(default).lower() if isinstance(default, bool) else default) != q["default"]:
            bad.append(f"{option}: survey default {q['default']!r} != spec default {default!r}")
    return bad


def test_surveys_agree_with_the_specs_and_playbooks(calls):
    templates = {t["name"]: t for t in _play()["vars"]["awx_job_templates"]}
    surveyed = [c["args"] for c in calls if c["module"].endswith("job_template") and c["args"].get("survey_enabled")]
    assert {a["name"] for a in surveyed} == {n for n, t in templates.items() if "survey" in t} == {"ailab: backup", "ailab: restore"}
    for args in surveyed:
        assert survey_disagreements(templates[args["name"]], args["survey_spec"]) == [], args["name"]
    restore = next(a["survey_spec"] for a in surveyed if a["name"] == "ailab: restore")
    assert {q["variable"] for q in restore["spec"]} == {
        "restore_database", "restore_file", "restore_target", "restore_new_name", "restore_confirm", "restore_keep_replaced"}


def test_a_survey_that_disagrees_fails(calls):
    template = next(t for t in _play()["vars"]["awx_job_templates"] if t["name"] == "ailab: restore")
    survey = next(c["args"]["survey_spec"] for c in calls if c["args"].get("name") == "ailab: restore"
                  and c["module"].endswith("job_template"))
    stale = json.loads(json.dumps(survey))
    stale["spec"][2]["choices"] = ["new", "existing", "merge"]   # a choice the role does not have
    stale["spec"][0]["required"] = False                         # the database is required
    stale["spec"][1]["variable"] = "restore_path"                 # a variable restore.yml does not read
    found = survey_disagreements(template, stale)
    assert len(found) == 3, found


# --- live ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not os.environ.get("CONTROLLER_HOST"),
                    reason="no AWX or AAP controller can run on the development machines; set CONTROLLER_HOST and "
                           "CONTROLLER_OAUTH_TOKEN (and AILAB_AWX_TEST_SCM_URL) to configure a real one and re-check it")
def test_live_configure_then_check_mode_reports_no_drift(tmp_path):
    ev = tmp_path / "extra.json"
    ev.write_text(json.dumps({**SECRETS, "awx_organization": "ailab-test",
                              "awx_project_scm_url": os.environ.get("AILAB_AWX_TEST_SCM_URL", "https://github.com/ansible/ansible-tower-samples")}))
    base = ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", "@" + str(ev)]
    for extra in ([], ["--check"]):
        res = subprocess.run(base + extra, env=ansible_env(), capture_output=True, text=True, timeout=900, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"localhost\s*:.*changed=0", res.stdout), res.stdout


def test_the_argument_spec_check_bites():
    spec, constraints = module_spec("job_template")
    errors = ArgumentSpecValidator(spec, **constraints).validate(
        {"name": "x", "playbok": "site.yml", "survey_enabled": "maybe"}).error_messages
    assert len(errors) == 2 and "playbok" in " ".join(errors), errors
