"""ailab.stack._common k8s_apply against a live cluster.

No Kubernetes API server can run on the development and CI machines (docs/development.md), so
this test runs only when KUBECONFIG points at a cluster; it then applies a ConfigMap in a
scratch namespace twice (the second apply must not change it) and deletes the namespace.
"""
import os
import uuid

import pytest

from helpers.playbook import run_playbook

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="needs a live Kubernetes cluster: set KUBECONFIG (none can run on this machine)")


def test_apply_is_idempotent_server_side(tmp_path):
    ns = f"ailab-test-{uuid.uuid4().hex[:8]}"
    (tmp_path / "00-namespace.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    (tmp_path / "10-configmap.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n  namespace: {ns}\ndata:\n  k: v\n")
    play = [{"name": "Apply", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Apply manifests", "ansible.builtin.include_role": {"name": "ailab.stack._common", "tasks_from": "k8s_apply.yml"},
         "vars": {"_common_k8s_manifest_dir": str(tmp_path), "ailab_kubeconfig": os.environ["KUBECONFIG"]}}]}]
    try:
        first = run_playbook(play)
        assert first.returncode == 0, first.stdout[-3000:]
        second = run_playbook(play)
        assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]
    finally:
        run_playbook([{"name": "Clean", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Delete namespace", "kubernetes.core.k8s": {"kind": "Namespace", "name": ns, "state": "absent"}}]}])
