#!/usr/bin/python
# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: disk_space
short_description: Free space of the filesystems that hold (or will hold) some paths
version_added: 0.1.0
description:
  - For each path, finds the nearest existing ancestor (a data directory may not exist yet), the
    mount point that holds it and the space available to unprivileged users there (C(statvfs)).
  - Works where C(ansible_facts.mounts) does not list the root filesystem (containers, overlay roots).
  - Read-only; never reports a change.
author: ailab.stack maintainers (@ailab-stack)
options:
  paths:
    description: Absolute paths to measure.
    type: list
    elements: path
    required: true
extends_documentation_fragment:
  - ailab.stack.attributes
  - ailab.stack.attributes.info_module
"""

EXAMPLES = r"""
- name: Measure where the models and the database will live
  ailab.stack.disk_space:
    paths: [/var/lib/ollama, /var/lib/postgresql]
  register: space

- name: Need 100 GB for models
  ansible.builtin.assert:
    that: space.paths['/var/lib/ollama'].available_bytes >= 100 * 1024 ** 3
"""

RETURN = r"""
paths:
  description: Path -> measurement.
  returned: always
  type: dict
  sample:
    /var/lib/ollama:
      exists: false
      measured_at: /var/lib
      mount: /
      available_bytes: 81856282624
      total_bytes: 270553174016
"""

import os

from ansible.module_utils.basic import AnsibleModule


def measure(path: str) -> dict:
    path = os.path.normpath(path)
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    mount = probe
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    st = os.statvfs(probe)
    return {
        "exists": os.path.exists(path),
        "measured_at": probe,
        "mount": mount,
        "available_bytes": st.f_bavail * st.f_frsize,
        "total_bytes": st.f_blocks * st.f_frsize,
    }


def main() -> None:
    module = AnsibleModule(argument_spec={"paths": {"type": "list", "elements": "path", "required": True}},
                           supports_check_mode=True)
    relative = [p for p in module.params["paths"] if not os.path.isabs(p)]
    if relative:
        module.fail_json(msg=f"paths must be absolute; got {relative}")
    try:
        result = {p: measure(p) for p in module.params["paths"]}
    except OSError as e:
        module.fail_json(msg=f"Could not measure free space: {e}")
    module.exit_json(changed=False, paths=result)


if __name__ == "__main__":
    main()
