"""The sync as the API, the console and the worker see it: its state and
counters (``status``), and ``run``: a sync is a pull (a full one when the
last is older than ``LEADBASE_AIRTABLE_FULL_PULL_HOURS``), then a push."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadbase import audit, context
from leadbase.config import Settings, get_settings
from leadbase.db import Database, UnitOfWork
from leadbase.errors import ValidationError
from leadbase.jobs import repository as jobs_repository
from leadbase.jobs import service as jobs_service
from leadbase.models import AirtableConflict, AirtableRun, SalesLead, SyncStatus, utcnow
from leadbase.models.airtable import PULL_RUN_KINDS
from leadbase.sync.airtable import pull, push, repository
from leadbase.sync.airtable.settings import AirtableConfig, missing_settings

# A run's progress: (records done, records in all when known).
Progress = Callable[[int, int | None], None]

RUNS_SHOWN = 10
FAILED_SHOWN = 50


@dataclass(frozen=True)
class FailedPush:
    lead_id: str
    lead_name: str | None
    status: str
    attempts: int
    error: str | None
    last_attempt: datetime | None

    @classmethod
    def of(cls, mark: SyncStatus, lead: SalesLead) -> FailedPush:
        return cls(
            lead_id=lead.id,
            lead_name=lead.full_name or lead.email,
            status=mark.status,
            attempts=mark.attempt_count,
            error=mark.error_message,
            last_attempt=mark.last_attempt,
        )


@dataclass(frozen=True)
class SyncState:
    configured: bool
    missing: list[str]
    base_id: str | None
    table: str | None
    pending: int
    failed: int
    linked: int
    open_conflicts: int
    cursor: datetime | None
    last_push: AirtableRun | None
    last_pull: AirtableRun | None
    runs: list[AirtableRun] = field(default_factory=list)
    failures: list[FailedPush] = field(default_factory=list)
    conflicts: list[AirtableConflict] = field(default_factory=list)


def status(
    session: Session, settings: Settings | None = None, *, conflicts_shown: int = 0
) -> SyncState:
    """Where the sync stands: what waits, what failed and why, the last runs."""
    settings = settings or get_settings()
    missing = missing_settings(settings)
    return SyncState(
        configured=not missing,
        missing=missing,
        base_id=settings.airtable_base_id,
        table=settings.airtable_table,
        pending=repository.pending_count(session),
        failed=repository.failed_count(session),
        linked=repository.link_count(session),
        open_conflicts=repository.open_conflict_count(session),
        cursor=repository.last_pull_cursor(session),
        last_push=repository.last_run_of(session, ("push",)),
        last_pull=repository.last_run_of(session, PULL_RUN_KINDS),
        runs=list(repository.recent_runs(session, RUNS_SHOWN)),
        failures=[
            FailedPush.of(m, lead) for m, lead in repository.failed_marks(session, FAILED_SHOWN)
        ],
        conflicts=list(repository.open_conflicts(session, conflicts_shown))
        if conflicts_shown
        else [],
    )


# --- runs and their jobs ---------------------------------------------------------------

SYNC_JOB = "airtable_sync"
RUN_KINDS = ("sync", "push", "pull", "full-pull")


def full_pull_due(session: Session, settings: Settings | None = None) -> bool:
    """A sync's pull reads every record (finding deletes) when the last full
    pull is older than ``LEADBASE_AIRTABLE_FULL_PULL_HOURS``, or never ran."""
    hours = (settings or get_settings()).airtable_full_pull_hours
    last = repository.last_run_of(session, ("full-pull",), status="succeeded")
    return last is None or last.started_at < utcnow() - timedelta(hours=hours)


@dataclass
class RunOutcome:
    """What a run did: the push's result, the pull's, or both (a sync)."""

    pushed: push.PushResult | None = None
    pulled: pull.PullResult | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        done = {"push": self.pushed.counts()} if self.pushed else {}
        if self.pulled:
            done[self.pulled.kind] = self.pulled.counts()
        return done


def run(
    database: Database,
    kind: str,
    *,
    config: AirtableConfig | None = None,
    progress: Progress | None = None,
) -> RunOutcome:
    """Run a push, a pull, a full pull, or a sync: a pull (full when due),
    then a push. The pull goes first so that a field changed on both sides
    since the last sync is seen as a conflict (last-modified-wins) before
    the push could overwrite Airtable's side, and a person added on both
    sides lands on one lead before the push makes its record. Each records
    its own run (the push's as the one acting: the person who queued the
    job). The settings are the database's (the server's or the worker's),
    unless ``config`` says otherwise."""
    config = config or AirtableConfig.from_settings(database.settings)
    client = config.client()
    outcome = RunOutcome()
    with _ONE_AT_A_TIME:
        if kind in ("sync", "pull", "full-pull"):
            full = (sync_pull_kind(database) if kind == "sync" else kind) == "full-pull"
            outcome.pulled = pull.pull(
                database, config, client=client, full=full, progress=progress
            )
        if kind in ("sync", "push"):
            outcome.pushed = push.push(
                database, config, client=client, progress=progress, actor=context.current().actor
            )
    return outcome


# The runs of a process (the server's job threads) one after the other: two
# at once would send the same pending leads twice (the upsert on the lead id
# keeps Airtable right, but each costs the same requests of the rate limit).
_ONE_AT_A_TIME = threading.Lock()


def sync_pull_kind(database: Database) -> str:
    """The pull a sync makes before its push: ``full-pull`` when one is due."""
    with database.read_session() as session:
        return "full-pull" if full_pull_due(session, database.settings) else "pull"


def queue_run(
    uow: UnitOfWork, kind: str, *, scheduled: bool = False, settings: Settings | None = None
) -> str:
    """An ``airtable_sync`` job for ``kind`` in the caller's transaction (or
    the one of that kind queued already and not started yet). ``settings``:
    the server's (what its /sync and /status show), else the environment's."""
    if kind not in RUN_KINDS:
        raise ValidationError("kind", f"one of {', '.join(RUN_KINDS)}")
    AirtableConfig.from_settings(settings)  # refuses now, not in the worker, when unset
    payload: dict[str, Any] = {"kind": kind, "actor": context.current().actor}
    if scheduled:
        payload["scheduled"] = True
    else:
        # Pressed twice: the run not started yet does what a second would.
        for job in jobs_repository.waiting(uow.session, SYNC_JOB):
            same = job.payload.get("kind") == kind and not job.payload.get("scheduled")
            if same and job.status == "queued" and job.attempts == 0:
                return job.id
    job_id = jobs_service.enqueue(uow, SYNC_JOB, payload, max_attempts=3)
    # Who asked for the run, from where: the runs' lead writes carry their own actor.
    audit.append(uow.session, "airtable_sync", job_id, "run_requested", {"kind": [None, kind]})
    return job_id


def schedule(uow: UnitOfWork, settings: Settings | None = None) -> str | None:
    """Start the schedule (a sync now, the next after
    ``LEADBASE_AIRTABLE_SYNC_SECONDS``): None when one is already waiting."""
    if _scheduled_waiting(uow.session):
        return None
    return queue_run(uow, "sync", scheduled=True, settings=settings)


def reschedule(
    uow: UnitOfWork, *, current_job_id: str, settings: Settings | None = None
) -> str | None:
    """The scheduled sync after this one, unless the setting is unset or a
    next one waits already (this job ran again after a crash)."""
    settings = settings or get_settings()
    seconds = settings.airtable_sync_seconds
    if not seconds or _scheduled_waiting(uow.session, but=current_job_id):
        return None
    job_id = queue_run(uow, "sync", scheduled=True, settings=settings)
    jobs_repository.postpone(uow.session, job_id, utcnow() + timedelta(seconds=seconds))
    return job_id


def _scheduled_waiting(session: Session, *, but: str | None = None) -> bool:
    return any(
        job.payload.get("scheduled") and job.id != but
        for job in jobs_repository.waiting(session, SYNC_JOB)
    )
