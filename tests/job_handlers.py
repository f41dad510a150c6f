"""Job handlers used only by tests (workers load them through
LEADBASE_JOB_HANDLER_MODULES='["tests.job_handlers"]')."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from leadbase import context
from leadbase.db import Database, UnitOfWork, serialize_writers
from leadbase.jobs.registry import JobRun, PermanentJobError, handler
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import AuditLog

ACTOR = "system:test-jobs"


def marker(job_id: str) -> str:
    return f"[job {job_id}]"


def notes(db: Database, lead_id: str) -> str:
    """What the handlers wrote on a lead."""
    with db.read_session() as session:
        lead = leads_repository.get(session, lead_id)
        assert lead is not None
        return lead.notes or ""


def update_events(db: Database, lead_id: str) -> int:
    """How many times the write path changed a lead."""
    query = select(func.count()).where(
        AuditLog.entity_type == "lead", AuditLog.entity_id == lead_id, AuditLog.action == "update"
    )
    with db.read_session() as session:
        return int(session.scalar(query) or 0)


def _append_note(uow: UnitOfWork, lead_id: str, text: str) -> bool:
    """Append ``text`` to the lead's notes through the write path, unless
    it is there already: the check and the write share one transaction."""
    serialize_writers(uow.session)  # before reading: a concurrent rerun waits here
    lead = leads_repository.get(uow.session, lead_id)
    if lead is None:
        raise PermanentJobError(f"lead {lead_id} is gone")
    notes = lead.notes or ""
    if text in notes:
        return False
    leads_service.update(uow, lead_id, {"notes": f"{notes}{text}"})
    return True


@handler("test.mark_lead")
def mark_lead(run: JobRun) -> dict[str, Any]:
    """A countable, idempotent effect: the job's id in a lead's notes, once
    (one `updated` lead event per job however often the job runs)."""
    sleep_ms = float(run.payload.get("sleep_ms", 0))
    time.sleep(sleep_ms / 1000)  # the slow part, outside any transaction
    with context.acting_as(ACTOR), run.database.unit_of_work() as uow:
        changed = _append_note(uow, run.payload["lead_id"], marker(run.id))
    return {"changed": changed}


@handler("test.flaky")
def flaky(run: JobRun) -> dict[str, Any]:
    """Fails until attempt ``succeed_on``."""
    if run.attempt < int(run.payload["succeed_on"]):
        raise RuntimeError(f"flaky failure on attempt {run.attempt}")
    return {"attempt": run.attempt}


@handler("test.boom")
def boom(run: JobRun) -> None:
    raise RuntimeError("boom")


@handler("test.permanent")
def permanent(run: JobRun) -> None:
    raise PermanentJobError("this input can never work")


@handler("test.bad_result")
def bad_result(run: JobRun) -> Any:
    return ["not", "a", "dict"]


@handler("test.sleep")
def sleep(run: JobRun) -> dict[str, Any]:
    time.sleep(float(run.payload["seconds"]))
    return {"slept": run.payload["seconds"]}


def _note_death(uow: UnitOfWork, run: JobRun, error: str) -> None:
    with context.acting_as(ACTOR):
        _append_note(uow, run.payload["lead_id"], f"[dead {run.id}: {error}]")


@handler("test.doomed", on_dead=_note_death)
def doomed(run: JobRun) -> None:
    """Always fails; when it dies the lead's notes say so (in the same
    transaction as the job's end)."""
    raise RuntimeError("doomed")


def _broken_hook(uow: UnitOfWork, run: JobRun, error: str) -> None:
    raise RuntimeError("hook broke")


@handler("test.doomed_broken_hook", on_dead=_broken_hook)
def doomed_broken_hook(run: JobRun) -> None:
    raise RuntimeError("doomed")
