"""Merging companies and undoing it, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, text

from leadbase import audit, context
from leadbase.client import LeadDatabase
from leadbase.companies import service as companies_service
from leadbase.db import Database
from leadbase.duplicates import service
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from tests.api_clients import api_settings, signed_in
from tests.helpers import audit_entries, events


def _raw(db: LeadDatabase, table: str, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them: what the database holds."""
    query = text(f"SELECT * FROM {table} WHERE id IN :ids ORDER BY id").bindparams(
        bindparam("ids", expanding=True)
    )
    with db.db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query, {"ids": list(ids)})]


def _company(db: LeadDatabase, **fields: Any) -> str:
    with context.acting_as("test:alice"), db.db.unit_of_work() as uow:
        return companies_service.create(uow, fields, on_duplicate="allow").id


def _setup(leads: LeadDatabase) -> tuple[str, str, list[str]]:
    acme = _company(leads, name="Acme", domain="acme.com", tags=["b2b"])
    acme_inc = _company(
        leads, name="ACME Inc.", domain="acme.io", industry="Rockets", tags=["b2b", "space"]
    )
    lead_ids = [
        leads.add_lead({"full_name": "Wile Coyote", "company_id": acme}),
        leads.add_lead({"full_name": "Road Runner", "company_id": acme_inc}),
        leads.add_lead({"full_name": "Bugs Bunny", "company_id": acme_inc}),
    ]
    return acme, acme_inc, lead_ids


def test_merge_moves_leads_and_unmerge_restores_every_row(leads: LeadDatabase) -> None:
    acme, acme_inc, lead_ids = _setup(leads)
    before = (_raw(leads, "companies", [acme, acme_inc]), _raw(leads, "sales_leads", lead_ids))

    with leads._write() as uow:
        merge = service.merge_companies(uow, acme, [acme_inc])
        merge_id, kept = merge.id, merge.snapshot["kept"]

    with leads.db.read_session() as session:
        assert [m.id for m in service.merges_for_company(session, acme_inc)] == [merge_id]
    with leads.db.engine.connect() as connection:
        found = connection.execute(
            text("SELECT industry, domain, merged_into_id FROM companies WHERE id = :i"),
            {"i": acme},
        ).one()
        gone = connection.execute(
            text("SELECT merged_into_id FROM companies WHERE id = :i"), {"i": acme_inc}
        ).scalar()
    assert tuple(found) == ("Rockets", "acme.com", None)  # the empty industry filled
    assert gone == acme
    assert kept["domain"] == [{"id": acme_inc, "value": "acme.io"}]
    assert kept["name"] == [{"id": acme_inc, "value": "ACME Inc."}]
    moved = [leads.get_lead(i) for i in lead_ids]
    assert [lead["company_id"] for lead in moved] == [acme, acme, acme]  # type: ignore[index]
    assert [lead["version"] for lead in moved] == [1, 2, 2]  # type: ignore[index]
    assert events(leads, lead_ids[1]) == ["created", "updated"]
    assert [e["action"] for e in audit_entries(leads, acme_inc)] == ["create", "merge"]

    with leads._write() as uow:
        assert service.unmerge_company(uow, acme_inc).id == merge_id
    after = (_raw(leads, "companies", [acme, acme_inc]), _raw(leads, "sales_leads", lead_ids))
    assert after == before
    assert [e["action"] for e in audit_entries(leads, acme)][-1] == "unmerge"
    with leads.db.read_session() as session:
        result = audit.verify(session)
    assert result.ok, result.describe()


def test_company_merge_refusals(leads: LeadDatabase) -> None:
    acme, acme_inc, lead_ids = _setup(leads)
    other = _company(leads, name="Other Co")
    with leads._write() as uow, pytest.raises(ValidationError) as bad:
        service.merge_companies(uow, acme, [acme_inc], {"name": other})
    assert bad.value.field == "choices.name"
    with leads._write() as uow, pytest.raises(ValidationError):
        service.merge_companies(uow, acme, [acme_inc], {"colour": acme})
    with leads._write() as uow, pytest.raises(NotFoundError):
        service.merge_companies(uow, acme, ["no-such-company"])
    with leads._write() as uow, pytest.raises(ConflictError, match="never merged"):
        service.unmerge_company(uow, acme)

    with leads._write() as uow:
        service.merge_companies(uow, acme, [acme_inc], {"name": acme_inc})
    with leads._write() as uow, pytest.raises(ConflictError, match="already merged"):
        service.merge_companies(uow, other, [acme_inc])
    leads.update_lead(lead_ids[2], {"title": "Rabbit"})  # a moved lead changed since
    with leads._write() as uow, pytest.raises(ConflictError, match="changed after merge"):
        service.unmerge_company(uow, acme)


@pytest.fixture
def api(db_url: str) -> Iterator[tuple[TestClient, dict[str, str], LeadDatabase]]:
    database = Database(db_url, api_settings(db_url, mutation_rate_limit="10000/second"))
    client, by_email = signed_in(database, {"ed@example.com": "editor"})
    db = LeadDatabase(db_url, actor="test:alice")
    yield client, by_email["ed@example.com"], db
    db.close()
    database.dispose()


def test_companies_merge_over_http(api: tuple[TestClient, dict[str, str], LeadDatabase]) -> None:
    client, ed, db = api
    acme, acme_inc, lead_ids = _setup(db)
    merged = client.post(
        "/api/v1/companies/merge",
        json={"survivor_id": acme, "merged_ids": [acme_inc], "choices": {"name": acme_inc}},
        headers=ed,
    )
    assert merged.status_code == 200, merged.text
    survivor, gone = merged.json()["data"]["companies"]
    assert (survivor["name"], survivor["tags"]) == ("ACME Inc.", ["b2b", "space"])
    assert gone["merged_into_id"] == acme
    listed = client.get(f"/api/v1/companies/{acme}/leads", headers=ed).json()["data"]["items"]
    assert sorted(lead["id"] for lead in listed) == sorted(lead_ids)

    bad = client.post(
        "/api/v1/companies/merge", json={"survivor_id": acme, "merged_ids": []}, headers=ed
    )
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "merged_ids"

    undone = client.post(f"/api/v1/companies/{acme}/unmerge", headers=ed)
    assert undone.status_code == 200, undone.text
    names = [c["name"] for c in undone.json()["data"]["companies"]]
    assert names == ["Acme", "ACME Inc."]
    again = client.post(f"/api/v1/companies/{acme_inc}/unmerge", headers=ed)
    assert again.status_code == 409
