"""disk_space measures real filesystems: the nearest existing ancestor, its mount, statvfs."""
import os

from ansible_collections.ailab.stack.plugins.modules import disk_space


def test_existing_path_is_measured_where_it_is(tmp_path):
    m = disk_space.measure(str(tmp_path))
    st = os.statvfs(tmp_path)
    assert m["exists"] is True
    assert m["measured_at"] == str(tmp_path)
    assert m["available_bytes"] == st.f_bavail * st.f_frsize
    assert os.path.ismount(m["mount"])


def test_missing_path_is_measured_on_its_nearest_existing_ancestor(tmp_path):
    m = disk_space.measure(str(tmp_path / "not" / "yet" / "there"))
    assert m["exists"] is False
    assert m["measured_at"] == str(tmp_path)
    assert m["mount"] == disk_space.measure(str(tmp_path))["mount"]


def test_root_is_its_own_mount():
    m = disk_space.measure("/")
    assert m["mount"] == "/" and m["total_bytes"] > 0
