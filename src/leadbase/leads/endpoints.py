"""/api/v1/leads: the Lead Explorer API on the one write path."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from leadbase.audit import repository as audit_repository
from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.db import Database, UnitOfWork
from leadbase.errors import NotFoundError, ValidationError
from leadbase.http.support import (
    Envelope,
    IfMatch,
    database,
    etag,
    if_match_version,
    stale_is_412,
    write,
)
from leadbase.leads import export, facets, listing, repository, service
from leadbase.leads.schemas import (
    BulkItem,
    DuplicatePolicy,
    EnrichmentStatus,
    HistoryEntry,
    LeadHistory,
    LeadOut,
    LeadPage,
    QuickAddInput,
    TimelineEvent,
)
from leadbase.models import LeadEvent, SalesLead
from leadbase.models.lead import AUDITED_EVENTS, LEAD_STATUSES

MAX_PAGE = 500
MAX_BULK = 1000

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]

# Reads are `async def` and query the database on the event loop: an index
# walk and a page are short, and on this GIL-bound server the hops to the
# thread pool and back cost more than the query (bench/api_load.py: twice
# the requests a second). Writes stay in the pool: they may wait for
# another process's write lock.


def _one(lead: SalesLead, response: Response) -> Envelope[LeadOut]:
    response.headers["ETag"] = etag(lead.version)
    return Envelope(data=LeadOut.model_validate(lead))


SORT_PATTERN = "^-?(" + "|".join(repository.SORT_FIELDS) + ")$"
LEAD_STATUS_PATTERN = "(?i)^(" + "|".join(LEAD_STATUSES) + ")$"
IGNORING_CASE = "Ignoring case: every stored spelling of the value"
# The list's case-insensitive status filter (GET /leads and its export).
LeadStatusFilter = Annotated[
    str | None,
    Query(
        max_length=20,
        pattern=LEAD_STATUS_PATTERN,
        description=f"One of {', '.join(LEAD_STATUSES)}, ignoring case",
    ),
]


def _encode_cursor(sort: repository.Sort, lead: RowMapping) -> str:
    """Opaque to clients: urlsafe base64 of the sort, the last sort value and id."""
    value = lead[sort.key]
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"s": str(sort), "v": value, "id": lead["id"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _is_text(value: Any, max_length: int) -> bool:
    return isinstance(value, str) and len(value) <= max_length and "\x00" not in value


def _cursor_value(sort: repository.Sort, value: Any) -> Any:
    """The sort value a cursor carries, checked against the sort field's type."""
    if value is None:
        if sort.nullable:
            return None
    elif sort.field in ("created_at", "updated_at"):
        if _is_text(value, 64):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return moment
    elif sort.field == "lead_score":
        if type(value) is int and abs(value) < 2**31:
            return value
    elif _is_text(value, 255):
        return value
    raise ValueError(f"not a value of {sort.field}")


def _decode_cursor(cursor: str, sort: repository.Sort) -> repository.Position:
    """The position a cursor of ours names; anything else is a 422, not a 500."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, dict) or set(raw) != {"s", "v", "id"} or not _is_text(raw["id"], 36):
            raise ValueError("not a cursor")
        made_for = raw["s"]
        position = repository.Position(_cursor_value(sort, raw["v"]), raw["id"])
    except (ValueError, TypeError, binascii.Error):
        # ValueError also covers bad JSON, text that is not UTF-8 and bad timestamps.
        raise ValidationError("cursor", "is not a cursor of this list") from None
    if made_for != str(sort):
        raise ValidationError("cursor", f"was made for another sort than sort={sort}")
    return position


@router.get("", response_model=Envelope[LeadPage])
async def list_leads(
    request: Request,
    _principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, description="data.next_cursor of the previous page, as given"),
    ] = None,
    sort: Annotated[
        str,
        Query(
            pattern=SORT_PATTERN,
            description="created_at, updated_at, lead_score or full_name; -field for "
            "descending. Leads without a score or name come last either way.",
        ),
    ] = "-created_at",
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Text search over name, email, company name and title: every word "
            f"(at most {repository.MAX_SEARCH_WORDS}) must match a word or the start of one. "
            "Punctuation separates words.",
        ),
    ] = None,
    tag: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=50,
            description="Leads whose tags include this one, ignoring case",
        ),
    ] = None,
    is_manual: bool | None = None,
    enrichment_status: EnrichmentStatus | None = None,
    lead_status: LeadStatusFilter = None,
    source: Annotated[str | None, Query(max_length=50, description=IGNORING_CASE)] = None,
    country: Annotated[
        str | None,
        Query(
            max_length=100,
            description="A country's name or ISO 3166 code, ignoring case: FR, fra, "
            "France find leads stored with any of them",
        ),
    ] = None,
    industry: Annotated[str | None, Query(max_length=100, description=IGNORING_CASE)] = None,
    company_id: Annotated[str | None, Query(max_length=36)] = None,
    include_deleted: bool = False,
) -> Envelope[LeadPage]:
    """Leads, newest first by default, one keyset page at a time: pass
    ``data.next_cursor`` back as ``cursor`` with the same filters and sort.

    Text filters (source, country, industry, lead_status, tag) ignore case:
    each finds every stored spelling of its value (``GET
    /leads/facets/{field}`` lists the values that exist)."""
    order = repository.Sort.parse(sort)
    after = _decode_cursor(cursor, order) if cursor else None
    filters = _given(
        is_manual=is_manual,
        enrichment_status=enrichment_status,
        lead_status=lead_status,
        source=source,
        country=country,
        industry=industry,
        company_id=company_id,
    )
    rows = _page_rows(database(request), filters, q, tag, include_deleted, order, after, limit + 1)
    items = [LeadOut.model_validate(dict(row)) for row in rows[:limit]]
    next_cursor = _encode_cursor(order, rows[limit - 1]) if len(rows) > limit else None
    return Envelope(data=LeadPage(items=items, next_cursor=next_cursor))


def _given(**filters: Any) -> dict[str, Any]:
    """The list filters a request set (a filter left out is None)."""
    return {name: value for name, value in filters.items() if value is not None}


def _page_rows(
    db: Database,
    filters: dict[str, Any],
    q: str | None,
    tag: str | None,
    include_deleted: bool,
    order: repository.Sort,
    after: repository.Position | None,
    limit: int,
) -> list[RowMapping]:
    with db.read_session() as session:
        wanted = listing.resolve(session, filters, q=q, tag=tag, include_deleted=include_deleted)
        return listing.page(session, wanted, sort=order, after=after, limit=limit)


@router.post("", status_code=201, response_model=Envelope[LeadOut])
async def create_lead(
    request: Request,
    response: Response,
    principal: Editor,
    payload: Annotated[dict[str, Any], Body()],
    on_duplicate: DuplicatePolicy = "reject",
) -> Envelope[LeadOut]:
    return await _add(
        request,
        response,
        principal,
        lambda uow: service.create(uow, payload, on_duplicate=on_duplicate),
    )


async def _add(
    request: Request,
    response: Response,
    principal: Principal,
    add: Callable[[UnitOfWork], service.WriteResult],
) -> Envelope[LeadOut]:
    """Run ``add`` as the caller; answer 201 with the new lead, or 200 with
    the lead it was merged into."""

    def added(uow: UnitOfWork) -> tuple[service.WriteResult, RowMapping | None]:
        result = add(uow)
        return result, repository.row_by_id(uow.session, result.lead_id)

    result, row = await write(request, principal, added)
    if row is None:  # merged into a lead that is gone: cannot happen in one transaction
        raise NotFoundError(f"lead {result.lead_id} not found")
    if result.outcome != "created":
        response.status_code = 200
    lead = LeadOut.model_validate(dict(row))
    response.headers["Location"] = f"/api/v1/leads/{lead.id}"
    response.headers["ETag"] = etag(lead.version)
    return Envelope(data=lead)


@router.post("/quick-add", status_code=201, response_model=Envelope[LeadOut])
async def quick_add(
    request: Request,
    response: Response,
    principal: Editor,
    payload: QuickAddInput,
    on_duplicate: DuplicatePolicy = "reject",
) -> Envelope[LeadOut]:
    """Add a lead from an email at once; enrichment runs in the background.

    The lead comes back ``in_progress`` with its job's id in
    ``enrichment_task_id``: follow it at ``GET /leads/{id}/stream`` (server-sent
    events) or ``GET /jobs/{id}``.
    """
    given = payload.model_dump(exclude_none=True)
    return await _add(
        request,
        response,
        principal,
        lambda uow: service.quick_add(uow, given, on_duplicate=on_duplicate),
    )


@router.post("/bulk", response_model=Envelope[list[BulkItem]])
async def bulk_create(
    request: Request,
    principal: Editor,
    payload: Annotated[list[dict[str, Any]], Body(max_length=MAX_BULK)],
    on_duplicate: DuplicatePolicy = "merge",
) -> Envelope[list[BulkItem]]:
    """Up to 1,000 leads in one transaction: all stored, or none and the bad row named."""
    results = await write(
        request, principal, lambda uow: service.bulk_create(uow, payload, on_duplicate=on_duplicate)
    )
    items = [BulkItem(index=i, id=r.lead_id, outcome=r.outcome) for i, r in enumerate(results)]
    return Envelope(data=items)


# Before /{lead_id}: "export" is not a lead id.
@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The leads as a file (Content-Disposition: attachment), streamed. "
            "CSV: UTF-8 with a byte order mark, RFC 4180, a header row of labels, tags "
            "joined by ', ', times ISO 8601 in UTC. Text that starts like a formula "
            "(= + - @, tab, CR) gets a leading apostrophe in both formats.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                export.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def export_leads(
    request: Request,
    principal: Reader,
    format: Annotated[export.Format, Query(description="csv (the default) or xlsx")] = "csv",
    columns: Annotated[
        list[str] | None,
        Query(
            max_length=export.MAX_COLUMNS,
            description="Lead fields in the order wanted, comma-separated (or repeated); "
            f"by default {', '.join(export.DEFAULT_COLUMNS)}. One of: "
            f"{', '.join(export.COLUMNS)}",
        ),
    ] = None,
    ids: Annotated[
        list[str] | None,
        Query(
            description="A selection: these leads only (comma-separated or repeated, at "
            f"most {export.MAX_SELECTION:,}), in the sort's order; not with filters",
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(pattern=SORT_PATTERN, description="As GET /leads: field, or -field descending"),
    ] = "-created_at",
    q: Annotated[str | None, Query(max_length=200, description="As GET /leads")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    is_manual: bool | None = None,
    enrichment_status: EnrichmentStatus | None = None,
    lead_status: LeadStatusFilter = None,
    source: Annotated[str | None, Query(max_length=50)] = None,
    country: Annotated[str | None, Query(max_length=100)] = None,
    industry: Annotated[str | None, Query(max_length=100)] = None,
    company_id: Annotated[str | None, Query(max_length=36)] = None,
    include_deleted: bool = False,
) -> StreamingResponse:
    """Every lead GET /leads would list for the same filters, search and sort,
    or a selection of them, as CSV or XLSX (any signed-in role)."""
    filters = _given(
        is_manual=is_manual,
        enrichment_status=enrichment_status,
        lead_status=lead_status,
        source=source,
        country=country,
        industry=industry,
        company_id=company_id,
    )
    selection = export.parse_ids(ids) if ids is not None else None
    if selection is not None and (filters or q or tag is not None):
        raise ValidationError("ids", "a selection is exported as it is: leave out the filters")
    wanted = export.Export(
        export.LeadSet(
            filters=filters,
            q=q,
            tag=tag,
            include_deleted=include_deleted,
            sort=repository.Sort.parse(sort),
            ids=selection,
        ),
        columns=export.parse_columns(columns),
        format=format,
    )
    return await export.response(database(request), wanted, principal.actor)


# A plain def, unlike the other reads: a cold cache counts while the
# request waits (up to seconds on 1M leads), which must not stall the loop.
@router.get("/facets/{field}", response_model=Envelope[facets.FacetValues])
def facet_values(
    request: Request,
    _principal: Reader,
    field: Literal["source", "country", "tag", "lead_status", "industry"],
    prefix: Annotated[
        str | None,
        Query(
            max_length=100, description="Only values starting so (any word), case and accents aside"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=facets.MAX_LIMIT)] = facets.DEFAULT_LIMIT,
) -> Envelope[facets.FacetValues]:
    """The values a list filter takes, each with how many active leads it
    finds, most common first. Spellings that filter alike are one value
    ("apify" and "Apify"; "FR" and "France"). Counts are kept for up to a
    minute."""
    with database(request).read_session() as session:
        found = facets.values(session, field, prefix=prefix, limit=limit)
    return Envelope(data=found)


@router.get("/{lead_id}", response_model=Envelope[LeadOut])
async def get_lead(
    request: Request,
    response: Response,
    _principal: Reader,
    lead_id: str,
    include_deleted: bool = False,
) -> Envelope[LeadOut]:
    """One lead.

    A lead merged into another still answers 200 with its own row as it
    stands (``merged_into_id`` names the lead that now holds its data), and
    a ``Link: </api/v1/leads/{survivor}>; rel="canonical"`` header points
    there. Not a redirect: a client following it silently would take the
    survivor for the lead it asked for, and the merged row is what
    ``POST /leads/{id}/unmerge`` and the merge history talk about. A
    survivor merged again has its own Link: follow them to the end."""
    with database(request).read_session(single_statement=True) as session:
        row = repository.row_by_id(session, lead_id, include_deleted=include_deleted)
    if row is None:
        raise NotFoundError(f"lead {lead_id} not found")
    lead = LeadOut.model_validate(dict(row))
    response.headers["ETag"] = etag(lead.version)
    if lead.merged_into_id is not None:
        response.headers["Link"] = f'</api/v1/leads/{lead.merged_into_id}>; rel="canonical"'
    return Envelope(data=lead)


async def _write(
    request: Request,
    principal: Principal,
    lead_id: str,
    payload: dict[str, Any],
    if_match: str | None,
    *,
    replace: bool,
) -> SalesLead:
    changes = dict(payload)
    body_version = changes.pop("version", None)
    if body_version is not None and not isinstance(body_version, int):
        raise ValidationError("version", "must be an integer")
    header_version = if_match_version(if_match)
    expected = header_version if header_version is not None else body_version
    with stale_is_412(header_version):
        return await write(
            request,
            principal,
            lambda uow: service.update(
                uow, lead_id, changes, expected_version=expected, replace=replace
            ),
        )


@router.put("/{lead_id}", response_model=Envelope[LeadOut])
async def replace_lead(
    request: Request,
    response: Response,
    principal: Editor,
    lead_id: str,
    payload: Annotated[dict[str, Any], Body()],
    if_match: IfMatch = None,
) -> Envelope[LeadOut]:
    """Replace every writable field; omitted fields go back to their defaults."""
    lead = await _write(request, principal, lead_id, payload, if_match, replace=True)
    return _one(lead, response)


@router.patch("/{lead_id}", response_model=Envelope[LeadOut])
async def update_lead(
    request: Request,
    response: Response,
    principal: Editor,
    lead_id: str,
    payload: Annotated[dict[str, Any], Body()],
    if_match: IfMatch = None,
) -> Envelope[LeadOut]:
    """Change only the fields given."""
    lead = await _write(request, principal, lead_id, payload, if_match, replace=False)
    return _one(lead, response)


@router.delete("/{lead_id}", response_model=Envelope[LeadOut])
async def delete_lead(
    request: Request,
    response: Response,
    principal: Editor,
    lead_id: str,
    if_match: IfMatch = None,
) -> Envelope[LeadOut]:
    """Soft delete: the lead leaves lists and searches and can be restored."""
    expected = if_match_version(if_match)
    with stale_is_412(expected):
        lead = await write(
            request,
            principal,
            lambda uow: service.soft_delete(uow, lead_id, expected_version=expected),
        )
    return _one(lead, response)


@router.post("/{lead_id}/restore", response_model=Envelope[LeadOut])
async def restore_lead(
    request: Request, response: Response, principal: Editor, lead_id: str
) -> Envelope[LeadOut]:
    lead = await write(request, principal, lambda uow: service.restore(uow, lead_id))
    return _one(lead, response)


# How often a stream looks at its lead, and how often an idle one sends a
# comment so proxies keep the connection (LEADBASE_STREAM_MAX_SECONDS: how
# long it follows a lead no worker finishes).
STREAM_POLL_SECONDS = 0.5
STREAM_KEEPALIVE_SECONDS = 15.0
FINISHED = ("completed", "failed")


def _lead_now(db: Database, lead_id: str) -> LeadOut | None:
    with db.read_session(single_statement=True) as session:
        row = repository.row_by_id(session, lead_id, include_deleted=True)
    return None if row is None else LeadOut.model_validate(dict(row))


def _event(name: str, lead: LeadOut) -> str:
    return f"event: {name}\nid: {lead.version}\ndata: {lead.model_dump_json()}\n\n"


async def _lead_events(request: Request, db: Database, first: LeadOut) -> AsyncIterator[str]:
    """The lead now, then again at each change, until enrichment finishes."""
    lead, sent_at = first, time.monotonic()
    deadline = sent_at + db.settings.stream_max_seconds
    yield _event("lead", lead)
    while lead.enrichment_status == "in_progress" and time.monotonic() < deadline:
        await asyncio.sleep(STREAM_POLL_SECONDS)
        if await request.is_disconnected():
            return
        now = _lead_now(db, lead.id)
        if now is None:
            return
        if now.version != lead.version:
            lead, sent_at = now, time.monotonic()
            yield _event("lead", lead)
        elif time.monotonic() - sent_at > STREAM_KEEPALIVE_SECONDS:
            sent_at = time.monotonic()
            yield ": still enriching\n\n"
    yield _event("end", lead)


@router.get(
    "/{lead_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `lead` (the lead as GET returns it) now and "
            "at every change while enrichment is in progress, then `end`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_lead(request: Request, _principal: Reader, lead_id: str) -> StreamingResponse:
    """Follow a lead's enrichment as it happens (seed 001's quick-add progress)."""
    db = database(request)
    first = _lead_now(db, lead_id)
    if first is None:
        raise NotFoundError(f"lead {lead_id} not found")
    return StreamingResponse(
        _lead_events(request, db, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _told(entry: HistoryEntry, own: bool) -> TimelineEvent | None:
    """The timeline event an audit entry tells, if it tells one: a lead's
    own create names the fields it was created with; one a merge brought
    in from another lead names none (as the moved event did)."""
    event_type = AUDITED_EVENTS.get(entry.action)
    if event_type is None:  # merge, unmerge: their lead_events rows tell them
        return None
    changed = sorted(entry.changes) if own or event_type != "created" else None
    return TimelineEvent(
        event_type=event_type,
        actor=entry.actor,
        at=entry.at,
        changed_fields=changed,
        event_data=None,
    )


def _timeline(
    events: Sequence[LeadEvent], own: Sequence[HistoryEntry], merged: Sequence[HistoryEntry]
) -> list[TimelineEvent]:
    """The lead's timeline, oldest first: its changes as its audit entries
    and those of the leads merged into it tell them, and its activities and
    merges from lead_events."""
    told = [_told(entry, True) for entry in own] + [_told(entry, False) for entry in merged]
    timeline = [event for event in told if event is not None]
    timeline += [
        TimelineEvent(
            event_type=event.event_type,
            actor=event.actor,
            at=event.event_timestamp,
            changed_fields=event.changed_fields,
            event_data=event.event_data,
        )
        for event in events
    ]
    return sorted(timeline, key=lambda event: event.at)  # stable: audit order at a tie


def _merged_history(session: Session, lead_id: str) -> list[HistoryEntry]:
    """The audit entries of the leads merged into this one (their changes
    before the merge moved to it)."""
    return [
        HistoryEntry.from_audit(entry)
        for other in repository.merged_into(session, lead_id)
        for entry in audit_repository.entries_for(session, "lead", other)
    ]


@router.get("/{lead_id}/history", response_model=Envelope[LeadHistory])
def lead_history(request: Request, _principal: Reader, lead_id: str) -> Envelope[LeadHistory]:
    """Who changed what, when, from where (audit), and the lead's timeline."""
    with database(request).read_session() as session:
        lead = repository.get(session, lead_id, include_deleted=True)
        if lead is None:
            raise NotFoundError(f"lead {lead_id} not found")
        history = history_of(session, lead)
    return Envelope(data=history)


def history_of(session: Session, lead: SalesLead) -> LeadHistory:
    """A lead's audit entries and timeline, as GET /leads/{id}/history tells them."""
    entries = audit_repository.entries_for(session, "lead", lead.id)
    events = repository.events_for(session, lead.id)
    audit = [HistoryEntry.from_audit(entry) for entry in entries]
    # A lead merged into another handed its changes to the survivor.
    merged = [] if lead.merged_into_id else _merged_history(session, lead.id)
    changes = [] if lead.merged_into_id else audit
    return LeadHistory(audit=audit, timeline=_timeline(events, changes, merged))
