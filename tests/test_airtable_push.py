"""The Airtable push against the emulator, with the real pyairtable client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.models import AirtableLink, AirtableRun, SyncStatus, utcnow
from leadbase.sync.airtable import repository
from leadbase.sync.airtable.client import AirtableClient, Pacer, RetryPolicy
from leadbase.sync.airtable.mapping import ID_FIELD, default_mapping
from leadbase.sync.airtable.push import push
from leadbase.sync.airtable.settings import AirtableConfig
from tests.emulators.airtable import AirtableEmulator

ROOT = Path(__file__).resolve().parents[1]


class FakeTime:
    """A clock that moves only when slept on: backoffs and pacing cost nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def config(airtable_emulator: AirtableEmulator) -> AirtableConfig:
    emu = airtable_emulator
    return AirtableConfig(
        token=emu.token,
        base_id=emu.base_id,
        table=emu.table_name,
        api_url=emu.url,
        rate=5.0,
        max_attempts=3,
        timeout=5,
        mapping=default_mapping(),
        on_remote_delete="flag",
    )


@pytest.fixture
def client(config: AirtableConfig, fake_time: FakeTime) -> AirtableClient:
    """A client whose pacer and backoff sleep on the fake clock (the emulator
    has no rate limit here; the bench checks the real pacing)."""
    return AirtableClient(
        token=config.token,
        base_id=config.base_id,
        table=config.table,
        api_url=config.api_url,
        policy=RetryPolicy(max_attempts=5, sleep=fake_time.sleep),
        timeout=5,
        pacer=Pacer(5, clock=fake_time.clock, sleep=fake_time.sleep),
    )


@pytest.fixture
def leads(sqlite_url: str) -> Iterator[LeadDatabase]:
    client = LeadDatabase(sqlite_url, actor="test:alice")
    yield client
    client.close()


@pytest.fixture
def database(leads: LeadDatabase) -> Database:
    return leads.db


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "full_name": f"Person {i:05d}",
            "email": f"person{i}@company{i}.example",
            "title": "Buyer" if i % 2 else None,
            "company_name": f"Company {i}",
            "city": "Lyon",
            "tags": ["airtable", f"t{i % 3}"],
            "lead_score": i % 100,
        }
        for i in range(start, start + n)
    ]


def _by_lead(emu: AirtableEmulator) -> dict[str, dict[str, Any]]:
    records = emu.records().values()
    ids = Counter(r["fields"].get(ID_FIELD) for r in records)
    doubled = [lead_id for lead_id, n in ids.items() if n > 1]
    assert not doubled, f"records doubled in Airtable: {doubled[:5]}"
    return {r["fields"][ID_FIELD]: r for r in records}


def _outbox(database: Database) -> list[tuple[str, str, int, str | None]]:
    with database.read_session() as session:
        rows = session.execute(
            select(
                SyncStatus.lead_id,
                SyncStatus.status,
                SyncStatus.attempt_count,
                SyncStatus.error_message,
            ).order_by(SyncStatus.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _links(database: Database) -> dict[str, AirtableLink]:
    with database.read_session() as session:
        return {link.lead_id: link for link in session.scalars(select(AirtableLink))}


def _pending(database: Database) -> set[str]:
    return {lead_id for lead_id, status, _, _ in _outbox(database) if status == "pending"}


# --- a first push, then nothing to send --------------------------------------------------


def test_first_push_of_1000_leads_then_nothing(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = leads.add_leads(_rows(1000))
    seen: list[tuple[int, int]] = []

    result = push(database, config, client=client, progress=lambda d, t: seen.append((d, t)))

    assert (result.pushed, result.created, result.failed, result.error) == (1000, 1000, 0, None)
    assert result.requests == 100 == airtable_emulator.count()
    assert seen[-1] == (1000, 1000)
    remote = _by_lead(airtable_emulator)
    assert set(remote) == set(ids)
    lead = leads.get_lead(ids[7])
    assert lead is not None
    assert remote[ids[7]]["fields"] == {
        "Full Name": "Person 00007",
        "Email": "person7@company7.example",
        "Title": "Buyer",
        "Company": "Company 7",
        "City": "Lyon",
        "Tags": ["airtable", "t1"],
        "Score": 7,
        "Status": "new",
        ID_FIELD: ids[7],
        **{
            k: v
            for k, v in remote[ids[7]]["fields"].items()
            if k in ("First Name", "Last Name", "Last Modified")
        },
    }
    links = _links(database)
    assert {link.record_id for link in links.values()} == {r["id"] for r in remote.values()}
    assert links[ids[7]].synced_version == lead["version"]
    assert _outbox(database) == []  # never marked, now linked: nothing pending
    with database.read_session() as session:
        run = session.scalars(select(AirtableRun)).one()
    assert (run.kind, run.status, run.actor) == ("push", "succeeded", "system:airtable")
    assert run.counts["created"] == 1000 and run.counts["requests"] == 100

    airtable_emulator.clear_requests()
    again = push(database, config, client=client)
    assert (again.requests, again.pushed, again.unchanged) == (0, 0, 0)
    assert airtable_emulator.count() == 0


# --- edits and deletes -------------------------------------------------------------------


def _pushed(
    leads: LeadDatabase, database: Database, config: AirtableConfig, client: AirtableClient, n: int
) -> list[str]:
    ids = leads.add_leads(_rows(n))
    assert push(database, config, client=client).pushed == n
    return ids


def test_an_edit_sends_only_its_changed_fields(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = _pushed(leads, database, config, client, 25)
    record_id = _links(database)[ids[3]].record_id
    assert _links(database)[ids[3]].remote_modified_at == airtable_emulator.modified_at(record_id)
    airtable_emulator.clear_requests()
    # A field changed, one emptied (sent as null: Airtable clears it), one untouched.
    leads.update_lead(ids[3], {"city": "Paris", "title": None})
    assert _pending(database) == {ids[3]}

    result = push(database, config, client=client)

    assert (result.pushed, result.updated, result.requests) == (1, 1, 1)
    [request] = airtable_emulator.requests
    assert (request.method, request.body["records"]) == (
        "PATCH",
        [{"id": record_id, "fields": {"City": "Paris", "Title": None}}],
    )
    fields = airtable_emulator.records()[record_id]["fields"]
    assert fields["City"] == "Paris" and "Title" not in fields
    assert _pending(database) == set()
    assert [row[:3] for row in _outbox(database)] == [(ids[3], "success", 0)]
    link = _links(database)[ids[3]]
    assert link.synced_fields["City"] == "Paris" and "Title" not in link.synced_fields
    assert "Last Modified" not in link.synced_fields  # Airtable's, never ours to agree on
    assert link.remote_modified_at == airtable_emulator.modified_at(record_id)
    assert link.synced_version == leads.get_lead(ids[3])["version"]  # type: ignore[index]

    # Marked again with no change to send (a pull's echo, say): no request at all.
    leads.mark_for_sync(ids[3])
    again = push(database, config, client=client)
    assert (again.requests, again.unchanged, _pending(database)) == (0, 1, set())


def test_a_deleted_lead_deletes_its_record_and_a_restore_makes_it_again(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = _pushed(leads, database, config, client, 12)
    record_id = _links(database)[ids[5]].record_id
    leads.delete_lead(ids[5])
    never_pushed = leads.add_lead({"full_name": "Gone Before", "email": "gone@before.example"})
    leads.delete_lead(never_pushed)

    result = push(database, config, client=client)

    assert (result.deleted, result.unchanged, result.requests) == (1, 1, 1)
    assert record_id not in airtable_emulator.records()
    assert ids[5] not in _by_lead(airtable_emulator) and len(_by_lead(airtable_emulator)) == 11
    assert _links(database)[ids[5]].remote_deleted_at is not None
    assert _pending(database) == set()
    assert push(database, config, client=client).requests == 0

    leads.restore_lead(ids[5])
    back = push(database, config, client=client)
    assert (back.created, back.requests) == (1, 1)
    remote = _by_lead(airtable_emulator)
    assert remote[ids[5]]["id"] == _links(database)[ids[5]].record_id != record_id
    assert _links(database)[ids[5]].remote_deleted_at is None


def test_a_record_deleted_in_airtable_is_made_again_and_a_gone_one_is_not_deleted_twice(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = _pushed(leads, database, config, client, 4)
    links = _links(database)
    airtable_emulator.user_delete(links[ids[0]].record_id)
    airtable_emulator.user_delete(links[ids[1]].record_id)
    leads.update_lead(ids[0], {"city": "Nantes"})
    leads.update_lead(ids[2], {"city": "Nantes"})
    leads.delete_lead(ids[1])
    leads.delete_lead(ids[3])

    result = push(database, config, client=client)

    assert (result.failed, result.error, _pending(database)) == (0, None, set())
    remote = _by_lead(airtable_emulator)
    assert set(remote) == {ids[0], ids[2]}
    assert remote[ids[0]]["fields"]["City"] == "Nantes"
    assert remote[ids[0]]["fields"]["Full Name"] == "Person 00000"  # all fields, made anew
    assert _links(database)[ids[0]].record_id == remote[ids[0]]["id"]


def test_a_lead_flagged_for_its_deleted_record_waits_for_a_person(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = _pushed(leads, database, config, client, 2)
    airtable_emulator.user_delete(_links(database)[ids[0]].record_id)
    # What a full pull does with on_remote_delete=flag: tag, link gone.
    with database.unit_of_work() as uow:
        repository.mark_record_deleted(uow.session, ids[0], utcnow())
    leads.update_lead(ids[0], {"tags": ["airtable", "airtable-deleted"], "city": "Caen"})

    flagged = push(database, config, client=client)
    assert (flagged.requests, flagged.unchanged, _pending(database)) == (0, 1, set())
    assert set(_by_lead(airtable_emulator)) == {ids[1]}

    leads.update_lead(ids[0], {"tags": ["airtable"]})  # a person wants it back
    back = push(database, config, client=client)
    assert (back.created, back.requests) == (1, 1)
    assert _by_lead(airtable_emulator)[ids[0]]["fields"]["City"] == "Caen"


# --- faults --------------------------------------------------------------------------------


def test_a_bad_record_fails_alone_and_goes_once_fixed(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = leads.add_leads(_rows(20))
    bad = ids[4]
    airtable_emulator.reject_record({"Email": "person4@company4.example"})

    first = push(database, config, client=client)

    assert (first.pushed, first.failed, first.error) == (19, 1, None)
    # Two batches, the first refused whole and then sent a record at a time.
    assert first.requests == 2 + 10
    assert first.errors == [
        'Airtable answered 422 INVALID_VALUE_FOR_COLUMN: Field "Email" cannot accept the '
        "provided value"
    ]
    assert set(_by_lead(airtable_emulator)) == set(ids) - {bad}
    [(lead_id, status, attempts, error)] = _outbox(database)
    assert (lead_id, status, attempts) == (bad, "pending", 1)
    assert error is not None and "INVALID_VALUE_FOR_COLUMN" in error

    second = push(database, config, client=client)  # still refused: attempt 2
    assert (second.requests, second.failed) == (1, 1)
    assert _outbox(database)[0][1:3] == ("pending", 2)
    push(database, config, client=client)  # attempt 3 of 3: failed, left alone
    assert _outbox(database)[0][1:3] == ("failed", 3)
    assert push(database, config, client=client).requests == 0

    leads.update_lead(bad, {"email": "fixed@company4.example"})  # a new pending mark
    fixed = push(database, config, client=client)
    assert (fixed.pushed, fixed.created, fixed.failed) == (1, 1, 0)
    assert _by_lead(airtable_emulator)[bad]["fields"]["Email"] == "fixed@company4.example"
    assert [row[1] for row in _outbox(database)] == ["failed", "success"]


def test_retry_failed_gives_failed_leads_new_tries(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = leads.add_leads(_rows(3))
    fault = airtable_emulator.reject_record({"Full Name": "Person 00001"})
    for _ in range(3):
        push(database, config, client=client)
    assert [row[1:3] for row in _outbox(database)] == [("failed", 3)]
    airtable_emulator.faults.remove(fault)
    assert push(database, config, client=client).requests == 0
    result = push(database, config, client=client, retry_failed=True)
    assert (result.pushed, result.failed) == (1, 0)
    assert set(_by_lead(airtable_emulator)) == set(ids)
    assert _pending(database) == set()


def test_a_429_storm_is_waited_out_with_retry_after(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    fake_time: FakeTime,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = leads.add_leads(_rows(40))
    airtable_emulator.fail(429, times=3, retry_after=30)

    result = push(database, config, client=client)

    assert (result.pushed, result.rate_limited, result.retries, result.failed) == (40, 3, 3, 0)
    assert result.requests == 4 + 3
    assert fake_time.slept.count(30.0) == 3  # Retry-After honoured, on the fake clock
    assert set(_by_lead(airtable_emulator)) == set(ids)  # and nothing doubled


def test_503s_and_dropped_connections_are_retried_without_doubles(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    fake_time: FakeTime,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = leads.add_leads(_rows(30))
    airtable_emulator.fail(503, times=2)
    # The write is applied and its answer lost: the retry upserts, not doubles.
    airtable_emulator.drop(times=1, method="PATCH", applied=True)
    airtable_emulator.drop(times=1, method="PATCH", after_body=True)

    result = push(database, config, client=client)

    assert (result.pushed, result.failed, result.error) == (30, 0, None), result.error
    assert result.retries == 4 and len(fake_time.slept) >= 4
    assert set(_by_lead(airtable_emulator)) == set(ids)
    assert len(airtable_emulator.records()) == 30


def test_airtable_out_of_reach_stops_the_run_and_leaves_the_outbox(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    leads.add_leads(_rows(15))
    airtable_emulator.fail(503, times=100)

    result = push(database, config, client=client)

    assert (result.pushed, result.failed, result.requests) == (0, 0, 5)
    assert result.error is not None and "503" in result.error
    assert _outbox(database) == [] and _links(database) == {}
    with database.read_session() as session:
        run = session.scalars(select(AirtableRun)).one()
    assert (run.status, run.error) == ("failed", result.error)
    airtable_emulator.clear_faults()
    assert push(database, config, client=client).pushed == 15


def test_a_stop_inside_a_batch_sent_record_by_record_keeps_what_went(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    ids = leads.add_leads(_rows(10))
    airtable_emulator.reject_record({"Full Name": "Person 00000"}, times=2)
    client.upsert = _stop_after(client.upsert, 5, airtable_emulator)  # type: ignore[method-assign]
    result = push(database, config, client=client)
    assert result.error is not None and "503" in result.error
    # The batch refused, then record 0 (refused again), 1 and 2 sent alone; then
    # Airtable went away. Those that went have their links; record 0 its error.
    assert (result.pushed, result.failed) == (2, 1)
    assert set(_links(database)) == set(ids[1:3])
    assert [row[:3] for row in _outbox(database)] == [(ids[0], "pending", 1)]


def _stop_after(upsert: Any, calls: int, emu: AirtableEmulator) -> Any:
    made = 0

    def counted(records: Any, key_field: str) -> dict[str, Any]:
        nonlocal made
        made += 1
        if made == calls:
            emu.fail(503, times=100)
        return upsert(records, key_field)  # type: ignore[no-any-return]

    return counted


def test_a_field_missing_from_the_table_stops_the_run(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    leads.add_leads(_rows(15))
    airtable_emulator.remove_field("City")
    result = push(database, config, client=client)
    assert result.requests == 1 and result.pushed == 0
    assert result.error is not None and "UNKNOWN_FIELD_NAME" in result.error


def test_every_record_refused_alike_stops_the_run(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    leads.add_leads(_rows(15))
    airtable_emulator.reject_record({"City": "Lyon"})  # every lead: the table's fault
    result = push(database, config, client=client)
    assert (result.requests, result.failed, result.pushed) == (1 + 10, 10, 0)
    assert result.error is not None
    assert result.error.startswith(
        "Airtable refused every record of a batch: Airtable answered 422"
    )
    assert {row[1:3] for row in _outbox(database)} == {("pending", 1)}


def test_an_unexpected_error_fails_the_run_and_is_raised(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leads.add_leads(_rows(3))

    def broken(records: Any, key_field: str) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(client, "upsert", broken)
    with pytest.raises(RuntimeError):
        push(database, config, client=client)
    with database.read_session() as session:
        run = session.scalars(select(AirtableRun)).one()
    assert (run.status, run.error) == ("failed", "RuntimeError: disk on fire")


# --- concurrency: an edit during the push, a push killed mid-way -----------------------------


def test_a_lead_edited_while_its_push_is_in_flight_stays_pending(
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = leads.add_leads(_rows(5))
    upsert = client.upsert

    def edit_then_upsert(records: Any, key_field: str) -> dict[str, Any]:
        leads.update_lead(ids[2], {"city": "Bordeaux"})  # commits while the request is out
        return upsert(records, key_field)

    monkeypatch.setattr(client, "upsert", edit_then_upsert)
    first = push(database, config, client=client)
    monkeypatch.undo()

    assert first.pushed == 5
    assert _pending(database) == {ids[2]}  # its newer version still to go
    link = _links(database)[ids[2]]
    assert link.synced_fields["City"] == "Lyon" and link.synced_version == 1
    airtable_emulator.clear_requests()
    second = push(database, config, client=client)
    assert (second.updated, second.requests) == (1, 1)
    assert airtable_emulator.requests[0].body["records"][0]["fields"] == {"City": "Bordeaux"}
    assert _pending(database) == set()


def test_a_push_killed_mid_way_then_run_again_doubles_nothing(
    sqlite_url: str,
    leads: LeadDatabase,
    database: Database,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
    tmp_path: Path,
) -> None:
    ids = leads.add_leads(_rows(200))
    # Slow answers (the write applied first), so the kill lands mid-push.
    airtable_emulator.slow(0.1, times=10_000, method="PATCH")
    env = {
        **os.environ,
        "LEADBASE_DATABASE_URL": sqlite_url,
        "LEADBASE_DATA_DIR": str(tmp_path / "data"),
        "LEADBASE_AIRTABLE_API_URL": airtable_emulator.url,
        "LEADBASE_AIRTABLE_TOKEN": airtable_emulator.token,
        "LEADBASE_AIRTABLE_BASE_ID": airtable_emulator.base_id,
        "LEADBASE_AIRTABLE_TABLE": airtable_emulator.table_name,
        "LEADBASE_AIRTABLE_RATE": "100",
    }
    command = [sys.executable, "-m", "leadbase", "airtable", "push"]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while airtable_emulator.count(method="PATCH") < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    made = len(airtable_emulator.records())
    assert 0 < made < 200
    airtable_emulator.clear_faults()

    result = push(database, config, client=client)

    assert result.error is None and result.failed == 0
    remote = _by_lead(airtable_emulator)  # asserts no lead has two records
    assert set(remote) == set(ids) and len(airtable_emulator.records()) == 200
    assert {link.record_id for link in _links(database).values()} == {
        r["id"] for r in remote.values()
    }
    assert push(database, config, client=client).requests == 0


# --- the command ----------------------------------------------------------------------------


def test_the_push_command(
    sqlite_url: str,
    leads: LeadDatabase,
    airtable_emulator: AirtableEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from leadbase.cli import app
    from leadbase.config import get_settings
    from leadbase.sync.airtable import cli as airtable_cli

    monkeypatch.setattr(airtable_cli.out, "width", 400)
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBASE_AIRTABLE_RATE", "100")
    get_settings.cache_clear()
    ids = leads.add_leads(_rows(12))
    airtable_emulator.reject_record({"Full Name": "Person 00003"})
    runner = CliRunner()

    result = runner.invoke(app, ["airtable", "push", "--limit", "11"])

    assert result.exit_code == 1, result.output
    assert (
        "pushed 10 (10 created, 0 updated, 0 deleted), 0 unchanged, 1 failed; "
        "12 requests, 0 rate-limited, 0 retries"
    ) in result.stdout
    assert "- Airtable answered 422 INVALID_VALUE_FOR_COLUMN" in result.stdout
    assert len(_by_lead(airtable_emulator)) == 10 and ids[11] not in _by_lead(airtable_emulator)
    with leads.db.read_session() as session:
        run = session.scalars(select(AirtableRun)).one()
    assert run.actor.startswith("cli:")
    airtable_emulator.clear_faults()
    again = runner.invoke(app, ["airtable", "push"])
    assert again.exit_code == 0, again.output
    assert "pushed 2 (2 created" in again.stdout

    leads.update_lead(ids[0], {"city": "Metz"})
    airtable_emulator.remove_field("City")
    stopped = runner.invoke(app, ["airtable", "push"])
    assert stopped.exit_code == 2, stopped.output
    assert "error: the push stopped: Airtable answered 422 UNKNOWN_FIELD_NAME" in stopped.output


# --- PostgreSQL ------------------------------------------------------------------------------


def test_push_edit_and_delete_on_postgresql(
    postgres_url: str,
    config: AirtableConfig,
    client: AirtableClient,
    airtable_emulator: AirtableEmulator,
) -> None:
    with LeadDatabase(postgres_url, actor="test:alice") as pg:
        ids = pg.add_leads(_rows(30))
        assert push(pg.db, config, client=client).created == 30
        pg.update_lead(ids[1], {"city": "Lille"})
        pg.delete_lead(ids[2])
        airtable_emulator.reject_record({"Full Name": "Person 00001"}, times=1)
        result = push(pg.db, config, client=client)
        assert (result.updated, result.deleted, result.failed) == (0, 1, 1)
        assert _outbox(pg.db)[0][1:3] == ("pending", 1)
        again = push(pg.db, config, client=client)
        assert (again.updated, again.requests, _pending(pg.db)) == (1, 1, set())
        remote = _by_lead(airtable_emulator)
        assert set(remote) == set(ids) - {ids[2]}
        assert remote[ids[1]]["fields"]["City"] == "Lille"
