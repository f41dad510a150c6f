"""Console: the /leads explorer (being built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadbase.web import rendering
from leadbase.web.session import SignedIn

router = APIRouter(include_in_schema=False)


@router.get("/leads")
async def leads_page(request: Request, user: SignedIn) -> Response:
    return rendering.render(request, "leads/list.html", {})
