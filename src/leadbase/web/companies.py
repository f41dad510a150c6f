"""Console: /companies (search by name or domain, newest first or by name,
page by page) and /companies/{id} (its fields and its people). Read only:
companies change through the API, an import, a lead's write or
enrichment; every signed-in role may see what these pages show, as ``GET
/api/v1/companies`` shows it to them.

The queries are the API's: ``companies.repository.page`` with the same
name-or-domain search and id cursor, and ``leads_page`` for a company's leads.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from leadbase.companies import repository
from leadbase.companies.schemas import (
    ID_PATTERN,
    TEXT_PATTERN,
    CompanyOut,
    domain_search_prefix,
    name_search_prefix,
)
from leadbase.errors import NotFoundError
from leadbase.http.support import database
from leadbase.leads.schemas import LeadOut
from leadbase.web import rendering
from leadbase.web.session import SignedIn

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LEADS_PAGE_SIZE = 50
_ID = re.compile(ID_PATTERN)
Cursor = Annotated[str | None, Query(pattern=ID_PATTERN)]
Search = Annotated[str | None, Query(max_length=255, pattern=TEXT_PATTERN)]
# The list's orders: value -> label; the first is the default.
SORTS = {"-created_at": "Newest first", "name": "Name A to Z"}
ListSort = Annotated[str, Query(pattern="^(-created_at|name)$")]


def _page_url(path: str, **params: str | None) -> str:
    given = {name: value for name, value in params.items() if value}
    return path + ("?" + urlencode(given) if given else "")


def _link(url: str | None) -> str | None:
    """A stored URL as a link target only when it is a web address: a
    ``javascript:`` URL in an imported row must stay text."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


@router.get("/companies")
def companies_page(
    request: Request,
    user: SignedIn,
    q: Search = None,
    cursor: Cursor = None,
    sort: ListSort = "-created_at",
) -> Response:
    """Newest first, or by name; ``q`` is the start of a name (case and
    accents aside) or of a domain (a pasted URL works), as in the API."""
    with database(request).read_session() as session:
        rows = repository.page(
            session,
            {},
            domain_prefix=domain_search_prefix(q),
            name_prefix=name_search_prefix(q),
            after_id=cursor,
            limit=PAGE_SIZE + 1,
            descending=sort.startswith("-"),
            include_deleted=False,
            by_name=sort == "name",
        )
        companies = [CompanyOut.model_validate(row) for row in rows[:PAGE_SIZE]]
        counts = repository.lead_counts(session, [company.id for company in companies])
    search = (q or "").strip()
    shown_sort = None if sort == "-created_at" else sort
    next_url = None
    if len(rows) > PAGE_SIZE:
        next_url = _page_url("/companies", q=search, sort=shown_sort, cursor=companies[-1].id)
    context: dict[str, Any] = {
        "companies": companies,
        "lead_counts": counts,
        "q": search,
        "sort": sort,
        "sorts": list(SORTS.items()),
        "next_url": next_url,
        "first_url": _page_url("/companies", q=search, sort=shown_sort) if cursor else None,
    }
    return rendering.render(request, "companies/list.html", context)


@router.get("/companies/{company_id}")
def company_page(
    request: Request, user: SignedIn, company_id: str, cursor: Cursor = None
) -> Response:
    """A company's fields and its people (newest first, a page at a time)."""
    with database(request).read_session() as session:
        # An id no company can have is as unknown as any other.
        found = repository.get(session, company_id) if _ID.match(company_id) else None
        if found is None:
            raise NotFoundError(f"company {company_id[:64]} not found")
        company = CompanyOut.model_validate(found)
        rows = repository.leads_page(
            session,
            company_id,
            lead_status=None,
            after_id=cursor,
            limit=LEADS_PAGE_SIZE + 1,
            descending=True,
            include_deleted=False,
        )
        leads = [LeadOut.model_validate(row).model_dump() for row in rows[:LEADS_PAGE_SIZE]]
    path = f"/companies/{company.id}"
    context: dict[str, Any] = {
        "company": company,
        "website": _link(company.website),
        "linkedin": _link(company.linkedin_url),
        "leads": leads,
        "next_url": _page_url(path, cursor=leads[-1]["id"])
        if len(rows) > LEADS_PAGE_SIZE
        else None,
        "first_url": path if cursor else None,
    }
    return rendering.render(request, "companies/detail.html", context)
