"""The offline manifest validator accepts real objects and rejects each kind of mistake."""
import glob
import os

import pytest

from helpers.playbook import ROOT, validate_manifests

EXAMPLES = os.path.join(ROOT, "tests", "assets", "k8s-examples")


def test_good_examples_pass():
    res = validate_manifests(os.path.join(EXAMPLES, "good"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 error(s)" in res.stdout


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXAMPLES, "bad", "*"))), ids=os.path.basename)
def test_each_bad_example_fails(path):
    res = validate_manifests(path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "INVALID" in res.stdout
