"""bench/ansible_output.py reads what ansible-playbook prints (default stdout callback, profile_tasks,
profile_roles with PROFILE_ROLES_SUMMARY_ONLY) into the numbers of the bench tables.

The fixture tests/unit/fixtures/bench/two-plays-two-hosts.txt is the recorded output of a real run
(ansible-core 2.19, ansible.posix from ansible 12.3.0) of the playbook and role in
two-plays-two-hosts.source.txt on two local hosts, with the environment bench/site.py sets: a role,
a loop with a skipped item, a task skipped on every host, an include, one change on one host.
The parser's per-task tallies are checked against Ansible's own PLAY RECAP of the same output.
"""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import ansible_output  # noqa: E402  pylint: disable=wrong-import-position

FIXTURE = os.path.join(ROOT, "tests", "unit", "fixtures", "bench", "two-plays-two-hosts.txt")


@pytest.fixture(name="run")
def fixture_run() -> ansible_output.Run:
    with open(FIXTURE, encoding="utf-8") as f:
        return ansible_output.parse(f.read())


def test_recap_is_ansibles(run):
    assert run.recap["h1"] == {"ok": 6, "changed": 1, "unreachable": 0, "failed": 0, "skipped": 2, "rescued": 0,
                               "ignored": 0}
    assert run.totals() == {"ok": 12, "changed": 1, "skipped": 4, "failed": 0, "unreachable": 0}


def test_tasks_in_order_with_their_plays(run):
    assert [(t.play, t.name) for t in run.tasks] == [
        ("First play", "demo_role : Write a file once"),
        ("First play", "demo_role : Loop over three items, one skipped"),
        ("First play", "demo_role : Skipped entirely"),
        ("Second play", "Include a task file"),
        ("Second play", "Write a file once"),
        ("Second play", "Loop over three items, one skipped"),
        ("Second play", "Skipped entirely"),
        ("Second play", "Sleep a little"),
    ]
    assert run.tasks[0].role == "demo_role" and run.tasks[3].role == ""


def test_per_task_results_add_up_to_the_recap(run):
    """A loop counts once per host (as in the recap), a partly skipped loop as run, an include as run."""
    assert run.tasks[0].changed == {"h1"} and run.tasks[0].ran == {"h1", "h2"}
    assert run.tasks[1].ran == {"h1", "h2"}
    assert run.tasks[2].ran == set() and run.tasks[2].skipped == {"h1", "h2"}
    assert run.tasks[3].ran == {"h1", "h2"}
    for host in ("h1", "h2"):
        assert sum(host in t.ran for t in run.tasks) == run.recap[host]["ok"]
        assert sum(host in t.skipped - t.ran for t in run.tasks) == run.recap[host]["skipped"]
        assert sum(host in t.changed for t in run.tasks) == run.recap[host]["changed"]


def test_durations_from_profile_tasks(run):
    """Each task's length is the one printed under the next banner; the last one under TASKS RECAP."""
    assert [t.seconds for t in run.tasks] == [5.195, 4.202, 0.129, 0.165, 4.25, 3.158, 0.073, 1.978]
    assert run.total_seconds == pytest.approx(19.228)
    assert run.top_tasks[0] == ("demo_role : Write a file once", 5.2)
    assert len(run.top_tasks) == 8


def test_roles_from_profile_roles_without_the_total(run):
    assert run.roles[0] == ("demo_role", 9.53)
    assert "total" not in dict(run.roles)
    assert dict(run.roles)["ansible.builtin.command"] == 5.14


def test_by_stage_groups_plays(run):
    stages = run.by_stage(lambda play: {"First play": "one"}.get(play, "two"))
    assert list(stages) == ["one", "two"]
    assert stages["one"] == {"seconds": pytest.approx(5.195 + 4.202 + 0.129), "ran": 4, "skipped": 2, "changed": 1}
    assert stages["two"]["ran"] == 8 and stages["two"]["skipped"] == 2 and stages["two"]["changed"] == 0


def test_markdown_table():
    assert ansible_output.markdown_table(("run", "wall s", "changed"), [("first", 233.04, 72), ("no-op", 40.0, 0)]) == (
        "| run | wall s | changed |\n|---|---:|---:|\n| first | 233.0 | 72 |\n| no-op | 40.0 | 0 |")


def test_a_failed_run_counts_the_failure():
    text = ("PLAY [p] ***\n\nTASK [t] ***\nMonday 30 November 2026  10:00:00 +0000 (0:00:00.010)       0:00:00.010 ***\n"
            "fatal: [h1]: FAILED! => {\"msg\": \"boom\"}\n\nPLAY RECAP ***\n"
            "h1                         : ok=0    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0\n")
    run = ansible_output.parse(text)
    assert run.totals()["failed"] == 1 and run.tasks[0].ran == {"h1"}
