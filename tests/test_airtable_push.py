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
from leadbase.models import AirtableLink, AirtableRun, SyncStatus
from leadbase.sync.airtable import push as push_module
from leadbase.sync.airtable.client import AirtableClient, Pacer, RetryPolicy
from leadbase.sync.airtable.mapping import ID_FIELD, default_mapping
from leadbase.sync.airtable.push import PushResult, push
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
        policy=RetryPolicy(max_attempts=4, sleep=fake_time.sleep),
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
        **{k: v for k, v in remote[ids[7]]["fields"].items() if k in ("First Name", "Last Name")},
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
