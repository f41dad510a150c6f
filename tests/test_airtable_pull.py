"""The Airtable pull with the real pyairtable against the emulator: records
become leads (deduplicated, linked), edits land through the write path as
system:airtable, nothing is echoed, faults are retried, records deleted in
Airtable are flagged or deleted by a full pull."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.leads import repository as leads_repository
from leadbase.models import AirtableLink, AirtableRun, AuditLog, SalesLead, SyncStatus
from leadbase.sync.airtable.client import RetryPolicy
from leadbase.sync.airtable.mapping import ID_FIELD, MODIFIED_FIELD
from leadbase.sync.airtable.pull import FLAG_TAG, PullResult, changed_since, pull
from leadbase.sync.airtable.settings import AirtableConfig
from tests import dbs
from tests.emulators.airtable import AirtableEmulator
from tests.helpers import unique_word

try:  # the push lands on its own branch; without it the base is checked instead
    from leadbase.sync.airtable import push as push_module
except ImportError:  # pragma: no cover
    push_module = None  # type: ignore[assignment]

SYSTEM = "system:airtable"


# --- fixtures and helpers (test_airtable_conflicts uses them too) ------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return dbs.fresh_sqlite(sqlite_template, tmp_path)
    found: str = request.getfixturevalue("_server_urls")("postgresql")
    dbs.empty_all_tables(found)
    return found


@pytest.fixture
def emu(airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch) -> AirtableEmulator:
    """The emulator's table with its "Last Modified" field, and no pacing
    here (the emulator has no rate limit unless a test starts one)."""
    if MODIFIED_FIELD not in airtable_emulator.fields():
        airtable_emulator.add_field(MODIFIED_FIELD, "lastModifiedTime")
    monkeypatch.setenv("LEADBASE_AIRTABLE_RATE", "1000")
    get_settings.cache_clear()
    return airtable_emulator


@pytest.fixture
def config(emu: AirtableEmulator) -> AirtableConfig:
    return AirtableConfig.from_settings()


@pytest.fixture
def leads(url: str) -> Iterator[LeadDatabase]:
    client = LeadDatabase(url, actor="test:alice")
    yield client
    client.close()


def run_pull(db: LeadDatabase, config: AirtableConfig, **options: Any) -> PullResult:
    client = config.client(RetryPolicy(max_attempts=5, sleep=lambda _: None))
    return pull(db.db, config, client=client, **options)


def run_push(db: LeadDatabase, config: AirtableConfig) -> Any:
    assert push_module is not None
    client = config.client(RetryPolicy(max_attempts=5, sleep=lambda _: None))
    return push_module.push(db.db, config, client=client)


def person(i: int) -> dict[str, Any]:
    """A record as a person would type it, already in our canonical forms
    (so what comes back from the lead is what went in)."""
    first, last = unique_word(i + 7), unique_word(i * 7 + 3)
    return {
        "Full Name": f"{first} {last}",
        "First Name": first,
        "Last Name": last,
        "Email": f"person{i}@example{i % 13}.com",
        "Title": "Head of Sales" if i % 2 else "Engineer",
        "Company": f"Company {i % 50}",
        "City": "Lisbon",
        "Status": "new",
    }


def links(db: Database) -> dict[str, AirtableLink]:
    with db.read_session() as session:
        return {link.record_id: link for link in session.scalars(select(AirtableLink))}


def lead_count(db: Database, *, include_deleted: bool = False) -> int:
    with db.read_session() as session:
        return leads_repository.count(session, include_deleted=include_deleted)


def lead_of(db: Database, record_id: str) -> SalesLead:
    with db.read_session() as session:
        link = session.scalars(
            select(AirtableLink).where(AirtableLink.record_id == record_id)
        ).one()
        lead = leads_repository.get(session, link.lead_id, include_deleted=True)
        assert lead is not None
        return lead


def audit_count(db: Database) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditLog)) or 0)


def updates_of(db: Database, lead_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with db.read_session() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.entity_id == lead_id).order_by(AuditLog.seq)
        )
        return [(r.action, r.actor, json.loads(r.changes)) for r in rows if r.action != "create"]


def pending(db: Database, lead_id: str) -> bool:
    with db.read_session() as session:
        query = select(SyncStatus).where(
            SyncStatus.lead_id == lead_id, SyncStatus.status == "pending"
        )
        return session.scalars(query).first() is not None


def mapped_fields(config: AirtableConfig, lead: SalesLead) -> dict[str, Any]:
    fields = config.mapping.to_fields(lead)
    fields.pop(ID_FIELD, None)
    return fields


def no_echo(db: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator) -> None:
    """A push now sends nothing (or, without push.py, every link's base is
    what its lead would send)."""
    if push_module is not None:
        before = len(emu.requests)
        run_push(db, config)
        writes = [r for r in emu.requests[before:] if r.method != "GET"]
        assert writes == []
        return
    for record_id, link in links(db.db).items():
        base = {k: v for k, v in link.synced_fields.items() if k != ID_FIELD}
        assert base == mapped_fields(config, lead_of(db.db, record_id))


def linked_and_agreed(
    db: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator, n: int
) -> list[str]:
    """``n`` records made in Airtable, pulled; with the push there, pushed
    once (so they carry their Leadbase ID): both sides agree."""
    ids = [emu.user_create(person(i)) for i in range(n)]
    assert run_pull(db, config).created == n
    if push_module is not None:
        run_push(db, config)
    return ids


# --- tests --------------------------------------------------------------------------------


def test_first_pull_makes_leads_and_links_and_a_second_changes_nothing(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = [emu.user_create(person(i)) for i in range(250)]

    first = run_pull(leads, config)

    assert (first.pulled, first.created, first.updated, first.failed) == (250, 250, 0, 0)
    assert first.requests == 3  # pages of 100
    assert lead_count(leads.db) == 250
    found = links(leads.db)
    assert set(found) == set(ids)
    lead = lead_of(leads.db, ids[7])
    assert lead.email == "person7@example7.com"
    assert (lead.created_by, lead.source) == (SYSTEM, "airtable")
    assert pending(leads.db, lead.id)  # the push gives the record its Leadbase ID
    assert found[ids[7]].synced_fields == person(7)
    newest = max(emu.modified_at(i) for i in ids)
    assert first.cursor == newest
    with leads.db.read_session() as session:
        run = session.get(AirtableRun, first.run_id)
        assert run is not None
        assert (run.kind, run.status, run.actor, run.cursor) == (
            "pull",
            "succeeded",
            SYSTEM,
            newest,
        )
        assert run.counts["created"] == 250
    assert "filterByFormula" not in emu.requests[0].query

    audits = audit_count(leads.db)
    second = run_pull(leads, config)

    assert (second.created, second.updated, second.conflicts, second.failed) == (0, 0, 0, 0)
    assert lead_count(leads.db) == 250 and audit_count(leads.db) == audits
    asked = emu.requests[-1].query
    assert "IS_AFTER(LAST_MODIFIED_TIME()" in str(asked)
    assert changed_since(newest) == (
        "IS_AFTER(LAST_MODIFIED_TIME(), '"
        + (newest - timedelta(seconds=1)).isoformat(timespec="milliseconds")[:23]
        + "Z')"
    )


def test_a_record_edited_in_airtable_updates_its_lead_as_system_airtable_without_echo(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = linked_and_agreed(leads, config, emu, 3)
    lead_id = lead_of(leads.db, ids[1]).id
    emu.user_update(ids[1], {"Title": "VP Sales", "City": None})

    result = run_pull(leads, config)

    assert (result.updated, result.created, result.conflicts) == (1, 0, 0)
    lead = lead_of(leads.db, ids[1])
    assert (lead.title, lead.city, lead.updated_by) == ("VP Sales", None, SYSTEM)
    assert updates_of(leads.db, lead_id)[-1] == (
        "update",
        SYSTEM,
        {"title": ["Head of Sales", "VP Sales"], "city": ["Lisbon", None]},
    )
    assert links(leads.db)[ids[1]].synced_version == lead.version
    no_echo(leads, config, emu)


def test_our_own_pushed_values_pulled_back_are_no_ops(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = linked_and_agreed(leads, config, emu, 2)
    # A push writes the record (modified now) with what the base already says.
    link = links(leads.db)[ids[0]]
    emu.user_update(ids[0], dict(link.synced_fields))
    audits = audit_count(leads.db)

    result = run_pull(leads, config)

    assert (result.updated, result.conflicts, result.failed) == (0, 0, 0)
    assert audit_count(leads.db) == audits


def test_a_new_record_matching_a_lead_by_email_lands_on_it(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    lead_id = leads.add_lead(
        {"full_name": "Grace Hopper", "email": "grace@navy.mil", "title": "Admiral"}
    )
    record = emu.user_create(
        {"Full Name": "Grace Hopper", "Email": "GRACE@navy.mil", "City": "Arlington"}
    )

    result = run_pull(leads, config)

    assert (result.created, result.updated, result.failed) == (0, 1, 0)
    assert lead_count(leads.db) == 1
    lead = lead_of(leads.db, record)
    assert (lead.id, lead.title, lead.city) == (lead_id, "Admiral", "Arlington")


def test_a_record_carrying_one_of_our_lead_ids_is_linked_to_that_lead(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    lead_id = leads.add_lead({"full_name": "Alan Turing", "email": "alan@bletchley.uk"})
    record = emu.user_create(
        {"Full Name": "Alan Turing", "Email": "alan@bletchley.uk", ID_FIELD: lead_id}
    )

    other_id = leads.add_lead({"full_name": "Ada Lovelace", "email": "ada@analytical.uk"})
    with leads.db.read_session() as session:
        other = leads_repository.get(session, other_id)
        assert other is not None
        holds_all = emu.user_create(config.mapping.to_fields(other))

    result = run_pull(leads, config)

    assert (result.created, result.failed) == (0, 0)
    assert lead_of(leads.db, record).id == lead_id
    assert lead_of(leads.db, holds_all).id == other_id
    assert lead_count(leads.db) == 2
    # The push sends what the record lacks (first and last name) and only that.
    assert pending(leads.db, lead_id) and not pending(leads.db, other_id)


def test_a_record_with_an_invalid_value_fails_alone(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    good = [emu.user_create(person(i)) for i in range(4)]
    bad = emu.user_create({**person(9), "Email": "not-an-email"})

    result = run_pull(leads, config)

    assert (result.pulled, result.created, result.failed) == (5, 4, 1)
    assert result.failures[0][0] == bad and "email" in result.failures[0][1]
    found = links(leads.db)
    assert set(found) == set(good) and lead_count(leads.db) == 4
    with leads.db.read_session() as session:
        run = session.get(AirtableRun, result.run_id)
        assert run is not None
        assert run.status == "succeeded" and run.counts["failed"] == 1
        assert run.error is not None and bad in run.error and "email" in run.error


def test_an_edit_in_airtable_the_write_path_refuses_fails_alone(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = linked_and_agreed(leads, config, emu, 3)
    emu.user_update(ids[0], {"Email": "not-an-email"})
    emu.user_update(ids[1], {"Title": "CTO"})

    result = run_pull(leads, config)

    assert (result.failed, result.updated) == (1, 1)
    assert result.failures[0][0] == ids[0] and "email" in result.failures[0][1]
    assert lead_of(leads.db, ids[0]).email == "person0@example0.com"
    assert lead_of(leads.db, ids[1]).title == "CTO"


def test_a_lead_deleted_here_stays_deleted_when_its_record_changes(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = linked_and_agreed(leads, config, emu, 2)
    lead_id = lead_of(leads.db, ids[0]).id
    leads.delete_lead(lead_id)
    emu.user_update(ids[0], {"Title": "Founder"})

    result = run_pull(leads, config)

    assert (result.skipped, result.updated) == (1, 0)
    lead = lead_of(leads.db, ids[0])
    assert lead.is_deleted and lead.title != "Founder"


def test_a_full_pull_flags_the_lead_of_a_record_deleted_in_airtable(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = linked_and_agreed(leads, config, emu, 3)
    lead_id = lead_of(leads.db, ids[2]).id
    was_pending = pending(leads.db, lead_id)
    emu.user_delete(ids[2])

    assert run_pull(leads, config).deleted == 0  # only a full pull sees what is gone
    result = run_pull(leads, config, full=True)

    assert (result.kind, result.deleted, result.pulled) == ("full-pull", 1, 2)
    lead = lead_of(leads.db, ids[2])
    assert not lead.is_deleted and FLAG_TAG in (lead.tags or [])
    assert links(leads.db)[ids[2]].remote_deleted_at is not None
    action, actor, changes = updates_of(leads.db, lead_id)[-1]
    assert (action, actor, list(changes)) == ("update", SYSTEM, ["tags"])
    # The flag is not marked for the push: it must not make the record again.
    assert pending(leads.db, lead_id) == was_pending
    assert run_pull(leads, config, full=True).deleted == 0  # once
    if push_module is not None:
        run_push(leads, config)
        assert len(emu.records()) == 2


def test_a_full_pull_soft_deletes_with_the_setting(
    leads: LeadDatabase, emu: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBASE_AIRTABLE_ON_REMOTE_DELETE", "delete")
    get_settings.cache_clear()
    config = AirtableConfig.from_settings()
    ids = linked_and_agreed(leads, config, emu, 2)
    lead_id = lead_of(leads.db, ids[0]).id
    emu.user_delete(ids[0])

    assert run_pull(leads, config, full=True).deleted == 1

    assert lead_of(leads.db, ids[0]).is_deleted
    assert updates_of(leads.db, lead_id)[-1][:2] == ("delete", SYSTEM)
    assert lead_count(leads.db) == 1


def test_a_429_and_a_dropped_connection_mid_pull_are_retried_to_the_same_end(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = [emu.user_create(person(i)) for i in range(250)]

    faults: list[object] = []

    def fault_after_the_first_page(done: int, total: int | None) -> None:
        if done == 100 and not faults:
            faults.append(done)
            emu.fail(429, times=1, retry_after=0)
            # Its answer lost after the service spent the page's offset: the
            # retry finds the offset gone, and the listing starts over.
            emu.drop(times=1)

    result = run_pull(leads, config, progress=fault_after_the_first_page)

    assert (result.pulled, result.created, result.updated, result.failed) == (250, 250, 0, 0)
    assert result.rate_limited == 1 and result.retries == 2
    assert set(links(leads.db)) == set(ids) and lead_count(leads.db) == 250


def test_a_pull_that_gives_up_keeps_its_pages_and_the_next_one_finishes(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = [emu.user_create(person(i)) for i in range(150)]

    def outage(done: int, total: int | None) -> None:
        if done == 100 and not emu.count(status=503):
            emu.fail(503, times=5)

    with pytest.raises(Exception, match="503"):
        run_pull(leads, config, progress=outage)
    assert lead_count(leads.db) == 100
    with leads.db.read_session() as session:
        run = session.scalars(select(AirtableRun)).one()
        assert run.status == "failed" and run.cursor is None

    result = run_pull(leads, config)

    assert (result.pulled, result.created) == (150, 50)
    assert set(links(leads.db)) == set(ids) and lead_count(leads.db) == 150


def test_the_remote_newer_side_wins_a_conflict_and_both_are_kept(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    ids = linked_and_agreed(leads, config, emu, 1)
    lead_id = lead_of(leads.db, ids[0]).id
    leads.update_lead(lead_id, {"title": "Local Title"})
    local_at = lead_of(leads.db, ids[0]).updated_at
    emu.user_update(ids[0], {"Title": "Remote Title"}, at=datetime.now(UTC) + timedelta(minutes=5))

    result = run_pull(leads, config)

    assert (result.conflicts, result.updated) == (1, 1)
    assert lead_of(leads.db, ids[0]).title == "Remote Title"
    from leadbase.sync.airtable import conflicts

    [conflict] = conflicts.list_conflicts(leads.db)
    assert conflict.applied == "remote" and conflict.status == "open"
    assert conflict.local_modified_at == local_at
    assert conflict.remote_modified_at is not None  # as the wire tells it: to the millisecond
    assert abs(conflict.remote_modified_at - emu.modified_at(ids[0])) < timedelta(milliseconds=1)
    assert conflict.fields == {
        "Title": {"local": "Local Title", "remote": "Remote Title", "base": "Engineer"}
    }
    no_echo(leads, config, emu)


def test_the_local_newer_side_wins_a_conflict_and_goes_with_the_push(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    record = emu.user_create(person(0), at=past)
    run_pull(leads, config)
    lead_id = lead_of(leads.db, record).id
    emu.user_update(record, {"Title": "Remote Title"}, at=past + timedelta(hours=1))
    leads.update_lead(lead_id, {"title": "Local Title"})

    result = run_pull(leads, config)

    assert (result.conflicts, result.updated) == (1, 0)
    assert lead_of(leads.db, record).title == "Local Title"
    from leadbase.sync.airtable import conflicts

    [conflict] = conflicts.list_conflicts(leads.db)
    assert conflict.applied == "local"
    assert links(leads.db)[record].synced_fields["Title"] == "Remote Title"
    assert pending(leads.db, lead_id)
    if push_module is not None:
        run_push(leads, config)
        assert emu.records()[record]["fields"]["Title"] == "Local Title"
