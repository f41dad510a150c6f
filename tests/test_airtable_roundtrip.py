"""Issue 14's acceptance, end to end: ``service.run(database, "sync")`` (a
pull, then a push) with the real pyairtable against the emulator.

1,000 leads round trip both ways (SQLite and PostgreSQL); edits and deletes
on both sides; conflicts; every injected fault, after which the two sides
agree (``assert_sides_agree``), nothing is lost or doubled and the audit
chain verifies; a sync killed with -9 mid-pull; no echo; every change a pull
made is audited as system:airtable with its old and new values. The finer
cases of each part are in test_airtable_push/pull/conflicts.py (the push
killed with -9 in test_airtable_push.py).

Two tests hold why a sync pulls first: with the push first, a field changed
on both sides was overwritten without a conflict, and the same person added
on both sides between syncs ended as two records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from leadbase import audit
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.models import AirtableLink, AuditLog, SalesLead, SyncStatus
from leadbase.sync.airtable import conflicts, service
from leadbase.sync.airtable.client import RetryPolicy
from leadbase.sync.airtable.mapping import FLAG_TAG, ID_FIELD
from leadbase.sync.airtable.pull import same
from leadbase.sync.airtable.settings import AirtableConfig
from tests import dbs
from tests.emulators.airtable import AirtableEmulator
from tests.test_airtable_pull import person

SYSTEM = "system:airtable"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clients service.run makes back off on a clock that never waits
    (a 503's exponential pause, a Retry-After), so faults cost no time."""
    slept: list[float] = []
    made = AirtableConfig.client

    def client(self: AirtableConfig, policy: RetryPolicy | None = None) -> Any:
        return made(self, policy or RetryPolicy(max_attempts=5, sleep=slept.append))

    monkeypatch.setattr(AirtableConfig, "client", client)
    return slept


@pytest.fixture
def emu(airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch) -> AirtableEmulator:
    """The emulator (its table has "Last Modified"), unpaced here: it has no rate limit."""
    monkeypatch.setenv("LEADBASE_AIRTABLE_RATE", "1000")
    get_settings.cache_clear()
    return airtable_emulator


@pytest.fixture
def config(emu: AirtableEmulator) -> AirtableConfig:
    return AirtableConfig.from_settings()


@pytest.fixture
def leads(sqlite_url: str) -> Iterator[LeadDatabase]:
    with LeadDatabase(sqlite_url, actor="test:alice") as client:
        yield client


@pytest.fixture(params=["sqlite", "postgresql"])
def any_leads(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[LeadDatabase]:
    if request.param == "sqlite":
        url = dbs.fresh_sqlite(sqlite_template, tmp_path)
    else:
        url = request.getfixturevalue("_server_urls")("postgresql")
        dbs.empty_all_tables(url)
    with LeadDatabase(url, actor="test:alice") as client:
        yield client


# --- helpers ----------------------------------------------------------------------------


def sync(db: LeadDatabase, cfg: AirtableConfig, kind: str = "sync") -> service.RunOutcome:
    outcome = service.run(db.db, kind, config=cfg)
    if outcome.pushed is not None:
        assert outcome.pushed.error is None, outcome.pushed.error
    return outcome


def local_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Leads as a person would add them here (each its own email: no merges)."""
    return [
        {
            "full_name": f"Local Person{i:05d}",
            "email": f"local{i}@here{i % 17}.example",
            "title": "Buyer" if i % 2 else None,
            "company_name": f"Here Co {i % 40}",
            "city": "Lyon",
            "tags": ["local", f"t{i % 3}"],
            "lead_score": i % 100,
        }
        for i in range(start, start + n)
    ]


def all_leads(database: Database) -> dict[str, SalesLead]:
    with database.read_session() as session:
        rows = session.scalars(select(SalesLead)).all()
        session.expunge_all()
        return {lead.id: lead for lead in rows}


def all_links(database: Database) -> dict[str, AirtableLink]:
    with database.read_session() as session:
        rows = session.scalars(select(AirtableLink)).all()
        session.expunge_all()
        return {link.lead_id: link for link in rows}


def marks(database: Database) -> dict[str, tuple[str, int, str | None]]:
    """lead id -> (status, attempts, error) of its newest airtable outbox row."""
    with database.read_session() as session:
        rows = session.execute(
            select(
                SyncStatus.lead_id,
                SyncStatus.status,
                SyncStatus.attempt_count,
                SyncStatus.error_message,
            ).order_by(SyncStatus.id)
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def pending(database: Database) -> set[str]:
    return {lead_id for lead_id, (status, _, _) in marks(database).items() if status == "pending"}


def assert_sides_agree(
    database: Database, emulator: AirtableEmulator, cfg: AirtableConfig, *, ids: bool = True
) -> dict[str, str]:
    """Every live lead has one live link to a record that exists and holds
    the lead's mapped fields (its Leadbase ID too, unless ``ids=False``: a
    record made in Airtable gets it from the push after the pull that made
    its lead); every record is the record of exactly one live lead; a
    deleted lead has no record; a lead flagged for its deleted record has
    none either. Returns lead id -> record id."""
    leads, links, records = all_leads(database), all_links(database), emulator.records()
    problems: list[str] = []
    by_record = Counter(link.record_id for link in links.values() if link.remote_deleted_at is None)
    problems += [f"record {r} linked to {n} leads" for r, n in by_record.items() if n > 1]
    by_id = Counter(r["fields"].get(ID_FIELD) for r in records.values())
    problems += [f"{n} records carry Leadbase ID {i}" for i, n in by_id.items() if i and n > 1]
    agreed: dict[str, str] = {}
    names = cfg.mapping.remote_names
    for lead in leads.values():
        link = links.get(lead.id)
        live_link = link is not None and link.remote_deleted_at is None
        if lead.is_deleted or lead.merged_into_id:
            if live_link and link is not None and link.record_id in records:
                problems.append(f"deleted lead {lead.id} still has record {link.record_id}")
            continue
        if FLAG_TAG in (lead.tags or []):
            if live_link and link is not None and link.record_id in records:
                problems.append(f"flagged lead {lead.id} still has record {link.record_id}")
            continue
        if not live_link or link is None:
            problems.append(f"lead {lead.id} has no record")
            continue
        record = records.get(link.record_id)
        if record is None:
            problems.append(f"lead {lead.id}'s record {link.record_id} is gone")
            continue
        agreed[lead.id] = record["id"]
        local, remote = cfg.mapping.to_fields(lead), record["fields"]
        differ = {
            n: (local.get(n), remote.get(n)) for n in names if not same(local.get(n), remote.get(n))
        }
        if differ:
            problems.append(f"lead {lead.id} / {record['id']} differ: {differ}")
        carried = remote.get(ID_FIELD)
        if carried != lead.id and (ids or carried is not None):
            problems.append(f"record {record['id']} carries Leadbase ID {carried}, not {lead.id}")
    orphans = set(records) - set(agreed.values())
    problems += [f"record {r} is no live lead's" for r in sorted(orphans)]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])
    return agreed


def assert_audit_intact(database: Database) -> None:
    with database.read_session() as session:
        result = audit.verify(session)
    assert result.ok, result.describe()


def entries(database: Database, *, actor: str | None = None) -> list[AuditLog]:
    with database.read_session() as session:
        query = select(AuditLog).order_by(AuditLog.seq)
        if actor is not None:
            query = query.where(AuditLog.actor == actor)
        rows = session.scalars(query).all()
        session.expunge_all()
        return list(rows)


def writes(emulator: AirtableEmulator, since: int = 0) -> list[str]:
    return [r.method for r in emulator.requests[since:] if r.method in WRITES]


def synced(db: LeadDatabase, cfg: AirtableConfig, emulator: AirtableEmulator, n: int) -> list[str]:
    """``n`` leads made here and ``n`` records made there, synced until both
    sides agree (the second sync gives the pulled records their Leadbase ID)."""
    here = db.add_leads(local_rows(n))
    for i in range(n):
        emulator.user_create(person(i))
    sync(db, cfg)
    sync(db, cfg)
    assert len(assert_sides_agree(db.db, emulator, cfg)) == 2 * n
    return here


# --- 1,000 leads, both ways -------------------------------------------------------------


# Volume on SQLite: the pull and push tests run each side on PostgreSQL too.
@dbs.only("any_leads", "sqlite")
def test_1000_leads_round_trip_both_ways(
    any_leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
) -> None:
    db = any_leads
    here = db.add_leads(local_rows(1000))

    first = sync(db, config)

    assert first.pushed is not None and first.pulled is not None
    assert (first.pushed.created, first.pushed.failed) == (1000, 0)
    assert first.pulled.kind == "full-pull" and first.pulled.created == 0
    agreed = assert_sides_agree(db.db, emu, config)
    assert set(agreed) == set(here) and len(emu.records()) == 1000
    record = emu.records()[agreed[here[7]]]["fields"]
    assert (record["Full Name"], record["Email"], record["Title"]) == (
        "Local Person00007",
        "local7@here7.example",
        "Buyer",
    )
    assert (record["Tags"], record["Score"], record[ID_FIELD]) == (["local", "t1"], 7, here[7])

    there = [emu.user_create(person(i)) for i in range(1000)]

    second = sync(db, config)

    assert second.pulled is not None
    assert (second.pulled.created, second.pulled.failed, second.pulled.conflicts) == (1000, 0, 0)
    assert len(all_leads(db.db)) == 2000  # none doubled, none merged away
    agreed = assert_sides_agree(db.db, emu, config, ids=False)
    assert set(there) <= set(agreed.values()) and len(emu.records()) == 2000
    lead = all_leads(db.db)[next(k for k, v in agreed.items() if v == there[3])]
    fields = person(3)
    assert (lead.full_name, lead.email, lead.title, lead.city) == (
        fields["Full Name"],
        fields["Email"],
        fields["Title"],
        "Lisbon",
    )

    third = sync(db, config)  # the pulled leads' Leadbase IDs go out; nothing else

    assert second.pushed is not None and third.pushed is not None
    # (By the sync after the pull that made the leads, whichever order a sync runs in.)
    assert second.pushed.updated + third.pushed.updated == 1000
    assert second.pushed.created + third.pushed.created == 0
    assert len(assert_sides_agree(db.db, emu, config)) == 2000
    assert pending(db.db) == set()
    assert_audit_intact(db.db)


# --- edits, deletes, a conflict ---------------------------------------------------------


def test_edits_on_both_sides_then_the_sides_agree(
    leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
) -> None:
    here = synced(leads, config, emu, 12)
    agreed = assert_sides_agree(leads.db, emu, config)
    there = [lead_id for lead_id in agreed if lead_id not in here]
    # Different leads: each side edits its own (a made-here lead edited there too).
    leads.update_lead(here[0], {"city": "Paris", "title": None, "lead_score": 99})
    emu.user_update(agreed[here[1]], {"City": "Berlin", "Title": None, "Tags": ["vip"]})
    emu.user_update(agreed[there[0]], {"Company": "Acme", "Notes": "met at the fair"})
    leads.update_lead(there[1], {"lead_score": 55, "tags": ["called"], "lead_status": "contacted"})
    # The same lead, different fields, on each side.
    leads.update_lead(here[2], {"city": "Nice"})
    emu.user_update(agreed[here[2]], {"Title": "CEO"})
    leads.update_lead(there[2], {"notes": "call back"})
    emu.user_update(agreed[there[2]], {"City": "Porto", "Email": "moved@example9.com"})

    outcome = sync(leads, config)

    assert outcome.pulled is not None and (outcome.pulled.conflicts, outcome.pulled.failed) == (
        0,
        0,
    )
    assert assert_sides_agree(leads.db, emu, config) == agreed
    now = all_leads(leads.db)
    assert (now[here[0]].city, now[here[0]].title, now[here[0]].lead_score) == ("Paris", None, 99)
    assert (now[here[1]].city, now[here[1]].title, now[here[1]].tags) == ("Berlin", None, ["vip"])
    assert (now[here[2]].city, now[here[2]].title) == ("Nice", "CEO")
    assert (now[there[0]].company_name, now[there[0]].notes) == ("Acme", "met at the fair")
    assert now[there[1]].lead_status == "contacted"
    assert (now[there[2]].notes, now[there[2]].city) == ("call back", "Porto")
    assert now[there[2]].email == "moved@example9.com"
    assert len(now) == 24 and not any(lead.is_deleted for lead in now.values())
    versions = {lead_id: lead.version for lead_id, lead in now.items()}
    before = len(emu.requests)
    sync(leads, config)
    assert writes(emu, before) == []
    assert {lead_id: lead.version for lead_id, lead in all_leads(leads.db).items()} == versions
    assert_audit_intact(leads.db)


@pytest.mark.parametrize("setting", ["flag", "delete"])
def test_deletes_on_both_sides_then_the_sides_agree_as_the_setting_says(
    leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
) -> None:
    monkeypatch.setenv("LEADBASE_AIRTABLE_ON_REMOTE_DELETE", setting)
    get_settings.cache_clear()
    cfg = AirtableConfig.from_settings()
    here = synced(leads, cfg, emu, 8)
    agreed = assert_sides_agree(leads.db, emu, cfg)
    there = [lead_id for lead_id in agreed if lead_id not in here]
    leads.delete_lead(here[0])
    leads.delete_lead(there[0])
    emu.user_delete(agreed[here[1]])
    emu.user_delete(agreed[there[1]])

    quick = sync(leads, cfg)  # the push deletes; a pull by cursor can't see deletes

    assert quick.pushed is not None and quick.pushed.deleted == 2
    assert quick.pulled is not None and (quick.pulled.kind, quick.pulled.deleted) == ("pull", 0)
    assert agreed[here[0]] not in emu.records() and agreed[there[0]] not in emu.records()

    # The sync's periodic full pull comes due (LEADBASE_AIRTABLE_FULL_PULL_HOURS).
    monkeypatch.setattr(leads.db.settings, "airtable_full_pull_hours", 0.0001)
    time.sleep(0.4)
    full = sync(leads, cfg)

    assert full.pulled is not None and full.pulled.kind == "full-pull"
    assert (full.pulled.deleted, full.pulled.failed) == (2, 0)
    now = all_leads(leads.db)
    for lead_id in (here[1], there[1]):
        if setting == "flag":
            assert not now[lead_id].is_deleted and FLAG_TAG in (now[lead_id].tags or [])
        else:
            assert now[lead_id].is_deleted
    assert now[here[0]].is_deleted and now[there[0]].is_deleted
    remaining = assert_sides_agree(leads.db, emu, cfg)
    assert set(remaining) == set(agreed) - {here[0], here[1], there[0], there[1]}
    assert len(emu.records()) == 12
    before = len(emu.requests)
    sync(leads, cfg)  # a flagged lead waits for a person: its record is not made again
    sync(leads, cfg, "full-pull")
    assert writes(emu, before) == [] and len(emu.records()) == 12
    assert_audit_intact(leads.db)


# A push before the pull would PATCH the local value over Airtable's newer
# one before the pull could see the clash: the remote edit lost, no conflict.
def test_a_conflict_in_a_sync_goes_by_last_modified_and_is_kept(
    leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
) -> None:
    here = synced(leads, config, emu, 2)
    agreed = assert_sides_agree(leads.db, emu, config)
    # Lead 1: changed in Airtable, then here (later): ours wins.
    emu.user_update(agreed[here[1]], {"Title": "Remote Title"})
    time.sleep(0.01)
    leads.update_lead(here[1], {"title": "Local Title"})
    # Lead 0: changed here, then in Airtable (later; the emulator's clock then
    # stays ahead, so this one goes second): Airtable's value wins.
    leads.update_lead(here[0], {"title": "Local Title"})
    emu.user_update(
        agreed[here[0]], {"Title": "Remote Title"}, at=datetime.now(UTC) + timedelta(minutes=5)
    )

    sync(leads, config)
    sync(leads, config)

    now = all_leads(leads.db)
    assert now[here[0]].title == "Remote Title" and now[here[1]].title == "Local Title"
    assert_sides_agree(leads.db, emu, config)
    kept = {c.lead_id: c for c in conflicts.list_conflicts(leads.db)}
    assert set(kept) == {here[0], here[1]}
    assert kept[here[0]].applied == "remote" and kept[here[1]].applied == "local"
    for conflict in kept.values():
        assert conflict.fields["Title"]["local"] == "Local Title"
        assert conflict.fields["Title"]["remote"] == "Remote Title"


def test_a_conflict_a_pull_found_resolved_keep_local_goes_out_with_the_next_sync(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    here = synced(leads, config, emu, 2)
    agreed = assert_sides_agree(leads.db, emu, config)
    leads.update_lead(here[0], {"title": "Local Title", "city": "Porto"})
    later = datetime.now(UTC) + timedelta(minutes=5)
    emu.user_update(agreed[here[0]], {"Title": "Remote Title"}, at=later)

    pulled = sync(leads, config, "pull")  # a pull on its own (the CLI's, the API's)

    assert pulled.pulled is not None and pulled.pulled.conflicts == 1
    lead = all_leads(leads.db)[here[0]]
    assert (lead.title, lead.city) == ("Remote Title", "Porto")  # newer side; no clash on City
    [conflict] = conflicts.list_conflicts(leads.db)
    assert (conflict.applied, conflict.fields["Title"]["local"]) == ("remote", "Local Title")
    conflicts.resolve(leads.db, conflict.id, "keep-local", "user:alice@example.com")

    sync(leads, config)

    fields = emu.records()[agreed[here[0]]]["fields"]
    assert (fields["Title"], fields["City"]) == ("Local Title", "Porto")
    assert assert_sides_agree(leads.db, emu, config) == agreed
    assert conflicts.list_conflicts(leads.db) == []
    before = len(emu.requests)
    sync(leads, config)
    assert writes(emu, before) == []
    assert_audit_intact(leads.db)


def test_the_same_person_added_on_both_sides_between_syncs_is_one_lead_and_one_record(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    synced(leads, config, emu, 2)
    lead_id = leads.add_lead({"full_name": "Same Person", "email": "same@person.example"})
    record = emu.user_create(
        {"Full Name": "Same Person", "Email": "same@person.example", "Title": "CFO"}
    )

    sync(leads, config)
    sync(leads, config)

    agreed = assert_sides_agree(leads.db, emu, config)  # pushed first: 2 records, 1 lead
    assert agreed[lead_id] == record and all_leads(leads.db)[lead_id].title == "CFO"


def test_a_push_cut_off_before_its_commit_then_a_field_cleared_here_stays_cleared(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    """The re-run upserts onto the record the lost push made (Airtable merges
    the fields): it must clear what the lead emptied meanwhile, or the pull
    writes the old value back over the person's change."""
    ids = leads.add_leads(local_rows(3))
    sync(leads, config)
    with leads.db.unit_of_work() as uow:  # as after a kill -9 before the push's commit
        uow.session.execute(delete(AirtableLink).where(AirtableLink.lead_id == ids[1]))
    leads.update_lead(ids[1], {"title": None, "city": "Metz"})

    sync(leads, config)
    sync(leads, config)

    lead = all_leads(leads.db)[ids[1]]
    assert (lead.title, lead.city) == (None, "Metz")
    assert len(assert_sides_agree(leads.db, emu, config)) == 3 == len(emu.records())


@pytest.mark.parametrize("setting", ["flag", "delete"])
def test_a_record_back_from_airtables_trash_undoes_what_the_full_pull_did(
    leads: LeadDatabase, emu: AirtableEmulator, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("LEADBASE_AIRTABLE_ON_REMOTE_DELETE", setting)
    get_settings.cache_clear()
    config = AirtableConfig.from_settings()
    ids = leads.add_leads(local_rows(3))
    sync(leads, config)
    agreed = assert_sides_agree(leads.db, emu, config)
    table, record = emu._find_record(agreed[ids[0]])  # the emulator has no trash: kept here
    emu.user_delete(record.id)
    sync(leads, config, "full-pull")
    gone = all_leads(leads.db)[ids[0]]
    assert gone.is_deleted if setting == "delete" else FLAG_TAG in (gone.tags or [])
    with emu.lock:
        table.insert(record)  # restored, as Airtable's trash does, with its id

    sync(leads, config, "full-pull")

    back = all_leads(leads.db)[ids[0]]
    assert (back.is_deleted, back.tags) == (False, ["local", "t0"])
    assert assert_sides_agree(leads.db, emu, config) == agreed
    last = entries(leads.db)[-1]
    assert (last.entity_id, last.actor) == (ids[0], SYSTEM)
    if setting == "flag":
        assert json.loads(last.changes)["tags"] == [["local", "t0", FLAG_TAG], ["local", "t0"]]
    else:
        assert (last.action, json.loads(last.changes)) == ("restore", {"is_deleted": [True, False]})
    before = len(emu.requests)
    sync(leads, config)
    assert writes(emu, before) == []


def test_a_sync_killed_mid_pull_then_run_again_doubles_nothing(
    sqlite_url: str,
    leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
    tmp_path: Path,
) -> None:
    """``leadbase airtable sync`` killed with -9 between two pages of its pull
    (the push's kill -9 is test_airtable_push's): a page is one unit of work,
    so the run again makes each remaining lead once."""
    there = [emu.user_create(person(i)) for i in range(300)]
    emu.slow(0.6, times=100, method="GET")  # so the kill lands between pages
    env = {
        **os.environ,
        "LEADBASE_DATABASE_URL": sqlite_url,
        "LEADBASE_DATA_DIR": str(tmp_path / "data"),
        "LEADBASE_AIRTABLE_API_URL": emu.url,
        "LEADBASE_AIRTABLE_TOKEN": emu.token,
        "LEADBASE_AIRTABLE_BASE_ID": emu.base_id,
        "LEADBASE_AIRTABLE_TABLE": emu.table_name,
        "LEADBASE_AIRTABLE_RATE": "100",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "leadbase", "airtable", "sync"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(all_links(leads.db)) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    made = len(all_links(leads.db))
    assert 100 <= made < 300, made
    emu.clear_faults()

    sync(leads, config)
    sync(leads, config)

    agreed = assert_sides_agree(leads.db, emu, config)
    assert set(agreed.values()) == set(there) and len(all_leads(leads.db)) == 300
    assert_audit_intact(leads.db)


# --- faults -----------------------------------------------------------------------------

BAD_EMAIL = "local103@here1.example"  # the 422 case's lead (local_rows(.., start=100))

FAULTS: dict[str, Any] = {
    "429 burst (push)": lambda e: e.fail(429, times=3, retry_after=0),
    "429 burst (pull)": lambda e: e.fail(429, times=3, method="GET", retry_after=0),
    "503s (push)": lambda e: e.fail(503, times=2, method="PATCH"),
    "503s (pull)": lambda e: e.fail(503, times=2, method="GET"),
    "dropped before headers, write applied": lambda e: e.drop(method="PATCH", applied=True),
    "dropped before anything was done": lambda e: e.drop(method="PATCH", applied=False),
    "dropped mid-body (push)": lambda e: e.drop(method="PATCH", after_body=True),
    "dropped mid-body (pull)": lambda e: e.drop(method="GET", after_body=True),
    "dropped delete": lambda e: e.drop(method="DELETE", applied=True),
    "slow answer": lambda e: e.slow(0.3, times=2),
    "slow past the timeout, write applied": lambda e: e.slow(1.6, method="PATCH"),
    "422 on one record of a batch": lambda e: e.reject_record({"Email": BAD_EMAIL}),
    # Past the retries: the run stops (the push's error, or the pull raises)
    # and the next sync finishes the job.
    "429s past the retries": lambda e: e.fail(429, times=6, retry_after=0),
    "503 outage": lambda e: e.fail(503, times=12),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_after_each_fault_the_sides_agree_nothing_lost_or_doubled_and_the_audit_holds(
    leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
    no_waiting: list[float],
    fault: str,
) -> None:
    cfg = replace(config, timeout=1)
    here = synced(leads, cfg, emu, 8)
    agreed = assert_sides_agree(leads.db, emu, cfg)
    there = [lead_id for lead_id in agreed if lead_id not in here]
    # ~30 leads touched: new on each side, edited on each side, deleted here.
    new_here = leads.add_leads(local_rows(10, start=100))
    new_there = [emu.user_create(person(100 + i)) for i in range(5)]
    for lead_id in here[:4]:
        leads.update_lead(lead_id, {"city": "Dijon"})
    for lead_id in there[:3]:
        emu.user_update(agreed[lead_id], {"Title": "Director"})
    leads.delete_lead(here[7])
    leads.delete_lead(there[7])
    injected = FAULTS[fault](emu)

    try:
        first = service.run(leads.db, "sync", config=cfg)
    except Exception:  # a pull that gave up: the next sync finishes the job
        first = None
    assert injected.hits >= 1, "the fault was never met"
    if first is not None and not fault.startswith(("422", "slow answer")):
        assert first.pushed is not None
        retried = first.pushed.retries + (first.pulled.retries if first.pulled else 0)
        assert retried >= 1  # retried, not skipped
    if fault in ("429s past the retries", "503 outage"):
        assert first is None or (first.pushed is not None and first.pushed.error is not None)

    if fault.startswith("422"):
        assert first is not None and first.pushed is not None
        assert (first.pushed.failed, first.pushed.error) == (1, None)
        [bad] = [lead_id for lead_id in new_here if lead_id not in all_links(leads.db)]
        status, attempts, error = marks(leads.db)[bad]
        assert (status, attempts) == ("pending", 1)
        assert error is not None and "INVALID_VALUE_FOR_COLUMN" in error
        assert all(lead_id in all_links(leads.db) for lead_id in new_here if lead_id != bad)
        emu.clear_faults()
        leads.update_lead(bad, {"email": "fixed103@here1.example"})
    emu.clear_faults()
    sync(leads, cfg)
    sync(leads, cfg)  # the new records' Leadbase IDs

    agreed = assert_sides_agree(leads.db, emu, cfg)
    assert len(agreed) == 16 + 10 + 5 - 2 and len(emu.records()) == 29
    assert set(new_here) <= set(agreed) and set(new_there) <= set(agreed.values())
    now = all_leads(leads.db)
    assert len(now) == 31 and now[here[7]].is_deleted and now[there[7]].is_deleted
    assert all(now[lead_id].city == "Dijon" for lead_id in here[:4])
    assert all(now[lead_id].title == "Director" for lead_id in there[:3])
    assert pending(leads.db) == set()
    assert_audit_intact(leads.db)


# --- no echo, and the audit -------------------------------------------------------------


def test_no_echo_a_sync_with_nothing_to_do_only_lists_and_changes_no_lead(
    leads: LeadDatabase,
    config: AirtableConfig,
    emu: AirtableEmulator,
) -> None:
    here = synced(leads, config, emu, 10)
    agreed = assert_sides_agree(leads.db, emu, config)
    # A change from each side: the pulled one is not pushed back, the pushed
    # one not pulled back (the lead's version moves only for the local edit).
    emu.user_update(agreed[here[0]], {"City": "Oslo"})
    leads.update_lead(here[1], {"city": "Bergen"})
    version = {lead_id: lead.version for lead_id, lead in all_leads(leads.db).items()}
    before = len(emu.requests)

    sync(leads, config)

    assert Counter(writes(emu, before)) == {"PATCH": 1}  # here[1]'s City, nothing else
    [patch] = [r for r in emu.requests[before:] if r.method == "PATCH"]
    assert patch.body["records"] == [{"id": agreed[here[1]], "fields": {"City": "Bergen"}}]
    now = all_leads(leads.db)
    assert now[here[0]].city == "Oslo" and now[here[0]].version == version[here[0]] + 1
    assert now[here[1]].version == version[here[1]]  # its push did not come back
    version = {lead_id: lead.version for lead_id, lead in now.items()}
    before = len(emu.requests)

    again = sync(leads, config)

    methods = Counter(r.method for r in emu.requests[before:])
    assert methods == {"GET": 1}, methods  # the pull's listing; nothing written
    assert again.pulled is not None and (again.pulled.updated, again.pulled.created) == (0, 0)
    assert {lead_id: lead.version for lead_id, lead in all_leads(leads.db).items()} == version
    assert_sides_agree(leads.db, emu, config)


def _snapshot(db: LeadDatabase, cfg: AirtableConfig) -> dict[str, dict[str, Any]]:
    fields = [local for local, _ in cfg.mapping.fields]
    return {
        lead.id: {**{f: getattr(lead, f) for f in fields}, "is_deleted": lead.is_deleted}
        for lead in all_leads(db.db).values()
    }


@pytest.mark.parametrize("setting", ["flag", "delete"])
def test_every_change_a_pull_made_is_audited_as_system_airtable_with_old_and_new(
    leads: LeadDatabase,
    emu: AirtableEmulator,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
) -> None:
    from leadbase.audit import repository as audit_repository

    monkeypatch.setenv("LEADBASE_AIRTABLE_ON_REMOTE_DELETE", setting)
    get_settings.cache_clear()
    config = AirtableConfig.from_settings()
    here = synced(leads, config, emu, 6)
    agreed = assert_sides_agree(leads.db, emu, config)
    there = [lead_id for lead_id in agreed if lead_id not in here]
    emu.user_update(agreed[here[1]], {"City": "Oslo", "Title": None, "Score": 42})
    emu.user_update(agreed[there[0]], {"Tags": ["vip", "fair"], "Status": "qualified"})
    emu.user_delete(agreed[there[1]])  # flagged (tags) or soft-deleted by the full pull
    made = emu.user_create(person(200))
    before = _snapshot(leads, config)
    last_seq = max(entry.seq for entry in entries(leads.db))

    outcome = sync(leads, config, "full-pull")

    assert outcome.pulled is not None and outcome.pulled.created == 1
    after = _snapshot(leads, config)
    changed = {
        lead_id: {f: (before[lead_id][f], v) for f, v in values.items() if before[lead_id][f] != v}
        for lead_id, values in after.items()
        if lead_id in before and values != before[lead_id]
    }
    assert set(changed) == {here[1], there[0], there[1]}
    assert set(changed[there[1]]) == ({"tags"} if setting == "flag" else {"is_deleted"})
    new = [entry for entry in entries(leads.db) if entry.seq > last_seq]
    assert {entry.actor for entry in new} == {SYSTEM}
    for lead_id, fields in changed.items():
        logged: dict[str, list[Any]] = {}
        for entry in new:
            if entry.entity_type == "lead" and entry.entity_id == lead_id:
                logged.update(json.loads(entry.changes))
        for field_name, (old, value) in fields.items():
            assert field_name in logged, (lead_id, field_name, logged)
            assert logged[field_name] == [old, value], (lead_id, field_name)
    [created] = set(after) - set(before)
    assert all_links(leads.db)[created].record_id == made
    with leads.db.read_session() as session:
        history = audit_repository.entries_for(session, "lead", created)
        assert [(e.action, e.actor) for e in history] == [("create", SYSTEM)]
        assert json.loads(history[0].changes)["email"] == [None, person(200)["Email"]]
    assert_audit_intact(leads.db)


def test_a_merge_here_deletes_the_merged_record_and_an_unmerge_makes_it_again(
    leads: LeadDatabase, config: AirtableConfig, emu: AirtableEmulator
) -> None:
    here = synced(leads, config, emu, 4)
    agreed = assert_sides_agree(leads.db, emu, config)
    leads.merge_leads(here[0], [here[1]], {"title": here[1], "city": here[1]})

    merged = sync(leads, config)

    assert merged.pushed is not None and merged.pushed.deleted == 1
    assert agreed[here[1]] not in emu.records()
    assert_sides_agree(leads.db, emu, config)
    assert emu.records()[agreed[here[0]]]["fields"]["Title"] == "Buyer"  # here[1]'s, chosen

    leads.unmerge_lead(here[0])
    sync(leads, config)

    back = assert_sides_agree(leads.db, emu, config)
    assert set(back) == set(agreed) and back[here[1]] != agreed[here[1]]
    assert len(emu.records()) == 8
    assert_audit_intact(leads.db)
