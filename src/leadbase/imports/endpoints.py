"""/api/v1/imports: upload a file to import (a job), follow it, revert it."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.companies.schemas import ID_PATTERN
from leadbase.db import UnitOfWork
from leadbase.http.support import Envelope, database, write
from leadbase.imports import repository, service
from leadbase.imports.schemas import ImportRunOut, ImportRunPage

MAX_PAGE = 200

router = APIRouter(prefix="/api/v1", tags=["imports"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]
RunId = Annotated[str, Path(pattern=ID_PATTERN)]


def _mapping(text: str | None) -> dict[str, str | None] | None:
    if not text:
        return None
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise service.ImportFileError(f"mapping: not JSON ({exc.msg})") from None
    if not isinstance(given, dict) or not all(isinstance(v, str | None) for v in given.values()):
        raise service.ImportFileError('mapping: an object {"Header": "lead_field" | null}')
    return given


def planned_upload(
    upload: UploadFile,
    *,
    mode: str = "create",
    match_on: str = "email",
    on_duplicate: str = "merge",
    mapping: str | None = None,
) -> service.Plan:
    """Keep the upload and plan its import (422 and nothing kept when it can't be)."""
    options = service.ImportOptions.given(mode, match_on, on_duplicate)
    path = service.save_upload(upload.file, upload.filename or "upload")
    try:
        return service.plan(path, options, mapping=_mapping(mapping))
    except Exception:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise


@router.post("/imports", status_code=202, response_model=Envelope[ImportRunOut])
async def start_import(
    request: Request,
    principal: Editor,
    file: Annotated[UploadFile, File(description="CSV, TSV, JSON, NDJSON or XLSX")],
    mode: Annotated[str, Form(description="create, upsert or update")] = "create",
    match_on: Annotated[str, Form(description="upsert/update keys, comma-separated")] = "email",
    on_duplicate: Annotated[str, Form(description="merge, reject, allow or review")] = "merge",
    mapping: Annotated[
        str | None, Form(description='JSON {"Header": "lead_field" | null}; others guessed')
    ] = None,
) -> Any:
    """Upload a file and import it in the background: answers at once with
    the run (``status`` queued); follow it at ``GET /imports/{id}``. The same
    file imported the same way again answers 200 with the earlier run."""
    plan = await run_in_threadpool(
        planned_upload,
        file,
        mode=mode,
        match_on=match_on,
        on_duplicate=on_duplicate,
        mapping=mapping,
    )

    def start(uow: UnitOfWork) -> tuple[ImportRunOut, str]:
        begun = service.queue(uow, plan, file.filename or plan.path.name)
        uow.session.flush()
        return ImportRunOut.of(begun.run), begun.start

    out, start_kind = await write(request, principal, start)
    if start_kind == "done":
        shutil.rmtree(plan.path.parent, ignore_errors=True)
        body = Envelope(data=out).model_dump(mode="json")
        return JSONResponse(body, status_code=200)
    return Envelope(data=out)


@router.get("/imports", response_model=Envelope[ImportRunPage])
def list_imports(
    request: Request,
    _principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Envelope[ImportRunPage]:
    """Import runs, newest first."""
    with database(request).read_session() as session:
        runs = repository.newest(session, limit + 1, before=cursor)
        items = [ImportRunOut.of(run) for run in runs[:limit]]
    next_cursor = items[-1].id if len(runs) > limit else None
    return Envelope(data=ImportRunPage(items=items, next_cursor=next_cursor))


@router.get("/imports/{run_id}", response_model=Envelope[ImportRunOut])
def get_import(request: Request, _principal: Reader, run_id: RunId) -> Envelope[ImportRunOut]:
    """A run's status, counts and progress."""
    with database(request).read_session() as session:
        return Envelope(data=ImportRunOut.of(service.get_run(session, run_id)))


@router.get("/imports/{run_id}/rejects", response_class=StreamingResponse)
def download_rejects(request: Request, _principal: Reader, run_id: RunId) -> StreamingResponse:
    """The rows a run rejected, as CSV: row number, reason, the row as JSON."""
    with database(request).read_session() as session:
        service.get_run(session, run_id)  # 404 for an unknown run

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "reason", "data"])
        with database(request).read_session() as session:
            for reject in repository.rejects(session, run_id):
                writer.writerow([reject.row_number, reject.reason, json.dumps(reject.row)])
                if buffer.tell() > 1 << 16:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="import-{run_id}-rejects.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/imports/{run_id}/revert", status_code=202, response_model=Envelope[dict[str, str]])
async def revert_import(
    request: Request, principal: Editor, run_id: RunId
) -> Envelope[dict[str, str]]:
    """Undo a run in the background: the leads it created are soft-deleted,
    the values it changed put back (values edited since stay). Audited."""
    job_id = await write(request, principal, lambda uow: service.queue_revert(uow, run_id))
    return Envelope(data={"run_id": run_id, "job_id": job_id})
