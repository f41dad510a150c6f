"""Console: the values a list filter can take, for facets.js's suggestions.

``GET /leads/facets/{field}?prefix=...`` answers, for a signed-in user,
``{"success": true, "data": {"field", "prefix", "values": [{"value",
"count", "spellings"}]}}``: the values of source, country, tag,
lead_status or industry among active leads, most common first (see
leads.facets). An unknown field is a 422 in the same envelope.

Included before ``/leads/{lead_id}``: its path is literal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leadbase.http.support import database
from leadbase.leads import facets
from leadbase.web.session import SignedIn

router = APIRouter(include_in_schema=False)


@router.get("/leads/facets/{field}")
async def facet_values(
    request: Request,
    _user: SignedIn,
    field: str,
    prefix: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=facets.MAX_LIMIT)] = facets.DEFAULT_LIMIT,
) -> JSONResponse:
    facets.check_field(field)
    db = database(request)

    def read() -> facets.FacetValues:
        # In the thread pool: a cold cache counts while this request waits.
        with db.read_session() as session:
            return facets.values(session, field, prefix=prefix or None, limit=limit)

    found = await run_in_threadpool(read)
    return JSONResponse(
        {"success": True, "data": found.model_dump()},
        # The browser may reuse an answer while the user types on.
        headers={"Cache-Control": f"private, max-age={int(facets.CACHE_SECONDS // 2)}"},
    )
