"""The ``airtable_sync`` job: a sync, push or (full) pull run by a worker.

Queued by the console, the API and ``leadbase airtable sync --schedule``;
a scheduled one queues the next after ``LEADBASE_AIRTABLE_SYNC_SECONDS``
as it ends, so a worker keeps the two sides in step. Safe to run again
after a crash: a push re-sends only what is still pending (upserting on the
lead id), a pull starts from the last finished pull's cursor.
"""

from __future__ import annotations

from typing import Any

from leadbase import context
from leadbase.jobs.registry import JobRun, PermanentJobError, handler
from leadbase.sync.airtable import service
from leadbase.sync.airtable.mapping import MappingError
from leadbase.sync.airtable.settings import AirtableNotConfigured


@handler(service.SYNC_JOB)
def run_sync(run: JobRun) -> dict[str, Any] | None:
    kind = run.payload.get("kind", "sync")
    if kind not in service.RUN_KINDS:
        raise PermanentJobError(f"unknown Airtable run kind {kind!r}")
    actor = run.payload.get("actor")
    scheduled = bool(run.payload.get("scheduled"))
    try:
        with context.acting_as(actor if isinstance(actor, str) else None):
            outcome = service.run(run.database, str(kind))
    except (AirtableNotConfigured, MappingError) as exc:
        raise PermanentJobError(exc.message) from exc
    except Exception:
        if scheduled and run.is_last_attempt:  # the schedule goes on after a give-up
            _next(run)
        raise
    if scheduled:
        _next(run)
    done: dict[str, Any] = {"kind": kind, "counts": outcome.counts()}
    if outcome.pushed is not None and outcome.pushed.error:
        done["push_error"] = outcome.pushed.error  # the pull ran; the next push tries again
    return done


def _next(run: JobRun) -> None:
    with (
        context.acting_as(context.system_actor("airtable")),
        run.database.unit_of_work() as uow,
    ):
        service.reschedule(uow, current_job_id=run.id, settings=run.database.settings)
