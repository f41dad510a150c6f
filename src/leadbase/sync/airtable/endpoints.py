"""/api/v1/sync/airtable: the sync's state and counters, its runs, its conflicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from leadbase.auth.endpoints import get_principal
from leadbase.auth.service import Principal
from leadbase.http.support import Envelope, database
from leadbase.sync.airtable import repository, service
from leadbase.sync.airtable.schemas import ConflictOut, RunOut, StatusOut

MAX_PAGE = 200
router = APIRouter(prefix="/api/v1/sync/airtable", tags=["airtable"])
Reader = Annotated[Principal, Depends(get_principal)]


@router.get("/status", response_model=Envelope[StatusOut])
def get_status(request: Request, _principal: Reader) -> Envelope[StatusOut]:
    """Whether the sync is configured (and which variables are missing), the
    leads waiting to go, the pushes that failed with their errors, open
    conflicts, and the last runs with their counters."""
    with database(request).read_session() as session:
        state = service.status(session, database(request).settings)
        return Envelope(data=StatusOut.of(state))


@router.get("/runs", response_model=Envelope[list[RunOut]])
def list_runs(
    request: Request,
    _principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> Envelope[list[RunOut]]:
    """Push, pull and sync runs, newest first."""
    with database(request).read_session() as session:
        runs = repository.recent_runs(session, limit)
        return Envelope(data=[RunOut.of(run) for run in runs])


@router.get("/conflicts", response_model=Envelope[list[ConflictOut]])
def list_conflicts(
    request: Request,
    _principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Envelope[list[ConflictOut]]:
    """Open conflicts, newest first: each field changed on both sides with its
    local, remote and last-agreed values, and which side was applied."""
    with database(request).read_session() as session:
        found = repository.open_conflicts(session, limit)
        return Envelope(data=[ConflictOut.of(conflict) for conflict in found])
