"""Console: quick-add on /leads and the live enrichment status of its rows.

``POST /leads/quick-add`` adds a lead from an email (and a domain and name)
through ``leads.service.quick_add``, acting as the signed-in editor; the
enrichment job goes to the runner once the unit of work commits, so the
answer comes at once with the new row, ``in progress``. quick_add.js puts the
row at the top of the table and asks ``GET /leads/status`` until the rows it
watches finish, then swaps each finished row for its new rendering.

These routes are included before ``/leads/{lead_id}``: their paths are literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import RowMapping
from starlette.responses import Response

from leadbase.db import UnitOfWork
from leadbase.errors import DuplicateLeadError, NotFoundError, ValidationError
from leadbase.http.support import database, write
from leadbase.leads import repository, service
from leadbase.leads.schemas import LeadOut
from leadbase.web import pages, rendering
from leadbase.web.leads_list import columns_from
from leadbase.web.session import ConsoleUser, Editor, SignedIn, is_form_post

router = APIRouter(include_in_schema=False)

# The form's fields and the lead fields the service reports errors under.
FORM_FIELDS = ("email", "domain", "name")
_FORM_FIELD_OF = {"company_domain": "domain", "full_name": "name"}
_FRIENDLIER = {"Field required": "Enter the lead's email address."}
MAX_STATUS_IDS = 200
MAX_COLUMNS_PARAM = 400
_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def row_html(lead: Mapping[str, Any], user: ConsoleUser, columns: str | None = None) -> str:
    """The lead's row of the /leads table, as the list page renders it, with
    the page's columns (its table's ``data-columns``; the default without)."""
    template = rendering.ENVIRONMENT.get_template("leads/_row.html")
    values: dict[str, Any] = {"lead": lead, "user": user}
    if columns is not None:
        values["columns"] = columns_from([key.strip() for key in columns.split(",")])
    return template.render(values)


def _lead_view(row: RowMapping | Any) -> dict[str, Any]:
    """A stored lead (row or entity) as the mapping the row template reads."""
    source = dict(row) if isinstance(row, RowMapping) else row
    return LeadOut.model_validate(source).model_dump()


# --- quick-add --------------------------------------------------------------------------


async def _submitted(request: Request) -> tuple[dict[str, Any], str | None]:
    """The form's fields from a form post or a JSON body, blanks left out,
    and the columns of the page's table (``columns``, comma-separated).

    Values are passed on as sent: the service checks them (a number where
    text belongs is its 422, not ours)."""
    if is_form_post(request):
        body: Any = dict(await request.form())
    else:
        try:
            body = await request.json()
        except ValueError:
            raise ValidationError("body", "expected a JSON object") from None
        if not isinstance(body, dict):
            raise ValidationError("body", "expected a JSON object")
    given: dict[str, Any] = {}
    for field in FORM_FIELDS:
        value = body.get(field)
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            given[field] = value
    columns = body.get("columns")
    return given, columns[:MAX_COLUMNS_PARAM] if isinstance(columns, str) else None


def _field_errors(exc: ValidationError | DuplicateLeadError) -> list[dict[str, Any]]:
    """The error as messages for the form's fields (``field`` may be ``None``:
    a message for the whole form)."""
    if isinstance(exc, DuplicateLeadError):
        field = _FORM_FIELD_OF.get(exc.matched_on, exc.matched_on)
        if len(exc.reasons) > 1:  # fuzzy: the person as a whole, not one field
            field = ""
            message = f"This looks like a lead you already have ({', '.join(exc.reasons)})."
        else:
            message = f"A lead with this {exc.matched_on.replace('_', ' ')} already exists."
        return [
            {
                "field": field if field in FORM_FIELDS else None,
                "message": message,
                "existing_id": exc.existing_id,
            }
        ]
    errors = []
    for detail in exc.details:
        field = _FORM_FIELD_OF.get(str(detail["field"]), str(detail["field"]))
        message = str(detail["message"])
        errors.append(
            {
                "field": field if field in FORM_FIELDS else None,
                "message": _FRIENDLIER.get(message, message),
            }
        )
    return errors


@router.post("/leads/quick-add")
async def quick_add(request: Request, user: Editor) -> Response:
    """Add a lead at once; enrichment follows in the background.

    JSON in, JSON out for the page's script: the new row's HTML, or the
    errors by form field (422 invalid, 409 duplicate) with nothing written.
    A plain form post (no script) is sent back to /leads, or gets an error page.
    """
    as_form = is_form_post(request)
    columns: str | None = None
    try:
        given, columns = await _submitted(request)

        def added(uow: UnitOfWork) -> RowMapping | None:
            result = service.quick_add(uow, given, on_duplicate="reject")
            return repository.row_by_id(uow.session, result.lead_id)

        row = await write(request, user.principal, added)
    except (ValidationError, DuplicateLeadError) as exc:
        if as_form:
            return pages.error_page(request, exc.status_code, exc.message)
        body = {
            "success": False,
            "error": exc.code,
            "message": exc.message,
            "details": _field_errors(exc),
        }
        return JSONResponse(body, status_code=exc.status_code)
    if row is None:  # created in this transaction: cannot be gone
        raise NotFoundError("the new lead was not found")
    if as_form:
        return RedirectResponse("/leads", status_code=303)
    lead = _lead_view(row)
    data = {"id": lead["id"], "row_html": row_html(lead, user, columns)}
    return JSONResponse({"success": True, "data": data}, status_code=201)


# --- live status ------------------------------------------------------------------------


def _status_ids(ids: str) -> list[str]:
    wanted = list(dict.fromkeys(part.strip() for part in ids.split(",") if part.strip()))
    if len(wanted) > MAX_STATUS_IDS:
        raise ValidationError("ids", f"at most {MAX_STATUS_IDS} ids at a time")
    for lead_id in wanted:
        if not _ID.match(lead_id):
            raise ValidationError("ids", f"{lead_id[:40]!r} is not a lead id")
    return wanted


@router.get("/leads/status")
async def lead_statuses(
    request: Request,
    user: SignedIn,
    ids: Annotated[str, Query(max_length=MAX_STATUS_IDS * 40)] = "",
    columns: Annotated[str | None, Query(max_length=MAX_COLUMNS_PARAM)] = None,
) -> JSONResponse:
    """``{"success": true, "data": {id: {"enrichment_status", "row_html"}}}``
    for the leads named (comma-separated, at most 200); unknown ids are left out."""
    wanted = _status_ids(ids)
    statuses: dict[str, dict[str, str]] = {}
    if wanted:
        with database(request).read_session(single_statement=True) as session:
            leads = [_lead_view(lead) for lead in repository.get_many(session, wanted).values()]
        for lead in leads:
            statuses[lead["id"]] = {
                "enrichment_status": lead["enrichment_status"],
                "row_html": row_html(lead, user, columns),
            }
    return JSONResponse({"success": True, "data": statuses}, headers={"Cache-Control": "no-store"})
