"""/api/v1/leads/{id}/events and /api/v1/events/bulk: a lead's activities."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from leadbase.activities import repository, service
from leadbase.activities.schemas import (
    ACTIVITY_TYPES,
    MAX_BULK,
    ActivityIn,
    ActivityOut,
    ActivityPage,
    BulkResult,
)
from leadbase.auth.endpoints import get_principal, require_role
from leadbase.auth.service import Principal
from leadbase.errors import LeadbaseError, NotFoundError, ValidationError
from leadbase.http.support import Envelope, database, write
from leadbase.leads import repository as leads_repository

MAX_PAGE = 500

router = APIRouter(prefix="/api/v1", tags=["activities"])
Reader = Annotated[Principal, Depends(get_principal)]
Editor = Annotated[Principal, Depends(require_role("admin", "editor"))]


@router.post("/leads/{lead_id}/events", status_code=201, response_model=Envelope[ActivityOut])
async def add_event(
    request: Request, principal: Editor, lead_id: str, payload: ActivityIn
) -> Envelope[ActivityOut]:
    """Record an activity against the lead: a call, an email, a meeting, a
    web visit... ``occurred_at`` may be in the past (a back-filled history).
    404: no such lead (or deleted); 409: the lead was merged (``details``
    name ``merged_into_id``, the lead to record it on)."""
    event = await write(
        request,
        principal,
        lambda uow: ActivityOut.of(
            service.add_event(
                uow,
                lead_id,
                payload.event_type,
                occurred_at=payload.occurred_at,
                outcome=payload.outcome,
                data=payload.data,
                source="api",
            )
        ),
    )
    return Envelope(data=event)


def _encode_cursor(event: ActivityOut) -> str:
    raw = json.dumps({"t": event.occurred_at.isoformat(), "id": event.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position a cursor of ours names; anything else is a 422."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(raw["t"])
        event_id = raw["id"]
        if type(event_id) is not int or at.tzinfo is None:
            raise ValueError("not a cursor")
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ValidationError("cursor", "not a cursor this list gave out") from None
    return at, event_id


@router.get("/leads/{lead_id}/events", response_model=Envelope[ActivityPage])
def list_events(
    request: Request,
    _principal: Reader,
    lead_id: str,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    event_type: Annotated[
        str | None,
        Query(max_length=50, description="Only this kind, e.g. " + ", ".join(ACTIVITY_TYPES)),
    ] = None,
) -> Envelope[ActivityPage]:
    """The lead's activities, newest first (by when they happened); pass
    ``next_cursor`` back as ``cursor`` for the next page."""
    after = _decode_cursor(cursor) if cursor else None
    with database(request).read_session() as session:
        if leads_repository.get(session, lead_id, include_deleted=True) is None:
            raise NotFoundError(f"lead {lead_id} not found")
        events = repository.page(session, lead_id, limit + 1, after, event_type)
        items = [ActivityOut.of(event) for event in events[:limit]]
    next_cursor = _encode_cursor(items[-1]) if len(events) > limit else None
    return Envelope(data=ActivityPage(items=items, next_cursor=next_cursor))


def _result(index: int, result: int | LeadbaseError) -> BulkResult:
    if isinstance(result, int):
        return BulkResult(index=index, id=result)
    field = result.field if isinstance(result, ValidationError) else "lead_id"
    message = result.details[0].get("message") if result.details else None
    text = message or result.message
    return BulkResult(index=index, error=result.code, field=field, message=text)


@router.post("/events/bulk", response_model=Envelope[list[BulkResult]])
async def add_events(
    request: Request,
    principal: Editor,
    payload: Annotated[
        list[dict[str, Any]],
        Body(
            max_length=MAX_BULK,
            description="Up to 10,000 activities, each an object with ``lead_id`` and the keys "
            "of POST /leads/{id}/events (event_type, occurred_at, outcome, data).",
            examples=[
                [
                    {"lead_id": "…", "event_type": "call", "outcome": "connected"},
                    {"lead_id": "…", "event_type": "web_visit", "data": {"page": "/pricing"}},
                ]
            ],
        ),
    ],
) -> Envelope[list[BulkResult]]:
    """Many activities in one transaction, for imports (thousands a second).
    Each row gets its result in order: the new event's ``id``, or ``error``
    (validation_error, not_found, conflict), ``field`` and ``message``. The
    good rows are stored; a bad row is not, and changes nothing."""
    results = await write(
        request,
        principal,
        lambda uow: service.add_events(uow, payload, source="api", atomic=False),
    )
    return Envelope(data=[_result(i, result) for i, result in enumerate(results)])
