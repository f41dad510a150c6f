"""The sync as the API, the console and the worker see it: its state and
counters (``status``), and ``sync``: a push, then a pull (a full one when
the last is older than ``LEADBASE_AIRTABLE_FULL_PULL_HOURS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from leadbase.config import Settings, get_settings
from leadbase.models import AirtableConflict, AirtableRun, SalesLead, SyncStatus
from leadbase.sync.airtable import repository
from leadbase.sync.airtable.settings import REQUIRED

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
    missing = [env for name, env in REQUIRED.items() if not getattr(settings, name)]
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
        last_push=repository.last_run_of(session, ("push", "sync")),
        last_pull=repository.last_run_of(session, ("pull", "full-pull", "sync")),
        runs=list(repository.recent_runs(session, RUNS_SHOWN)),
        failures=[
            FailedPush.of(m, lead) for m, lead in repository.failed_marks(session, FAILED_SHOWN)
        ],
        conflicts=list(repository.open_conflicts(session, conflicts_shown))
        if conflicts_shown
        else [],
    )
