"""Applying an enrichment outcome to a lead: the write path, trust, provenance,
the company link, idempotency; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from leadbase.client import LeadDatabase
from leadbase.companies import service as companies_service
from leadbase.config import Settings
from leadbase.enrichment import service, tasks
from leadbase.enrichment.breaker import BREAKERS
from leadbase.enrichment.schemas import CompanyHint, EnrichmentOutcome, FieldValue, Step
from leadbase.jobs.registry import JobRun
from leadbase.jobs.registry import get as get_handler
from leadbase.models import Company, DuplicateCluster
from tests.enrichment_servers import DnsServer
from tests.helpers import audit_entries, timeline

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACTOR = "system:enrichment"


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    """The job uses the process's breakers: start each test with them closed."""
    BREAKERS.clear()
    yield
    BREAKERS.clear()


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer({"globex.co.uk": {"MX": ["10 mx.globex.co.uk."]}}) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, dns_server: DnsServer) -> Iterator[LeadDatabase]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    settings = Settings(
        enrichment_providers=["email", "person", "phone", "company", "webhook"],
        dns_nameservers=["127.0.0.1"],
        dns_port=dns_server.port,
        enrichment_timeout_seconds=2,
    )
    client = LeadDatabase(url, actor="test:alice", settings=settings)
    yield client
    client.close()


def waiting_lead(db: LeadDatabase, job_id: str = "job-1", **data: Any) -> str:
    values = {"email": "jane.doe@acmerobotics.io", **data}
    values.update(enrichment_status="in_progress", enrichment_task_id=job_id)
    return db.add_lead(values, on_duplicate="allow")


def restart(db: LeadDatabase, lead_id: str, job_id: str) -> None:
    db.update_lead(lead_id, {"enrichment_status": "in_progress", "enrichment_task_id": job_id})


def outcome(
    company: CompanyHint | None = None,
    flags: dict[str, Any] | None = None,
    steps: list[Step] | None = None,
    **found: tuple[Any, str],
) -> EnrichmentOutcome:
    return EnrichmentOutcome(
        fields={f: FieldValue(v, p, AT, 0.8) for f, (v, p) in found.items()},
        steps=steps if steps is not None else [Step("webhook", "ok", None, 12, 1)],
        flags=flags or {},
        company=company,
        started_at=AT,
        finished_at=AT,
    )


def apply(db: LeadDatabase, lead_id: str, job_id: str, result: EnrichmentOutcome) -> bool:
    """Whether the outcome was applied (the lead was waiting for this job)."""
    with db.db.unit_of_work() as uow:
        return service.apply_outcome(uow, lead_id, job_id, result) is not None


def lead(db: LeadDatabase, lead_id: str) -> dict[str, Any]:
    found = db.get_lead(lead_id, include_deleted=True)
    assert found is not None
    return found


def companies(db: LeadDatabase) -> list[Company]:
    with db.db.read_session() as session:
        return list(session.scalars(select(Company)))


def event_actors(db: LeadDatabase, lead_id: str) -> list[str | None]:
    return [event.actor for event in timeline(db, lead_id)]


ACME = CompanyHint(
    domain="acmerobotics.io",
    name="Acme Robotics, Inc.",
    description="Robot arms for small factories.",
    website="https://acmerobotics.io/",
    linkedin_url="https://www.linkedin.com/company/acme-robotics",
    country="US",
)


def test_apply_fills_fields_records_provenance_links_the_company_and_completes(
    db: LeadDatabase,
) -> None:
    lead_id = waiting_lead(db)
    before = lead(db, lead_id)
    result = outcome(
        company=ACME,
        flags={"mx_ok": True, "free_mail": False},
        steps=[Step("email", "ok", None, 3, 1), Step("website", "timeout", "slow", 10, 2)],
        first_name=("Jane", "person"),
        last_name=("Doe", "person"),
        full_name=("Jane Doe", "person"),
        company_domain=("acmerobotics.io", "company"),
        company_name=("Acme Robotics, Inc.", "website"),
        additional_phones=(["+14155550132"], "website"),
        title=("CTO", "webhook"),
    )
    apply(db, lead_id, "job-1", result)

    after = lead(db, lead_id)
    assert after["enrichment_status"] == "completed"
    assert after["version"] == before["version"] + 1  # one write
    assert (after["first_name"], after["last_name"], after["full_name"]) == (
        "Jane",
        "Doe",
        "Jane Doe",
    )
    assert (after["company_name"], after["title"]) == ("Acme Robotics, Inc.", "CTO")
    assert after["additional_phones"] == ["+14155550132"]
    data = after["enrichment_data"]
    assert data["fields"]["company_name"] == {
        "value": "Acme Robotics, Inc.",
        "provider": "website",
        "at": AT.isoformat(),
        "confidence": 0.8,
    }
    assert set(data["fields"]) == {
        "first_name",
        "last_name",
        "full_name",
        "company_domain",
        "company_name",
        "additional_phones",
        "title",
    }
    assert data["steps"] == [
        {"provider": "email", "status": "ok", "error": None, "ms": 3, "attempts": 1},
        {"provider": "website", "status": "timeout", "error": "slow", "ms": 10, "attempts": 2},
    ]
    assert data["flags"] == {"mx_ok": True, "free_mail": False}
    assert data["job_id"] == "job-1" and "error" not in data
    assert data["company"]["linkedin_url"] == "https://www.linkedin.com/company/acme-robotics"

    [company] = companies(db)
    assert after["company_id"] == company.id
    assert (company.domain, company.name, company.country) == ("acmerobotics.io", ACME.name, "US")
    assert company.created_by == ACTOR

    entries = audit_entries(db, lead_id)
    assert [e["actor"] for e in entries] == ["test:alice", ACTOR]
    assert entries[-1]["changes"]["enrichment_status"] == ["in_progress", "completed"]
    assert entries[-1]["changes"]["title"] == [None, "CTO"]
    assert audit_entries(db, company.id)[0]["actor"] == ACTOR
    assert event_actors(db, lead_id) == ["test:alice", ACTOR]


def test_applying_twice_or_for_another_job_changes_nothing(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    result = outcome(company=ACME, title=("CTO", "webhook"))
    # A superseded job: not the one the lead waits for.
    assert not apply(db, lead_id, "job-0", result)
    assert lead(db, lead_id)["enrichment_status"] == "in_progress"
    assert apply(db, lead_id, "job-1", result)
    once = lead(db, lead_id)
    entries = len(audit_entries(db))
    assert not apply(db, lead_id, "job-1", result)  # the job ran again after a crash
    assert not apply(db, lead_id, "job-1", outcome(title=("CEO", "webhook")))
    assert lead(db, lead_id) == once
    assert len(audit_entries(db)) == entries
    assert len(companies(db)) == 1


def test_a_typed_value_is_never_overwritten(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db, company_name="ACME GmbH", title="Founder")
    apply(
        db,
        lead_id,
        "job-1",
        outcome(company_name=("Acme Robotics, Inc.", "webhook"), title=("CTO", "webhook")),
    )
    after = lead(db, lead_id)
    assert (after["company_name"], after["title"]) == ("ACME GmbH", "Founder")
    assert after["enrichment_data"]["fields"] == {}
    assert after["enrichment_status"] == "completed"


def test_trust_decides_between_providers_across_runs(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    apply(db, lead_id, "job-1", outcome(company_name=("Acme Robotics, Inc.", "website")))
    restart(db, lead_id, "job-2")
    apply(db, lead_id, "job-2", outcome(company_name=("Acmerobotics", "company")))
    after = lead(db, lead_id)
    assert after["company_name"] == "Acme Robotics, Inc."  # the weaker guess lost
    assert after["enrichment_data"]["fields"]["company_name"]["provider"] == "website"
    restart(db, lead_id, "job-3")
    apply(db, lead_id, "job-3", outcome(company_name=("Acme Robotics", "webhook")))
    assert lead(db, lead_id)["company_name"] == "Acme Robotics"  # the stronger one won


def test_a_value_edited_after_enrichment_is_the_users(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    apply(db, lead_id, "job-1", outcome(title=("CTO", "person")))
    db.update_lead(lead_id, {"title": "Chief Technology Officer"})
    restart(db, lead_id, "job-2")
    apply(db, lead_id, "job-2", outcome(title=("CTO", "webhook")))
    assert lead(db, lead_id)["title"] == "Chief Technology Officer"


def test_a_name_field_alone_does_not_rewrite_the_others(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db, full_name="Jane Q. Doe", first_name="Jane", last_name=None)
    apply(db, lead_id, "job-1", outcome(last_name=("Doe", "person")))
    after = lead(db, lead_id)
    assert (after["first_name"], after["last_name"], after["full_name"]) == (
        "Jane",
        "Doe",
        "Jane Q. Doe",
    )


def test_nothing_worked_leaves_the_lead_failed_with_the_reason(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    steps = [Step("email", "timeout", "no answer within 10s", 10000, 2)]
    apply(db, lead_id, "job-1", outcome(steps=steps))
    after = lead(db, lead_id)
    assert after["enrichment_status"] == "failed"
    assert after["enrichment_data"]["error"] == (
        "no provider succeeded: email timeout (no answer within 10s)"
    )
    restart(db, lead_id, "job-2")
    apply(db, lead_id, "job-2", outcome(title=("CTO", "webhook")))
    after = lead(db, lead_id)
    assert after["enrichment_status"] == "completed"
    assert "error" not in after["enrichment_data"]


def test_a_value_another_lead_holds_is_dropped_and_noted(db: LeadDatabase) -> None:
    other = db.add_lead({"full_name": "Someone Else", "phone": "+14155550132"})
    lead_id = waiting_lead(db)
    apply(
        db,
        lead_id,
        "job-1",
        outcome(phone=("+14155550132", "webhook"), title=("CTO", "webhook")),
    )
    after = lead(db, lead_id)
    assert after["phone"] is None and after["title"] == "CTO"
    assert after["enrichment_status"] == "completed"
    assert after["enrichment_data"]["conflicts"] == [
        {"field": "phone", "value": "+14155550132", "existing_id": other}
    ]
    assert "phone" not in after["enrichment_data"]["fields"]


def test_enrichment_that_reveals_a_likely_duplicate_queues_it(db: LeadDatabase) -> None:
    """Enrichment's policy: a fuzzy look-alike it reveals goes to review; its
    edit is kept (only an exact identity clash drops a value, as above)."""
    typed = db.add_lead(
        {"full_name": "Jane Doe", "company_domain": "acmerobotics.io", "phone": "+14155550199"}
    )
    lead_id = waiting_lead(db)
    apply(
        db, lead_id, "job-1", outcome(first_name=("Jane", "webhook"), last_name=("Doe", "webhook"))
    )
    assert lead(db, lead_id)["last_name"] == "Doe"
    with db.db.read_session() as session:
        [cluster] = session.scalars(select(DuplicateCluster))
    assert sorted(cluster.lead_ids) == sorted([typed, lead_id])
    assert cluster.origin == "write" and cluster.status == "open"


def test_an_existing_company_is_linked_and_keeps_its_own_values(db: LeadDatabase) -> None:
    with db.db.unit_of_work() as uow:
        ours = companies_service.create(uow, {"name": "Acme (ours)", "domain": "acmerobotics.io"})
    lead_id = waiting_lead(db)
    apply(db, lead_id, "job-1", outcome(company=ACME))
    [company] = companies(db)
    assert lead(db, lead_id)["company_id"] == ours.id == company.id
    assert company.name == "Acme (ours)"  # typed: kept
    assert company.description == ACME.description  # empty: filled


def test_an_invalid_company_hint_is_noted_and_the_rest_applies(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    bad = CompanyHint(domain="acmerobotics.io", name="x" * 300)
    apply(db, lead_id, "job-1", outcome(company=bad, title=("CTO", "webhook")))
    after = lead(db, lead_id)
    assert after["company_id"] is None and after["title"] == "CTO"
    assert "name" in after["enrichment_data"]["company_error"]
    assert companies(db) == []


def test_mark_failed_ends_the_wait_once(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    with db.db.unit_of_work() as uow:
        service.mark_failed(uow, lead_id, "job-1", "worker died")
    after = lead(db, lead_id)
    assert after["enrichment_status"] == "failed"
    assert after["enrichment_data"]["error"] == "worker died"
    with db.db.unit_of_work() as uow:
        service.mark_failed(uow, lead_id, "job-1", "again")
    assert lead(db, lead_id)["version"] == after["version"]
    assert audit_entries(db, lead_id)[-1]["actor"] == ACTOR


def test_a_deleted_lead_is_left_alone(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    db.delete_lead(lead_id)
    before = lead(db, lead_id)
    apply(db, lead_id, "job-1", outcome(title=("CTO", "webhook")))
    assert lead(db, lead_id) == before


# --- the job handler -----------------------------------------------------------------


def job(db: LeadDatabase, job_id: str, payload: dict[str, Any]) -> JobRun:
    return JobRun(id=job_id, kind=tasks.KIND, payload=payload, attempt=1, database=db.db)


def test_the_job_enriches_the_lead_it_was_made_for(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db, email="mary.major@globex.co.uk")
    summary = tasks.enrich_lead(job(db, "job-1", {"lead_id": lead_id}))
    assert summary is not None and summary["status"] == "completed"
    assert summary["steps"] == {
        "email": "ok",
        "person": "ok",
        "phone": "no_data",
        "company": "ok",
        "webhook": "skipped",
    }
    after = lead(db, lead_id)
    assert (after["full_name"], after["company_domain"]) == ("Mary Major", "globex.co.uk")
    assert after["company_name"] == "Globex"
    assert [c.domain for c in companies(db)] == ["globex.co.uk"]
    assert after["enrichment_data"]["flags"]["mx_ok"] is True
    assert audit_entries(db, lead_id)[-1]["actor"] == ACTOR
    again = tasks.enrich_lead(job(db, "job-1", {"lead_id": lead_id}))
    assert again == {"lead_id": lead_id, "skipped": "the lead is not waiting for this job"}
    assert lead(db, lead_id)["version"] == after["version"]


def test_the_job_is_registered_and_its_death_fails_the_lead(db: LeadDatabase) -> None:
    registered = get_handler("enrich_lead")
    assert registered is not None and registered.on_dead is not None
    lead_id = waiting_lead(db)
    with db.db.unit_of_work() as uow:
        registered.on_dead(uow, job(db, "job-1", {"lead_id": lead_id}), "TimeoutError: boom")
        registered.on_dead(uow, job(db, "job-2", {"lead_id": "no-such-lead"}), "gone")
        registered.on_dead(uow, job(db, "job-3", {}), "bad payload")
    after = lead(db, lead_id)
    assert after["enrichment_status"] == "failed"
    assert after["enrichment_data"]["error"] == "enrichment job failed: TimeoutError: boom"


def test_a_value_the_write_path_refuses_is_dropped_and_noted(db: LeadDatabase) -> None:
    lead_id = waiting_lead(db)
    apply(
        db,
        lead_id,
        "job-1",
        outcome(additional_emails=(["not an email"], "webhook"), title=("CTO", "webhook")),
    )
    after = lead(db, lead_id)
    assert after["title"] == "CTO" and after["additional_emails"] is None
    [conflict] = after["enrichment_data"]["conflicts"]
    assert conflict["field"] == "additional_emails"
    assert "not a valid email" in conflict["message"]
