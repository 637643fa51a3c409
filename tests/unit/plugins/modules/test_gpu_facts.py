"""ailab.stack.gpu_facts run for real on this machine (no GPU here: an empty list; the kernel facts set),
in check mode, through ansible-playbook, and pointed at a fake tree with `root`. The layouts are in
module_utils/test__gpu.py."""
from __future__ import annotations

import glob
import os

import pytest
from helpers.playbook import run_playbook

from ansible_collections.ailab.stack.plugins.modules import gpu_facts
from ansible_collections.ailab.stack.tests.unit.plugins.module_utils.test__gpu import make_tree
from ansible_collections.ailab.stack.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, patch_exit_fail, set_module_args)


@pytest.fixture(autouse=True)
def patch_ansible_module(monkeypatch):
    patch_exit_fail(monkeypatch)


def run(args):
    with set_module_args(args):
        with pytest.raises(AnsibleExitJson) as exc:
            gpu_facts.main()
    return exc.value.args[0]


@pytest.fixture
def no_gpu_here():
    """The tests on this machine expect what it is: PCI devices, none of them a display controller."""
    devices = glob.glob("/sys/bus/pci/devices/*")
    display = [d for d in devices if open(f"{d}/class", encoding="ascii").read().startswith("0x03")]
    if display:
        pytest.skip(f"this machine has display controllers: {display}")
    assert devices, "this machine lists PCI devices (none of them a GPU)"


def test_this_machine_in_check_mode(no_gpu_here):
    result = run({"_ansible_check_mode": True})
    facts = result["ansible_facts"]["ailab_gpu"]
    assert result["changed"] is False
    assert (facts["gpus"], facts["count"], facts["vendors"]) == ([], 0, [])
    release = os.uname().release
    assert facts["kernel"] == {"release": release, "headers_path": f"/lib/modules/{release}/build",
                               "headers_installed": os.path.isdir(f"/lib/modules/{release}/build")}
    assert facts["secure_boot"] in (("enabled", "disabled", "unknown") if os.path.isdir("/sys/firmware/efi")
                                    else ("not_efi",))


def test_root_points_it_at_another_tree(tmp_path):
    root = make_tree(tmp_path, devices=[
        {"address": "0000:01:00.0", "class": 0x030000, "vendor": 0x10de, "device": 0x2684, "driver": "nvidia"}],
        modules={"nvidia": "535.261.03"}, release="6.12.0-1-amd64", headers=False)
    facts = run({"root": root})["ansible_facts"]["ailab_gpu"]
    assert [(g["name"], g["driver_version"]) for g in facts["gpus"]] == [
        ("NVIDIA Corporation AD102 [GeForce RTX 4090]", "535.261.03")]
    assert facts["kernel"]["release"] == "6.12.0-1-amd64" and facts["kernel"]["headers_installed"] is False
    assert facts["tools"]["nvidia_smi"] is None  # tools run only on the real root


def test_facts_through_ansible_playbook_in_check_mode(no_gpu_here):
    """The module as a play runs it (shipped with its module_utils), its facts set for the next task."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Read the GPUs", "ailab.stack.gpu_facts": {}},
        {"name": "Use the facts", "ansible.builtin.debug": {
            "msg": "gpus={{ ansible_facts.ailab_gpu.count }} kernel={{ ansible_facts.ailab_gpu.kernel.release }}"}},
    ]}]
    proc = run_playbook(play, check=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"gpus=0 kernel={os.uname().release}" in out and "changed=0" in out, out
