"""The ``enrich_lead`` job: read the lead, run the waterfall outside any
transaction, apply the outcome in one unit of work.

Safe to run again after a crash: the lead is only written while it still
waits for this job (``enrichment_task_id`` = the job id, ``in_progress``),
and the write that fills it also ends that wait.
"""

from __future__ import annotations

import contextlib
from typing import Any

from leadbase import context
from leadbase.db import UnitOfWork
from leadbase.enrichment import service
from leadbase.enrichment.pipeline import run_waterfall
from leadbase.errors import NotFoundError
from leadbase.jobs.registry import JobRun, PermanentJobError, handler
from leadbase.leads import repository as leads_repository
from leadbase.leads.schemas import LEAD_FIELDS

KIND = "enrich_lead"


def _lead_id(run: JobRun) -> str:
    lead_id = run.payload.get("lead_id")
    if not isinstance(lead_id, str) or not lead_id:
        raise PermanentJobError("payload has no lead_id")
    return lead_id


def _mark_dead(uow: UnitOfWork, run: JobRun, error: str) -> None:
    """The job gave up: the lead stops showing ``in_progress``."""
    with contextlib.suppress(NotFoundError, PermanentJobError):  # no lead to tell
        service.mark_failed(uow, _lead_id(run), run.id, f"enrichment job failed: {error}")


@handler(KIND, on_dead=_mark_dead)
def enrich_lead(run: JobRun) -> dict[str, Any] | None:
    lead_id = _lead_id(run)
    with run.database.read_session() as session:
        lead = leads_repository.get(session, lead_id, include_deleted=True)
        if lead is None:
            raise PermanentJobError(f"lead {lead_id} not found")
        if (
            lead.is_deleted
            or lead.enrichment_status != "in_progress"
            or lead.enrichment_task_id != run.id
        ):
            return {"lead_id": lead_id, "skipped": "the lead is not waiting for this job"}
        values = {field: getattr(lead, field) for field in LEAD_FIELDS}
    values["id"] = lead_id
    # The slow part: network calls, with no transaction (and no lock) held.
    outcome = run_waterfall(values, run.database.settings)
    with context.acting_as(service.ACTOR), run.database.unit_of_work() as uow:
        updated = service.apply_outcome(uow, lead_id, run.id, outcome)
        status = updated.enrichment_status if updated is not None else None
    if status is None:  # another run of this job got there first (a lost lease)
        return {"lead_id": lead_id, "skipped": "the lead was no longer waiting for this job"}
    return {
        "lead_id": lead_id,
        "status": status,
        "filled": sorted(outcome.fields),
        "steps": {step.provider: step.status for step in outcome.steps},
    }
