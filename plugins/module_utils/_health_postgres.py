# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""The postgres check of ailab.stack.health_gate: connect and run a query in a read-only transaction."""
from __future__ import annotations

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed, mask_dsn, register, snippet

try:
    import psycopg2
    HAS_PSYCOPG2 = True
except ImportError:
    HAS_PSYCOPG2 = False


@register("postgres")
def check_postgres(spec: dict, timeout: float) -> str:
    if spec.get("dsn"):
        args: dict = {"dsn": spec["dsn"]}
        where = mask_dsn(spec["dsn"])
    else:
        args = {k: spec[k] for k in ("host", "port", "user", "password", "dbname") if spec.get(k) not in (None, "")}
        where = f"{spec.get('user') or ''}@{spec.get('host') or 'local socket'}:{spec.get('port')}/{spec.get('dbname') or ''}"
    if spec.get("sslmode"):
        args["sslmode"] = spec["sslmode"]
    try:
        conn = psycopg2.connect(connect_timeout=max(1, int(timeout)), application_name="ailab.stack.health_gate", **args)
    except psycopg2.Error as e:
        raise CheckFailed(f"cannot connect to PostgreSQL {where}: {snippet(str(e), 300)}")
    try:
        # The gate only reads: every query runs in a read-only transaction.
        conn.set_session(readonly=True, autocommit=False)
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (int(timeout * 1000),))
            cur.execute(spec["query"])
            row = cur.fetchone() if cur.description else None
    except psycopg2.Error as e:
        raise CheckFailed(f"query {spec['query']!r} on {where} failed: {snippet(str(e), 300)}")
    finally:
        conn.close()
    value = None if row is None else row[0]
    if spec.get("expect") is not None and str(value) != spec["expect"]:
        raise CheckFailed(f"query {spec['query']!r} on {where} returned {value!r}, expected {spec['expect']!r}")
    return f"query returned {value!r}"
