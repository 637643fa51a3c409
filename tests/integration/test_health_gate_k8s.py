"""k8s_rollout against a live cluster. No Kubernetes API server can run on the machines this
project is developed on, so this runs only when KUBECONFIG points at a cluster (k3s and MicroK8s
both run CoreDNS as Deployment kube-system/coredns)."""
from __future__ import annotations

import os

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _health
from ansible_collections.ailab.stack.plugins.module_utils._health_k8s import check_k8s_rollout

pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG"),
                                reason="KUBECONFIG is not set: no Kubernetes cluster here")


def spec(**kw):
    return {"kind": "Deployment", "name": "coredns", "namespace": "kube-system",
            "kubeconfig": os.environ.get("KUBECONFIG"), "context": None, "timeout": 10, **kw}


def test_coredns_has_rolled_out():
    check = _health.Check("coredns", "k8s_rollout", spec())
    assert _health.run_gate([check], deadline=120) is True, check.last_error
    assert check.detail.startswith("Deployment kube-system/coredns: ")


def test_missing_deployment_is_reported():
    with pytest.raises(_health.CheckFailed, match=r"Deployment kube-system/no-such-thing: HTTP 404"):
        check_k8s_rollout(spec(name="no-such-thing"), 10)
