"""Migration 0013's leaner indexes: lists still page right, lookups still find.

The filtered-list indexes no longer end in the id, so leads that share a
created_at (one import batch) are put in id order by the database as it
reads them; a keyset walk must still meet every lead once, in order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from leadbase.client import LeadDatabase
from leadbase.leads import repository
from leadbase.leads.repository import Position, Sort
from tests.helpers import unique_word

BATCH = 2500
COUNTRIES = ("US", "FR", "DE")


def _walk(leads: LeadDatabase, filters: dict[str, Any], sort: str, size: int) -> list[str]:
    """Every lead of the list, a keyset page at a time."""
    order, after, seen = Sort.parse(sort), None, []
    with leads.db.read_session() as session:
        while True:
            rows = repository.filtered_page(
                session, filters, include_deleted=False, sort=order, after=after, limit=size
            )
            seen += [row["id"] for row in rows]
            if len(rows) < size:
                return seen
            after = Position(rows[-1][order.key], rows[-1]["id"])


def test_one_batch_sharing_a_created_at_pages_through_every_lead_once(
    leads: LeadDatabase,
) -> None:
    rows = [
        {
            "full_name": f"{unique_word(i)} {unique_word(i + 7919)}",
            "email": f"lead{i}@batch.example",
            "country": COUNTRIES[i % 3],
            "lead_status": "qualified" if i % 5 == 0 else "new",
        }
        for i in range(BATCH)
    ]
    ids = leads.add_leads(rows, on_duplicate="allow")
    assert len(set(ids)) == BATCH
    country = {lead_id: COUNTRIES[i % 3] for i, lead_id in enumerate(ids)}
    us = sorted((i for i in ids if country[i] == "US"), reverse=True)  # newest first: by id
    assert _walk(leads, {"country": "US"}, "-created_at", 50) == us
    assert _walk(leads, {"country": "US"}, "created_at", 77) == us[::-1]
    qualified_us = [i for i in us if ids.index(i) % 5 == 0]
    assert _walk(leads, {"country": "US", "lead_status": "qualified"}, "-created_at", 40) == (
        qualified_us
    )
    both = sorted((i for i in ids if country[i] in ("US", "FR")), reverse=True)
    assert _walk(leads, {"country": ["US", "FR"]}, "-created_at", 60) == both
    assert _walk(leads, {}, "-created_at", 100) == sorted(ids, reverse=True)


def test_a_lookup_by_email_finds_the_lead_without_an_email_index(leads: LeadDatabase) -> None:
    """ids_by_email goes by key_email (the canonical email): the lead whose
    email is exactly this one, not one that only canonicalises alike."""
    plain = leads.add_lead({"full_name": "Ada Lovelace", "email": "ada.lovelace@gmail.com"})
    tagged = leads.add_lead(
        {"full_name": "Ada King", "email": "adalovelace+news@gmail.com"}, on_duplicate="allow"
    )
    with leads.db.read_session() as session:
        found = repository.ids_by_email(
            session, ["ada.lovelace@gmail.com", "adalovelace+news@gmail.com", "x@y.example"]
        )
    assert found == {"ada.lovelace@gmail.com": plain, "adalovelace+news@gmail.com": tagged}


def test_sparse_columns_have_partial_indexes(db_url: str) -> None:
    """SQLite and PostgreSQL index only the leads that have a value (or are
    deleted); MariaDB, without partial indexes, indexes every row."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            dialect = connection.dialect.name
            if dialect == "sqlite":
                query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
            elif dialect == "postgresql":
                query = "SELECT indexname, indexdef FROM pg_indexes"
            else:
                return
            found = {name: str(sql) for name, sql in connection.execute(text(query))}
    finally:
        engine.dispose()
    for name in ("ix_sales_leads_phone", "ix_sales_leads_run_id", "idx_lead_key_address"):
        assert "IS NOT NULL" in found[name], found[name]
    assert "WHERE" in found["ix_sales_leads_is_deleted"]
    assert "WHERE" in found["idx_lead_is_manual_created"]
    assert "WHERE" in found["idx_source_provider"]
    assert "WHERE" not in found["idx_provider_external"]  # the matcher's row-value IN
    assert "id" not in found["idx_lead_country_created"].split("created_at")[-1]
    for gone in ("ix_sales_leads_email", "ix_sales_leads_company_domain", "idx_lead_company"):
        assert gone not in found
