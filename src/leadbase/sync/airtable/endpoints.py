"""/api/v1/sync/airtable: the sync's state and counters, its runs, its conflicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.db import UnitOfWork
from leadbase.errors import ValidationError
from leadbase.http.support import Envelope, database, write
from leadbase.sync.airtable import conflicts, repository, service
from leadbase.sync.airtable.mapping import load_mapping
from leadbase.sync.airtable.schemas import ConflictOut, QueuedOut, ResolveIn, RunOut, StatusOut

MAX_PAGE = 200
router = APIRouter(prefix="/api/v1/sync/airtable", tags=["airtable"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]


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


def _queue(request: Request, kind: str) -> Callable[[UnitOfWork], QueuedOut]:
    settings = database(request).settings  # what /status says is configured

    def queue(uow: UnitOfWork) -> QueuedOut:
        return QueuedOut(job_id=service.queue_run(uow, kind, settings=settings), kind=kind)

    return queue


@router.post("/sync", status_code=202, response_model=Envelope[QueuedOut])
async def start_sync(request: Request, principal: Editor) -> Envelope[QueuedOut]:
    """Queue a sync (a pull, full when due, then a push) as a job: follow it
    at ``/jobs/{job_id}`` and in ``/status``. 400 when the sync is not set up."""
    return Envelope(data=await write(request, principal, _queue(request, "sync")))


@router.post("/push", status_code=202, response_model=Envelope[QueuedOut])
async def start_push(request: Request, principal: Editor) -> Envelope[QueuedOut]:
    """Queue a push of what waits to go (a job)."""
    return Envelope(data=await write(request, principal, _queue(request, "push")))


@router.post("/pull", status_code=202, response_model=Envelope[QueuedOut])
async def start_pull(
    request: Request,
    principal: Editor,
    full: Annotated[bool, Query(description="Read every record: finds deletes")] = False,
) -> Envelope[QueuedOut]:
    """Queue a pull of what changed in Airtable since the last one (a job)."""
    kind = "full-pull" if full else "pull"
    return Envelope(data=await write(request, principal, _queue(request, kind)))


@router.post("/conflicts/{conflict_id}/resolve", response_model=Envelope[ConflictOut])
async def resolve_conflict(
    request: Request,
    principal: Editor,
    conflict_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,36}$")],
    body: ResolveIn,
) -> Envelope[ConflictOut]:
    """Settle a conflict: keep ours, keep Airtable's, or choose per field. The
    lead is written through the one write path (audited) and the choice goes
    to Airtable with the next push."""
    choice = _choice(body)
    # The server's mapping (its Settings), not the environment's.
    mapping = load_mapping(database(request).settings.airtable_mapping)

    def resolve(uow: UnitOfWork) -> ConflictOut:
        resolved = conflicts.apply_resolution(uow, conflict_id, choice, mapping=mapping)
        return ConflictOut.of(resolved)

    return Envelope(data=await write(request, principal, resolve))


def _choice(body: ResolveIn) -> str | dict[str, str]:
    if (body.keep is None) == (body.fields is None):
        raise ValidationError("keep", "send either keep (local or remote) or fields")
    return f"keep-{body.keep}" if body.keep else dict(body.fields or {})
