"""`leadbase apify import|watch|states` and the apify_import / apify_watch jobs,
against the emulator (LEADBASE_APIFY_API_URL and _TOKEN set by its fixture)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase.cli import app
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.imports.apify import cli as apify_cli
from leadbase.imports.apify import service, tasks
from leadbase.jobs.registry import JobRun, load_modules
from leadbase.jobs.registry import get as get_handler
from leadbase.models import ApifySyncState, Job, SalesLead, utcnow
from tests.emulators.apify import ApifyEmulator
from tests.test_apify_sync import ACTOR, person, place

runner = CliRunner()


@pytest.fixture
def url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    return sqlite_url


def apify(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["apify", *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


def leads_count(url: str) -> int:
    database = Database(url)
    try:
        with database.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(SalesLead)) or 0)
    finally:
        database.dispose()


def test_import_a_run_then_again(
    url: str, apify_emulator: ApifyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apify_cli.out, "width", 250)
    run = apify_emulator.add_run(
        apify_emulator.add_actor(ACTOR), items=[place(i) for i in range(40)] + [{}]
    )
    first = apify("import", "--run", run.id)
    assert f"run {run.id} of {ACTOR}: 41 items: 40 created, 0 duplicates" in first
    assert "1 failed; sync completed" in first
    again = apify("import", "--run", run.id)
    assert "was imported in full already (40 items synced): nothing changed" in again
    # Its dataset asked for by id is the same run: one sync state.
    assert f"run {run.id} of {ACTOR} was imported in full" in apify(
        "import", "--dataset", run.dataset.id
    )
    assert leads_count(url) == 40
    states = apify("states")
    assert ACTOR in states and "completed" in states


def test_import_a_dataset_and_start_an_actor(url: str, apify_emulator: ApifyEmulator) -> None:
    dataset = apify_emulator.add_dataset([person(i) for i in range(5)], name="people")
    named = apify("import", "--dataset", "people")
    assert f"dataset people ({dataset.id}): 5 items: 5 created" in named
    assert "nothing changed" in apify("import", "--dataset", dataset.id)  # by id or name
    apify_emulator.add_actor(
        "code_crafter/leads-finder",
        items=lambda given: [person(i) for i in range(10, 10 + (given or {}).get("n", 1))],
    )
    out = apify("import", "--actor", "code_crafter/leads-finder", "--input", '{"n": 3}', "--wait")
    assert "of code_crafter/leads-finder: 3 items: 3 created" in out
    started = apify("import", "--actor", "code_crafter~leads-finder")
    assert "started run" in started and "imports it once it has finished" in started
    assert leads_count(url) == 8  # the run started without --wait is not imported yet


def test_watch_once(url: str, apify_emulator: ApifyEmulator) -> None:
    actor = apify_emulator.add_actor(ACTOR)
    apify_emulator.add_run(actor, items=[place(i) for i in range(3)])
    assert "3 items: 3 created" in apify("watch", "--actor", ACTOR)
    assert f"{ACTOR}: no new runs" in apify("watch", "--actor", ACTOR)


def test_errors_say_why(url: str, apify_emulator: ApifyEmulator) -> None:
    assert "give one of --run" in runner.invoke(app, ["apify", "import"]).output
    bad = runner.invoke(app, ["apify", "import", "--actor", ACTOR, "--input", "[1]"])
    assert bad.exit_code == 2 and "a JSON object" in bad.output
    missing = runner.invoke(app, ["apify", "import", "--run", "nosuchrun00000000"])
    assert "not found" in str(missing.exception)
    apify_emulator.tokens = {"another-token"}
    refused = runner.invoke(app, ["apify", "import", "--run", "nosuchrun00000000"])
    assert isinstance(refused.exception, service.ApifySyncError)
    assert "refused the token" in str(refused.exception)


# --- jobs --------------------------------------------------------------------------


def _job(database: Database, kind: str, payload: dict[str, str], attempt: int = 1) -> JobRun:
    return JobRun(
        id="job-" + kind, kind=kind, payload=payload, attempt=attempt, database=database,
        max_attempts=3,
    )  # fmt: skip


def test_the_import_job(url: str, apify_emulator: ApifyEmulator) -> None:
    run = apify_emulator.add_run(apify_emulator.add_actor(ACTOR), items=[place(1), place(2)])
    load_modules()
    found = get_handler(service.IMPORT_JOB)
    assert found is not None and found.fn is tasks.import_apify_run
    database = Database(url)
    try:
        done = tasks.import_apify_run(_job(database, service.IMPORT_JOB, {"run_id": run.id}))
        assert done is not None and done["synced"] == 2 and done["sync_status"] == "completed"
    finally:
        database.dispose()


def test_the_watch_job_schedules_the_next(
    url: str, apify_emulator: ApifyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = apify_emulator.add_actor(ACTOR)
    apify_emulator.add_run(actor, items=[place(1)])
    database = Database(url)
    try:
        # Without LEADBASE_APIFY_WATCH_SECONDS the watch does not repeat.
        done = tasks.watch_actor(_job(database, service.WATCH_JOB, {"actor": ACTOR}))
        assert done is not None and [r["synced"] for r in done["runs"]] == [1]
        watches = select(func.count()).select_from(Job).where(Job.kind == service.WATCH_JOB)
        with database.read_session() as session:
            assert session.scalar(watches) == 0
            # The sync's leads: one scoring job for the run, not one per page.
            [scoring] = session.scalars(select(Job).where(Job.kind != service.WATCH_JOB)).all()
            assert scoring.kind == "score_leads" and set(scoring.payload) == {"import_run_id"}

        monkeypatch.setenv("LEADBASE_APIFY_WATCH_SECONDS", "600")
        get_settings.cache_clear()
        tasks.watch_actor(_job(database, service.WATCH_JOB, {"actor": ACTOR}))
        with database.read_session() as session:
            jobs = session.scalars(select(Job).where(Job.kind == service.WATCH_JOB)).all()
        assert len(jobs) == 1 and jobs[0].payload == {"actor": ACTOR}
        assert jobs[0].kind == service.WATCH_JOB
        assert jobs[0].next_run_at > utcnow() + timedelta(seconds=590)
        # The job run again (after a crash) does not start a second chain.
        tasks.watch_actor(_job(database, service.WATCH_JOB, {"actor": ACTOR}))
        with database.read_session() as session:
            assert session.scalar(watches) == 1
            assert session.scalar(select(func.count()).select_from(ApifySyncState)) == 1
    finally:
        database.dispose()


def test_schedule_from_the_cli(url: str, apify_emulator: ApifyEmulator) -> None:
    assert "queued watch job" in apify("watch", "--actor", ACTOR, "--schedule")
    assert "already queued" in apify("watch", "--actor", ACTOR, "--schedule")
