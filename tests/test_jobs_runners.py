"""Real `leadbase worker` processes: kill -9 one mid-batch, start another,
and every job still ends succeeded exactly once in effect — for the local
runner (SQLite, PostgreSQL) and for Celery (PostgreSQL + Redis)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadbase import context
from leadbase.db import Database
from leadbase.jobs import repository, service
from leadbase.leads import service as leads_service
from leadbase.models import Job, new_id, utcnow
from tests import job_handlers
from tests.workers import celery_mode, wait_for, worker, worker_env

JOBS = 12


def _statuses(db: Database) -> dict[str, int]:
    """The test's own jobs by status: not the scoring jobs its lead writes queue."""
    with db.read_session() as session:
        rows = session.execute(
            select(Job.status, func.count())
            .where(Job.kind != leads_service.SCORE_JOB)
            .group_by(Job.status)
        )
        return {status: int(n) for status, n in rows}


def _batch(db: Database, sleep_ms: int) -> list[tuple[str, str]]:
    """JOBS leads and a marking job for each: (job id, lead id)."""
    with context.acting_as("test:setup"), db.unit_of_work() as uow:
        lead_ids = [
            leads_service.create(uow, {"full_name": f"Lead {n}"}).lead_id for n in range(JOBS)
        ]
        return [
            (service.enqueue(uow, "test.mark_lead", {"lead_id": lid, "sleep_ms": sleep_ms}), lid)
            for lid in lead_ids
        ]


def _kill_mid_batch_then_restart(db: Database, env: dict[str, str], log: Path) -> None:
    batch = _batch(db, sleep_ms=150)
    with worker(env, log) as first:
        wait_for(
            lambda: _statuses(db).get("succeeded", 0) >= 3 and _statuses(db).get("running", 0),
            "the first worker to be mid-batch",
            log,
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    stuck = _statuses(db)
    assert stuck.get("running", 0) >= 1, stuck  # held by a dead worker
    assert stuck.get("succeeded", 0) < JOBS

    with worker(env, log):
        wait_for(lambda: _statuses(db) == {"succeeded": JOBS}, "every job to succeed", log)

    with db.read_session() as session:
        jobs = {job.id: job for job in session.query(Job).filter(Job.kind == "test.mark_lead")}
    assert max(job.attempts for job in jobs.values()) == 2  # the killed ones ran again
    for job_id, lead_id in batch:
        assert jobs[job_id].lease_owner is None
        # exactly once in effect: one update event, the marker once
        assert job_handlers.update_events(db, lead_id) == 1, lead_id
        assert job_handlers.notes(db, lead_id) == job_handlers.marker(job_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def local_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(
        "sqlite_url" if request.param == "sqlite" else "postgres_url"
    )
    return url


def test_kill_9_local_worker_mid_batch_then_restart(local_url: str, tmp_path: Path) -> None:
    db = Database(local_url)
    try:
        env = worker_env(local_url, tmp_path)
        _kill_mid_batch_then_restart(db, env, tmp_path / "worker.log")
    finally:
        db.dispose()


def test_local_worker_stops_gracefully_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    log = tmp_path / "worker.log"
    try:
        batch = _batch(db, sleep_ms=400)
        with worker(worker_env(sqlite_url, tmp_path), log) as process:
            wait_for(lambda: _statuses(db).get("running", 0) >= 1, "a running job", log)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        statuses = _statuses(db)
        assert "running" not in statuses  # finished, not abandoned
        assert statuses.get("succeeded", 0) >= 1 and sum(statuses.values()) == len(batch)
        assert "SIGTERM: finishing running jobs" in log.read_text()
    finally:
        db.dispose()


@pytest.fixture
def celery_env(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Celery mode for this test; the environment of its worker."""
    with celery_mode(monkeypatch) as queue:
        yield worker_env(postgres_url, tmp_path, **queue)


def test_celery_worker_runs_jobs_retries_and_dead_ones(
    postgres_url: str, celery_env: dict[str, str], tmp_path: Path
) -> None:
    db = Database(postgres_url)
    log = tmp_path / "worker.log"
    try:
        with db.unit_of_work() as uow:
            ok = service.enqueue(uow, "noop", {})
            flaky = service.enqueue(uow, "test.flaky", {"succeed_on": 3})
            dead = service.enqueue(uow, "test.boom", {}, max_attempts=2)
        with worker(celery_env, log):
            wait_for(
                lambda: _statuses(db) == {"succeeded": 2, "dead": 1}, "the jobs to finish", log
            )
        with db.read_session() as session:
            jobs = {job.id: job for job in session.query(Job)}
        assert jobs[ok].attempts == 1
        # retries came due in the table; the worker's sweeper sent them again
        assert jobs[flaky].attempts == 3 and jobs[flaky].result == {"attempt": 3}
        assert jobs[dead].attempts == 2 and jobs[dead].last_error == "RuntimeError: boom"
        assert f"succeeded {ok} noop attempt 1" in log.read_text()
    finally:
        db.dispose()


def test_kill_9_celery_worker_mid_batch_then_restart(
    postgres_url: str, celery_env: dict[str, str], tmp_path: Path
) -> None:
    db = Database(postgres_url)
    try:
        _kill_mid_batch_then_restart(db, celery_env, tmp_path / "worker.log")
    finally:
        db.dispose()


def test_jobs_enqueued_while_no_broker_listens_are_swept_to_it(
    postgres_url: str, celery_env: dict[str, str], tmp_path: Path
) -> None:
    """A job committed without a message (here: enqueued in local mode, so
    never sent to Redis) still runs once a Celery worker is up: the sweeper
    finds it in the table."""
    db = Database(postgres_url)
    log = tmp_path / "worker.log"
    try:
        with db.unit_of_work() as uow:
            job = repository.insert(
                uow.session,
                new_id(),
                "noop",
                {},
                max_attempts=1,
                now=utcnow(),
                actor="t",
                sent_at=None,
            )
        with worker(celery_env, log):
            wait_for(lambda: _statuses(db) == {"succeeded": 1}, "the unsent job to run", log)
        assert f"succeeded {job.id} noop" in log.read_text()
    finally:
        db.dispose()
