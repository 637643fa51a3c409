"""ailab.stack._common k8s_objects, the one render -> validate -> prune -> apply path, driven by a
small role of the tests' own (tests/unit/roles/k8s_probe: a Namespace, a Secret, a ConfigMap and a
switchable PDB), offline (no cluster: what would reach the cluster is proven not to be reached).
The roles' own render tests (test_*_render.py, test_inventory_renders.py) run the same entry point
with their objects."""
from __future__ import annotations

import base64
import os
import stat
import sys
from pathlib import Path

import pytest

from helpers.playbook import load_manifests, run_playbook, validate_manifests

PROBE_ROLE = Path(__file__).parent / "roles" / "k8s_probe"  # a Namespace, a Secret, a ConfigMap, a switchable PDB
SECRET = "probe-secret-value-4711"
SECRET_B64 = base64.b64encode(SECRET.encode()).decode()  # what the Secret file holds


def probe_play(out, **variables):
    """The play that runs the probe role (render only unless variables say otherwise) into `out`."""
    return {"name": "probe", "hosts": "localhost", "gather_facts": False,
            "vars": {"k8s_probe_dir": str(out), "k8s_probe_namespace": "ailab-probe", "k8s_probe_name": "probe",
                     "k8s_probe_pdb": True, "k8s_probe_secret": SECRET, "ailab_kubernetes_apply": False, **variables},
            "roles": [{"role": "ailab.stack.ailab"}, {"role": str(PROBE_ROLE)}]}


@pytest.fixture
def probe(tmp_path):
    """(run(check=False, extra_args=None, **vars) -> process, manifest directory) of the probe role."""
    out = tmp_path / "manifests" / "probe"

    def run(check=False, extra_args=None, **variables):
        return run_playbook([probe_play(out, **variables)], extravars={"ansible_python_interpreter": sys.executable},
                            check=check, extra_args=extra_args)
    return run, out


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


def recap(proc):
    return proc.stdout.split("PLAY RECAP")[-1]


def test_render_switch_off_prune_and_idempotence(probe):
    run, out = probe
    first = ok(run(extra_args=["-v", "--diff"]))
    assert sorted(os.listdir(out)) == ["00-namespace.yaml", "10-secret.yaml", "20-configmap.yaml", "30-pdb.yaml"]
    assert validate_manifests(str(out)).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(out / f).st_mode) for f in os.listdir(out)} == {0o600}
    assert SECRET_B64 in (out / "10-secret.yaml").read_text()
    assert SECRET_B64 not in first.stdout + first.stderr  # no log, no diff of the Secret file
    assert "+  greeting: hello" in first.stdout  # the other files are logged and diffed
    # the ConfigMap's template includes kubernetes/data.yaml.j2 of the probe role: it resolved
    assert [o["data"] for o in load_manifests(str(out)) if o["kind"] == "ConfigMap"] == [{"greeting": "hello"}]

    # the feature switched off: its file is pruned, the others stay
    second = ok(run(k8s_probe_pdb=False, extra_args=["-v", "--diff"]))
    assert sorted(os.listdir(out)) == ["00-namespace.yaml", "10-secret.yaml", "20-configmap.yaml"]
    assert "changed=1" in recap(second)  # only the removal
    assert SECRET_B64 not in second.stdout + second.stderr

    third = ok(run(k8s_probe_pdb=False))
    assert "changed=0" in recap(third)


def test_check_mode_writes_nothing_and_still_validates(probe):
    run, out = probe
    proc = ok(run(check=True))
    assert not out.exists()
    assert "changed: [localhost] => (item=20-configmap.yaml)" in proc.stdout

    bad = run(check=True, k8s_probe_name="Not_Valid")
    assert bad.returncode != 0
    assert "20-configmap.yaml: document 1 (ConfigMap 'Not_Valid'): metadata.name 'Not_Valid'" in bad.stdout
    assert not out.exists()


def test_an_invalid_name_stops_the_play_before_anything_is_applied(probe, tmp_path):
    run, out = probe
    ok(run())  # a first render: the PDB file exists
    # applying (a kubeconfig that would fail any cluster call): validation must stop it first
    proc = run(k8s_probe_name="Open_WebUI", k8s_probe_pdb=False, ailab_kubernetes_apply=True,
               ailab_kubeconfig=str(tmp_path / "no-such-kubeconfig"))
    assert proc.returncode != 0
    assert ("Invalid objects rendered into " + str(out) + ", nothing applied: 20-configmap.yaml: document 1 "
            "(ConfigMap 'Open_WebUI'): metadata.name 'Open_WebUI' is not a valid DNS-1123 subdomain") in proc.stdout
    failed_at = proc.stdout.split("fatal: [localhost]")[0].rsplit("TASK [", 1)[1]
    assert failed_at.startswith("ailab.stack._common : Validate the rendered objects")
    after = proc.stdout.split("Validate the rendered objects")[-1]
    assert "Delete the objects of files no longer rendered" not in after and "Apply the objects" not in after
    assert "no-such-kubeconfig" not in proc.stdout
    assert (out / "30-pdb.yaml").exists()  # nothing pruned either


@pytest.mark.parametrize("objects, message", [
    ([{"file": "00-namespace.yaml", "template": "kubernetes/namespace.yaml.j2"}],
     "template not an absolute path: kubernetes/namespace.yaml.j2"),
    ([{"file": "../00-namespace.yaml", "template": "/t/namespace.yaml.j2"}], "file not a name ending in .yaml: ../00-namespace.yaml"),
    ([{"file": "00-namespace.yml", "template": "/t/namespace.yaml.j2"}], "file not a name ending in .yaml: 00-namespace.yml"),
    ([{"file": "00-a.yaml", "template": "/t/a.j2"}, {"file": "00-a.yaml", "template": "/t/b.j2"}], "file listed twice: 00-a.yaml"),
    ([{"file": "00-a.yaml", "template": "/t/a.j2", "colour": "red"}], "colour"),  # the argument spec
])
def test_a_bad_object_list_fails_before_rendering(probe, objects, message):
    run, out = probe
    proc = run(k8s_probe_objects=objects)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not out.exists()


def test_refuses_to_run_outside_a_role(tmp_path):
    play = {"name": "direct", "hosts": "localhost", "gather_facts": False, "roles": [{"role": "ailab.stack.ailab"}],
            "tasks": [{"name": "Include _common from a play", "ansible.builtin.include_role": {
                "name": "ailab.stack._common", "tasks_from": "k8s_objects"},
                "vars": {"_common_k8s_dir": str(tmp_path / "m"), "_common_k8s_objects": []}}]}
    proc = run_playbook([play], extravars={"ansible_python_interpreter": sys.executable})
    assert proc.returncode != 0
    assert "ailab.stack._common is internal: a role includes it" in proc.stdout
    assert not (tmp_path / "m").exists()
