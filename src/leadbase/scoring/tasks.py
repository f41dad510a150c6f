"""The ``score_leads`` job: score the leads a payload names, a batch per
transaction. Payloads: ``{"lead_ids": [...]}`` (after a change, queued by
``leads.service.rescore``), ``{"all": true}`` (every active lead),
``{"import_run_id": "..."}`` (every lead an import run or Apify sync wrote).

Safe to run again: scoring the same facts with the same rules stores
nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from leadbase.jobs.registry import JobRun, PermanentJobError, handler
from leadbase.scoring import service
from leadbase.scoring.rules import RulesError

KIND = service.SCORE_JOB


def _batches(run: JobRun) -> Iterable[Sequence[str]]:
    payload = run.payload
    if payload.get("all") is True:
        return service.active_batches(run.database)
    run_id = payload.get("import_run_id")
    if isinstance(run_id, str) and run_id:
        return [service.run_lead_ids(run.database, run_id)]
    lead_ids = payload.get("lead_ids")
    if isinstance(lead_ids, list) and all(isinstance(i, str) for i in lead_ids):
        return [lead_ids]
    raise PermanentJobError(
        'payload needs "lead_ids" (a list of ids), "all": true or "import_run_id"'
    )


@handler(KIND)
def score_leads(run: JobRun) -> dict[str, Any]:
    try:
        rules = service.rules_in_effect(settings=run.database.settings)
    except RulesError as exc:
        raise PermanentJobError(f"the scoring rules cannot be used: {exc.message}") from None
    report = service.score_leads(run.database, _batches(run), rules)
    return {"scored": report.scored, "changed": report.changed, "rules": report.rules}
