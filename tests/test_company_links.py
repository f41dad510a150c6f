"""Every lead write links the lead to its company, found or created (issue 11).

On SQLite, PostgreSQL and MariaDB: found again by registered domain (www.,
a subdomain, a pasted URL, an address) or by name ("Acme, Inc." = "ACME
Inc"); a bulk add creates each company once, in one batch; an update
relinks; the audit chain verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from leadbase import audit
from leadbase.client import LeadDatabase
from leadbase.companies import service as companies_service
from leadbase.leads import service as leads_service
from leadbase.leads.clean import prepare_row
from leadbase.models import Company, SalesLead
from tests.helpers import audit_entries


def _lead(leads: LeadDatabase, lead_id: str) -> dict[str, Any]:
    found = leads.get_lead(lead_id)
    assert found is not None
    return found


def _companies(leads: LeadDatabase) -> list[Company]:
    with leads.db.read_session() as session:
        return list(session.scalars(select(Company).order_by(Company.created_at, Company.id)))


def _chain_intact(leads: LeadDatabase) -> bool:
    with leads.db.read_session() as session:
        return audit.verify(session).ok


def test_a_lead_is_linked_to_its_company_found_again_by_domain_or_name(
    leads: LeadDatabase,
) -> None:
    first = leads.add_lead(
        {
            "full_name": "Ada Lovelace",
            "email": "ada@acme.io",
            "company_name": "Acme, Inc.",
            "company_domain": "https://www.Acme.io/about",
        }
    )
    [acme] = _companies(leads)
    assert (acme.name, acme.domain) == ("Acme, Inc.", "acme.io")
    assert _lead(leads, first)["company_id"] == acme.id
    # The link is on the lead's record; the derived sort key is not a field.
    [created] = audit_entries(leads, first)
    assert created["changes"]["company_id"] == [None, acme.id]
    assert "sort_name" not in created["changes"] and "sort_name" not in _lead(leads, first)
    assert (acme.name_key, acme.sort_name) == ("acme", "acme, inc.")

    # The same registered domain however written, or the same name key.
    same = [
        {"email": "b@acme.io", "company_domain": "www.acme.io"},
        {"email": "c@acme.io", "company_domain": "eu.sales.acme.io"},
        {"email": "d@acme.io", "company_domain": "dora@acme.io"},
        {"email": "e@example.org", "company_name": "ACME Inc"},
        {"email": "f@example.org", "company_name": "  acme  "},
    ]
    for row in same:
        assert _lead(leads, leads.add_lead(row))["company_id"] == acme.id, row
    assert len(_companies(leads)) == 1

    # Another domain under the same name is another company; a name alone
    # is a company of its own, which takes the domain a later lead gives.
    acme_de = leads.add_lead(
        {"email": "g@acme.de", "company_name": "Acme", "company_domain": "acme.de"}
    )
    globex = leads.add_lead({"email": "h@example.org", "company_name": "Globex GmbH"})
    globex_too = leads.add_lead(
        {"email": "i@globex.de", "company_name": "Globex", "company_domain": "globex.de"}
    )
    companies = {c.id: c for c in _companies(leads)}
    assert len(companies) == 3
    assert companies[_lead(leads, acme_de)["company_id"]].domain == "acme.de"
    globex_id = _lead(leads, globex)["company_id"]
    assert _lead(leads, globex_too)["company_id"] == globex_id
    assert (companies[globex_id].name, companies[globex_id].domain) == ("Globex GmbH", "globex.de")

    # A domain alone names its company after the domain.
    initech = leads.add_lead(
        {"email": "j@initech-labs.co.uk", "company_domain": "initech-labs.co.uk"}
    )
    assert (
        next(c.name for c in _companies(leads) if c.id == _lead(leads, initech)["company_id"])
        == "Initech Labs"
    )

    # Each company is on the record as created by whoever added the lead.
    entries = audit_entries(leads, acme.id)
    assert [(e["action"], e["actor"]) for e in entries] == [("create", "test:alice")]
    assert [e["action"] for e in audit_entries(leads, globex_id)] == ["create", "update"]
    assert _chain_intact(leads)


def test_an_explicit_company_id_wins(leads: LeadDatabase) -> None:
    with leads.db.unit_of_work() as uow:
        chosen = companies_service.create(uow, {"name": "Chosen Ltd"}).id
    lead_id = leads.add_lead(
        {"email": "k@acme.io", "company_id": chosen, "company_domain": "acme.io"}
    )
    assert _lead(leads, lead_id)["company_id"] == chosen
    assert [c.name for c in _companies(leads)] == ["Chosen Ltd"]


@contextmanager
def _company_statements(leads: LeadDatabase) -> Iterator[list[str]]:
    """The SQL statements that read or write the companies table meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split()).lower()
        if "from companies" in text or "into companies" in text or "update companies" in text:
            seen.append(text)

    engine = leads.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_bulk_add_creates_each_company_once_in_one_batch(leads: LeadDatabase) -> None:
    names = {"acme.io": "Acme Inc", "globex.com": "Globex", "initech.co.uk": "Initech Ltd"}
    rows = [
        {
            "email": f"person{n}@{domain}",
            "full_name": f"Person {n}",
            "company_domain": f"www.{domain}" if n % 2 else domain,
            "company_name": names[domain],
        }
        for n in range(300)
        for domain in [list(names)[n % 3]]
    ]
    with _company_statements(leads) as statements:
        ids = leads.add_leads(rows)
    # One lookup by domain, one by name key, one insert of the three.
    assert len(statements) <= 3, statements
    companies = _companies(leads)
    assert sorted(c.domain or "" for c in companies) == sorted(names)
    by_domain = {c.domain: c.id for c in companies}
    with leads.db.read_session() as session:
        linked = dict(session.execute(select(SalesLead.id, SalesLead.company_id)).all())
    assert all(linked[ids[n]] == by_domain[list(names)[n % 3]] for n in range(300))
    with leads.db.read_session() as session:
        counts = dict(
            session.execute(
                select(SalesLead.company_id, func.count()).group_by(SalesLead.company_id)
            ).all()
        )
    assert sorted(counts.values()) == [100, 100, 100]
    # A second batch finds them: no new company.
    leads.add_leads([{"email": "late@acme.io", "company_domain": "acme.io"}])
    assert len(_companies(leads)) == 3
    assert _chain_intact(leads)


def test_an_update_relinks_unless_the_company_id_is_given(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead({"email": "m@acme.io", "company_domain": "acme.io"})
    acme = _lead(leads, lead_id)["company_id"]
    assert acme is not None

    leads.update_lead(lead_id, {"company_domain": "shop.globex.com"})
    moved = _lead(leads, lead_id)
    globex = moved["company_id"]
    assert globex not in (None, acme)
    assert {c.id: c.domain for c in _companies(leads)}[globex] == "globex.com"

    leads.update_lead(lead_id, {"company_name": "Something Else", "company_id": acme})
    assert _lead(leads, lead_id)["company_id"] == acme

    leads.update_lead(lead_id, {"company_name": None, "company_domain": None})
    assert _lead(leads, lead_id)["company_id"] is None

    history = [e for e in audit_entries(leads, lead_id) if e["action"] == "update"]
    assert [e["changes"]["company_id"] for e in history] == [
        [acme, globex],
        [globex, acme],
        [acme, None],
    ]
    assert _chain_intact(leads)


def test_a_merge_links_a_lead_that_had_no_company(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead({"email": "n@example.org"})
    assert _lead(leads, lead_id)["company_id"] is None
    again = leads.add_lead(
        {"email": "N@example.org", "company_name": "Umbrella Corp"}, on_duplicate="merge"
    )
    assert again == lead_id
    [umbrella] = _companies(leads)
    assert (umbrella.name, _lead(leads, lead_id)["company_id"]) == ("Umbrella Corp", umbrella.id)
    assert _chain_intact(leads)


def test_a_company_a_batch_names_after_its_domain_takes_the_first_real_name(
    leads: LeadDatabase,
) -> None:
    ids = leads.add_leads(
        [
            {"email": "a@hooli.xyz", "company_domain": "hooli.xyz"},
            {"email": "b@hooli.xyz", "company_domain": "hooli.xyz", "company_name": "Hooli Inc"},
            {"email": "c@example.org", "company_name": "HOOLI"},
        ]
    )
    [hooli] = _companies(leads)
    assert (hooli.name, hooli.domain, hooli.name_key) == ("Hooli Inc", "hooli.xyz", "hooli")
    assert {_lead(leads, lead_id)["company_id"] for lead_id in ids} == {hooli.id}
    [entry] = audit_entries(leads, hooli.id)
    assert entry["changes"] == {"name": [None, "Hooli Inc"], "domain": [None, "hooli.xyz"]}


@pytest.mark.parametrize(
    ("domain", "name"),
    [
        ("https://www.Shop.Acme.co.uk/about", "Acme, Inc."),
        ("acme.com", None),
        (None, "Globex GmbH"),
        (None, "S.A."),
        ("intranet.example", "Initech"),
        ("blogspot.com", "Hooli"),
        ("münchen.de", "Café Zürich AG"),
    ],
)
def test_a_lead_with_its_match_keys_names_the_company_it_would_without(
    domain: str | None, name: str | None
) -> None:
    """Rows carrying their keys (an import's reader derived them) name the
    same company, with the same name key, as the company fields alone."""
    ready = prepare_row({"email": "x@example.org", "company_domain": domain, "company_name": name})
    clean = ready.clean
    from_keys = leads_service._wanted_company({**clean, **ready.keys})
    worked_out = companies_service.wanted(clean.get("company_domain"), clean.get("company_name"))
    assert from_keys == worked_out
    assert from_keys is None or from_keys.name_key == worked_out.name_key  # type: ignore[union-attr]
