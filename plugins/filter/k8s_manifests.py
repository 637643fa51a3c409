# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ailab.stack.k8s_manifest_errors and ailab.stack.k8s_prune_objects: what a directory of
rendered Kubernetes manifests holds, checked on the controller before anything is applied."""

from __future__ import annotations

# Documentation: k8s_manifest_errors.yml and k8s_prune_objects.yml beside this file (one per filter).

import re
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleFilterError

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

# name rule -> (check, what a valid name is)
_RULES = {
    "subdomain": (lambda n: len(n) <= 253 and _DNS1123_SUBDOMAIN.match(n),
                  "a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending "
                  "with a letter or digit, at most 253 characters)"),
    "label": (lambda n: len(n) <= 63 and _DNS1123_LABEL.match(n),
              "a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter "
              "or digit, at most 63 characters)"),
    "dns1035": (lambda n: len(n) <= 63 and _DNS1035_LABEL.match(n),
                "a valid DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with "
                "a letter or digit, at most 63 characters)"),
    "segment": (lambda n: n not in (".", "..") and "/" not in n and "%" not in n,
                "a valid path segment (not '.' or '..', no '/' or '%')"),
}
# Kinds whose names Kubernetes checks with another rule than a DNS-1123 subdomain.
_NAME_RULE = {"Namespace": "label", "Service": "dns1035", "Role": "segment", "ClusterRole": "segment",
              "RoleBinding": "segment", "ClusterRoleBinding": "segment"}


def _manifests(value, filter_name):
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{filter_name}: expects a dict of file name to manifest text, got {type(value).__name__}")
    for name, text in value.items():
        if not isinstance(text, str):
            raise AnsibleFilterError(f"{filter_name}: the text of {name} is a {type(text).__name__}, not a string")
    return sorted(value.items())


def _documents(text):
    """The documents of a YAML text; raises yaml.YAMLError."""
    return [doc for doc in yaml.safe_load_all(str(text)) if doc is not None]


def _yaml_problem(err):
    """Where and what, without the snippet of the text PyYAML would quote."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    what = getattr(err, "problem", None) or type(err).__name__
    return f"does not parse as YAML: {where}{what}"


def _describe(index, doc):
    metadata = doc.get("metadata") if isinstance(doc, Mapping) else None
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    parts = [str(kind) if kind else "no kind", repr(name) if name is not None else "no name"]
    return f"document {index} ({' '.join(parts)})"


def _object_problems(doc):
    """Problems of one document (a parsed YAML value)."""
    if not isinstance(doc, Mapping):
        return [f"is a {type(doc).__name__}, not a Kubernetes object (a mapping)"]
    problems = []
    for field in ("apiVersion", "kind"):
        value = doc.get(field)
        if value is None or value == "":
            problems.append(f"{field} is missing")
        elif not isinstance(value, str):
            problems.append(f"{field} {value!r} is not a string")
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping):
        return problems + ["metadata is missing" if metadata is None else f"metadata is a {type(metadata).__name__}, not a mapping"]
    name = metadata.get("name")
    kind = doc.get("kind")
    rule, valid = _RULES[_NAME_RULE.get(kind, "subdomain") if isinstance(kind, str) else "subdomain"]
    if name is None or name == "":
        problems.append("metadata.name is missing")
    elif not isinstance(name, str):
        problems.append(f"metadata.name {name!r} is not a string")
    elif not rule(name):
        problems.append(f"metadata.name {name!r} is not {valid}")
    namespace = metadata.get("namespace")
    if namespace is not None:
        check, valid = _RULES["label"]
        if not isinstance(namespace, str) or not check(namespace):
            problems.append(f"metadata.namespace {namespace!r} is not {valid}")
    return problems


def _identity(doc):
    """What makes an object the same object: API group (not version), kind, namespace, name."""
    group = doc["apiVersion"].rpartition("/")[0]
    return (group, doc["kind"], doc["metadata"].get("namespace") or "", doc["metadata"]["name"])


def k8s_manifest_errors(manifests, secret_files=None):
    """One message per problem of the manifests ({file name: YAML text}); [] when all are well-formed.

    With `secret_files` (the files rendered and applied without logging), a Secret in any other
    file is a problem too: its data would be logged.
    """
    errors = []
    seen = {}
    secret_files = None if secret_files is None else set(secret_files)
    for file_name, text in _manifests(manifests, "k8s_manifest_errors"):
        try:
            docs = _documents(text)
        except yaml.YAMLError as err:
            errors.append(f"{file_name}: {_yaml_problem(err)}")
            continue
        if not docs:
            errors.append(f"{file_name}: holds no object")
        for index, doc in enumerate(docs, 1):
            problems = _object_problems(doc)
            errors += [f"{file_name}: {_describe(index, doc)}: {p}" for p in problems]
            if problems:
                continue
            if secret_files is not None and doc["kind"] == "Secret" and file_name not in secret_files:
                errors.append(f"{file_name}: {_describe(index, doc)}: a Secret in a file not marked secret (it would be logged)")
            key = _identity(doc)
            if key in seen:
                errors.append(f"{file_name}: {_describe(index, doc)}: the same object as {seen[key]}")
            else:
                seen[key] = f"{file_name} document {index}"
    return errors


def _objects(manifests):
    """(file name, object) of every document; raises when one is malformed (unknown identity)."""
    found = []
    for file_name, text in _manifests(manifests, "k8s_prune_objects"):
        try:
            docs = _documents(text)
        except yaml.YAMLError as err:
            raise AnsibleFilterError(f"k8s_prune_objects: {file_name}: {_yaml_problem(err)}") from None
        for index, doc in enumerate(docs, 1):
            problems = _object_problems(doc)
            if problems:
                raise AnsibleFilterError(f"k8s_prune_objects: {file_name}: {_describe(index, doc)}: {problems[0]}")
            found.append((file_name, doc))
    return found


def k8s_prune_objects(stale, kept):
    """Objects the stale manifests describe and no kept manifest does: what to delete from the cluster.

    Both are {file name: YAML text}. Each result is {apiVersion, kind, name, namespace (when set),
    file}. An object a kept file still describes (same API group, kind, namespace and name: moved
    to another file or API version) is not deleted; Namespaces never are (a namespace holds the
    objects of every component in it). A stale manifest that does not parse, or an object in it
    without kind or name, raises: what it described cannot be known.
    """
    done = {_identity(doc) for _file, doc in _objects(kept)}
    prune = []
    for file_name, doc in _objects(stale):
        if doc["kind"] == "Namespace" or _identity(doc) in done:
            continue
        done.add(_identity(doc))  # the same object in two stale files: delete it once
        obj = {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "name": doc["metadata"]["name"], "file": file_name}
        if doc["metadata"].get("namespace"):
            obj["namespace"] = doc["metadata"]["namespace"]
        prune.append(obj)
    return prune


class FilterModule:
    """ailab.stack Kubernetes manifest filters."""

    def filters(self):
        return {"k8s_manifest_errors": k8s_manifest_errors, "k8s_prune_objects": k8s_prune_objects}
