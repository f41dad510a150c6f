"""/api/v1/jobs: the state of background work (e.g. a lead's enrichment)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from leadbase.auth.endpoints import get_principal
from leadbase.auth.service import Principal
from leadbase.errors import NotFoundError
from leadbase.http.support import Envelope, database
from leadbase.jobs import repository
from leadbase.jobs.schemas import JobOut

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Reader = Annotated[Principal, Depends(get_principal)]


@router.get("/{job_id}", response_model=Envelope[JobOut])
async def get_job(request: Request, _principal: Reader, job_id: str) -> Envelope[JobOut]:
    """One job: status, attempts, next run, last error, result. Read on the
    event loop like GET /leads/{id}: one indexed lookup."""
    with database(request).read_session(single_statement=True) as session:
        job = repository.get(session, job_id)
        out = JobOut.model_validate(job) if job is not None else None
    if out is None:
        raise NotFoundError(f"job {job_id} not found")
    return Envelope(data=out)
