"""/api/v1/apify: an actor's runs with their sync state, importing a run
(a job), and the sync states."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.db import UnitOfWork
from leadbase.http.support import Envelope, database, write
from leadbase.imports.apify import repository, service
from leadbase.imports.apify.schemas import (
    ApifyErrorOut,
    ApifyRunOut,
    QueuedImportOut,
    SyncStateOut,
    SyncStatePage,
)

MAX_PAGE = 200
# Apify ids are 17 alphanumerics; a little room either way, nothing a path could misuse.
APIFY_ID = r"^[A-Za-z0-9]{1,64}$"
ACTOR = r"^[A-Za-z0-9._~/-]{1,200}$"

APIFY_FAILED = {
    "model": ApifyErrorOut,
    "description": "Apify refused the token, or failed after our retries (error apify_error)",
}
router = APIRouter(prefix="/api/v1/apify", tags=["apify"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]


@router.get("/runs", response_model=Envelope[list[ApifyRunOut]], responses={502: APIFY_FAILED})
async def list_runs(
    request: Request,
    _principal: Reader,
    actor: Annotated[str, Query(pattern=ACTOR, description="The actor: id or user/name")],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Envelope[list[ApifyRunOut]]:
    """The actor's latest runs on Apify, newest first, each with our sync
    state of it (``sync: null`` when never imported)."""
    found = await run_in_threadpool(service.runs_with_states, database(request), actor, limit=limit)
    return Envelope(data=[ApifyRunOut.of(run, state) for run, state in found])


@router.post(
    "/runs/{run_id}/import",
    status_code=202,
    response_model=Envelope[QueuedImportOut],
    responses={
        200: {"model": Envelope[QueuedImportOut], "description": "Synced in full already"},
        502: APIFY_FAILED,
    },
)
async def import_run(
    request: Request,
    principal: Editor,
    run_id: Annotated[str, Path(pattern=APIFY_ID)],
) -> Any:
    """Import a finished run's items in the background (a job): answers at
    once with its sync state (pending). A run synced in full already answers
    200 with its state and no job; one still running, 409."""
    info = await run_in_threadpool(service.fetch_finished_run, run_id)

    def queue(uow: UnitOfWork) -> QueuedImportOut:
        report, job_id = service.queue_run_import(uow, info)
        state = repository.get(uow.session, report.state_id)
        assert state is not None
        return QueuedImportOut(job_id=job_id, sync=SyncStateOut.of(state))

    queued = await write(request, principal, queue)
    if queued.job_id is None:
        return JSONResponse(Envelope(data=queued).model_dump(mode="json"), status_code=200)
    return Envelope(data=queued)


@router.get("/sync-states", response_model=Envelope[SyncStatePage])
def list_sync_states(
    request: Request,
    _principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{1,64}$")] = None,
    actor: Annotated[str | None, Query(pattern=ACTOR)] = None,
) -> Envelope[SyncStatePage]:
    """Apify syncs, newest first (``cursor``: the last id of the page before)."""
    with database(request).read_session() as session:
        states = repository.newest(session, limit + 1, before=cursor, actor=actor)
        items = [SyncStateOut.of(state) for state in states[:limit]]
    next_cursor = items[-1].id if len(states) > limit else None
    return Envelope(data=SyncStatePage(items=items, next_cursor=next_cursor))
