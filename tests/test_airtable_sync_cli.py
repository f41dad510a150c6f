"""`leadbase airtable sync [--schedule]` and `leadbase airtable status
[--json]` against the emulator (LEADBASE_AIRTABLE_* set by its fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadbase import context
from leadbase.cli import app
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.leads import service as leads_service
from leadbase.models import Job
from leadbase.sync.airtable import cli as airtable_cli
from leadbase.sync.airtable import service
from tests.emulators.airtable import AirtableEmulator

runner = CliRunner()


@pytest.fixture
def url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBASE_AIRTABLE_RATE", "1000")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(airtable_cli.out, "width", 250)
    get_settings.cache_clear()
    return sqlite_url


def airtable(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["airtable", *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


def add_leads(url: str, rows: list[dict[str, str]]) -> list[str]:
    database = Database(url)
    try:
        with context.acting_as("test:seed"), database.unit_of_work() as uow:
            return [made.lead_id for made in leads_service.bulk_create(uow, rows)]
    finally:
        database.dispose()


def people(n: int, start: int = 0) -> list[dict[str, str]]:
    return [
        {"full_name": f"Person {i}", "email": f"p{i}@example.com", "title": "Buyer"}
        for i in range(start, start + n)
    ]


def test_sync_pulls_then_pushes_and_status_tells(
    url: str, airtable_emulator: AirtableEmulator
) -> None:
    add_leads(url, people(3))
    airtable_emulator.user_create({"Full Name": "Remote Person", "Email": "remote@example.com"})

    done = airtable("sync")
    lines = done.splitlines()
    assert lines[0].startswith("full-pull "), done  # the first sync reads every record
    assert "1 records read, 1 new leads" in lines[0] and "0 conflicts, 0 failed" in lines[0]
    # Ours made, and the remote one given its Leadbase ID.
    assert lines[1].startswith("pushed 4 (3 created, 1 updated, 0 deleted)"), done
    assert "0 failed" in lines[1]
    assert len(airtable_emulator.records()) == 4

    again = airtable("sync")
    assert again.splitlines()[0].startswith("pull "), again  # a full pull is not due
    assert "0 new leads, 0 leads updated" in again.splitlines()[0], again  # no echo
    assert again.splitlines()[1].startswith("pushed 0 (0 created, 0 updated"), again

    shown = airtable("status")
    assert f"base {airtable_emulator.base_id}, table {airtable_emulator.table_name}" in shown
    assert "pending 0, failed 0, linked 4, open conflicts 0" in shown
    assert " pull succeeded: pulled " in shown and " push succeeded: pushed 4" in shown

    data = json.loads(airtable("status", "--json"))
    assert (data["configured"], data["pending"], data["linked"]) == (True, 0, 4)
    assert [run["kind"] for run in data["runs"]] == ["push", "pull", "push", "full-pull"]
    assert data["last_push"]["counts"]["pushed"] == 0
    assert data["last_pull"]["kind"] == "pull"


def test_a_record_that_fails_exits_1(
    url: str, airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_leads(url, people(3))
    airtable_emulator.reject_record({"Email": "p1@example.com"})
    done = airtable("sync", code=1)
    assert "2 created" in done and "1 failed" in done, done
    assert "p1@example.com" in done or "INVALID_VALUE_FOR_COLUMN" in done
    shown = airtable("status")
    assert "pending 1, failed 0, linked 2" in shown, shown
    assert "retrying: " in shown and "(Person 1) after 1 tries: " in shown  # not given up yet
    assert "INVALID_VALUE_FOR_COLUMN" in shown and "gave up" not in shown
    monkeypatch.setenv("LEADBASE_AIRTABLE_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    assert "1 failed" in airtable("sync", code=1)
    shown = airtable("status")
    assert "pending 0, failed 1, linked 2" in shown and "gave up: " in shown, shown


def test_unset_says_so_in_one_line(url: str) -> None:
    result = runner.invoke(app, ["airtable", "sync"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "LEADBASE_AIRTABLE_TOKEN" in line
    shown = airtable("status")
    assert "not configured: set LEADBASE_AIRTABLE_TOKEN" in shown
    assert json.loads(airtable("status", "--json"))["configured"] is False


def test_schedule_queues_once(
    url: str, airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = runner.invoke(app, ["airtable", "sync", "--schedule", "--watch"])
    assert both.exit_code == 2 and "choose one" in both.stderr
    unset = runner.invoke(app, ["airtable", "sync", "--schedule"])
    assert unset.exit_code == 0, unset.output
    first = unset.stdout
    assert first.startswith("queued: job "), first
    assert "LEADBASE_AIRTABLE_SYNC_SECONDS is not set" in unset.stderr  # it will not repeat
    monkeypatch.setenv("LEADBASE_AIRTABLE_SYNC_SECONDS", "300")
    get_settings.cache_clear()
    again = runner.invoke(app, ["airtable", "sync", "--schedule"])
    assert "queued already" in again.stdout and again.stderr == ""
    database = Database(url)
    try:
        with database.read_session() as session:
            [job] = session.scalars(select(Job)).all()
    finally:
        database.dispose()
    assert job.kind == service.SYNC_JOB and job.payload["scheduled"] is True
    assert job.id in first
    assert airtable_emulator.count() == 0  # nothing ran here


def test_airtable_down_stops_the_sync_before_its_push_and_a_watch_goes_on(
    url: str, airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_leads(url, people(2))
    monkeypatch.setenv("LEADBASE_AIRTABLE_MAX_ATTEMPTS", "1")  # no backoff waits here
    get_settings.cache_clear()
    airtable_emulator.fail(503, times=1)
    down = runner.invoke(app, ["airtable", "sync"])
    assert down.exit_code == 2, down.output
    assert "error: the pull stopped: " in down.stderr and "503" in down.stderr
    # No push without the pull: it could overwrite an Airtable change unseen.
    assert "nothing was pushed" in down.stderr and "pushed" not in down.stdout
    assert airtable_emulator.count(method="POST") == 0
    assert airtable("status").count(" failed: ") == 1  # the pull's run, with its error

    # --watch: the first round meets the outage, the second syncs, Ctrl-C ends it.
    airtable_emulator.fail(503, times=1)
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(airtable_cli, "time", SimpleNamespace(sleep=nap))
    watched = runner.invoke(app, ["airtable", "sync", "--watch", "--every", "5"])
    assert watched.exit_code == 0, watched.output
    assert naps == [5.0, 5.0]
    assert watched.stderr.count("the pull stopped") == 1
    assert "next sync in 5 s (Ctrl-C stops)" in watched.stderr
    assert "pushed 2 (2 created" in watched.stdout
    assert len(airtable_emulator.records()) == 2
