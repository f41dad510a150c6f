"""What the write path no longer writes (issue 13), and how it is still told:
a new lead has no sync mark yet is pending, no lead_sources row yet shows
its source, and no change writes a lead_events row yet the timeline tells it."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from leadbase.audit import repository as audit_repository
from leadbase.client import LeadDatabase
from leadbase.leads import repository
from leadbase.leads.schemas import HistoryEntry
from leadbase.models import LeadEvent, LeadSource, SyncStatus, utcnow
from tests.helpers import events, timeline

SCRAPED = {
    "full_name": "Ada Lovelace",
    "email": "ada@engines.example",
    "source": "apify",
    "provider_name": "apify",
    "actor_id": "compass/crawler-google-places",
    "run_id": "run-1",
    "dataset_id": "ds-1",
    "external_id": "place-1",
}
TYPED = {"full_name": "Grace Hopper", "email": "grace@navy.example"}


def _rows(db: LeadDatabase, model: type[LeadSource] | type[SyncStatus]) -> int:
    with db.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _sources(db: LeadDatabase, lead_id: str) -> list[LeadSource]:
    with db.db.read_session() as session:
        return list(repository.sources_for(session, lead_id))


def test_new_leads_have_no_marks_or_source_rows_yet_are_pending_and_sourced(
    leads: LeadDatabase,
) -> None:
    scraped, typed = leads.add_leads([SCRAPED, TYPED])
    assert _rows(leads, SyncStatus) == 0
    assert _rows(leads, LeadSource) == 0
    assert [lead["id"] for lead in leads.get_sync_pending_leads()] == sorted([scraped, typed])
    [source] = _sources(leads, scraped)
    assert (source.source_type, source.external_id, source.run_id) == ("apify", "place-1", "run-1")
    assert source.created_by == "test:alice"
    assert [s.source_type for s in _sources(leads, typed)] == ["api"]


def test_a_lead_the_target_got_is_pending_again_once_changed(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(TYPED)
    with leads.db.engine.begin() as connection:
        now = utcnow()
        connection.execute(
            insert(SyncStatus),
            [
                {
                    "lead_id": lead_id,
                    "target": "airtable",
                    "operation": "create",
                    "status": "success",
                    "attempt_count": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    assert leads.get_sync_pending_leads() == []
    leads.update_lead(lead_id, {"title": "Rear Admiral"})
    assert [lead["id"] for lead in leads.get_sync_pending_leads()] == [lead_id]


def test_a_stored_source_saying_the_same_is_not_told_twice(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(SCRAPED)
    with leads.db.engine.begin() as connection:
        now = utcnow()
        stored = {k: SCRAPED[k] for k in ("provider_name", "actor_id", "run_id", "dataset_id")}
        # as the write path wrote it before 0011
        connection.execute(
            insert(LeadSource),
            {
                "id": "s-1",
                "lead_id": lead_id,
                "source_type": "apify",
                "external_id": "place-1",
                **stored,
                "created_at": now,
                "updated_at": now,
                "is_deleted": False,
            },
        )
        # an import that touched the lead
        connection.execute(
            insert(LeadSource),
            {
                "id": "s-2",
                "lead_id": lead_id,
                "source_type": "csv_import",
                "import_batch_id": "batch-1",
                "created_at": now,
                "updated_at": now,
                "is_deleted": False,
            },
        )
    assert sorted(s.id for s in _sources(leads, lead_id)) == ["s-1", "s-2"]


def test_a_merged_leads_source_goes_to_the_survivor_and_back(leads: LeadDatabase) -> None:
    a, b = leads.add_leads([TYPED, {**SCRAPED, "email": "ada@other.example"}])
    leads.merge_leads(a, [b])
    assert sorted(s.source_type for s in _sources(leads, a)) == ["api", "apify"]
    leads.unmerge_lead(b)
    assert [s.source_type for s in _sources(leads, a)] == ["api"]
    assert [s.source_type for s in _sources(leads, b)] == ["apify"]


def test_the_timeline_is_told_by_the_audit_entries(leads: LeadDatabase) -> None:
    """No lead_events row is written beside a change; the timeline tells the
    change from its audit entry, and a merge brings the other lead's
    history (its created event names no fields: not this create entry's)."""
    lead_id = leads.add_lead(TYPED)
    leads.update_lead(lead_id, {"title": "Rear Admiral"})
    other = leads.add_lead({"full_name": "Ada Lovelace", "email": "ada@engines.example"})
    with leads.db.read_session() as session:
        assert repository.events_for(session, lead_id) == []
        stored = session.scalar(select(func.count()).select_from(LeadEvent))
        audit = audit_repository.entries_for(session, "lead", lead_id)
    assert stored == 0
    leads.merge_leads(lead_id, [other])
    told = timeline(leads, lead_id)
    assert [e.event_type for e in told] == ["created", "updated", "created", "merged"]
    assert told[0].changed_fields == sorted(HistoryEntry.from_audit(audit[0]).changes)
    assert "email" in (told[0].changed_fields or [])
    assert told[1].changed_fields == ["title"]
    assert told[2].changed_fields is None  # the other lead's: not this create entry's
    assert [e.event_type for e in timeline(leads, other)] == ["merged"]
    leads.unmerge_lead(other)
    assert [e.event_type for e in timeline(leads, other)] == ["created", "merged", "unmerged"]


def test_change_events_older_writes_stored_are_not_told_twice(leads: LeadDatabase) -> None:
    """A lead_events row of a change, as writes before migration 0013 stored
    them, is passed over: its audit entry tells it."""
    lead_id = leads.add_lead(TYPED)
    with leads.db.engine.begin() as connection:
        for kind in ("created", "phone_call"):
            connection.execute(insert(LeadEvent).values(lead_id=lead_id, event_type=kind))
    assert events(leads, lead_id) == ["created", "phone_call"]
