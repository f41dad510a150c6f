"""Console: a user's columns of the lead list, and saved views.

Form posts from the list's dialogs (templates/leads/_list_dialogs.html), by
any signed-in user with the session's CSRF token: columns and views are
preferences, not lead data, so viewers keep their own too. Each post is one
unit of work that commits at the end (views.service flushes only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from leadbase.errors import ValidationError
from leadbase.http.support import write
from leadbase.views import service
from leadbase.views.schemas import LEADS, ColumnsIn, SavedViewIn
from leadbase.web import leads_list
from leadbase.web.session import SignedIn, check_csrf

router = APIRouter(include_in_schema=False)


def _checked(model: type[pydantic.BaseModel], values: dict[str, Any]) -> Any:
    """The form as ``model``, or the first problem as our 422."""
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "form"
        raise ValidationError(field, error["msg"].removeprefix("Value error, ")) from None


def _strings(values: list[Any]) -> list[str]:
    return [value for value in values if isinstance(value, str)]


@router.post("/leads/columns")
async def save_columns(request: Request, user: SignedIn) -> Response:
    """The columns ticked, in the order the dialog lists them: the user's
    own, or (``view``) the saved view's when its owner or an admin saves."""
    await check_csrf(request, user)
    form = await request.form()
    columns: ColumnsIn = _checked(ColumnsIn, {"columns": _strings(form.getlist("columns"))})
    view_id = form.get("view")
    if isinstance(view_id, str) and view_id:
        await write(
            request,
            user.principal,
            lambda uow: service.update_view_columns(uow, user.principal, view_id, columns),
        )
    else:
        await write(
            request,
            user.principal,
            lambda uow: service.save_columns(uow, user.principal, LEADS, columns),
        )
    return RedirectResponse(leads_list.safe_return(form.get("return_to")), status_code=303)


@router.post("/leads/views")
async def save_view(request: Request, user: SignedIn) -> Response:
    """Save the list's filters, sort and columns under a name (again under
    the same name: replaced); then open it."""
    await check_csrf(request, user)
    form = await request.form()
    columns = form.get("columns")
    given: SavedViewIn = _checked(
        SavedViewIn,
        {
            "name": form.get("name") or "",
            "shared": form.get("shared") == "true",
            "query": form.get("query") or "",
            "columns": columns.split(",") if isinstance(columns, str) and columns else [],
        },
    )
    query = leads_list.parse_view(dict(parse_qsl(given.query)))
    if query.errors:
        raise ValidationError("query", "; ".join(query.errors.values()))
    given = given.model_copy(update={"query": query.query_string})
    view_id = await write(
        request,
        user.principal,
        lambda uow: service.save_view(uow, user.principal, LEADS, given).id,
    )
    return RedirectResponse(f"/leads?view={view_id}", status_code=303)


@router.post("/leads/views/{view_id}/delete")
async def delete_view(request: Request, user: SignedIn, view_id: str) -> Response:
    await check_csrf(request, user)
    await write(
        request, user.principal, lambda uow: service.delete_view(uow, user.principal, view_id)
    )
    return RedirectResponse("/leads", status_code=303)
