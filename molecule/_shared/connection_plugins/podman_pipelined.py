"""containers.podman.podman with pipelining, for the molecule scenarios (test tooling, not shipped).

containers.podman's podman connection runs `podman exec` without `-i`, so it cannot pipe a module
into python and switches pipelining off: each task costs a temporary directory, a `podman cp`
(plus a `chown` when a remote user is set), the run and a cleanup - four to six podman calls per
host instead of one. With `-i`, a task is one `podman exec` (sudo reads nothing from stdin: the
test users become root without a password), as it is one round trip over SSH with ansible.cfg's
pipelining. Everything else (put_file, fetch_file, the options) is containers.podman's.
"""
from __future__ import annotations

import shlex

from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
    name: podman_pipelined
    short_description: containers.podman.podman with pipelining
    description:
        - Run commands in an existing podman container with C(podman exec -i), modules piped into python.
    options:
      remote_addr:
        description: The ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User that runs commands inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        vars:
          - name: ansible_podman_extra_args
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
"""


class Connection(PodmanConnection):
    """podman exec -i: modules are piped, one podman call per task."""

    transport = "podman_pipelined"
    has_pipelining = True
    always_pipeline_modules = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        user = ["--user", self.user] if self.user else []
        return self._podman(["exec", "-i", *user], shlex.split(cmd), in_data)
