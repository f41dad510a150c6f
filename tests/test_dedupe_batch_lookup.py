"""A batch's candidate lookup on SQLite (raw SQL per chunk) and PostgreSQL
(a lateral lookup per value) finds what the SQLAlchemy statements find: the
same leads, a blocking key's newest ``cap``."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from leadbase.client import LeadDatabase
from leadbase.db import IN_LIST_CHUNK
from leadbase.dedupe import matcher
from leadbase.models import SalesLead


def _by_statements(
    session: Any, wanted: dict[str, list[Any]], cap: int, dialect: str = "sqlite"
) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for column, values in wanted.items():
        for start in range(0, len(values), IN_LIST_CHUNK):
            chunk = sorted(set(values))[start : start + IN_LIST_CHUNK]
            statement = matcher._chunk_statement(column, chunk, cap, dialect)
            for row in session.execute(statement):
                if matcher.is_active(row) or matcher.is_merged(row):
                    found[row[0]] = tuple(row)
    return found


def test_sqlite_batch_lookup_is_the_statements_lookup(sqlite_url: str) -> None:
    _batch_lookup_is_the_statements_lookup(sqlite_url, "sqlite")


def test_postgresql_batch_lookup_is_the_statements_lookup(postgres_url: str) -> None:
    _batch_lookup_is_the_statements_lookup(postgres_url, "postgresql")


def _batch_lookup_is_the_statements_lookup(url: str, dialect: str) -> None:
    leads = LeadDatabase(url, actor="test:alice")
    try:
        people = [
            {
                "full_name": f"Ann Lee{'' if n % 3 else 'e'}",  # one name key, many holders
                "email": f"ann{n}@example.com" if n % 2 else None,
                "phone": f"+1415555{n % 7:04d}",  # shared numbers
                "postal_code": f"{n % 5:05d}",
                "street": "1 Main St",
                "provider_name": "apify" if n % 4 == 0 else None,
                "external_id": f"rec{n % 6}" if n % 4 == 0 else None,
            }
            for n in range(40)
        ]
        ids = leads.add_leads([{k: v for k, v in p.items() if v} for p in people], "allow")
        leads.delete_lead(ids[3])
        leads.merge_leads(ids[5], [ids[7]])
        with leads.db.read_session() as session:
            stored = {
                column: list(session.scalars(select(getattr(SalesLead, column.split(":")[0]))))
                for column in ("key_email", "phone", "key_address", "key_name:no_email")
            }
            if dialect == "postgresql":  # the raw SQL of SQLite leaves this key to SQLAlchemy
                stored[matcher.PROVIDER_RECORD] = [
                    tuple(r)
                    for r in session.execute(select(SalesLead.provider_name, SalesLead.external_id))
                    if r[0]
                ]
            # More values than one statement takes: real ones among made-up ones.
            wanted = {
                column: [v for v in values if v]
                + [
                    ("x", f"x{n}") if column == matcher.PROVIDER_RECORD else f"x{n}"
                    for n in range(IN_LIST_CHUNK + 20)
                ]
                for column, values in stored.items()
            }
            for cap in (2, 50):
                raw = matcher.candidate_rows(session, wanted, cap)
                assert all(type(row) is tuple for row in raw)  # the raw path was taken
                expected = _by_statements(session, wanted, cap, dialect)
                assert {row[0]: _plain(row) for row in raw} == {
                    i: _plain(row) for i, row in expected.items()
                }
                assert ids[3] not in {row[0] for row in raw}  # deleted
            assert ids[7] in {row[0] for row in raw}  # merged: still names its survivor
    finally:
        leads.close()


def _plain(row: Any) -> tuple:
    """SQLAlchemy gives is_deleted as a bool, the driver as 0 or 1."""
    values = list(row)
    values[-2] = bool(values[-2])
    return tuple(values)


def test_index_keys_file_a_name_under_each_lookup_whose_contacts_it_lacks() -> None:
    columns = [*matcher.LOOKUP_COLUMNS, "provider_name", "external_id"]
    for present in itertools.product((None, "", "v"), repeat=len(columns)):
        row = {c: f"{c}-{v}" if v == "v" else v for c, v in zip(columns, present, strict=True)}
        lookups = matcher._lookup_keys(row)
        assert lookups == [
            (matcher._name_lookup(row) if c == "key_name" else c, row[c])
            for c in matcher.LOOKUP_COLUMNS
            if row[c]
        ] + (
            [(matcher.PROVIDER_RECORD, (row["provider_name"], row["external_id"]))]
            if row["provider_name"] and row["external_id"]
            else []
        )
        names = [
            (lookup, row["key_name"])
            for lookup, empty in matcher.NAME_LOOKUPS.items()
            if row["key_name"] and not any(row[c] for c in empty)
        ]
        assert (
            matcher._index_keys(row)
            == [(c, v) for c, v in lookups if c not in matcher.NAME_LOOKUPS] + names
        )


def test_a_batch_lookup_keeps_the_active_and_the_merged_leads() -> None:
    # The batch lookups filter their rows inline; it must be the matcher's
    # own rule: a deleted lead is no candidate unless it was merged away.
    tail = len(matcher.SELECTED) - 3
    fetched = [
        (f"lead-{deleted}-{merged}", *([None] * tail), deleted, merged)
        for deleted in (False, True)
        for merged in (None, "survivor")
    ]
    kept: dict[str, Any] = {}
    matcher._gather(kept, fetched)
    expected = [row[0] for row in fetched if matcher.is_active(row) or matcher.is_merged(row)]
    assert list(kept) == expected
    assert expected == ["lead-False-None", "lead-False-survivor", "lead-True-survivor"]
