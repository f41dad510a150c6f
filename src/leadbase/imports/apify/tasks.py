"""Apify jobs: ``apify_import`` (one run, queued over HTTP) and
``apify_watch`` (an actor's new runs; queues its next watch after
``LEADBASE_APIFY_WATCH_SECONDS`` when that is set).

Both are safe to run again after a crash: a sync resumes from its state's
offset, and a watch imports only the runs not synced in full.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from leadbase import context
from leadbase.errors import ConflictError, NotFoundError
from leadbase.imports.apify import service
from leadbase.jobs.registry import JobRun, PermanentJobError, handler


def _text(run: JobRun, name: str) -> str:
    value = run.payload.get(name)
    if not isinstance(value, str) or not value:
        raise PermanentJobError(f"payload has no {name}")
    return value


@handler(service.IMPORT_JOB)
def import_apify_run(run: JobRun) -> dict[str, Any] | None:
    run_id = _text(run, "run_id")
    actor = run.payload.get("actor")
    try:
        with context.acting_as(actor if isinstance(actor, str) else None):
            report = service.import_run(run.database, run_id)
    except NotFoundError as exc:
        raise PermanentJobError(exc.message) from exc
    except ConflictError as exc:
        # The run has not ended yet (or another import holds it): try later.
        raise RuntimeError(exc.message) from exc
    return asdict(report)


@handler(service.WATCH_JOB)
def watch_actor(run: JobRun) -> dict[str, Any] | None:
    actor = _text(run, "actor")
    try:
        with context.acting_as(context.system_actor("apify-watch")):
            reports = service.watch(run.database, actor)
    except Exception:
        if run.is_last_attempt:  # the chain goes on even when this watch gave up
            _next(run, actor)
        raise
    _next(run, actor)
    return {"actor": actor, "runs": [asdict(report) for report in reports]}


def _next(run: JobRun, actor: str) -> None:
    with (
        context.acting_as(context.system_actor("apify-watch")),
        run.database.unit_of_work() as uow,
    ):
        service.reschedule_watch(uow, actor, current_job_id=run.id)
