"""The ``import_file`` job: a run started over HTTP or from the console.

Safe to run again after a crash: the run resumes after its last committed
batch (``rows_done``), so no row is written twice.
"""

from __future__ import annotations

from typing import Any

from leadbase import context
from leadbase.errors import LeadbaseError
from leadbase.imports import service
from leadbase.jobs.registry import JobRun, PermanentJobError, handler


def _run_id(run: JobRun) -> str:
    run_id = run.payload.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise PermanentJobError("payload has no run_id")
    return run_id


@handler(service.IMPORT_JOB)
def import_file(run: JobRun) -> dict[str, Any] | None:
    run_id = _run_id(run)
    try:
        with run.database.unit_of_work() as uow:
            claimed = service.claim(uow, run_id)
            status, actor = claimed.status, claimed.actor
            plan = service.plan_for_run(claimed) if status == "running" else None
        if plan is None:
            return {"run_id": run_id, "status": status}
        with context.acting_as(actor):
            done = service.run_import(run.database, run_id, plan)
    except LeadbaseError as exc:
        raise PermanentJobError(exc.message) from exc
    return {"run_id": run_id, "status": done.status, "counts": done.counts}


@handler(service.REVERT_JOB)
def revert_import(run: JobRun) -> dict[str, Any] | None:
    run_id = _run_id(run)
    actor = run.payload.get("actor")
    try:
        with context.acting_as(actor if isinstance(actor, str) else None):
            report = service.revert(run.database, run_id)
    except LeadbaseError as exc:
        raise PermanentJobError(exc.message) from exc
    return {"run_id": run_id, **report.as_dict()}
