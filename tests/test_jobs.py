"""The jobs table and its runners, in process: enqueue after commit, leases,
retries with backoff, dead jobs, SKIP LOCKED claimers, the API and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase import context
from leadbase.auth import service as auth_service
from leadbase.cli import app as cli_app
from leadbase.config import Settings, get_settings
from leadbase.db import Database
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.http.app import create_app
from leadbase.jobs import handover, registry, repository, runner, service
from leadbase.jobs.local import LocalRunner
from leadbase.leads import service as leads_service
from leadbase.models import Job, utcnow
from tests import job_handlers

PASSWORD = "correct horse battery"


def _settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "secret_key": "test-secret-key-of-some-length-0123456789",
        "job_lease_seconds": 1,
        "job_backoff_seconds": 0.05,
        "job_backoff_max_seconds": 0.2,
        "job_poll_seconds": 0.05,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url, _settings(db_url))
    yield db
    db.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    db = Database(sqlite_url, _settings(sqlite_url))
    yield db
    db.dispose()


def _enqueue(db: Database, kind: str, payload: dict[str, Any] | None = None, **kw: Any) -> str:
    with db.unit_of_work() as uow:
        return service.enqueue(uow, kind, payload or {}, **kw)


def _job(db: Database, job_id: str) -> Job:
    with db.read_session() as session:
        job = repository.get(session, job_id)
    assert job is not None
    return job


def _lead(db: Database, name: str = "Ada Lovelace") -> str:
    with context.acting_as("test:setup"), db.unit_of_work() as uow:
        return leads_service.create(uow, {"full_name": name}).lead_id


def _run_until_final(db: Database, job_id: str, timeout: float = 10.0) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        runner.run_one(db, job_id, "test-worker")
        job = _job(db, job_id)
        if job.status in ("succeeded", "dead"):
            return job
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.02)


class RecordingRunner:
    """A Runner that only records what it is handed, and whether the job's
    row was visible (committed) to another session at that moment."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.submitted: list[tuple[str, str | None]] = []

    def submit(self, job_id: str) -> None:
        with self.db.read_session() as session:
            job = repository.get(session, job_id)
        self.submitted.append((job_id, job.status if job else None))

    def start(self) -> None:
        handover.register_local(self)

    def stop(self, timeout: float = 10.0) -> None:
        handover.unregister_local(self)


@pytest.fixture
def recording(sqlite_db: Database) -> Iterator[RecordingRunner]:
    recorder = RecordingRunner(sqlite_db)
    recorder.start()
    yield recorder
    recorder.stop()


# --- enqueue ------------------------------------------------------------------------


def test_enqueue_hands_the_job_over_only_after_commit(
    sqlite_db: Database, recording: RecordingRunner
) -> None:
    with sqlite_db.unit_of_work() as uow:
        job_id = service.enqueue(uow, "noop", {"sleep_ms": 1})
        assert recording.submitted == []  # not before the commit
    assert recording.submitted == [(job_id, "queued")]
    job = _job(sqlite_db, job_id)
    assert (job.kind, job.payload, job.status) == ("noop", {"sleep_ms": 1}, "queued")
    assert (job.attempts, job.max_attempts) == (0, 5)
    assert job.created_by == "system:unknown" and job.sent_at is None


def test_enqueue_in_a_rolled_back_unit_of_work_leaves_nothing(
    sqlite_db: Database, recording: RecordingRunner
) -> None:
    lead_id = _lead(sqlite_db)  # and its scoring job
    recording.submitted.clear()
    with sqlite_db.read_session() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    with pytest.raises(RuntimeError), sqlite_db.unit_of_work() as uow:
        leads_service.update(uow, lead_id, {"title": "Countess"})  # would queue scoring
        service.enqueue(uow, "noop", {})
        raise RuntimeError("the request failed after enqueueing")
    assert recording.submitted == []
    with sqlite_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("no.such.kind", {}, "kind"),
        ("noop", ["not", "an", "object"], "payload"),
        ("noop", {"when": object()}, "payload"),
        ("noop", {"big": "x" * 70_000}, "payload"),
    ],
)
def test_bad_jobs_are_refused_and_nothing_is_written(
    sqlite_db: Database, kind: str, payload: Any, field: str
) -> None:
    with pytest.raises(ValidationError) as caught, sqlite_db.unit_of_work() as uow:
        service.enqueue(uow, kind, payload)
    assert caught.value.field == field
    with pytest.raises(ValidationError) as caught, sqlite_db.unit_of_work() as uow:
        service.enqueue(uow, "noop", {}, max_attempts=0)
    assert caught.value.field == "max_attempts"
    with sqlite_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_enqueue_with_an_id_chosen_first(sqlite_db: Database) -> None:
    from leadbase.models import new_id

    chosen = new_id()
    assert _enqueue(sqlite_db, "noop", job_id=chosen) == chosen
    assert _job(sqlite_db, chosen).status == "queued"


def test_handler_kinds_are_unique() -> None:
    with pytest.raises(ValueError, match="already has a handler"):
        registry.handler("noop")(job_handlers.boom)
    with pytest.raises(ValueError):
        registry.handler("")
    assert {"noop", "test.mark_lead"} <= set(registry.kinds())


def test_the_builtin_kinds_table_names_what_each_module_registers() -> None:
    registry.load_modules()
    registered = {kind: item.fn.__module__ for kind, item in registry._handlers.items()}
    builtin = {k: m for k, m in registered.items() if m in registry.BUILTIN_MODULES}
    assert builtin == registry.BUILTIN_KINDS


def test_queuing_a_builtin_kind_imports_no_handler_module(sqlite_db: Database) -> None:
    # The CLI import queues its scoring job at its end: the handler modules
    # (numpy, the Airtable and Apify clients...) stay out of its memory.
    script = f"""
import sys
from leadbase.db import Database
from leadbase.jobs import service
database = Database({str(sqlite_db.url)!r})
with database.unit_of_work() as uow:
    service.enqueue(uow, "score_leads", {{"lead_ids": []}})
heavy = [m for m in ("numpy", "pyairtable", "apify_client", "httpx", "dns") if m in sys.modules]
handlers = [m for m in sys.modules if m.endswith(".tasks") and m.startswith("leadbase.")]
print(heavy, handlers)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


# --- running, retries, dead ------------------------------------------------------------


def test_run_one_succeeds_once_and_records_the_result(database: Database) -> None:
    lead_id = _lead(database)
    job_id = _enqueue(database, "test.mark_lead", {"lead_id": lead_id})
    assert runner.run_one(database, job_id, "w1") is True
    job = _job(database, job_id)
    assert job.status == "succeeded" and job.result == {"changed": True}
    assert job.attempts == 1 and job.lease_owner is None and job.finished_at is not None
    assert runner.run_one(database, job_id, "w2") is False  # finished: nothing runs
    assert job_handlers.update_events(database, lead_id) == 1
    assert job_handlers.notes(database, lead_id) == job_handlers.marker(job_id)


def test_failures_retry_with_backoff_then_succeed(db_url: str) -> None:
    # A base of 0.3 s, not the module's 0.05 s: a retry due after 25 ms (the
    # jitter's low end) came due before a loaded runner could ask again.
    database = Database(
        db_url, _settings(db_url, job_backoff_seconds=0.3, job_backoff_max_seconds=0.6)
    )
    try:
        _retry_with_backoff_then_succeed(database)
    finally:
        database.dispose()


def _retry_with_backoff_then_succeed(database: Database) -> None:
    job_id = _enqueue(database, "test.flaky", {"succeed_on": 3})
    before = utcnow()
    assert runner.run_one(database, job_id, "w1")
    job = _job(database, job_id)
    assert job.status == "failed" and job.attempts == 1
    assert job.last_error == "RuntimeError: flaky failure on attempt 1"
    # base 0.3 s times a jitter in [0.5, 1.5]
    delay = (job.next_run_at - before).total_seconds()
    assert 0.14 <= delay <= 0.7
    assert runner.run_one(database, job_id, "w1") is False  # not due yet
    job = _run_until_final(database, job_id)
    assert job.status == "succeeded" and job.attempts == 3 and job.result == {"attempt": 3}
    assert job.last_error is None


def test_the_last_failure_makes_a_job_dead(database: Database) -> None:
    job_id = _enqueue(database, "test.boom", max_attempts=3)
    job = _run_until_final(database, job_id)
    assert job.status == "dead" and job.attempts == 3
    assert job.last_error == "RuntimeError: boom"
    assert runner.run_one(database, job_id, "w1") is False


def test_permanent_errors_and_bad_results_do_not_retry(sqlite_db: Database) -> None:
    job_id = _enqueue(sqlite_db, "test.permanent")
    assert runner.run_one(sqlite_db, job_id, "w1")
    job = _job(sqlite_db, job_id)
    assert job.status == "dead" and job.attempts == 1
    assert job.last_error == "PermanentJobError: this input can never work"

    job_id = _enqueue(sqlite_db, "test.bad_result", max_attempts=1)
    assert runner.run_one(sqlite_db, job_id, "w1")
    job = _job(sqlite_db, job_id)
    assert job.status == "dead"
    assert job.last_error == "TypeError: a handler returns a dict or None, not list"


def test_on_dead_runs_in_the_transaction_that_ends_the_job(sqlite_db: Database) -> None:
    lead_id = _lead(sqlite_db)
    job_id = _enqueue(sqlite_db, "test.doomed", {"lead_id": lead_id}, max_attempts=1)
    assert runner.run_one(sqlite_db, job_id, "w1")
    assert _job(sqlite_db, job_id).status == "dead"
    assert job_handlers.notes(sqlite_db, lead_id) == f"[dead {job_id}: RuntimeError: doomed]"
    # through the write path: a lead event (and an audit entry)
    assert job_handlers.update_events(sqlite_db, lead_id) == 1

    job_id = _enqueue(sqlite_db, "test.doomed_broken_hook", max_attempts=1)
    assert runner.run_one(sqlite_db, job_id, "w1")
    job = _job(sqlite_db, job_id)
    assert job.status == "dead"
    assert job.last_error == "RuntimeError: doomed; then on_dead failed: RuntimeError: hook broke"


def test_a_kind_without_handler_here_fails_with_a_clear_error(sqlite_db: Database) -> None:
    job_id = _enqueue(sqlite_db, "noop", max_attempts=1)
    with sqlite_db.unit_of_work() as uow:  # a kind only another worker would know
        job = repository.get(uow.session, job_id)
        assert job is not None
        job.kind = "elsewhere.only"
    assert runner.run_one(sqlite_db, job_id, "w1")
    job = _job(sqlite_db, job_id)
    assert job.status == "dead" and "no handler for job kind 'elsewhere.only'" in str(
        job.last_error
    )


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    settings = Settings(job_backoff_seconds=2.0, job_backoff_max_seconds=300.0)
    for attempt, base in [(1, 2.0), (2, 4.0), (3, 8.0), (9, 300.0), (500, 300.0)]:
        delays = [runner.backoff_seconds(settings, attempt) for _ in range(200)]
        assert all(base * 0.5 <= d <= base * 1.5 for d in delays)
        assert max(delays) - min(delays) > base * 0.3  # jittered, not constant


# --- leases -------------------------------------------------------------------------------


def test_an_expired_lease_makes_the_job_run_again(database: Database) -> None:
    lead_id = _lead(database)
    job_id = _enqueue(database, "test.mark_lead", {"lead_id": lead_id})
    crashed = runner.claim(database, job_id, "crashed-worker")  # claimed, never finished
    assert crashed is not None and crashed.attempts == 1
    assert runner.run_one(database, job_id, "w2") is False  # the lease still holds
    time.sleep(1.1)
    assert runner.run_one(database, job_id, "w2") is True
    job = _job(database, job_id)
    assert job.status == "succeeded" and job.attempts == 2
    # The first worker wakes up late: its outcome no longer counts.
    late = runner.execute(database, crashed, "crashed-worker")
    assert late.status == "lost"
    assert _job(database, job_id).status == "succeeded"
    assert job_handlers.update_events(database, lead_id) == 1  # the rerun did not repeat the effect


def test_a_running_job_keeps_its_lease(sqlite_db: Database) -> None:
    job_id = _enqueue(sqlite_db, "test.sleep", {"seconds": 2.2})
    thread = threading.Thread(target=runner.run_one, args=(sqlite_db, job_id, "w1"))
    thread.start()
    try:
        taken = []
        while thread.is_alive():  # lease 1 s, job 2.2 s: renewed, never taken over
            taken.append(runner.run_one(sqlite_db, job_id, "w2"))
            time.sleep(0.1)
    finally:
        thread.join()
    assert taken and not any(taken)
    job = _job(sqlite_db, job_id)
    assert job.status == "succeeded" and job.attempts == 1


def test_losing_the_last_attempt_makes_the_job_dead(sqlite_db: Database) -> None:
    job_id = _enqueue(sqlite_db, "noop", max_attempts=1)
    assert runner.claim(sqlite_db, job_id, "crashed-worker") is not None
    time.sleep(1.1)
    assert runner.run_one(sqlite_db, job_id, "w2")
    job = _job(sqlite_db, job_id)
    assert job.status == "dead" and job.attempts == 1
    assert job.last_error == "the worker of the last attempt was lost (its lease expired)"


def test_concurrent_claimers_never_run_a_job_twice(database: Database) -> None:
    """Four threads, each with its own connection, claim from 120 jobs
    (SKIP LOCKED on PostgreSQL and MariaDB, the one writer on SQLite)."""
    job_ids = []
    with database.unit_of_work() as uow:
        job_ids = [service.enqueue(uow, "noop", {}) for _ in range(120)]
    claimed: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            while jobs := runner.claim_next(database, f"w{index}", limit=3):
                for job in jobs:
                    claimed[index].append(job.id)
                    runner.execute(database, job, f"w{index}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    everything = Counter(job_id for ids in claimed for job_id in ids)
    assert set(everything) == set(job_ids) and max(everything.values()) == 1
    with database.read_session() as session:
        assert repository.counts_by_status(session) == {"succeeded": 120}
        attempts = session.scalars(select(Job.attempts).distinct()).all()
    assert attempts == [1]


# --- retry ---------------------------------------------------------------------------------


def test_retry_requeues_failed_and_dead_jobs_only(database: Database) -> None:
    dead = _enqueue(database, "test.boom", max_attempts=1)
    runner.run_one(database, dead, "w1")
    with database.unit_of_work() as uow:
        job = service.retry(uow, dead)
        assert job.status == "queued" and job.attempts == 0
    assert runner.run_one(database, dead, "w1")
    assert _job(database, dead).status == "dead"

    done = _enqueue(database, "noop")
    runner.run_one(database, done, "w1")
    running = _enqueue(database, "noop")
    runner.claim(database, running, "w1")
    for job_id in (done, running):
        with pytest.raises(ConflictError), database.unit_of_work() as uow:
            service.retry(uow, job_id)
    with pytest.raises(NotFoundError), database.unit_of_work() as uow:
        service.retry(uow, "no-such-job")
    with database.unit_of_work() as uow:
        assert service.retry_dead(uow) == [dead]
    assert _job(database, dead).status == "queued"


# --- the local runner ----------------------------------------------------------------------


def test_local_runner_runs_committed_jobs_at_once(sqlite_url: str) -> None:
    """Poll every 30 s: the jobs run because their commit woke the runner."""
    db = Database(sqlite_url, _settings(sqlite_url, job_poll_seconds=30))
    outcomes: list[runner.Outcome] = []
    local = LocalRunner(db, concurrency=2, on_outcome=outcomes.append)
    local.start()
    try:
        time.sleep(0.2)  # both threads asleep on their 30 s poll
        with db.unit_of_work() as uow:
            job_ids = [service.enqueue(uow, "noop", {}) for _ in range(10)]
        deadline = time.monotonic() + 5
        while len(outcomes) < 10:
            assert time.monotonic() < deadline, f"{len(outcomes)} of 10 ran"
            time.sleep(0.02)
    finally:
        local.stop()
        db.dispose()
    assert sorted(o.job_id for o in outcomes) == sorted(job_ids)
    assert {o.status for o in outcomes} == {"succeeded"}


def test_local_runner_stop_gives_back_what_it_could_not_finish(sqlite_db: Database) -> None:
    job_id = _enqueue(sqlite_db, "test.sleep", {"seconds": 1.5})
    local = LocalRunner(sqlite_db, concurrency=1)
    local.start()
    deadline = time.monotonic() + 5
    while _job(sqlite_db, job_id).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    local.stop(timeout=0.1)
    job = _job(sqlite_db, job_id)
    assert job.status == "queued" and job.lease_owner is None
    assert job.last_error == "released: the worker stopped before the job finished"
    time.sleep(1.6)  # the abandoned handler ends: its outcome is not recorded
    assert _job(sqlite_db, job_id).status == "queued"


def test_jobs_run_in_the_server_process(sqlite_url: str) -> None:
    settings = _settings(sqlite_url, job_poll_seconds=30)
    db = Database(sqlite_url, settings)
    try:
        with TestClient(create_app(settings, db)):
            job_id = _enqueue(db, "noop")
            deadline = time.monotonic() + 5
            while _job(db, job_id).status != "succeeded":
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert not [t for t in threading.enumerate() if t.name.startswith("leadbase-job-")]
        off = _settings(sqlite_url, jobs_in_server=False)
        with TestClient(create_app(off, db)):
            job_id = _enqueue(db, "noop")
            time.sleep(0.3)
            assert _job(db, job_id).status == "queued"
    finally:
        db.dispose()


# --- HTTP -------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, Database, dict[str, str]]]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    settings = _settings(url)
    db = Database(url, settings)
    with db.unit_of_work() as uow:
        auth_service.create_user(uow.session, "vi@example.com", PASSWORD, "viewer")
    client = TestClient(create_app(settings, db))
    login = {"email": "vi@example.com", "password": PASSWORD}
    token = client.post("/api/v1/auth/login", json=login)
    headers = {"Authorization": f"Bearer {token.json()['data']['access_token']}"}
    yield client, db, headers
    db.dispose()


def test_get_job_over_http(api: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, viewer = api
    job_id = _enqueue(db, "test.flaky", {"succeed_on": 2})
    runner.run_one(db, job_id, "w1")
    response = client.get(f"/api/v1/jobs/{job_id}", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["id"] == job_id and data["kind"] == "test.flaky"
    assert data["status"] == "failed" and data["attempts"] == 1 and data["max_attempts"] == 5
    assert data["last_error"] == "RuntimeError: flaky failure on attempt 1"
    assert data["payload"] == {"succeed_on": 2} and data["result"] is None

    missing = client.get("/api/v1/jobs/01a23201-0000-7000-8000-000000000000", headers=viewer)
    assert missing.status_code == 404
    assert missing.json()["success"] is False and missing.json()["error"] == "not_found"
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401


# --- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEADBASE_JOB_HANDLER_MODULES", '["tests.job_handlers"]')
    monkeypatch.setenv("LEADBASE_JOB_BACKOFF_SECONDS", "0.01")
    get_settings.cache_clear()
    db = Database(sqlite_url, get_settings())
    yield db
    db.dispose()


def test_cli_worker_once_list_and_retry(cli_db: Database, tmp_path: Path) -> None:
    cli = CliRunner()
    ok = _enqueue(cli_db, "noop")
    dead = _enqueue(cli_db, "test.boom", max_attempts=1)
    result = cli.invoke(cli_app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert f"succeeded {ok} noop attempt 1" in result.output
    assert f"dead      {dead} test.boom attempt 1" in result.output
    assert "RuntimeError: boom" in result.output

    listed = cli.invoke(cli_app, ["jobs", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert ok in listed.output and dead in listed.output
    only_dead = cli.invoke(cli_app, ["jobs", "list", "--status", "dead"], terminal_width=200)
    assert dead in only_dead.output and ok not in only_dead.output
    by_kind = cli.invoke(cli_app, ["jobs", "list", "--kind", "nothing"], terminal_width=200)
    assert "no jobs" in by_kind.output
    bad = cli.invoke(cli_app, ["jobs", "list", "--status", "sleeping"])
    assert bad.exit_code == 2

    retried = cli.invoke(cli_app, ["jobs", "retry", dead])
    assert retried.exit_code == 0 and f"queued {dead}" in retried.output
    assert _job(cli_db, dead).status == "queued"
    again = cli.invoke(cli_app, ["jobs", "retry", ok])
    assert again.exit_code != 0 and isinstance(again.exception, ConflictError)
    assert cli.invoke(cli_app, ["jobs", "retry"]).exit_code == 2
    assert cli.invoke(cli_app, ["jobs", "retry", ok, "--dead"]).exit_code == 2

    cli.invoke(cli_app, ["worker", "--once"])
    assert _job(cli_db, dead).status == "dead"
    all_dead = cli.invoke(cli_app, ["jobs", "retry", "--dead"])
    assert all_dead.exit_code == 0 and f"queued {dead}" in all_dead.output
    none_left = cli.invoke(cli_app, ["jobs", "retry", "--dead"])
    assert "no dead jobs" in none_left.output


def test_repository_sweeps_only_what_the_broker_lacks(sqlite_db: Database) -> None:
    """Celery mode's bookkeeping: a job is re-sent when it was never sent,
    when it came due after its last sending, or when that message is stale."""
    now = utcnow()
    with sqlite_db.unit_of_work() as uow:
        s = uow.session
        fresh = repository.insert(
            s, "a", "noop", {}, max_attempts=5, now=now, actor="t", sent_at=now
        ).id
        never = repository.insert(
            s, "b", "noop", {}, max_attempts=5, now=now, actor="t", sent_at=None
        ).id
        stale = repository.insert(
            s, "c", "noop", {}, max_attempts=5, now=now, actor="t", sent_at=now
        )
        stale.sent_at = now - timedelta(seconds=120)
        retry_due = repository.insert(
            s, "d", "noop", {}, max_attempts=5, now=now, actor="t", sent_at=now
        )
        retry_due.status, retry_due.next_run_at = "failed", now + timedelta(seconds=1)
        s.flush()
        later = now + timedelta(seconds=2)
        due = repository.unsent_due(s, later, grace_seconds=60, limit=10)
        assert fresh not in due and set(due) == {never, "c", "d"}
        repository.mark_sent(s, due, later)
        assert repository.unsent_due(s, later, grace_seconds=60, limit=10) == []
