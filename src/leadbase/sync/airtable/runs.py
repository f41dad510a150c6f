"""A sync run's record: written when it starts (so the console shows it
running) and when it ends, each time in its own short transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from leadbase.db import Database
from leadbase.models import AIRTABLE_RUN_COUNTERS, AirtableRun, utcnow


def start(database: Database, kind: str, actor: str) -> str:
    with database.unit_of_work() as uow:
        run = AirtableRun(
            kind=kind,
            status="running",
            actor=actor,
            counts=dict.fromkeys(AIRTABLE_RUN_COUNTERS, 0),
        )
        uow.session.add(run)
        uow.session.flush()
        return run.id


def finish(
    database: Database,
    run_id: str,
    counts: Mapping[str, int],
    *,
    error: str | None = None,
    cursor: datetime | None = None,
) -> None:
    with database.unit_of_work() as uow:
        run = uow.session.get(AirtableRun, run_id)
        if run is None:
            return
        run.counts = {**run.counts, **counts}
        run.status = "failed" if error else "succeeded"
        run.error = error
        run.cursor = cursor
        run.finished_at = utcnow()
