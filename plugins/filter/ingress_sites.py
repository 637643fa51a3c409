# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ailab.stack.ingress_sites: the sites of the ingress role with their defaults and files."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ingress_sites
short_description: The sites of the ingress role, each with its names, challenge and certificate files
description:
  - Takes the C(ingress_sites) list of the C(ailab.stack.ingress) role and returns one dict per site,
    the site's own keys plus C(names) (C(host) then C(aliases)), C(challenge) and C(websocket_path)
    (the site's, else the role's defaults) and C(fullchain), C(privkey), C(chain) (the certificate
    files nginx reads).
  - With O(source) C(acme) the files are certbot's C(/etc/letsencrypt/live/<name>/); with
    C(provided) they are in O(tls_dir)C(/<name>/).
options:
  _input:
    description: The sites; each needs C(name), C(host) and C(upstream).
    type: list
    elements: dict
    required: true
  source:
    description: Where the certificates come from, C(acme) or C(provided).
    type: str
    required: true
  challenge:
    description: ACME challenge of a site that names none.
    type: str
    default: http-01
  websocket_path:
    description: WebSocket path of a site that names none.
    type: str
    default: /ws/socket.io
  tls_dir:
    description: Directory of provided certificates on the host.
    type: str
    default: /etc/nginx/ailab-tls
"""

EXAMPLES = r"""
- name: Show the certificate files of each site
  ansible.builtin.debug:
    msg: "{{ ingress_sites | ailab.stack.ingress_sites(source='acme') | map(attribute='fullchain') }}"
"""

RETURN = r"""
_value:
  description: The sites, in the order of the input.
  type: list
  elements: dict
  sample:
    - name: openwebui
      host: chat.example.org
      upstream: http://127.0.0.1:8080
      names: [chat.example.org]
      challenge: http-01
      websocket_path: /ws/socket.io
      fullchain: /etc/letsencrypt/live/openwebui/fullchain.pem
      privkey: /etc/letsencrypt/live/openwebui/privkey.pem
      chain: /etc/letsencrypt/live/openwebui/chain.pem
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

LIVE_DIR = "/etc/letsencrypt/live"


def ingress_sites(sites, source, challenge="http-01", websocket_path="/ws/socket.io", tls_dir="/etc/nginx/ailab-tls"):
    """The sites with their defaults filled in."""
    if not isinstance(sites, list):
        raise AnsibleFilterError(f"ingress_sites: expected a list of sites, got {type(sites).__name__}")
    out = []
    for index, site in enumerate(sites):
        if not isinstance(site, Mapping) or not all(site.get(key) for key in ("name", "host", "upstream")):
            raise AnsibleFilterError(f"ingress_sites: entry {index} needs name, host and upstream, got {site!r}")
        aliases = site.get("aliases") or []
        base = f"{LIVE_DIR if source == 'acme' else tls_dir.rstrip('/')}/{site['name']}"
        out.append(dict(site, names=[site["host"], *aliases], challenge=site.get("challenge") or challenge,
                        websocket_path=site.get("websocket_path", websocket_path),
                        fullchain=f"{base}/fullchain.pem", privkey=f"{base}/privkey.pem", chain=f"{base}/chain.pem"))
    return out


def ingress_uncovered_names(names, sans):
    """The names that no DNS name of a certificate covers."""
    dns = {str(name).lower().removeprefix("dns:") for name in sans or []}
    out = []
    for name in names or []:
        name = str(name).lower()
        parent = name.split(".", 1)[1] if "." in name else ""
        if name not in dns and not (parent and f"*.{parent}" in dns):
            out.append(name)
    return out


class FilterModule:
    """ailab.stack ingress filters."""

    def filters(self):
        return {"ingress_sites": ingress_sites, "ingress_uncovered_names": ingress_uncovered_names}
