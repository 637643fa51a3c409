# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The tcp check of ailab.stack.health_gate: a port accepts connections."""
from __future__ import annotations

import socket

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed, register


@register("tcp")
def check_tcp(spec: dict, timeout: float) -> str:
    where = f"{spec['host']}:{spec['port']}"
    try:
        socket.create_connection((spec["host"], spec["port"]), timeout=timeout).close()
    except (socket.timeout, TimeoutError):
        raise CheckFailed(f"{where}: no connection within {timeout:g}s")
    except OSError as e:
        raise CheckFailed(f"cannot connect to {where}: {e.strerror or e}")
    return f"{where} accepts connections"
