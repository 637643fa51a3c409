"""ailab.stack._common put_back, driven by a small role of the tests' own
(tests/unit/roles/put_back_probe: an existing and a new file written with backups, then checked).
The roles that use it (ingress: nginx files; postgres: server settings and pg_hba.conf) are
tested by their molecule scenarios with the real nginx and PostgreSQL rejecting a file."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from helpers.playbook import run_playbook

PROBE_ROLE = Path(__file__).parent / "roles" / "put_back_probe"


def run(directory, content):
    play = {"hosts": "localhost", "gather_facts": False,
            "vars": {"put_back_probe_dir": str(directory), "put_back_probe_content": content},
            "roles": [{"role": str(PROBE_ROLE)}]}
    return run_playbook([play], extravars={"ansible_python_interpreter": sys.executable})


def test_rejected_files_are_put_back_and_new_ones_removed(tmp_path):
    existing = tmp_path / "existing.conf"
    existing.write_text("valid\nold\n")
    os.chmod(existing, 0o640)

    proc = run(tmp_path, "broken")
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "rejected, the previous files are back" in proc.stdout + proc.stderr
    assert existing.read_text() == "valid\nold\n"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.conf"]  # new file and backups gone

    good = run(tmp_path, "valid")
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-2000:]
    assert existing.read_text() == (tmp_path / "new.conf").read_text() == "valid\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.conf", "new.conf"]


def test_a_play_cannot_include_it_directly(tmp_path):
    play = {"hosts": "localhost", "gather_facts": False,
            "tasks": [{"ansible.builtin.include_role": {"name": "ailab.stack._common", "tasks_from": "put_back"},
                       "vars": {"_common_put_back": []}}]}
    proc = run_playbook([play], extravars={"ansible_python_interpreter": sys.executable})
    assert proc.returncode != 0
    assert "ailab.stack._common is internal" in proc.stdout + proc.stderr
