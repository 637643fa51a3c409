# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ailab.stack.ingress_sites and ingress_uncovered_names filters."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ailab.stack.plugins.filter.ingress_sites import (
    FilterModule, ingress_sites, ingress_uncovered_names)

SITE = {"name": "openwebui", "host": "chat.example.org", "upstream": "http://127.0.0.1:8080"}


def test_acme_site_gets_its_defaults_and_certbot_files():
    (site,) = ingress_sites([SITE], source="acme")
    assert site["names"] == ["chat.example.org"]
    assert site["challenge"] == "http-01" and site["websocket_path"] == "/ws/socket.io"
    assert site["fullchain"] == "/etc/letsencrypt/live/openwebui/fullchain.pem"
    assert site["privkey"] == "/etc/letsencrypt/live/openwebui/privkey.pem"


def test_provided_site_keeps_its_own_settings():
    site = dict(SITE, aliases=["ai.example.org"], challenge="dns-01", websocket_path="")
    (out,) = ingress_sites([site], source="provided", tls_dir="/etc/tls/")
    assert out["names"] == ["chat.example.org", "ai.example.org"]
    assert out["challenge"] == "dns-01" and out["websocket_path"] == ""
    assert out["chain"] == "/etc/tls/openwebui/chain.pem"


@pytest.mark.parametrize("sites", ["x", [{"name": "a", "host": "a.example.org"}], ["a"]])
def test_bad_sites_are_refused(sites):
    with pytest.raises(AnsibleFilterError, match="ingress_sites"):
        ingress_sites(sites, source="acme")


def test_uncovered_names_with_wildcards():
    sans = ["DNS:chat.example.org", "DNS:*.apps.example.org"]
    names = ["Chat.example.org", "a.apps.example.org", "apps.example.org", "a.b.apps.example.org", "other.org"]
    assert ingress_uncovered_names(names, sans) == ["apps.example.org", "a.b.apps.example.org", "other.org"]


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"ingress_sites", "ingress_uncovered_names"}
