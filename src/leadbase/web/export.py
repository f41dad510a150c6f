"""Console: the leads of a list, or a selection of them, as a CSV or XLSX download.

- ``GET /leads/export?<the list's query>&format=csv|xlsx&columns=a,b,c``:
  every lead the list at ``/leads?<the list's query>`` shows, in its order
  (page links, ``after``/``before``, are ignored: the whole list is exported).
- ``POST /leads/export`` (form: ``csrf_token``, repeated ``ids``, ``format``,
  ``columns``, and optionally ``sort`` and ``include_deleted``): the selected
  leads, in that sort's order.

Any signed-in role may export. Bad input gets the console's error page (422).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from leadbase.errors import ValidationError
from leadbase.http.support import database
from leadbase.leads import export
from leadbase.leads.repository import Sort
from leadbase.web import pages
from leadbase.web.leads_list import DEFAULT_SORT, SORTS, parse_view
from leadbase.web.session import SignedIn, check_csrf

router = APIRouter(include_in_schema=False)

# Besides the ids: csrf_token, format, columns, sort, include_deleted, return_to.
FORM_FIELDS_BESIDES_IDS = 20


@router.get("/leads/export")
async def export_list(request: Request, user: SignedIn) -> Response:
    """The list the query string names, as a file."""
    view = parse_view(request.query_params)
    if view.errors:
        return pages.error_page(request, 422, " ".join(view.errors.values()))
    params = request.query_params
    return await _download(
        request,
        user.principal.actor,
        lambda: export.Export(
            export.LeadSet(
                filters=view.filters,
                q=view.q,
                tag=view.tag,
                include_deleted=view.include_deleted,
                sort=view.sort,
            ),
            columns=export.parse_columns(params.getlist("columns")),
            format=export.parse_format(params.get("format")),
        ),
    )


@router.post("/leads/export")
async def export_selection(request: Request, user: SignedIn) -> Response:
    """The selected leads (the list's checkboxes), as a file."""
    form = await request.form(max_fields=export.MAX_SELECTION + FORM_FIELDS_BESIDES_IDS)
    await check_csrf(request, user)
    return await _download(request, user.principal.actor, lambda: _selection(form))


def _selection(form: FormData) -> export.Export:
    ids = export.parse_ids([v for v in form.getlist("ids") if isinstance(v, str)])
    if not ids:
        raise ValidationError("ids", "select at least one lead to export")
    sort = _text(form, "sort") or DEFAULT_SORT
    if sort not in SORTS:
        raise ValidationError("sort", f"{sort[:40]!r} is not a sort of the list")
    include_deleted = _text(form, "include_deleted")
    if include_deleted not in ("", "true"):
        raise ValidationError("include_deleted", "true, or leave it out")
    return export.Export(
        export.LeadSet(sort=Sort.parse(sort), include_deleted=include_deleted == "true", ids=ids),
        columns=export.parse_columns([v for v in form.getlist("columns") if isinstance(v, str)]),
        format=export.parse_format(_text(form, "format")),
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _download(request: Request, actor: str, wanted: Callable[[], export.Export]) -> Response:
    """The export, or the error page naming what was wrong with the request."""
    try:
        return await export.response(database(request), wanted(), actor)
    except ValidationError as exc:
        return pages.error_page(request, 422, exc.message)
