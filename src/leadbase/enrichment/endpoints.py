"""/api/v1/enrichment: start enrichment for the leads a list filter names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from leadbase.auth.endpoints import require_role
from leadbase.auth.service import Principal
from leadbase.db import UnitOfWork
from leadbase.enrichment.schemas import EnrichmentRun, EnrichmentRunInput, QueuedEnrichment
from leadbase.http.support import Envelope, write
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service

router = APIRouter(prefix="/api/v1/enrichment", tags=["enrichment"])
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]


@router.post("/run", status_code=202, response_model=Envelope[EnrichmentRun])
async def run_enrichment(
    request: Request, principal: Editor, body: EnrichmentRunInput
) -> Envelope[EnrichmentRun]:
    """Queue an enrichment job for each matching lead (oldest first, up to
    ``limit``); each lead turns ``in_progress`` and carries its job's id.
    Call again for the next batch: the queued ones are no longer ``pending``."""

    def start(uow: UnitOfWork) -> dict[str, str]:
        ids = leads_repository.ids_matching(
            uow.session, body.filters(), q=body.q, tag=body.tag, limit=body.limit
        )
        return leads_service.start_enrichment(uow, ids)

    jobs = await write(request, principal, start)
    queued = [QueuedEnrichment(lead_id=lead, job_id=job) for lead, job in jobs.items()]
    return Envelope(data=EnrichmentRun(queued=len(queued), jobs=queued))
