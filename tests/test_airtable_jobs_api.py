"""POST /api/v1/sync/airtable/sync|push|pull (a job each, run by the server's
job threads against the emulator), /conflicts/{id}/resolve, and the
``airtable_sync`` job's schedule."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadbase import context
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.errors import ValidationError
from leadbase.jobs.registry import JobRun, PermanentJobError, load_modules
from leadbase.jobs.registry import get as get_handler
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import AirtableLink, AuditLog, Job, utcnow
from leadbase.sync.airtable import service, tasks
from leadbase.sync.airtable.client import AirtableError
from leadbase.sync.airtable.mapping import ID_FIELD
from tests.api_clients import api_settings, signed_in
from tests.emulators.airtable import AirtableEmulator

EDITOR, VIEWER = "editor@example.com", "viewer@example.com"
Api = tuple[TestClient, dict[str, dict[str, str]], Database]
BASE = "/api/v1/sync/airtable"


@pytest.fixture
def fast_airtable(airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """No pacing in the tests (the emulator has no rate limit here)."""
    monkeypatch.setenv("LEADBASE_AIRTABLE_RATE", "1000")
    get_settings.cache_clear()


@pytest.fixture
def api(sqlite_url: str, fast_airtable: None) -> Iterator[Api]:
    database = Database(
        sqlite_url,
        api_settings(sqlite_url, mutation_rate_limit="1000/second", job_poll_seconds=0.05),
    )
    client, headers = signed_in(database, {EDITOR: "editor", VIEWER: "viewer"})
    with client:
        yield client, headers, database
    database.dispose()


def finished(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()["data"]
        if job["status"] in ("succeeded", "dead"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def queue(client: TestClient, headers: dict[str, str], path: str) -> dict[str, Any]:
    answer = client.post(f"{BASE}{path}", headers=headers)
    assert answer.status_code == 202, answer.text
    job = finished(client, headers, answer.json()["data"]["job_id"])
    assert job["status"] == "succeeded", job
    return job


def add_leads(database: Database, n: int, start: int = 0) -> list[str]:
    rows = [
        {"full_name": f"Person {i}", "email": f"p{i}@example.com", "title": "Buyer", "city": "Lyon"}
        for i in range(start, start + n)
    ]
    with context.acting_as("test:seed"), database.unit_of_work() as uow:
        return [made.lead_id for made in leads_service.bulk_create(uow, rows)]


def records_by_lead(emu: AirtableEmulator) -> dict[str, dict[str, Any]]:
    return {r["fields"][ID_FIELD]: r for r in emu.records().values() if ID_FIELD in r["fields"]}


def lead_field(database: Database, lead_id: str, name: str) -> Any:
    with database.read_session() as session:
        lead = leads_repository.get(session, lead_id)
        assert lead is not None
        return getattr(lead, name)


def test_sync_as_a_job_then_status_shows_both_runs(
    api: Api, airtable_emulator: AirtableEmulator
) -> None:
    client, headers, database = api
    ids = add_leads(database, 3)

    refused = client.post(f"{BASE}/sync", headers=headers[VIEWER])
    assert refused.status_code == 403
    answer = client.post(f"{BASE}/sync", headers=headers[EDITOR])
    assert answer.status_code == 202, answer.text
    queued = answer.json()["data"]
    assert queued["kind"] == "sync" and queued["job_id"]
    job = finished(client, headers[VIEWER], queued["job_id"])
    assert job["status"] == "succeeded", job

    remote = records_by_lead(airtable_emulator)
    assert set(remote) == set(ids)
    assert remote[ids[0]]["fields"]["Full Name"] == "Person 0"
    status = client.get(f"{BASE}/status", headers=headers[VIEWER]).json()["data"]
    assert (status["pending"], status["failed"], status["linked"]) == (0, 0, 3)
    assert status["last_push"]["kind"] == "push"
    assert status["last_push"]["counts"]["pushed"] == 3
    assert status["last_push"]["actor"] == f"user:{EDITOR}"  # who pressed it
    assert status["last_pull"]["kind"] == "full-pull"  # the first sync reads everything
    assert status["last_pull"]["status"] == "succeeded"
    assert status["last_pull"]["counts"]["pulled"] == 0  # Airtable was empty: the pull goes first
    assert [run["kind"] for run in status["runs"]] == ["push", "full-pull"]

    # A record made in Airtable comes with a pull; POST /pull?full=true reads all.
    airtable_emulator.user_create({"Full Name": "Remote Person", "Email": "remote@example.com"})
    queue(client, headers[EDITOR], "/pull")
    queue(client, headers[EDITOR], "/pull?full=true")
    runs = client.get(f"{BASE}/runs", headers=headers[VIEWER]).json()["data"]
    assert [run["kind"] for run in runs][:2] == ["full-pull", "pull"]
    assert runs[1]["counts"]["created"] == 1 and runs[0]["counts"]["created"] == 0
    assert runs[0]["counts"]["pulled"] == 4
    # The new lead goes back with its Leadbase ID on the next push.
    queue(client, headers[EDITOR], "/push")
    assert len(records_by_lead(airtable_emulator)) == 4
    assert len(airtable_emulator.records()) == 4


def test_without_settings_nothing_is_queued(sqlite_url: str) -> None:
    database = Database(sqlite_url, api_settings(sqlite_url))
    client, headers = signed_in(database, {EDITOR: "editor"})
    with client:
        for path in ("/sync", "/push", "/pull", "/pull?full=true"):
            answer = client.post(f"{BASE}{path}", headers=headers[EDITOR])
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "airtable_not_configured"
            assert "LEADBASE_AIRTABLE_TOKEN" in answer.json()["message"]
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
    database.dispose()


def conflicting(
    api: Api, emu: AirtableEmulator, n: int
) -> tuple[list[str], dict[str, str], list[dict[str, Any]]]:
    """``n`` leads synced, then each one's title and city edited here and
    (later) in Airtable; a pull finds the conflicts (Airtable's side applied)."""
    client, headers, database = api
    ids = add_leads(database, n)
    queue(client, headers[EDITOR], "/sync")
    records = {lead: record["id"] for lead, record in records_by_lead(emu).items()}
    later = datetime.now(UTC) + timedelta(minutes=5)
    for i, lead_id in enumerate(ids):
        answer = client.patch(
            f"/api/v1/leads/{lead_id}",
            json={"title": f"Local Title {i}", "city": "Porto"},
            headers=headers[EDITOR],
        )
        assert answer.status_code == 200, answer.text
        emu.user_update(records[lead_id], {"Title": f"Remote Title {i}", "City": "Faro"}, at=later)
    job = queue(client, headers[EDITOR], "/pull")
    assert job["result"]["counts"]["pull"]["conflicts"] == n, job
    found = client.get(f"{BASE}/conflicts", headers=headers[VIEWER]).json()["data"]
    assert len(found) == n
    return ids, records, sorted(found, key=lambda c: ids.index(c["lead_id"]))


def test_resolving_a_real_conflict(api: Api, airtable_emulator: AirtableEmulator) -> None:
    client, headers, database = api
    ids, records, found = conflicting(api, airtable_emulator, 2)
    first, second = found
    assert first["applied"] == "remote"
    assert first["fields"]["Title"] == {
        "local": "Local Title 0",
        "remote": "Remote Title 0",
        "base": "Buyer",
    }
    assert lead_field(database, ids[0], "title") == "Remote Title 0"

    url = f"{BASE}/conflicts/{first['id']}/resolve"
    for bad in (
        {},
        {"keep": "local", "fields": {"Title": "local"}},
        {"keep": "mine"},
        {"fields": {"Title": "both"}},
        {"fields": {"Phone": "local"}},  # not a field of this conflict
        {"keep": "local", "extra": 1},
    ):
        answer = client.post(url, json=bad, headers=headers[EDITOR])
        assert answer.status_code == 422, (bad, answer.text)
    assert client.post(url, json={"keep": "local"}, headers=headers[VIEWER]).status_code == 403
    missing = client.post(
        f"{BASE}/conflicts/nosuchconflict/resolve", json={"keep": "local"}, headers=headers[EDITOR]
    )
    assert missing.status_code == 404, missing.text

    resolved = client.post(url, json={"keep": "local"}, headers=headers[EDITOR])
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()["data"]
    assert (body["status"], body["resolution"], body["resolved_by"]) == (
        "resolved",
        "keep-local",
        f"user:{EDITOR}",
    )
    assert lead_field(database, ids[0], "title") == "Local Title 0"
    assert lead_field(database, ids[0], "city") == "Porto"
    with database.read_session() as session:
        last = session.scalars(
            select(AuditLog)
            .where(AuditLog.entity_id == ids[0], AuditLog.action == "update")
            .order_by(AuditLog.seq.desc())
        ).first()
    assert last is not None and last.actor == f"user:{EDITOR}" and last.ip
    assert json.loads(last.changes)["title"] == ["Remote Title 0", "Local Title 0"]

    again = client.post(url, json={"keep": "remote"}, headers=headers[EDITOR])
    assert again.status_code == 409, again.text

    per_field = client.post(
        f"{BASE}/conflicts/{second['id']}/resolve",
        json={"fields": {"Title": "local", "city": "remote"}},  # Airtable or lead names
        headers=headers[EDITOR],
    )
    assert per_field.status_code == 200, per_field.text
    assert per_field.json()["data"]["resolution"] == "per-field"
    assert lead_field(database, ids[1], "title") == "Local Title 1"
    assert lead_field(database, ids[1], "city") == "Faro"
    assert client.get(f"{BASE}/conflicts", headers=headers[VIEWER]).json()["data"] == []

    # The next push sends what was kept here; Airtable's kept city stays.
    queue(client, headers[EDITOR], "/push")
    remote = airtable_emulator.records()
    assert remote[records[ids[0]]]["fields"]["Title"] == "Local Title 0"
    assert remote[records[ids[0]]]["fields"]["City"] == "Porto"
    assert remote[records[ids[1]]]["fields"]["Title"] == "Local Title 1"
    assert remote[records[ids[1]]]["fields"]["City"] == "Faro"
    status = client.get(f"{BASE}/status", headers=headers[VIEWER]).json()["data"]
    assert (status["pending"], status["open_conflicts"]) == (0, 0)


# --- the airtable_sync job -------------------------------------------------------------


def _run(database: Database, payload: dict[str, Any], job_id: str = "job-sync-1") -> JobRun:
    return JobRun(
        id=job_id, kind=service.SYNC_JOB, payload=payload, attempt=1, database=database,
        max_attempts=3,
    )  # fmt: skip


def _jobs(database: Database) -> list[Job]:
    """The sync jobs (the leads a sync writes queue scoring jobs too)."""
    with database.read_session() as session:
        return list(session.scalars(select(Job).where(Job.kind == service.SYNC_JOB)))


@pytest.fixture
def url(sqlite_url: str, fast_airtable: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    return sqlite_url


def test_the_job_runs_a_sync_and_a_scheduled_one_queues_the_next(
    url: str, airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    load_modules()
    found = get_handler(service.SYNC_JOB)
    assert found is not None and found.fn is tasks.run_sync

    database = Database(url)
    try:
        add_leads(database, 2)
        # Not scheduled, or scheduled without LEADBASE_AIRTABLE_SYNC_SECONDS: no next job.
        done = tasks.run_sync(_run(database, {"kind": "sync", "actor": "user:a@example.com"}))
        assert done is not None and done["counts"]["push"]["pushed"] == 2
        assert "push_error" not in done
        add_leads(database, 2, start=2)
        airtable_emulator.reject_record({"Title": "Buyer"})  # every record: the table's fault
        stopped = tasks.run_sync(_run(database, {"kind": "sync"}))
        assert stopped is not None and "refused every record" in stopped["push_error"]
        assert stopped["counts"]["pull"]["pulled"] == 2  # the pull ran all the same
        airtable_emulator.clear_faults()
        tasks.run_sync(_run(database, {"kind": "push", "scheduled": True}))
        assert _jobs(database) == []
    finally:
        database.dispose()

    monkeypatch.setenv("LEADBASE_AIRTABLE_SYNC_SECONDS", "600")
    get_settings.cache_clear()
    database = Database(url)
    try:
        tasks.run_sync(_run(database, {"kind": "sync", "scheduled": True}))
        [queued] = _jobs(database)
        assert queued.kind == service.SYNC_JOB
        assert queued.payload["scheduled"] is True and queued.payload["kind"] == "sync"
        assert queued.next_run_at > utcnow() + timedelta(seconds=590)
        # The same job run again (after a crash) does not start a second chain,
        # and the queued one, run, queues the one after it.
        tasks.run_sync(_run(database, {"kind": "sync", "scheduled": True}))
        assert len(_jobs(database)) == 1
        with database.read_session() as session:
            assert session.scalar(select(func.count()).select_from(AirtableLink)) == 4
    finally:
        database.dispose()


def test_schedule_queues_one(url: str, airtable_emulator: AirtableEmulator) -> None:
    database = Database(url)
    try:
        with database.unit_of_work() as uow:
            first = service.schedule(uow)
        with database.unit_of_work() as uow:
            second = service.schedule(uow)
        assert first is not None and second is None
        with pytest.raises(ValidationError), database.unit_of_work() as uow:
            service.queue_run(uow, "everything")
        [job] = _jobs(database)
        assert job.id == first and job.payload["scheduled"] is True
    finally:
        database.dispose()


def test_the_job_refuses_what_it_cannot_run_and_a_schedule_outlives_a_give_up(
    url: str, airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBASE_AIRTABLE_SYNC_SECONDS", "60")
    monkeypatch.setenv("LEADBASE_AIRTABLE_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    database = Database(url)
    try:
        with pytest.raises(PermanentJobError, match="unknown Airtable run kind"):
            tasks.run_sync(_run(database, {"kind": "everything"}))
        airtable_emulator.fail(503, times=1)
        with pytest.raises(AirtableError):  # the job runs again: no next one yet
            tasks.run_sync(_run(database, {"kind": "pull", "scheduled": True}))
        assert _jobs(database) == []
        airtable_emulator.fail(503, times=1)
        last = JobRun(
            id="job-last", kind=service.SYNC_JOB, payload={"kind": "pull", "scheduled": True},
            attempt=3, database=database, max_attempts=3,
        )  # fmt: skip
        with pytest.raises(AirtableError):  # given up: the schedule goes on
            tasks.run_sync(last)
        [queued] = _jobs(database)
        assert queued.payload["scheduled"] is True and queued.payload["actor"] == "system:airtable"
    finally:
        database.dispose()

    for name in ("LEADBASE_AIRTABLE_TOKEN", "LEADBASE_AIRTABLE_BASE_ID"):
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    database = Database(url)
    try:
        with pytest.raises(PermanentJobError, match="LEADBASE_AIRTABLE_TOKEN"):
            tasks.run_sync(_run(database, {"kind": "sync", "scheduled": True}))
        assert len(_jobs(database)) == 1  # nothing more: there is nothing to run
    finally:
        database.dispose()


def test_a_server_configured_by_its_settings_queues_and_runs(
    sqlite_url: str, airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings given to the app (not in the environment) are the ones the
    API checks and the server's job threads run with."""
    for name in ("API_URL", "TOKEN", "BASE_ID", "TABLE"):
        monkeypatch.delenv(f"LEADBASE_AIRTABLE_{name}")
    get_settings.cache_clear()
    settings = api_settings(
        sqlite_url,
        job_poll_seconds=0.05,
        airtable_api_url=airtable_emulator.url,
        airtable_token=airtable_emulator.token,
        airtable_base_id=airtable_emulator.base_id,
        airtable_table=airtable_emulator.table_name,
        airtable_rate=1000.0,
    )
    database = Database(sqlite_url, settings)
    client, headers = signed_in(database, {EDITOR: "editor"})
    add_leads(database, 2)
    with client:
        queue(client, headers[EDITOR], "/sync")
        status = client.get(f"{BASE}/status", headers=headers[EDITOR]).json()["data"]
    database.dispose()
    assert status["configured"] is True and status["linked"] == 2
    assert len(airtable_emulator.records()) == 2


def test_two_syncs_at_once_send_each_lead_once(
    api: Api, airtable_emulator: AirtableEmulator
) -> None:
    client, headers, database = api
    add_leads(database, 60)
    jobs = [client.post(f"{BASE}/sync", headers=headers[EDITOR]) for _ in range(2)]
    for answer in jobs:
        assert answer.status_code == 202, answer.text
        job = finished(client, headers[EDITOR], answer.json()["data"]["job_id"])
        assert job["status"] == "succeeded", job
    assert len(airtable_emulator.records()) == 60
    runs = client.get(f"{BASE}/runs", headers=headers[VIEWER]).json()["data"]
    pushes = [run["counts"] for run in runs if run["kind"] == "push"]
    assert sum(counts["requests"] for counts in pushes) == 6  # one run after the other
    assert sum(counts["created"] for counts in pushes) == 60
