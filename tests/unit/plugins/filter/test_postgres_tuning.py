"""ailab.stack.postgres_tuning: settings computed from RAM and CPUs, overridable."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.postgres_tuning import FilterModule, postgres_tuning


def test_16gb_4_cpus_matches_the_pgtune_style_rules():
    s = postgres_tuning(16384, 4, 100)
    assert s["shared_buffers"] == "4096MB"          # 25 %
    assert s["effective_cache_size"] == "12288MB"   # 75 %
    assert s["maintenance_work_mem"] == "1024MB"    # RAM / 16
    # (16384 - 4096) / (100 * 3) / 2 workers per gather = 20
    assert s["work_mem"] == "20MB"
    assert s["max_worker_processes"] == 8           # never below PostgreSQL's default
    assert s["max_parallel_workers"] == 4
    assert s["max_parallel_workers_per_gather"] == 2
    assert s["max_parallel_maintenance_workers"] == 2


def test_big_host_caps_maintenance_work_mem_and_workers_per_gather():
    s = postgres_tuning(262144, 64, 400)
    assert s["shared_buffers"] == "65536MB"
    assert s["maintenance_work_mem"] == "2048MB"
    assert s["max_worker_processes"] == 64
    assert s["max_parallel_workers"] == 64
    assert s["max_parallel_workers_per_gather"] == 4


def test_tiny_host_gets_floors_not_zeroes():
    s = postgres_tuning(256, 1, 100)
    assert s["shared_buffers"] == "64MB"
    assert s["work_mem"] == "4MB"
    assert s["maintenance_work_mem"] == "64MB"
    assert s["max_parallel_workers_per_gather"] == 1
    s = postgres_tuning(64, 1, 100)
    assert s["shared_buffers"] == "32MB"


def test_more_connections_means_less_work_mem():
    assert int(postgres_tuning(65536, 8, 50)["work_mem"][:-2]) > int(postgres_tuning(65536, 8, 500)["work_mem"][:-2])


def test_overrides_win_and_may_add_settings():
    s = postgres_tuning(16384, 4, 100, {"shared_buffers": "1GB", "huge_pages": "off"})
    assert s["shared_buffers"] == "1GB"
    assert s["huge_pages"] == "off"
    assert s["effective_cache_size"] == "12288MB"


def test_numeric_strings_from_facts_are_accepted():
    assert postgres_tuning("8192", "2", "100") == postgres_tuning(8192, 2, 100)


@pytest.mark.parametrize("args, name", [
    ((0, 4), "memtotal_mb"),
    ((-1, 4), "memtotal_mb"),
    (("lots", 4), "memtotal_mb"),
    ((None, 4), "memtotal_mb"),
    ((1024.5, 4), "memtotal_mb"),
    ((True, 4), "memtotal_mb"),
    ((1024, 0), "vcpus"),
    ((1024, 2, 0), "max_connections"),
])
def test_invalid_input_names_the_argument(args, name):
    with pytest.raises(AnsibleFilterError, match=name):
        postgres_tuning(*args)


def test_overrides_must_be_a_dict():
    with pytest.raises(AnsibleFilterError, match="overrides"):
        postgres_tuning(1024, 2, 100, ["shared_buffers"])


def test_registered_under_its_name():
    assert FilterModule().filters()["postgres_tuning"] is postgres_tuning
