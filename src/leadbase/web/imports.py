"""Console: /imports, files imported into leads and what each run did.

The flow is three plain forms, each working without script:

1. ``/imports`` lists the runs, newest first, and (for editors) the upload
   form: the file, the mode, the match keys and the duplicate policy.
2. ``POST /imports`` keeps the upload under the data folder
   (``imports.service.save_upload``) and shows the mapping preview: what
   was sniffed, each header with a select of lead fields (set to the guess)
   and a few of its values, and the first rows as the leads they become.
   The preview posts to ``/imports/start`` with the upload's folder id: to
   show the preview again with the mapping chosen, to start, or to cancel
   (which removes the upload).
3. Start plans the import with the mapping chosen and queues it as a job
   (``imports.service.plan`` + ``queue``, as ``POST /api/v1/imports``), then
   goes to the run's page: progress while it runs (imports.js polls
   ``/imports/{id}/progress``; without script the page refreshes itself),
   then the counts, the error, the rejected rows to download, the leads the
   run touched, and Revert.

Viewers see the runs and their results; editors import and revert, as in
the API. The "Apify" section lists what ``apify_sync_states`` returns.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from leadbase.db import UnitOfWork
from leadbase.errors import NotFoundError
from leadbase.http import support as http_support
from leadbase.imports import repository, service
from leadbase.imports.apify import service as apify_service
from leadbase.imports.mapping import Mapping as ColumnMapping
from leadbase.imports.mapping import apply_mapping, guess_mapping
from leadbase.imports.readers import FileShape, ReadError, read_rows, sniff
from leadbase.imports.schemas import ImportRunOut
from leadbase.leads.schemas import LEAD_FIELDS, LIST_FIELDS
from leadbase.leads.service import POLICIES
from leadbase.models import IMPORT_MODES, ImportRun
from leadbase.models.imports import IMPORT_COUNTS
from leadbase.web import lead_detail, rendering
from leadbase.web.forms import FormErrors
from leadbase.web.rendering import Flash, who
from leadbase.web.session import ConsoleUser, Editor, SignedIn

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
PREVIEW_ROWS = 5  # the first rows shown as leads
SAMPLE_ROWS = 50  # rows read for each header's sample values
SAMPLES = 4  # sample values shown per header
LEADS_SHOWN = 20  # leads a run touched, linked from its page
APIFY_ROWS = 20  # Apify syncs listed
REJECTS_SHOWN = 10  # rejected rows listed on the run's page (all in the download)
_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
Cursor = Query(default=None, pattern=_ID.pattern)

MODE_LABELS = {
    "create": "Add new leads",
    "upsert": "Update matching leads, add the others",
    "update": "Update matching leads only",
}
MATCH_LABELS = {
    "email": "Email",
    "linkedin_url": "LinkedIn",
    "phone": "Phone",
    "external_id": "External id",
    "id": "Lead id",
}
POLICY_LABELS = {
    "merge": "Merge into the lead already there",
    "reject": "Reject the row",
    "review": "Add it, and list it under possible duplicates",
    "allow": "Add it anyway",
}
STATUS_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "reverted": "Reverted",
}
ACTIVE = frozenset({"queued", "running"})
COUNT_LABELS = {
    "created": "Created",
    "updated": "Updated",
    "merged": "Merged",
    "unchanged": "Unchanged",
    "skipped": "Skipped",
    "rejected": "Rejected",
}
OPTION_LABELS = {
    "file": "File",
    "mode": "Mode",
    "match_on": "Match on",
    "on_duplicate": "Duplicates",
}
UNMAPPED = ""  # the select's value for "keep in raw data"
# Fields a file's column can fill up many times over: a row's values gather.
MANY = frozenset(LIST_FIELDS) | {"raw_data"}


def field_label(name: str) -> str:
    form_field = lead_detail.FORM_FIELDS.get(name)
    return form_field.label if form_field else name.replace("_", " ").capitalize()


# The mapping select's choices: the lead page's fields first (the ones people
# know), then the others a file may carry (provider ids, scores, raw data).
FIELD_CHOICES: list[tuple[str, str]] = [
    (name, field_label(name)) for name in lead_detail.FORM_FIELDS if name in LEAD_FIELDS
] + [(name, field_label(name)) for name in LEAD_FIELDS if name not in lead_detail.FORM_FIELDS]


# --- Apify (the lead lists sync states here) ------------------------------------------


def apify_sync_states(session: Session) -> list[Mapping[str, Any]]:
    """Apify syncs for the page's "Apify" section, newest first: each a
    mapping with ``actor``, ``run_id``, ``status``, ``synced``, ``total``,
    ``failed``, ``error`` and ``updated_at``."""
    return [
        {
            "actor": state.label,
            "run_id": state.run_id if state.kind == "run" else state.dataset_id,
            "status": state.sync_status,
            "synced": state.synced,
            "total": state.total,
            "failed": state.failed,
            "error": state.error,
            "updated_at": state.last_sync_at,
        }
        for state in apify_service.sync_states_for_console(session, limit=APIFY_ROWS)
    ]


# --- the options of an import ------------------------------------------------------------


@dataclass
class Options:
    """The upload form's choices as posted, and what is wrong with them."""

    mode: str = "create"
    match_on: list[str] = field(default_factory=lambda: ["email"])
    on_duplicate: str = "merge"

    @classmethod
    def from_form(cls, form: FormData) -> Options:
        mode = form.get("mode")
        policy = form.get("on_duplicate")
        keys = [key for key in form.getlist("match_on") if isinstance(key, str) and key]
        return cls(
            mode=mode if isinstance(mode, str) else "create",
            match_on=list(dict.fromkeys(keys)),
            on_duplicate=policy if isinstance(policy, str) else "merge",
        )

    def errors(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.mode not in IMPORT_MODES:
            found["mode"] = "Choose what the import does with the rows"
        if self.mode != "create" and not self.match_on:
            found["match_on"] = "Choose at least one field that finds the lead to update"
        elif any(key not in MATCH_LABELS for key in self.match_on):
            found["match_on"] = "Choose among the fields offered"
        if self.on_duplicate not in POLICIES:
            found["on_duplicate"] = "Choose what happens to a row that duplicates a lead"
        return found

    def service_options(self) -> service.ImportOptions:
        return service.ImportOptions(
            mode=self.mode,  # type: ignore[arg-type]  # checked by errors()
            match_on=tuple(self.match_on or ["email"]),
            on_duplicate=self.on_duplicate,  # type: ignore[arg-type]
        )


# --- an upload kept between the preview and the start -----------------------------------


@dataclass(frozen=True)
class Upload:
    """A file saved by ``service.save_upload``: its folder's id names it."""

    token: str
    path: Path

    @classmethod
    def of(cls, path: Path) -> Upload:
        return cls(path.parent.name, path)

    @classmethod
    def find(cls, token: object) -> Upload | None:
        """The upload a preview form names; None when it is gone (started,
        cancelled) or the token is not one."""
        if not isinstance(token, str) or not _ID.match(token):
            return None
        folder = service.uploads_dir() / token
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        return cls(token, files[0]) if len(files) == 1 and files[0].is_file() else None

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


def keep_upload(file: UploadFile) -> Upload:
    file.file.seek(0)
    return Upload.of(service.save_upload(file.file, file.filename or "upload"))


# --- the mapping preview ------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    guess: str | None
    chosen: str | None
    samples: list[str]


@dataclass
class Preview:
    upload: Upload
    shape: FileShape
    columns: list[Column]
    leads: list[tuple[int, dict[str, Any]]]  # (row number, the lead a row becomes)
    unreadable: list[tuple[int, str]]  # rows among the first that cannot be read
    errors: FormErrors

    @property
    def mapping(self) -> dict[str, str | None]:
        return {column.header: column.chosen for column in self.columns}

    @property
    def lead_fields(self) -> list[str]:
        """The fields the preview leads fill, in the select's order."""
        filled = {name for _, lead in self.leads for name in lead}
        return [name for name, _ in FIELD_CHOICES if name in filled and name != "raw_data"]


def _sample_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def read_preview(upload: Upload, chosen: Mapping[str, str | None] | None) -> Preview:
    """Sniff the file (ReadError when it cannot be read) and show it mapped
    as ``chosen`` says (the guess for the headers it leaves out)."""
    shape = sniff(upload.path)
    guessed = guess_mapping(shape.headers).columns
    mapping = {header: guessed.get(header) for header in shape.headers}
    if chosen is not None:
        mapping.update({h: f for h, f in chosen.items() if h in mapping})
    samples: dict[str, list[str]] = {header: [] for header in shape.headers}
    leads: list[tuple[int, dict[str, Any]]] = []
    unreadable: list[tuple[int, str]] = []
    for seen, (number, row) in enumerate(read_rows(upload.path, shape)):
        if seen >= SAMPLE_ROWS:
            break
        if "__error__" in row:
            if len(leads) + len(unreadable) < PREVIEW_ROWS:
                unreadable.append((number, str(row["__error__"])))
            continue
        for header, value in row.items():
            shown = samples.get(header)
            if shown is not None and value not in (None, "") and len(shown) < SAMPLES:
                shown.append(_sample_text(value))
        if len(leads) + len(unreadable) < PREVIEW_ROWS:
            leads.append((number, apply_mapping(row, ColumnMapping(mapping))))
    columns = [
        Column(i, header, guessed.get(header), mapping[header], samples[header])
        for i, header in enumerate(shape.headers)
    ]
    return Preview(upload, shape, columns, leads, unreadable, mapping_errors(columns))


def mapping_errors(columns: Sequence[Column]) -> FormErrors:
    """Two columns into one field that keeps one value (the second would
    overwrite the first); or nothing mapped at all."""
    errors = FormErrors()
    first: dict[str, Column] = {}
    for column in columns:
        if column.chosen is None or column.chosen in MANY:
            continue
        if column.chosen in first:
            other = first[column.chosen].header
            errors.fields[f"map-{column.index}"] = (
                f"“{other}” already goes to {field_label(column.chosen)}: a lead keeps one "
                "value there; choose another field, or keep this column in raw data"
            )
        else:
            first[column.chosen] = column
    if all(column.chosen in (None, "raw_data") for column in columns):
        errors.general = "No column goes to a lead field: choose a field for at least one."
    return errors


def chosen_mapping(form: FormData, headers: Sequence[str]) -> dict[str, str | None]:
    """The selects as posted (``map-<column index>``): a field, or None."""
    chosen: dict[str, str | None] = {}
    for index, header in enumerate(headers):
        value = form.get(f"map-{index}")
        if isinstance(value, str):
            chosen[header] = value if value in LEAD_FIELDS else None
    return chosen


# --- queries the imports repository has no function for -------------------------------


@dataclass(frozen=True)
class TouchedLead:
    id: str
    name: str
    detail: str
    deleted: bool


def touched_leads(session: Session, run_id: str, limit: int = LEADS_SHOWN) -> list[TouchedLead]:
    """The first leads a run wrote a source row for (over the batch index)."""
    # A lead a run merged several rows into has a source row for each.
    rows = repository.first_leads_touched(session, run_id, limit * 3)
    found: dict[str, TouchedLead] = {}
    for lead_id, name, email, company, deleted in rows:
        if lead_id not in found and len(found) < limit:
            detail = " · ".join(str(v) for v in (email, company) if v and v != name)
            found[lead_id] = TouchedLead(lead_id, name or email or "(no name)", detail, deleted)
    return list(found.values())


def first_rejects(session: Session, run_id: str, limit: int = REJECTS_SHOWN) -> list[Any]:
    rejects = repository.rejects(session, run_id, batch=limit)
    return [reject for _, reject in zip(range(limit), rejects, strict=False)]


# --- flash messages ------------------------------------------------------------------

FLASH = {
    "started": ("success", "Import started."),
    "already": (
        "info",
        "This file was already imported with the same mapping and options: "
        "here is that run. Nothing was imported again.",
    ),
    "resumed": ("info", "This import had stopped before its end: it goes on from where it was."),
    "reverting": ("info", "Reverting this import…"),
    "reverted": ("success", "Import reverted."),
    "cancelled": ("info", "Upload cancelled: nothing was imported."),
    "gone": ("error", "That upload is gone (started or cancelled already). Upload the file again."),
}


def flash(params: Mapping[str, str], run: ImportRun | None = None) -> Flash | None:
    """What the last action did: a code from the URL, never text. On the
    run's page it follows the run: "started" goes when it ends (the status
    says the rest), "reverting" becomes "reverted"."""
    done = params.get("done", "")
    if run is not None and done == "started" and run.status not in ACTIVE:
        return None
    if done == "reverting" and run is not None and run.status == "reverted":
        done = "reverted"
    if done in FLASH:
        return Flash(*FLASH[done])
    return None


# --- pages -------------------------------------------------------------------------


def list_url(cursor: str | None = None) -> str:
    return "/imports" + ("?" + urlencode({"cursor": cursor}) if cursor else "")


def _read_list(
    request: Request, cursor: str | None
) -> tuple[list[ImportRunOut], bool, list[Mapping[str, Any]]]:
    with http_support.database(request).read_session() as session:
        runs = repository.newest(session, PAGE_SIZE + 1, before=cursor)
        items = [ImportRunOut.of(run) for run in runs[:PAGE_SIZE]]
        apify = apify_sync_states(session)
    return items, len(runs) > PAGE_SIZE, apify


async def _list_page(
    request: Request,
    user: ConsoleUser,
    *,
    cursor: str | None = None,
    options: Options | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    runs, more, apify = await run_in_threadpool(_read_list, request, cursor)
    context = {
        "runs": runs,
        "next_url": list_url(runs[-1].id) if more and runs else None,
        "first_url": list_url() if cursor else None,
        "apify": apify,
        "options": options or Options(),
        "errors": (errors or FormErrors()).ordered(OPTION_LABELS),
        "flash": flash(request.query_params),
    }
    return _render(request, user, "imports/list.html", context, status_code)


@router.get("/imports")
async def imports_page(request: Request, user: SignedIn, cursor: str | None = Cursor) -> Response:
    """Import runs, newest first; the upload form for editors."""
    return await _list_page(request, user, cursor=cursor)


@router.post("/imports")
async def upload(request: Request, user: Editor) -> Response:
    """Keep the file and show how its columns map (nothing imported yet)."""
    form = await request.form()
    options = Options.from_form(form)
    errors = FormErrors(options.errors())
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename or not file.size:
        errors.fields["file"] = "Choose a file: CSV, TSV, JSON, NDJSON or Excel (.xlsx)"
    if errors:
        return await _list_page(request, user, options=options, errors=errors, status_code=422)
    assert isinstance(file, UploadFile)
    file_name = Path(file.filename or "upload").name[:255]
    kept = await run_in_threadpool(keep_upload, file)
    try:
        preview = await run_in_threadpool(read_preview, kept, None)
    except (ReadError, OSError, ValueError) as exc:
        kept.discard()
        errors.fields["file"] = f"{file_name} cannot be read: {exc}"
        return await _list_page(request, user, options=options, errors=errors, status_code=422)
    return _preview_page(request, user, preview, options, file_name)


def _preview_page(
    request: Request,
    user: ConsoleUser,
    preview: Preview,
    options: Options,
    file_name: str,
    *,
    status_code: int = 200,
) -> Response:
    preview.errors.fields.update(options.errors())
    context = {
        "preview": preview,
        "options": options,
        "file_name": file_name,
        "errors": preview.errors,
        "field_choices": FIELD_CHOICES,
    }
    return _render(request, user, "imports/preview.html", context, status_code)


@router.post("/imports/start")
async def start(request: Request, user: Editor) -> Response:
    """The preview's buttons: show it again with the mapping chosen, start
    the import, or cancel (the upload is removed)."""
    form = await request.form()
    kept = Upload.find(form.get("upload"))
    if kept is None:
        return RedirectResponse("/imports?done=gone", status_code=303)
    action = form.get("action")
    if action == "cancel":
        kept.discard()
        return RedirectResponse("/imports?done=cancelled", status_code=303)
    options = Options.from_form(form)
    file_name = str(form.get("file_name") or kept.path.name)[:255]

    def read() -> Preview:
        headers = sniff(kept.path).headers
        return read_preview(kept, chosen_mapping(form, headers))

    try:
        preview = await run_in_threadpool(read)
    except (ReadError, OSError, ValueError):
        kept.discard()
        return RedirectResponse("/imports?done=gone", status_code=303)
    if action != "start" or preview.errors or options.errors():
        status = 422 if action == "start" else 200
        return _preview_page(request, user, preview, options, file_name, status_code=status)
    plan = await run_in_threadpool(
        service.plan, kept.path, options.service_options(), mapping=preview.mapping
    )

    def queue(uow: UnitOfWork) -> tuple[str, str]:
        begun = service.queue(uow, plan, file_name)
        return begun.run.id, begun.start

    run_id, begun = await http_support.write(request, user.principal, queue)
    if begun == "done":
        kept.discard()  # the earlier run read its own copy
    done = {"new": "started", "resume": "resumed", "done": "already"}[begun]
    return RedirectResponse(f"/imports/{run_id}?done={done}", status_code=303)


def _read_run(request: Request, run_id: str) -> tuple[ImportRun, list[TouchedLead], list[Any], int]:
    if not _ID.match(run_id):
        raise NotFoundError(f"import {run_id[:64]} not found")
    with http_support.database(request).read_session() as session:
        run = service.get_run(session, run_id)
        session.expunge(run)
        if run.status in ACTIVE:
            return run, [], [], 0
        leads = touched_leads(session, run_id)
        rejects = first_rejects(session, run_id)
        rejected = run.counts.get("rejected", 0)
        return run, leads, rejects, rejected


@router.get("/imports/{run_id}")
async def run_page(request: Request, user: SignedIn, run_id: str) -> Response:
    """One run: its progress while it runs, then what it did."""
    run, leads, rejects, rejected = await run_in_threadpool(_read_run, request, run_id)
    shown = flash(request.query_params, run)
    reverting = request.query_params.get("done") == "reverting" and run.status != "reverted"
    context = {
        "run": ImportRunOut.of(run),
        "leads": leads,
        "rejects": rejects,
        "rejected": rejected,
        "flash": shown,
        "active": run.status in ACTIVE or reverting,
        "reverting": reverting,
        "can_revert": run.status in ("completed", "failed") and not reverting,
        "shape": run.options.get("shape", {}),
        "columns": [(header, run.mapping.get(header)) for header in file_headers(run)],
    }
    return _render(request, user, "imports/run.html", context)


def progress_of(run: ImportRunOut) -> dict[str, Any]:
    """What imports.js updates on a run's page."""
    return {
        "id": run.id,
        "status": run.status,
        "status_label": STATUS_LABELS.get(run.status, run.status),
        "rows_done": run.rows_done,
        "rows_total": run.rows_total,
        "progress": run.progress,
        "counts": run.counts,
        "error": run.error,
    }


@router.get("/imports/{run_id}/progress")
async def run_progress(request: Request, user: SignedIn, run_id: str) -> JSONResponse:
    """A run's status and counts, for the page's script to poll."""
    del user
    run, *_ = await run_in_threadpool(_read_run_only, request, run_id)
    return JSONResponse(progress_of(ImportRunOut.of(run)), headers={"Cache-Control": "no-store"})


def _read_run_only(request: Request, run_id: str) -> tuple[ImportRun]:
    if not _ID.match(run_id):
        raise NotFoundError(f"import {run_id[:64]} not found")
    with http_support.database(request).read_session() as session:
        run = service.get_run(session, run_id)
        session.expunge(run)
        return (run,)


@router.get("/imports/{run_id}/rejects")
async def download_rejects(request: Request, user: SignedIn, run_id: str) -> StreamingResponse:
    """The rows a run rejected, as CSV: row number, reason, then the row's
    own columns (as the file had them), so it can be fixed and imported again."""
    del user
    run, *_ = await run_in_threadpool(_read_run_only, request, run_id)
    headers = await run_in_threadpool(file_headers, run)
    known = set(headers)
    database = http_support.database(request)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "reason", *headers, "other columns"])
        with database.read_session() as session:
            for reject in repository.rejects(session, run_id):
                row = reject.row or {}
                other = {k: v for k, v in row.items() if k not in known}
                cells = [_cell(row, header) for header in headers]
                extra = json.dumps(other, default=str) if other else ""
                writer.writerow([reject.row_number, reject.reason, *cells, extra])
                if buffer.tell() > 1 << 16:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    disposition = f'attachment; filename="import-{run_id}-rejects.csv"'
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def file_headers(run: ImportRun) -> list[str]:
    """The run's columns in the file's order: PostgreSQL's JSONB keeps the
    mapping's keys in an order of its own, so the file says when it is still
    there."""
    shape = run.options.get("shape") or {}
    if run.file_path and Path(run.file_path).is_file():
        try:
            sniffed = sniff(
                Path(run.file_path),
                format=shape.get("format"),
                encoding=shape.get("encoding"),
                delimiter=shape.get("delimiter"),
            )
        except (ReadError, OSError, ValueError):
            pass
        else:
            if set(sniffed.headers) == set(run.mapping):
                return sniffed.headers
    return list(run.mapping)


def _cell(row: Mapping[str, Any], header: str) -> str:
    value = row.get(header)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


@router.post("/imports/{run_id}/revert")
async def revert(request: Request, user: Editor, run_id: str) -> Response:
    """Queue the run's revert (the leads it created deleted, the values it
    changed put back) and follow it on the run's page."""
    if not _ID.match(run_id):
        raise NotFoundError(f"import {run_id[:64]} not found")
    await http_support.write(request, user.principal, lambda uow: service.queue_revert(uow, run_id))
    return RedirectResponse(f"/imports/{run_id}?done=reverting", status_code=303)


def _render(
    request: Request,
    user: ConsoleUser,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    context.update(
        user=user,
        status_labels=STATUS_LABELS,
        count_labels=COUNT_LABELS,
        count_names=IMPORT_COUNTS,
        mode_labels=MODE_LABELS,
        match_labels=MATCH_LABELS,
        policy_labels=POLICY_LABELS,
        option_labels=OPTION_LABELS,
        active_statuses=ACTIVE,
        field_label=field_label,
        who=who,
    )
    return rendering.render(request, template, context, status_code=status_code)
