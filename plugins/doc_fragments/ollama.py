# -*- coding: utf-8 -*-

# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Connection options shared by every module that talks to the Ollama HTTP API
# (plugins/module_utils/_ollama.py OLLAMA_COMMON_ARGSPEC).

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the Ollama HTTP API, as seen from the host the module runs on.
      - For the Kubernetes runtime this is the Service or Ingress URL (role variable C(ollama_api_url)).
    type: str
    default: http://127.0.0.1:11434
  api_key:
    description:
      - Bearer token sent as C(Authorization) header, for an Ollama behind an authenticating proxy or ingress.
    type: str
  timeout:
    description:
      - Seconds to wait for each read from the server (not for a whole pull, which streams progress lines).
    type: int
    default: 30
  retries:
    description:
      - How many times to retry a request after a connection error (refused, reset, timed out),
        with exponential backoff (1, 2, 4 ... seconds, at most 30). Errors the server answers are never retried.
    type: int
    default: 3
  validate_certs:
    description:
      - Verify the TLS certificate of O(api_url) (and of a registry asked for a manifest digest by C(state=latest)).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates to trust for HTTPS (a private CA or a TLS-intercepting proxy).
    type: path
"""
