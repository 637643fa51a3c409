# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.k8s_manifest_errors and ailab.stack.k8s_prune_objects filters."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.k8s_manifests import (FilterModule, k8s_manifest_errors,
                                                                          k8s_prune_objects)


def obj(kind="ConfigMap", name="probe", namespace="ailab", api="v1", **extra):
    """One object as YAML text (namespace None: not set)."""
    meta = f"  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace is not None else "")
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n{meta}" + "".join(f"{k}: {v}\n" for k, v in extra.items())


GOOD = {
    "00-namespace.yaml": obj("Namespace", "ailab", None),
    "10-secret.yaml": obj("Secret", "openwebui", data="{K: dmFsdWU=}"),
    "20-objects.yaml": "---\n" + obj("Deployment", "ollama", api="apps/v1") + "---\n"
                       + obj("Service", "ollama-headless") + "---\n",  # empty documents are no objects
    "30-cluster.yaml": obj("Cluster", "postgres.main-1", api="postgresql.cnpg.io/v1"),
    "40-rbac.yaml": obj("ClusterRole", "system:ailab-reader", None, api="rbac.authorization.k8s.io/v1"),
    "50-long.yaml": obj("ConfigMap", "a" * 253),
}


def test_well_formed_objects_pass():
    assert k8s_manifest_errors(GOOD) == []
    assert k8s_manifest_errors({}) == []


@pytest.mark.parametrize("text, message", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n bad: [", "bad.yaml: does not parse as YAML: line 5, column 2: "),
    ("kind: ConfigMap\nmetadata: {name: a}\n", "bad.yaml: document 1 (ConfigMap 'a'): apiVersion is missing"),
    ("apiVersion: v1\nmetadata: {name: a}\n", "bad.yaml: document 1 (no kind 'a'): kind is missing"),
    ("apiVersion: 1\nkind: ConfigMap\nmetadata: {name: a}\n", "bad.yaml: document 1 (ConfigMap 'a'): apiVersion 1 is not a string"),
    ("apiVersion: v1\nkind: ConfigMap\n", "bad.yaml: document 1 (ConfigMap no name): metadata is missing"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: [a]\n", "bad.yaml: document 1 (ConfigMap no name): metadata is a list, not a mapping"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: ailab}\n", "bad.yaml: document 1 (ConfigMap no name): metadata.name is missing"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n", "metadata.name is missing"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 42}\n", "bad.yaml: document 1 (ConfigMap 42): metadata.name 42 is not a string"),
    (obj("Deployment", "Open_WebUI", api="apps/v1"),
     "bad.yaml: document 1 (Deployment 'Open_WebUI'): metadata.name 'Open_WebUI' is not a valid DNS-1123 subdomain"),
    (obj(name="-probe"), "metadata.name '-probe' is not a valid DNS-1123 subdomain"),
    (obj(name="probe."), "metadata.name 'probe.' is not a valid DNS-1123 subdomain"),
    (obj(name="a" * 254), "metadata.name '" + "a" * 254 + "' is not a valid DNS-1123 subdomain"),
    (obj("Namespace", "ai.lab", None), "bad.yaml: document 1 (Namespace 'ai.lab'): metadata.name 'ai.lab' is not a valid DNS-1123 label"),
    (obj("Namespace", "a" * 64, None), "is not a valid DNS-1123 label"),
    (obj("Service", "1ollama"), "bad.yaml: document 1 (Service '1ollama'): metadata.name '1ollama' is not a valid DNS-1035 label"),
    (obj("Role", "a/b", api="rbac.authorization.k8s.io/v1"), "metadata.name 'a/b' is not a valid path segment"),
    (obj(namespace="AI-Lab"), "bad.yaml: document 1 (ConfigMap 'probe'): metadata.namespace 'AI-Lab' is not a valid DNS-1123 label"),
    (obj(namespace="ai.lab"), "metadata.namespace 'ai.lab' is not a valid DNS-1123 label"),
    ("- a\n- b\n", "bad.yaml: document 1 (no kind no name): is a list, not a Kubernetes object (a mapping)"),
    ("---\n# nothing\n", "bad.yaml: holds no object"),
    (obj() + "---\n" + obj(name="Bad"), "bad.yaml: document 2 (ConfigMap 'Bad'): metadata.name 'Bad'"),
    (obj() + "---\n" + obj(api="v1"), "bad.yaml: document 2 (ConfigMap 'probe'): the same object as bad.yaml document 1"),
])
def test_each_bad_case_names_file_object_and_value(text, message):
    errors = k8s_manifest_errors({**GOOD, "bad.yaml": text})
    assert len(errors) == 1, errors
    assert errors[0].startswith(message) if message.startswith("bad.yaml") else message in errors[0], errors


def test_every_problem_is_reported_in_file_order():
    errors = k8s_manifest_errors({"b.yaml": obj(name="B_2"), "a.yaml": "kind: X\nmetadata: {name: Y, namespace: Z}\n"})
    assert errors == [
        "a.yaml: document 1 (X 'Y'): apiVersion is missing",
        "a.yaml: document 1 (X 'Y'): metadata.name 'Y' is not a valid DNS-1123 subdomain (lowercase letters, digits,"
        " '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
        "a.yaml: document 1 (X 'Y'): metadata.namespace 'Z' is not a valid DNS-1123 label (lowercase letters, digits"
        " and '-', starting and ending with a letter or digit, at most 63 characters)",
        "b.yaml: document 1 (ConfigMap 'B_2'): metadata.name 'B_2' is not a valid DNS-1123 subdomain (lowercase letters,"
        " digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
    ]


def test_the_same_object_in_two_files_is_an_error_other_group_or_namespace_is_not():
    errors = k8s_manifest_errors({"a.yaml": obj(api="v1"), "b.yaml": obj(api="v1"),
                                  "c.yaml": obj(namespace="other"), "d.yaml": obj(api="example.org/v1")})
    assert errors == ["b.yaml: document 1 (ConfigMap 'probe'): the same object as a.yaml document 1"]


def test_a_secret_only_in_a_file_marked_secret():
    manifests = {"10-secret.yaml": obj("Secret", "app"), "20-config.yaml": obj() + "---\n" + obj("Secret", "leak")}
    assert k8s_manifest_errors(manifests) == []  # not checked without the list
    assert k8s_manifest_errors(manifests, ["10-secret.yaml"]) == [
        "20-config.yaml: document 2 (Secret 'leak'): a Secret in a file not marked secret (it would be logged)"]
    assert k8s_manifest_errors(manifests, ["10-secret.yaml", "20-config.yaml"]) == []


def test_messages_never_quote_a_secret():
    secret = "s3cr3t-p4ssw0rd"
    broken = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  password: {secret}\n  x: [{secret}\n"
    errors = k8s_manifest_errors({"10-secret.yaml": broken})
    assert errors and errors[0].startswith("10-secret.yaml: does not parse as YAML: line ")
    assert secret not in " ".join(errors)


@pytest.mark.parametrize("value, message", [
    (["00-namespace.yaml"], "expects a dict of file name to manifest text, got list"),
    ({"a.yaml": None}, "the text of a.yaml is a NoneType, not a string"),
])
def test_bad_input_raises(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        k8s_manifest_errors(value)


def test_prune_returns_what_only_the_stale_files_describe():
    stale = {
        "50-pdb.yaml": obj("PodDisruptionBudget", "openwebui", api="policy/v1"),
        "51-hpa.yaml": obj("HorizontalPodAutoscaler", "openwebui", api="autoscaling/v2"),
        "30-redis.yaml": obj("Deployment", "openwebui-redis", api="apps/v1") + "---\n" + obj("Service", "openwebui-redis"),
        "00-old-namespace.yaml": obj("Namespace", "ailab", None),
        "60-moved.yaml": obj("Deployment", "openwebui", api="apps/v1beta2"),
        "70-cluster-scoped.yaml": obj("ClusterRole", "ailab-reader", None, api="rbac.authorization.k8s.io/v1"),
    }
    kept = {"40-deployment.yaml": obj("Deployment", "openwebui", api="apps/v1")}
    assert k8s_prune_objects(stale, kept) == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "openwebui-redis", "namespace": "ailab", "file": "30-redis.yaml"},
        {"apiVersion": "v1", "kind": "Service", "name": "openwebui-redis", "namespace": "ailab", "file": "30-redis.yaml"},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "name": "openwebui", "namespace": "ailab", "file": "50-pdb.yaml"},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "openwebui", "namespace": "ailab",
         "file": "51-hpa.yaml"},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "ailab-reader", "file": "70-cluster-scoped.yaml"},
    ]
    assert k8s_prune_objects({}, kept) == []
    assert k8s_prune_objects({"a.yaml": obj(), "b.yaml": obj()}, {}) == [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "probe", "namespace": "ailab", "file": "a.yaml"}]


@pytest.mark.parametrize("text, message", [
    ("kind: [\n", r"k8s_prune_objects: 20-old\.yaml: does not parse as YAML: line 2"),
    ("apiVersion: v1\nmetadata: {name: a}\n", r"k8s_prune_objects: 20-old\.yaml: document 1 \(no kind 'a'\): kind is missing"),
])
def test_prune_refuses_a_stale_file_it_cannot_read(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        k8s_prune_objects({"20-old.yaml": text}, {})


def test_filters_are_registered():
    assert FilterModule().filters() == {"k8s_manifest_errors": k8s_manifest_errors, "k8s_prune_objects": k8s_prune_objects}
