"""Console: /sync, the Airtable sync at a glance.

What waits to go, what failed and why, the conflicts to resolve (each
field's value here, in Airtable and as last agreed, and which side
last-modified-wins applied), and the last runs with their counters; for
editors, buttons that queue a sync, a push or a (full) pull as a job, and
each conflict's resolution. It reads what ``GET /api/v1/sync/airtable/status``
reads (``sync.airtable.service.status``); the menu shows the open conflicts.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadbase.errors import NotFoundError, ValidationError
from leadbase.http import support as http_support
from leadbase.sync.airtable import conflicts, repository, service
from leadbase.sync.airtable.mapping import DEFAULT_MAPPING, load_mapping
from leadbase.web import rendering
from leadbase.web.rendering import Flash, who
from leadbase.web.session import Editor, SignedIn

router = APIRouter(include_in_schema=False)

CONFLICTS_SHOWN = 50
_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
RUN_KINDS = {"push": "Push", "pull": "Pull", "full-pull": "Full pull", "sync": "Sync"}
STATUS_LABELS = {"running": "Running", "succeeded": "Done", "failed": "Failed"}
COUNTERS = ("pushed", "pulled", "created", "updated", "deleted", "conflicts", "failed")
FLASH = {
    "queued": Flash("success", "Queued: the page shows the run when a worker has started it."),
    "resolved": Flash("success", "Conflict resolved."),
}
FIELD_LABELS = {remote: remote for remote in DEFAULT_MAPPING.values()}


def _read(request: Request) -> service.SyncState:
    database = http_support.database(request)
    with database.read_session() as session:
        return service.status(session, database.settings, conflicts_shown=CONFLICTS_SHOWN)


@router.get("/sync")
async def sync_page(request: Request, user: SignedIn) -> Response:
    state = await run_in_threadpool(_read, request)
    context: dict[str, Any] = {
        "user": user,
        "state": state,
        "flash": FLASH.get(request.query_params.get("done", "")),
        "run_kinds": RUN_KINDS,
        "status_labels": STATUS_LABELS,
        "counters": COUNTERS,
        "who": who,
    }
    return rendering.render(request, "sync.html", context)


def nav_count(session: Session) -> str:
    """The menu's count beside Sync: open conflicts (a person must choose)."""
    count = repository.open_conflict_count(session)
    return f"{count:,}" if count else ""


rendering.NAV_COUNTS["/sync"] = nav_count


@router.post("/sync/run")
async def run_now(request: Request, user: Editor) -> Response:
    """Queue the run the button names and come back to this page."""
    form = await request.form()
    kind = str(form.get("kind", "sync"))
    if kind not in service.RUN_KINDS:
        raise ValidationError("kind", f"one of {', '.join(service.RUN_KINDS)}")
    settings = http_support.database(request).settings  # what the page says is set up
    await http_support.write(
        request, user.principal, lambda uow: service.queue_run(uow, kind, settings=settings)
    )
    return RedirectResponse("/sync?done=queued", status_code=303)


@router.post("/sync/conflicts/{conflict_id}/resolve")
async def resolve(request: Request, user: Editor, conflict_id: str) -> Response:
    """Keep ours or Airtable's for every field of the conflict."""
    if not _ID.match(conflict_id):
        raise NotFoundError(f"conflict {conflict_id[:64]} not found")
    keep = str((await request.form()).get("keep", ""))
    if keep not in ("local", "remote"):
        raise ValidationError("keep", "local or remote")
    mapping = load_mapping(http_support.database(request).settings.airtable_mapping)
    await http_support.write(
        request,
        user.principal,
        lambda uow: conflicts.apply_resolution(uow, conflict_id, f"keep-{keep}", mapping=mapping),
    )
    return RedirectResponse("/sync?done=resolved", status_code=303)
