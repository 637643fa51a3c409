# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.postgres_tuning: PostgreSQL memory and parallelism settings for a host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: postgres_tuning
short_description: PostgreSQL memory and worker settings computed from a host's RAM and CPUs
description:
  - Returns a dictionary of C(postgresql.conf) settings, in the style of PGTune for a mixed
    (web application) workload.
  - C(shared_buffers) is 25% of RAM, C(effective_cache_size) 75%, C(maintenance_work_mem) RAM/16
    (at most 2GB), C(work_mem) (RAM - shared_buffers) / (max_connections * 3) / parallel workers
    per gather (at least 4MB), and the worker counts follow the number of CPUs.
  - Memory values are whole megabytes with the C(MB) unit.
  - Keys in O(overrides) replace the computed values (and may add other settings).
options:
  _input:
    description: Total memory of the host in MiB, for example C(ansible_facts['memtotal_mb']).
    type: int
    required: true
  vcpus:
    description: Number of CPUs, for example C(ansible_facts['processor_vcpus']).
    type: int
    required: true
  max_connections:
    description: The server's C(max_connections).
    type: int
    default: 100
  overrides:
    description: Settings that replace the computed ones.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Show the settings for this host
  ansible.builtin.debug:
    msg: "{{ ansible_facts['memtotal_mb'] | ailab.stack.postgres_tuning(ansible_facts['processor_vcpus'], 100) }}"
"""

RETURN = r"""
_value:
  description: Setting name to value.
  type: dict
  sample:
    shared_buffers: 4096MB
    effective_cache_size: 12288MB
    maintenance_work_mem: 1024MB
    work_mem: 41MB
    max_worker_processes: 8
    max_parallel_workers: 4
    max_parallel_workers_per_gather: 2
    max_parallel_maintenance_workers: 2
"""

from ansible.errors import AnsibleFilterError

MIN_SHARED_BUFFERS_MB = 32
MIN_WORK_MEM_MB = 4
MAX_MAINTENANCE_WORK_MEM_MB = 2048
PG_DEFAULT_WORKER_PROCESSES = 8


def _positive_int(value, name):
    if isinstance(value, bool):
        raise AnsibleFilterError(f"postgres_tuning: {name} must be a positive integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"postgres_tuning: {name} must be a positive integer, got {value!r}") from None
    if number < 1 or str(number) != str(value).strip():
        raise AnsibleFilterError(f"postgres_tuning: {name} must be a positive integer, got {value!r}")
    return number


def postgres_tuning(memtotal_mb, vcpus, max_connections=100, overrides=None):
    """Settings for a host with memtotal_mb MiB of RAM and vcpus CPUs."""
    memory = _positive_int(memtotal_mb, "memtotal_mb")
    cpus = _positive_int(vcpus, "vcpus")
    connections = _positive_int(max_connections, "max_connections")
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise AnsibleFilterError(f"postgres_tuning: overrides must be a dict, got {type(overrides).__name__}")

    shared_buffers = max(MIN_SHARED_BUFFERS_MB, memory // 4)
    per_gather = max(1, min(4, cpus // 2))
    work_mem = max(MIN_WORK_MEM_MB, (memory - shared_buffers) // (connections * 3) // per_gather)
    settings = {
        "shared_buffers": f"{shared_buffers}MB",
        "effective_cache_size": f"{max(shared_buffers, memory * 3 // 4)}MB",
        "maintenance_work_mem": f"{max(64, min(MAX_MAINTENANCE_WORK_MEM_MB, memory // 16))}MB",
        "work_mem": f"{work_mem}MB",
        "max_worker_processes": max(PG_DEFAULT_WORKER_PROCESSES, cpus),
        "max_parallel_workers": cpus,
        "max_parallel_workers_per_gather": per_gather,
        "max_parallel_maintenance_workers": per_gather,
    }
    settings.update(overrides)
    return settings


class FilterModule:
    """ailab.stack PostgreSQL filters."""

    def filters(self):
        return {"postgres_tuning": postgres_tuning}
