"""ailab.stack._common k8s_objects against a live cluster.

No Kubernetes API server can run on the development and CI machines (docs/development.md), so
this test runs only when KUBECONFIG points at a cluster. The tests' probe role
(tests/unit/roles/k8s_probe: a scratch namespace, a Secret, a ConfigMap and a PodDisruptionBudget
that can be switched off) is applied twice (the second apply changes nothing), then with the PDB
off (it is deleted from the cluster, not only its file), then with --check and the PDB on again
(nothing is created). The namespace is deleted at the end.
"""
import base64
import os
import sys
import uuid
from pathlib import Path

import pytest

from helpers.playbook import run_playbook

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="needs a live Kubernetes cluster: set KUBECONFIG (none can run on this machine)")

PROBE_ROLE = Path(__file__).parents[1] / "unit" / "roles" / "k8s_probe"
SECRET = "live-secret-value-0815"
PYTHON = {"ansible_python_interpreter": sys.executable}


def test_apply_is_idempotent_server_side_and_prunes_switched_off_objects(tmp_path):
    ns = f"ailab-test-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "manifests"

    def apply(pdb, check=False):
        return run_playbook([{"name": "apply", "hosts": "localhost", "gather_facts": False, "vars": {
            "k8s_probe_dir": str(out), "k8s_probe_namespace": ns, "k8s_probe_name": "probe", "k8s_probe_pdb": pdb,
            "k8s_probe_secret": SECRET, "ailab_kubernetes_apply": True, "ailab_kubeconfig": os.environ["KUBECONFIG"]},
            "roles": [{"role": "ailab.stack.ailab"}, {"role": str(PROBE_ROLE)}]}],
            extravars=PYTHON, check=check, extra_args=["-v", "--diff"])

    def live(kind):
        info = run_playbook([{"name": "info", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Read", "kubernetes.core.k8s_info": {"kind": kind, "namespace": ns, "name": "probe"}, "register": "found"},
            {"name": "Show", "ansible.builtin.debug": {"msg": "FOUND={{ found.resources | length }}"}}]}], extravars=PYTHON)
        assert info.returncode == 0, info.stdout[-3000:]
        return "FOUND=1" in info.stdout

    hidden = (SECRET, base64.b64encode(SECRET.encode()).decode())
    try:
        first = apply(True)
        assert first.returncode == 0, first.stdout[-3000:]
        assert live("ConfigMap") and live("Secret") and live("PodDisruptionBudget")
        second = apply(True)
        assert second.returncode == 0 and "changed=0" in second.stdout.split("PLAY RECAP")[-1], second.stdout[-3000:]
        off = apply(False)
        assert off.returncode == 0, off.stdout[-3000:]
        assert not (out / "30-pdb.yaml").exists()
        assert live("ConfigMap") and not live("PodDisruptionBudget")  # deleted from the cluster, not only its file
        dry = apply(True, check=True)
        assert dry.returncode == 0, dry.stdout[-3000:]
        assert not live("PodDisruptionBudget") and not (out / "30-pdb.yaml").exists()
        for proc in (first, second, off, dry):
            assert not [s for s in hidden if s in proc.stdout]  # the Secret never in logs or diffs
    finally:
        run_playbook([{"name": "Clean", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Delete namespace", "kubernetes.core.k8s": {"kind": "Namespace", "name": ns, "state": "absent"}}]}],
            extravars=PYTHON)
