"""Companies go through the same kind of write path as leads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from leadbase.client import LeadDatabase
from leadbase.companies import service
from leadbase.errors import ConflictError, DuplicateLeadError, NotFoundError, ValidationError
from leadbase.models import Company
from tests.helpers import audit_entries


def _create(leads: LeadDatabase, data: dict[str, object], **kwargs: object) -> str:
    with leads.db.unit_of_work() as uow:
        return service.create(uow, data, **kwargs).id  # type: ignore[arg-type]


def _get(leads: LeadDatabase, company_id: str) -> Company:
    with leads.db.read_session() as session:
        company = session.get(Company, company_id)
        assert company is not None
        return company


def test_create_dedupe_update_delete_restore(leads: LeadDatabase) -> None:
    acme = _create(leads, {"name": " Acme  Corp ", "domain": "https://www.ACME.com/"})
    company = _get(leads, acme)
    assert (company.name, company.domain, company.version) == ("Acme Corp", "acme.com", 1)

    with pytest.raises(DuplicateLeadError) as caught:
        _create(leads, {"name": "Acme Inc", "domain": "acme.com"})
    assert caught.value.existing_id == acme

    merged = _create(
        leads, {"name": "Acme", "domain": "acme.com", "city": "Reno"}, on_duplicate="merge"
    )
    assert merged == acme and _get(leads, acme).city == "Reno"
    assert _get(leads, acme).name == "Acme Corp"

    with leads.db.unit_of_work() as uow:
        service.update(uow, acme, {"industry": "Rockets"}, expected_version=2)
    with pytest.raises(ConflictError), leads.db.unit_of_work() as uow:
        service.update(uow, acme, {"industry": "Anvils"}, expected_version=2)
    assert _get(leads, acme).industry == "Rockets"

    with leads.db.unit_of_work() as uow:
        service.soft_delete(uow, acme)
    assert _get(leads, acme).is_deleted
    with pytest.raises(NotFoundError), leads.db.unit_of_work() as uow:
        service.update(uow, acme, {"industry": "x"})
    with leads.db.unit_of_work() as uow:
        service.restore(uow, acme)
    assert not _get(leads, acme).is_deleted

    actions = [e["action"] for e in audit_entries(leads, acme)]
    assert actions == ["create", "update", "update", "delete", "restore"]


def test_company_validation(leads: LeadDatabase) -> None:
    for data, field in [
        ({"domain": "not a domain"}, "domain"),
        ({"name": "X", "employee_count": -1}, "employee_count"),
        ({"name": "X", "founded": 1999}, "founded"),
        ({}, "name"),
        ({"name": "   "}, "name"),
    ]:
        with pytest.raises(ValidationError) as caught:
            _create(leads, data)
        assert caught.value.field == field
    with leads.db.read_session() as session:
        assert session.scalars(select(Company)).all() == []
    assert audit_entries(leads) == []


def test_domain_only_company_is_named_after_domain(leads: LeadDatabase) -> None:
    company_id = _create(leads, {"domain": "initech.io"})
    assert _get(leads, company_id).name == "initech.io"


def test_update_to_taken_domain_is_a_duplicate(leads: LeadDatabase) -> None:
    first = _create(leads, {"name": "One", "domain": "one.com"})
    second = _create(leads, {"name": "Two", "domain": "two.com"})
    with pytest.raises(DuplicateLeadError) as caught, leads.db.unit_of_work() as uow:
        service.update(uow, second, {"domain": "one.com"})
    assert caught.value.existing_id == first


def test_lead_must_point_at_an_existing_company(leads: LeadDatabase) -> None:
    company_id = _create(leads, {"name": "Globex", "domain": "globex.com"})
    lead_id = leads.add_lead({"full_name": "Hank", "company_id": company_id})
    lead = leads.get_lead(lead_id)
    assert lead is not None and lead["company_id"] == company_id
    with pytest.raises(ValidationError) as caught:
        leads.add_lead({"full_name": "Nobody", "company_id": "missing"})
    assert caught.value.field == "company_id"
