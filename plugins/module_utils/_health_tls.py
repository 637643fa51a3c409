# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The tls check of ailab.stack.health_gate: the certificate a server presents is trusted, valid
for the name, from the expected issuer and far enough from its expiry."""
from __future__ import annotations

import socket
import ssl
import time
import typing as t

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed, register


def _format_name(name: t.Any) -> str:
    """ssl.getpeercert() issuer/subject tuples -> 'CN=x, O=y'."""
    short = {"commonName": "CN", "organizationName": "O", "countryName": "C",
             "organizationalUnitName": "OU", "localityName": "L", "stateOrProvinceName": "ST"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in name or () for k, v in rdn)


@register("tls")
def check_tls(spec: dict, timeout: float, now: float | None = None) -> str:
    host, port = spec["host"], spec["port"]
    server_name = spec.get("server_name") or host
    where = f"{host}:{port}"
    ctx = ssl.create_default_context(cafile=spec.get("ca_path") or None)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
                cert = tls.getpeercert()
    except ssl.SSLCertVerificationError as e:
        raise CheckFailed(f"{where}: certificate not valid for {server_name}: {e.verify_message}")
    except (socket.timeout, TimeoutError):
        raise CheckFailed(f"{where}: no TLS handshake within {timeout:g}s")
    except OSError as e:
        raise CheckFailed(f"{where}: {e}")
    issuer = _format_name(cert.get("issuer"))
    if spec.get("issuer") and spec["issuer"] not in issuer:
        raise CheckFailed(f"{where}: certificate issued by {issuer!r}, expected issuer containing {spec['issuer']!r}")
    not_after = cert["notAfter"]
    days = (ssl.cert_time_to_seconds(not_after) - (time.time() if now is None else now)) / 86400
    if days < spec["min_days"]:
        raise CheckFailed(f"{where}: certificate expires in {days:.1f} days ({not_after}), "
                          f"less than min_days {spec['min_days']}")
    return f"valid for {server_name}, {int(days)} days left, issuer {issuer}"
