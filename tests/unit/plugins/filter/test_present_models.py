# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.present_models filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.present_models import FilterModule, present_models


def test_names_in_order_without_the_absent_ones():
    models = [{"name": "gone:7b", "state": "absent"}, {"name": "llama3.1:8b"},
              {"name": "tiny", "state": "latest", "loaded": True}, {"name": "mistral:7b", "state": "present"}]
    assert present_models(models) == ["llama3.1:8b", "tiny", "mistral:7b"]


def test_no_models_and_only_absent_models():
    assert present_models([]) == []
    assert present_models([{"name": "gone:7b", "state": "absent"}]) == []


@pytest.mark.parametrize("models, message", [
    ("tiny", "expects a list of models, got str"),
    ({"name": "tiny"}, "expects a list of models, got dict"),
    (["tiny"], "every model needs a name, got 'tiny'"),
    ([{"state": "present"}], "every model needs a name"),
])
def test_bad_input_fails_with_a_clear_message(models, message):
    with pytest.raises(AnsibleFilterError, match=message):
        present_models(models)


def test_filter_is_registered():
    assert FilterModule().filters()["present_models"] is present_models
