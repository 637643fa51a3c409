# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.reuse_secret: which value a generated secret keeps (vault, else the live Secret)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: reuse_secret
short_description: The value a generated secret keeps, the inventory's or the one already in the cluster
description:
  - Decides, for a password or key the roles would otherwise generate on the controller, which
    existing value wins. In order, O(explicit) (the inventory, from vault), then key O(key) of
    the Secret that C(kubernetes.core.k8s_info) read from the cluster. Returns an empty string
    when neither has one, and the caller generates the value (once, in C(ailab_credentials_dir)).
  - So a run from a controller that never ran before (a fresh AWX job) keeps the passwords the
    cluster already uses instead of generating new ones.
  - The input is what C(kubernetes.core.k8s_info) registered (C(resources)), a looped
    registration (C(results)), a skipped task (nothing found) or a list of Secret objects.
  - Errors never quote a value.
options:
  _input:
    description: A registered C(kubernetes.core.k8s_info) result, a looped one, or a list of Secret objects.
    type: raw
    required: true
  key:
    description: Key of the Secret's C(data) (base64, as the API returns it) or C(stringData).
    type: str
    required: true
  explicit:
    description: The inventory's value; non-empty, it wins.
    type: str
    default: ""
  name:
    description: Only the Secret of this name (the input may hold several).
    type: str
  part:
    description: C(password) = the value is a URL (for example C(DATABASE_URL)) and its password is wanted.
    type: str
    default: ""
    choices: ["", password]
"""

EXAMPLES = r"""
- name: Choose the database password (vault, else the cluster's, else generated once)
  ansible.builtin.set_fact:
    __x_db_password: >-
      {{ __x_reused if __x_reused | length > 0
         else lookup('ansible.builtin.password', ailab_credentials_dir ~ '/x/db_password', length=32) }}
  vars:
    __x_reused: "{{ __x_live | ailab.stack.reuse_secret('password', explicit=x_db_password, name='x-db') }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: The value to keep; empty when the caller generates one.
  type: str
"""

import base64
import binascii
from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from ansible.errors import AnsibleFilterError


def _secrets(live):
    """The Secret objects in what k8s_info registered (or in a list of objects)."""
    if live is None:
        return []
    if isinstance(live, Mapping):
        if "results" in live:  # a looped registration
            return [s for result in live["results"] or [] for s in _secrets(result)]
        if "resources" in live:
            return list(live["resources"] or [])
        if live.get("kind") == "Secret":
            return [live]
        return []  # skipped (not applying): nothing in the cluster to keep
    if isinstance(live, Sequence) and not isinstance(live, str):
        return [s for item in live for s in _secrets(item)]
    raise AnsibleFilterError(f"reuse_secret: expects what kubernetes.core.k8s_info registered, got {type(live).__name__}")


def _value(secret, key):
    name = (secret.get("metadata") or {}).get("name", "?")
    data = secret.get("data") or {}
    if data.get(key):
        try:
            return base64.b64decode(str(data[key]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AnsibleFilterError(f"reuse_secret: key {key} of Secret {name} is not base64 of UTF-8 text") from None
    return str((secret.get("stringData") or {}).get(key) or "")


def reuse_secret(live, key, explicit="", name=None, part=""):
    """The inventory's value, else the live Secret's key (or the password of the URL in it), else ""."""
    if part not in ("", "password"):
        raise AnsibleFilterError(f"reuse_secret: part is '' or password, got {part!r}")
    if explicit not in (None, ""):
        return str(explicit)
    for secret in _secrets(live):
        if not isinstance(secret, Mapping):
            continue
        if name and (secret.get("metadata") or {}).get("name") != name:
            continue
        value = _value(secret, key)
        if value and part == "password":
            value = unquote(urlsplit(value).password or "")
        if value:
            return value
    return ""


class FilterModule:
    """ailab.stack reuse_secret filter."""

    def filters(self):
        return {"reuse_secret": reuse_secret}
