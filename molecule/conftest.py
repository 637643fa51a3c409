"""Shared testinfra fixtures for every scenario under molecule/.

molecule's inventory sets ansible_connection=podman; testinfra's ansible backend does not map
that connection and falls back to one `ansible -m shell` run per command (~3 s each). Use
testinfra's native podman backend (`podman exec`) instead. Scenarios whose playbooks connect over
SSH (e2e: molecule's connection_options) still read state that way: every instance of the podman
driver carries its ansible_podman_executable.
"""
import pytest
import testinfra

PODMAN_CONNECTIONS = ("podman", "containers.podman.podman", "podman_pipelined")


def podman_host(name):
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="module")
def host(_testinfra_host):
    backend = _testinfra_host.backend
    if backend.NAME == "ansible":
        hostvars = backend.ansible_runner.get_variables(backend.host)
        if hostvars.get("ansible_connection") in PODMAN_CONNECTIONS or "ansible_podman_executable" in hostvars:
            return podman_host(backend.host)
    return _testinfra_host


@pytest.fixture(scope="module")
def instance():
    """Factory fixture: instance("node-b") -> testinfra Host for another instance."""
    return podman_host


def container_ip(host):
    """The container's address on its podman network, reachable from the test process."""
    return host.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1")
