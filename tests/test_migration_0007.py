"""Migration 0007 on leads stored before it: links them to their companies
(found or created), fills the sort and name keys, keeps the audit chain
true, and downgrades; on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from leadbase import audit, schema
from leadbase.db import create_db_engine
from tests import dbs, legacy_rows


@pytest.fixture(params=dbs.KINDS)
def engine_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'at-0006.db'}"
        engine = create_db_engine(url)
        schema.upgrade(engine, "0006")
        yield engine
        engine.dispose()
        return
    with dbs.server_database(request.param) as url:
        engine = create_db_engine(url)
        schema.upgrade(engine, "0006")
        yield engine
        engine.dispose()


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


def _verified(engine: Engine) -> audit.VerifyResult:
    with Session(engine) as session:
        return audit.verify(session)


def test_0007_links_stored_leads_and_reverses(engine_at_0006: Engine) -> None:
    engine = engine_at_0006
    [acme] = legacy_rows.insert_rows(engine, "companies", [{"name": "Acme", "domain": "acme.io"}])
    [other] = legacy_rows.insert_rows(engine, "companies", [{"name": "Chosen", "domain": None}])
    ids = legacy_rows.insert_rows(
        engine,
        "sales_leads",
        [
            {"full_name": "Zo\u00eb Zimmer", "company_domain": "eu.acme.io"},
            {"full_name": "\u00c9mile Ernst", "company_name": "Globex, Inc."},
            {"full_name": "\u0141ukasz Lis", "company_name": "GLOBEX INC"},
            {"full_name": "\u00d6mer \u00d6z", "company_domain": "initech.co.uk"},
            {"full_name": "Ada", "company_name": "Globex", "company_id": other},
            {"full_name": "Gone", "company_name": "Globex", "is_deleted": True},
            {"full_name": "ada", "email": "ada@example.org"},
        ],
    )
    zoe, emile, lukasz, omer, chosen, gone, lower_ada = ids

    schema.upgrade(engine)

    links = dict(_rows(engine, "SELECT id, company_id FROM sales_leads"))
    companies = {
        row.id: row
        for row in _rows(engine, "SELECT id, name, domain, name_key, sort_name FROM companies")
    }
    assert links[zoe] == acme
    assert links[emile] == links[lukasz] and links[emile] not in (None, acme, other)
    globex = companies[links[emile]]
    assert (globex.name, globex.domain, globex.name_key) == ("Globex, Inc.", None, "globex")
    assert (companies[links[omer]].name, companies[links[omer]].domain) == (
        "Initech",
        "initech.co.uk",
    )
    assert (links[chosen], links[gone], links[lower_ada]) == (other, None, None)
    assert len(companies) == 4
    assert (companies[acme].name_key, companies[acme].sort_name) == ("acme", "acme")

    by_name = [row[0] for row in _rows(engine, "SELECT full_name FROM sales_leads")]
    assert len(by_name) == 7
    ordered = _rows(engine, "SELECT full_name FROM sales_leads ORDER BY sort_name, id")
    assert [row[0] for row in ordered][:6] == [
        "Ada",
        "ada",
        "\u00c9mile Ernst",
        "Gone",
        "\u0141ukasz Lis",
        "\u00d6mer \u00d6z",
    ]

    # On the record: each company created, each lead's new company_id, by the migration.
    entries = _rows(
        engine, "SELECT entity_type, entity_id, action, actor FROM audit_log ORDER BY seq"
    )
    assert (
        sorted((e[0], e[2]) for e in entries)
        == [("company", "create")] * 2 + [("lead", "update")] * 4
    )
    assert {e[3] for e in entries} == {"system:migration"}
    assert {e[1] for e in entries if e[0] == "lead"} == {zoe, emile, lukasz, omer}
    versions = dict(_rows(engine, "SELECT id, version FROM sales_leads"))
    assert (versions[zoe], versions[chosen]) == (2, 1)
    events = _rows(engine, "SELECT lead_id, changed_fields FROM lead_events")
    assert sorted(e[0] for e in events) == sorted([zoe, emile, lukasz, omer])
    result = _verified(engine)
    assert result.ok and result.checked == 6, result.describe()

    schema.downgrade(engine, "0006")
    columns = {c["name"] for c in inspect(engine).get_columns("sales_leads")}
    assert "sort_name" not in columns and "company_id" in columns
    assert "name_key" not in {c["name"] for c in inspect(engine).get_columns("companies")}
    assert dict(_rows(engine, "SELECT id, company_id FROM sales_leads"))[zoe] == acme

    schema.upgrade(engine)  # again: the links are there, nothing more to record
    assert _verified(engine).checked == 6
    assert inspect(engine).get_indexes("sales_leads")  # reflected without error
    names = {i["name"] for i in inspect(engine).get_indexes("sales_leads")}
    assert "idx_lead_sort_name" in names and "idx_lead_full_name" not in names
