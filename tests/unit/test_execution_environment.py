"""The AWX execution environment (execution-environment.yml) builds ailab.stack from this tree.

`scripts/build-ee create` (ansible-galaxy collection build, then ansible-builder create: offline,
no image is built) writes the build context into a temporary directory; the test reads what the
image build would use: the Containerfile, the collection tarball and the requirements files, and
installs the collection requirement the galaxy stage installs, from the context, offline."""
from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from helpers.playbook import ROOT, ansible_env

BUILDER = Path(os.environ.get("AILAB_HOME", "/opt/ailab-stack"), "venv", "bin", "ansible-builder")


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    assert BUILDER.exists(), f"{BUILDER} missing: run scripts/bootstrap (requirements.lock pins ansible-builder)"
    ctx = tmp_path_factory.mktemp("ee") / "context"
    res = subprocess.run([os.path.join(ROOT, "scripts", "build-ee"), "create"], env=ansible_env(AILAB_EE_CONTEXT=str(ctx)),
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return ctx


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==", 1) for line in lines if "==" in line)


def test_containerfile(context):
    text = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/ansible/awx-ee:24.6.1"' in text
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.1"' in text
    galaxy = text.split("FROM base AS galaxy", 1)[1].split("FROM base AS builder", 1)[0]
    assert "COPY _build /build" in galaxy and "WORKDIR /build" in galaxy
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", galaxy)
    assert "COPY _build/requirements.txt requirements.txt" in text
    assert "RUN ansible-galaxy collection list ailab.stack" in text


def test_collection_artifact_is_this_tree(context):
    with tarfile.open(context / "_build" / "collection" / "ailab-stack.tar.gz") as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    galaxy = yaml.safe_load(Path(ROOT, "galaxy.yml").read_text())
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("ailab", "stack", galaxy["version"])
    assert {"playbooks/awx_configure.yml", "plugins/filter/awx_survey.py", "roles/postgres/meta/argument_specs.yml"} <= names
    assert not [n for n in names if n.startswith(("build/", ".collections/", "molecule/", "tests/output/"))]


def test_requirements(context):
    reqs = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    local = [r for r in reqs if r.get("type") == "file"]
    # /build in the galaxy stage is the context's _build
    assert [r["name"] for r in local] == ["collection/ailab-stack.tar.gz"]
    assert (context / "_build" / local[0]["name"]).is_file()
    galaxy = yaml.safe_load(Path(ROOT, "galaxy.yml").read_text())
    assert {r["name"]: r["version"] for r in reqs if "type" not in r} == galaxy["dependencies"]
    python = _pins(context / "_build" / "requirements.txt")
    assert python == _pins(Path(ROOT, "awx", "requirements-ee.txt"))
    toolchain = _pins(Path(ROOT, "requirements.txt"))
    assert {k: toolchain.get(k) for k in python} == python, "EE and toolchain pins differ"
    assert "openssh-clients" in (context / "_build" / "bindep.txt").read_text()


def test_the_galaxy_stage_installs_the_collection_from_the_context(context, tmp_path):
    build = context / "_build"
    req = tmp_path / "local.yml"
    reqs = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    req.write_text(yaml.safe_dump({"collections": [r for r in reqs if r.get("type") == "file"]}))
    res = subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "--force", "-r", str(req),
                          "--collections-path", str(tmp_path / "collections")], cwd=build, env=ansible_env(),
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "collections" / "ansible_collections" / "ailab" / "stack" / "playbooks" / "awx_configure.yml").is_file()
