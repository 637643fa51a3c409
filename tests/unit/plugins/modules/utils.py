"""Helpers for module unit tests, modelled on community.general tests/unit/plugins/modules/utils.py.

    with set_module_args({"checks": [...]}):
        with pytest.raises(AnsibleFailJson) as exc:
            health_gate.main()

exit_json/fail_json are patched (autouse fixture `patch_ansible_module` in the test file, or
`patch_exit_fail(monkeypatch)`) to raise AnsibleExitJson/AnsibleFailJson with the result dict.
"""
from __future__ import annotations

import contextlib
import json
from unittest.mock import patch

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class AnsibleExitJson(Exception):
    """Raised by the patched exit_json; args[0] is the result."""


class AnsibleFailJson(Exception):
    """Raised by the patched fail_json; args[0] is the result."""


def exit_json(*args, **kwargs):
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def fail_json(*args, **kwargs):
    kwargs["failed"] = True
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args: dict):
    """Module arguments as Ansible passes them on stdin, for the duration of the block."""
    args = dict(args)
    args.setdefault("_ansible_remote_tmp", "/tmp")
    args.setdefault("_ansible_keep_remote_files", False)
    serialized = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    with patch.object(basic, "_ANSIBLE_ARGS", serialized):
        # ansible-core >= 2.19 also reads the args decoding profile.
        with patch.object(basic, "_ANSIBLE_PROFILE", "legacy", create=True):
            yield


def patch_exit_fail(monkeypatch) -> None:
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
