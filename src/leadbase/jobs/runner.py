"""Running jobs: claim by lease, execute, record the outcome.

``run_one`` is the whole life of one attempt and is shared by both runners:
the local runner (threads in ``leadbase serve`` or ``leadbase worker``) and
Celery (whose task calls it). A worker holds a job only while its lease
lasts; a keeper thread renews the leases of running handlers, so a long job
keeps its lease and a crashed worker's job is due again one lease later.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Row

from leadbase import context, logs
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.jobs import registry, repository
from leadbase.jobs.registry import JobRun, PermanentJobError
from leadbase.models import utcnow

log = logs.get_logger("leadbase.jobs")

MAX_ERROR_CHARS = 4000


class Runner(Protocol):
    def submit(self, job_id: str) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...


@dataclass(frozen=True)
class Claimed:
    """A job as its claim found it (attempts already counts this attempt)."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: succeeded, failed (a retry is scheduled), dead,
    or lost (the lease ran out and another worker took the job over)."""

    job_id: str
    kind: str
    status: str
    attempt: int
    seconds: float
    error: str | None = None


OutcomeCallback = Callable[[Outcome], None]


def worker_name() -> str:
    """host:pid, the prefix of every lease owner of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Delay before retrying after failed attempt ``attempt`` (1-based):
    doubling from the base up to the cap, times a jitter in [0.5, 1.5] so
    jobs that failed together do not all retry together."""
    exponent = min(attempt - 1, 62)
    delay = min(settings.job_backoff_max_seconds, settings.job_backoff_seconds * 2.0**exponent)
    return delay * random.uniform(0.5, 1.5)


# --- leases ----------------------------------------------------------------------


class LeaseKeeper:
    """Renews the leases of the jobs this process is running, every third
    of a lease, in one UPDATE per owner; its thread ends when none are held."""

    def __init__(self, database: Database) -> None:
        self._database = weakref.ref(database)
        self.lease_seconds = database.settings.job_lease_seconds
        self.interval = max(0.05, self.lease_seconds / 3)
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, job_id: str, owner: str) -> Iterator[None]:
        with self._lock:
            self._held[job_id] = owner
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="leadbase-lease-keeper", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(job_id, None)

    def _loop(self) -> None:
        # Not background writes: one short UPDATE a third of a lease, and a
        # lease lost to a busy server would run its job a second time.
        while True:
            time.sleep(self.interval)
            with self._lock:
                database = self._database()
                if not self._held or database is None:
                    self._thread = None
                    return
                by_owner: dict[str, list[str]] = {}
                for job_id, owner in self._held.items():
                    by_owner.setdefault(owner, []).append(job_id)
            try:
                self._renew(database, by_owner)
            except Exception as exc:  # the database is away: retry next round
                log.warning("could not renew job leases", error=str(exc))

    def _renew(self, database: Database, by_owner: dict[str, list[str]]) -> None:
        now = utcnow()
        with database.unit_of_work() as uow:
            for owner, job_ids in by_owner.items():
                repository.renew(uow.session, job_ids, owner, now, self.lease_seconds)


_keepers: weakref.WeakKeyDictionary[Database, LeaseKeeper] = weakref.WeakKeyDictionary()
_keepers_lock = threading.Lock()


def lease_keeper(database: Database) -> LeaseKeeper:
    with _keepers_lock:
        keeper = _keepers.get(database)
        if keeper is None:
            keeper = _keepers[database] = LeaseKeeper(database)
        return keeper


# --- one attempt -------------------------------------------------------------------


def _snapshot(rows: Sequence[Row[Any]]) -> list[Claimed]:
    return [
        Claimed(row.id, row.kind, dict(row.payload), row.attempts, row.max_attempts) for row in rows
    ]


def claim(database: Database, job_id: str, owner: str) -> Claimed | None:
    """Lease one job to ``owner``, if it is due; None if it is not (running
    elsewhere, finished, not due yet, unknown)."""
    now, lease = utcnow(), database.settings.job_lease_seconds
    with database.unit_of_work() as uow:
        if not repository.claim(uow.session, job_id, owner, now, lease):
            return None
        jobs = _snapshot(repository.claimed(uow.session, [job_id], owner))
    return jobs[0] if jobs else None


def claim_next(database: Database, owner: str, limit: int = 1) -> list[Claimed]:
    """Lease up to ``limit`` due jobs to ``owner``."""
    now, lease = utcnow(), database.settings.job_lease_seconds
    with database.unit_of_work() as uow:
        found = repository.claim_next(uow.session, owner, now, lease, limit)
    return [Claimed(**{**job, "payload": dict(job["payload"])}) for job in found]


def anything_due(database: Database) -> bool:
    with database.read_session() as session:
        return repository.anything_due(session, utcnow())


def run_one(
    database: Database,
    job_id: str,
    worker_id: str,
    *,
    on_outcome: OutcomeCallback | None = None,
) -> bool:
    """Claim ``job_id`` for ``worker_id``, run it and record how it ended.
    False when the job was not due (another worker has it, it is finished,
    or its retry is not due yet): nothing ran."""
    job = claim(database, job_id, worker_id)
    if job is None:
        return False
    outcome = execute(database, job, worker_id)
    if on_outcome is not None:
        on_outcome(outcome)
    return True


def execute(database: Database, job: Claimed, owner: str) -> Outcome:
    """Run a claimed job's handler under a renewed lease; record the outcome."""
    started = time.perf_counter()
    run = JobRun(job.id, job.kind, job.payload, job.attempts, database, job.max_attempts)
    if job.attempts > job.max_attempts:
        # The last attempt's worker died holding the lease: none are left.
        error = "the worker of the last attempt was lost (its lease expired)"
        return _failed(database, run, owner, started, error, final=True)
    registered = registry.get(job.kind)
    if registered is None:
        error = (
            f"no handler for job kind {job.kind!r} in this worker "
            "(is its module in LEADBASE_JOB_HANDLER_MODULES?)"
        )
        return _failed(database, run, owner, started, error, final=run.is_last_attempt)
    actor = context.system_actor(f"job:{job.kind}")
    with lease_keeper(database).holding(job.id, owner), context.acting_as(actor):
        try:
            result = registered.fn(run)
            stored = _storable(result)
        except PermanentJobError as exc:
            return _failed(database, run, owner, started, _describe(exc), final=True)
        except Exception as exc:
            log.warning("job attempt failed", job_id=job.id, kind=job.kind, exc_info=exc)
            final = run.is_last_attempt
            return _failed(database, run, owner, started, _describe(exc), final=final)
        return _succeeded(database, run, owner, started, stored)


def _storable(result: object) -> dict[str, Any] | None:
    if result is not None and not isinstance(result, dict):
        raise TypeError(f"a handler returns a dict or None, not {type(result).__name__}")
    json.dumps(result)  # a result the JSON column cannot hold fails the attempt here
    return result


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _outcome(run: JobRun, status: str, started: float, error: str | None = None) -> Outcome:
    return Outcome(run.id, run.kind, status, run.attempt, time.perf_counter() - started, error)


def _succeeded(
    database: Database, run: JobRun, owner: str, started: float, result: dict[str, Any] | None
) -> Outcome:
    now = utcnow()
    with database.unit_of_work() as uow:
        kept = repository.finish(
            uow.session,
            run.id,
            owner,
            now,
            status="succeeded",
            result=result,
            last_error=None,
            finished_at=now,
        )
    return _outcome(run, "succeeded" if kept else "lost", started)


def _failed(
    database: Database, run: JobRun, owner: str, started: float, error: str, *, final: bool
) -> Outcome:
    now = utcnow()
    values: dict[str, Any] = {"last_error": error}
    if final:
        values.update(status="dead", finished_at=now, attempts=min(run.attempt, run.max_attempts))
    else:
        delay = backoff_seconds(database.settings, run.attempt)
        values.update(status="failed", next_run_at=now + timedelta(seconds=delay))
    registered = registry.get(run.kind)
    on_dead = registered.on_dead if final and registered is not None else None
    try:
        with database.unit_of_work() as uow:
            kept = repository.finish(uow.session, run.id, owner, now, **values)
            if kept and on_dead is not None:
                on_dead(uow, run, error)
    except Exception as exc:
        if on_dead is None:
            raise
        # The job still ends dead; what its on_dead hook hit is kept with it.
        log.error("on_dead hook failed", job_id=run.id, kind=run.kind, exc_info=exc)
        values["last_error"] = f"{error}; then on_dead failed: {_describe(exc)}"
        with database.unit_of_work() as uow:
            kept = repository.finish(uow.session, run.id, owner, now, **values)
    status = values["status"] if kept else "lost"
    return _outcome(run, status, started, error)
