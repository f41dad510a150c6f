"""Apply a waterfall's outcome to a lead, in the caller's unit of work.

Everything goes through ``leads.service.update`` (validated, versioned,
audited, on the timeline, marked for sync) and ``companies.service``, acting
as ``system:enrichment``. Applying is idempotent: only the job the lead is
waiting for (``enrichment_task_id``, status ``in_progress``) may write, once.
"""

from __future__ import annotations

from typing import Any

from leadbase import context
from leadbase.companies import service as companies_service
from leadbase.db import UnitOfWork, serialize_writers
from leadbase.enrichment.schemas import (
    COMPANY_HINT_FIELDS,
    CompanyHint,
    EnrichmentOutcome,
    may_replace,
)
from leadbase.errors import DuplicateLeadError, NotFoundError, ValidationError
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import SalesLead, utcnow

ACTOR = context.system_actor("enrichment")
NAME_FIELDS = ("full_name", "first_name", "last_name")
# What a company record takes from a hint: contact emails and phones stay on the lead.
COMPANY_INPUT_FIELDS = tuple(f for f in COMPANY_HINT_FIELDS if f not in ("emails", "phones"))


def _waiting_lead(uow: UnitOfWork, lead_id: str, job_id: str) -> tuple[SalesLead, bool]:
    """The lead, and whether it is still waiting for this job."""
    serialize_writers(uow.session)  # read under the write lock: the check holds until commit
    lead = leads_repository.get_current(uow.session, lead_id, include_deleted=True)
    if lead is None:
        raise NotFoundError(f"lead {lead_id} not found")
    waiting = (
        not lead.is_deleted
        and lead.enrichment_status == "in_progress"
        and lead.enrichment_task_id == job_id
    )
    return lead, waiting


def apply_outcome(
    uow: UnitOfWork, lead_id: str, job_id: str, outcome: EnrichmentOutcome
) -> SalesLead | None:
    """Fill what the waterfall found, record provenance, link the company, and
    finish the lead ``completed`` (or ``failed`` with the reason). None, and
    nothing written, when the lead no longer waits for this job."""
    with context.acting_as(ACTOR):
        lead, waiting = _waiting_lead(uow, lead_id, job_id)
        if not waiting:
            return None  # finished already, superseded by a newer job, or deleted
        data: dict[str, Any] = dict(lead.enrichment_data or {})
        provenance: dict[str, Any] = dict(data.get("fields") or {})
        updates: dict[str, Any] = {}
        for field, found in outcome.fields.items():
            current = getattr(lead, field)
            if current != found.value and may_replace(field, current, provenance, found.provider):
                updates[field] = found.value
                provenance[field] = found.to_json()
        if outcome.company is not None and lead.company_id is None:
            company_id = _company_for(uow, outcome.company, data)
            if company_id is not None:
                updates["company_id"] = company_id
        data.update(
            fields=provenance,
            steps=[step.to_json() for step in outcome.steps],
            flags={**(data.get("flags") or {}), **outcome.flags},
            job_id=job_id,
            started_at=outcome.started_at.isoformat() if outcome.started_at else None,
            finished_at=(outcome.finished_at or utcnow()).isoformat(),
        )
        if outcome.company is not None:
            data["company"] = outcome.company.to_json()
        if outcome.ok:
            data.pop("error", None)
        else:
            data["error"] = outcome.reason
        updates["enrichment_data"] = data
        updates["enrichment_status"] = "completed" if outcome.ok else "failed"
        return _write(uow, lead, updates, data)


def mark_failed(uow: UnitOfWork, lead_id: str, job_id: str, reason: str) -> None:
    """For a job that died: the lead stops waiting, with the reason recorded."""
    with context.acting_as(ACTOR):
        lead, waiting = _waiting_lead(uow, lead_id, job_id)
        if not waiting:
            return
        data: dict[str, Any] = dict(lead.enrichment_data or {})
        data.update(error=reason, job_id=job_id, finished_at=utcnow().isoformat())
        leads_service.update(uow, lead_id, {"enrichment_status": "failed", "enrichment_data": data})


def _company_for(uow: UnitOfWork, hint: CompanyHint, data: dict[str, Any]) -> str | None:
    """The company the hint names, found (by registered domain, else name;
    filling only its empty fields) or created: the same find-or-create every
    lead write uses."""
    given = {k: getattr(hint, k) for k in COMPANY_INPUT_FIELDS if getattr(hint, k)}
    try:
        want = companies_service.wanted(given.pop("domain", None), given.pop("name", None), given)
        [company_id] = companies_service.find_or_create(uow, [want])
    except ValidationError as exc:
        data["company_error"] = exc.message
        return None
    return company_id


def _write(
    uow: UnitOfWork, lead: SalesLead, updates: dict[str, Any], data: dict[str, Any]
) -> SalesLead:
    """``leads.service.update``; a value the write path refuses (another lead
    already holds that email or phone, say) is dropped and noted, not fatal."""
    if any(field in updates for field in NAME_FIELDS):
        # Name the untouched name fields too, so the write path does not
        # re-derive them from the one that changed.
        for field in NAME_FIELDS:
            updates.setdefault(field, getattr(lead, field))
    for _ in range(len(updates) + 1):
        try:
            return leads_service.update(uow, lead.id, updates)
        except (DuplicateLeadError, ValidationError) as exc:
            if isinstance(exc, DuplicateLeadError):
                field, note = exc.matched_on, {"existing_id": exc.existing_id}
            else:
                field, note = exc.field.split(".", 1)[0], {"message": exc.message}
            if field not in updates or field in ("enrichment_data", "enrichment_status"):
                raise
        value = updates.pop(field)
        data["fields"].pop(field, None)
        data.setdefault("conflicts", []).append({"field": field, "value": value, **note})
    raise RuntimeError("unreachable: every retry drops one field")  # pragma: no cover
