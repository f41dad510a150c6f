"""Rows written into a database at an older revision, as it stood then.

Migration tests build data at an old revision and upgrade it. The write
path of today cannot write there (its models have the newer columns), so
these rows go in with plain INSERTs on the reflected table: the given
fields, and what the NOT NULL columns need.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from leadbase.models import new_id, utcnow

_LEAD_DEFAULTS: dict[str, Any] = {
    "email_verified": False,
    "phone_verified": False,
    "is_manual": False,
    "enrichment_status": "pending",
    "verified": False,
    "lead_status": "new",
    "version": 1,
    "is_deleted": False,
}


def insert_rows(engine: sa.Engine, table_name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Insert ``rows`` (plus ids, timestamps and the defaults of NOT NULL
    columns) into the table as it is now; returns their ids."""
    with engine.begin() as connection:
        table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
        now = utcnow().replace(tzinfo=None)
        ids, values = [], []
        for row in rows:
            full: dict[str, Any] = {"id": new_id(), "created_at": now, "updated_at": now}
            full.update({k: v for k, v in _LEAD_DEFAULTS.items() if k in table.c})
            full.update(row)
            for name, value in full.items():
                if isinstance(value, list | dict) and not isinstance(table.c[name].type, sa.JSON):
                    full[name] = json.dumps(value)  # MariaDB's JSON is LONGTEXT when reflected
            ids.append(full["id"])
            values.append(full)
        for value in values:  # one at a time: rows may leave out different columns
            connection.execute(table.insert().values(value))
    return ids
