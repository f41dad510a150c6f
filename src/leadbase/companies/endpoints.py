"""/api/v1/companies: the same shape as /api/v1/leads, plus a company's leads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.companies import repository, service
from leadbase.companies.schemas import (
    ID_PATTERN,
    TEXT_PATTERN,
    CompanyCreate,
    CompanyOut,
    CompanyPage,
    CompanyWrite,
    domain_search_prefix,
    name_search_prefix,
)
from leadbase.dedupe import normalise as norm
from leadbase.errors import NotFoundError
from leadbase.http.support import (
    Envelope,
    IfMatch,
    database,
    etag,
    if_match_version,
    stale_is_412,
    writing,
)
from leadbase.leads.schemas import CompanyDuplicatePolicy, LeadOut, LeadPage, LeadStatus
from leadbase.models import Company

MAX_PAGE = 500

router = APIRouter(prefix="/api/v1/companies", tags=["companies"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]
# Ids are UUID strings. The patterns keep what no column can hold (NUL) out
# of the queries: PostgreSQL would refuse it with an error, not an empty answer.
CompanyId = Annotated[str, Path(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="next_cursor of the last page")
]
Sort = Annotated[str, Query(pattern="^-?created_at$")]
ListSort = Annotated[
    str,
    Query(
        pattern="^-?(created_at|name)$",
        description="created_at or name (accents and case folded: Émile, Łukasz, Ömer, Zoë); "
        "-field for descending.",
    ),
]
Filter = Annotated[str | None, Query(max_length=100, pattern=TEXT_PATTERN)]


def _one(company: Company, response: Response) -> Envelope[CompanyOut]:
    response.headers["ETag"] = etag(company.version)
    return Envelope(data=CompanyOut.model_validate(company))


def _filters(**values: str | None) -> dict[str, str]:
    """The filters given, compared as stored: trimmed, white space folded;
    a domain in its normal form (a pasted URL works). Empty means no filter."""
    filters: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        clean = norm.clean_text(value)
        if clean is not None:
            filters[name] = norm.normalise_domain(clean) if name == "domain" else clean
    return filters


@router.get("", response_model=Envelope[CompanyPage])
def list_companies(
    request: Request,
    _principal: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: ListSort = "-created_at",
    q: Annotated[
        str | None,
        Query(
            max_length=255,
            pattern=TEXT_PATTERN,
            description="The start of the company's name or domain; case and accents "
            'do not matter ("acme" finds "ACME Corp" and acme.io).',
        ),
    ] = None,
    domain: Annotated[str | None, Query(max_length=255, pattern=TEXT_PATTERN)] = None,
    industry: Filter = None,
    country: Filter = None,
    city: Filter = None,
    include_deleted: bool = False,
) -> Envelope[CompanyPage]:
    filters = _filters(domain=domain, industry=industry, country=country, city=city)
    with database(request).read_session() as session:
        rows = repository.page(
            session,
            filters,
            domain_prefix=domain_search_prefix(q),
            name_prefix=name_search_prefix(q),
            after_id=cursor,
            limit=limit + 1,
            descending=sort.startswith("-"),
            include_deleted=include_deleted,
            by_name=sort.removeprefix("-") == "name",
        )
        items = [CompanyOut.model_validate(row) for row in rows[:limit]]
    next_cursor = items[-1].id if len(rows) > limit else None
    return Envelope(data=CompanyPage(items=items, next_cursor=next_cursor))


@router.post(
    "",
    status_code=201,
    response_model=Envelope[CompanyOut],
    responses={200: {"model": Envelope[CompanyOut], "description": "Merged (on_duplicate=merge)"}},
)
def create_company(
    request: Request,
    response: Response,
    principal: Editor,
    payload: CompanyCreate,
    on_duplicate: CompanyDuplicatePolicy = "reject",
) -> Envelope[CompanyOut]:
    """A company with the domain of an existing one is a 409 naming it, unless
    ``on_duplicate`` is ``merge`` (fill its empty fields; 200) or ``allow``."""
    with writing(request, principal) as uow:
        company, is_new = service.create_or_merge(
            uow, payload.model_dump(exclude_unset=True), on_duplicate=on_duplicate
        )
    if not is_new:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/companies/{company.id}"
    return _one(company, response)


@router.get("/{company_id}", response_model=Envelope[CompanyOut])
def get_company(
    request: Request,
    response: Response,
    _principal: Reader,
    company_id: CompanyId,
    include_deleted: bool = False,
) -> Envelope[CompanyOut]:
    with database(request).read_session() as session:
        company = repository.get(session, company_id, include_deleted=include_deleted)
    if company is None:
        raise NotFoundError(f"company {company_id} not found")
    return _one(company, response)


def _write(
    request: Request,
    principal: Principal,
    company_id: str,
    payload: CompanyWrite,
    if_match: str | None,
    *,
    replace: bool,
) -> Company:
    changes: dict[str, Any] = payload.model_dump(exclude_unset=True)
    body_version = changes.pop("version", None)
    header_version = if_match_version(if_match)
    with stale_is_412(header_version), writing(request, principal) as uow:
        return service.update(
            uow,
            company_id,
            changes,
            expected_version=header_version if header_version is not None else body_version,
            replace=replace,
        )


@router.put("/{company_id}", response_model=Envelope[CompanyOut])
def replace_company(
    request: Request,
    response: Response,
    principal: Editor,
    company_id: CompanyId,
    payload: CompanyWrite,
    if_match: IfMatch = None,
) -> Envelope[CompanyOut]:
    """Replace every writable field; omitted fields are cleared."""
    company = _write(request, principal, company_id, payload, if_match, replace=True)
    return _one(company, response)


@router.patch("/{company_id}", response_model=Envelope[CompanyOut])
def update_company(
    request: Request,
    response: Response,
    principal: Editor,
    company_id: CompanyId,
    payload: CompanyWrite,
    if_match: IfMatch = None,
) -> Envelope[CompanyOut]:
    """Change only the fields given."""
    company = _write(request, principal, company_id, payload, if_match, replace=False)
    return _one(company, response)


@router.delete("/{company_id}", response_model=Envelope[CompanyOut])
def delete_company(
    request: Request,
    response: Response,
    principal: Editor,
    company_id: CompanyId,
    if_match: IfMatch = None,
) -> Envelope[CompanyOut]:
    """Soft delete: the company leaves lists and can be restored. Its leads stay."""
    expected = if_match_version(if_match)
    with stale_is_412(expected), writing(request, principal) as uow:
        company = service.soft_delete(uow, company_id, expected_version=expected)
    return _one(company, response)


@router.post("/{company_id}/restore", response_model=Envelope[CompanyOut])
def restore_company(
    request: Request, response: Response, principal: Editor, company_id: CompanyId
) -> Envelope[CompanyOut]:
    with writing(request, principal) as uow:
        company = service.restore(uow, company_id)
    return _one(company, response)


@router.get("/{company_id}/leads", response_model=Envelope[LeadPage])
def company_leads(
    request: Request,
    _principal: Reader,
    company_id: CompanyId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Sort = "-created_at",
    lead_status: LeadStatus | None = None,
    include_deleted: bool = False,
) -> Envelope[LeadPage]:
    """The company's leads, paged like /api/v1/leads. ``include_deleted`` also
    finds a deleted company and its deleted leads."""
    with database(request).read_session() as session:
        if repository.get(session, company_id, include_deleted=include_deleted) is None:
            raise NotFoundError(f"company {company_id} not found")
        rows = repository.leads_page(
            session,
            company_id,
            lead_status=lead_status,
            after_id=cursor,
            limit=limit + 1,
            descending=sort.startswith("-"),
            include_deleted=include_deleted,
        )
        items = [LeadOut.model_validate(row) for row in rows[:limit]]
    next_cursor = items[-1].id if len(rows) > limit else None
    return Envelope(data=LeadPage(items=items, next_cursor=next_cursor))
