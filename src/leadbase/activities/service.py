"""Recording activities against leads: one, or thousands a second.

An activity is a lead_events row (event_type, event_timestamp = when it
happened, outcome, event_data, event_source, actor) and an audit entry on
the chain (entity "lead", the lead's id, action "activity", the event's
values). A bulk write of ``BATCH_MIN`` or more audits its rows in batch
entries (entity "lead_event_batch", action "activity_many", the rows as
columns: ``audit.batch``), as bulk lead creates do, so thousands a second
hold. An activity is not an edit of the lead: its version stays, and no
sync mark is set; the lead is scored again after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadbase import audit, context
from leadbase.activities import repository
from leadbase.activities.repository import LeadState
from leadbase.activities.schemas import (
    AUDIT_ACTION,
    FUTURE_SLACK,
    INTERNAL_TYPES,
    MAX_DATA_BYTES,
    MAX_OUTCOME,
    MAX_TYPE,
)
from leadbase.audit import batch
from leadbase.db import UnitOfWork, serialize_writers
from leadbase.errors import ConflictError, LeadbaseError, NotFoundError, ValidationError
from leadbase.leads import service as leads_service
from leadbase.models import LeadEvent, utcnow

ROW_KEYS = frozenset({"lead_id", "event_type", "occurred_at", "outcome", "data"})
BATCH_ENTITY = batch.batch_type("lead_event")
BATCH_ACTION = "activity_many"
# The fields an activity's audit entry holds (besides the event's id).
AUDITED = ("lead_id", "event_type", "occurred_at", "outcome", "data", "source")
# Earlier than this is a typo, not a back-filled history (and MariaDB's
# DATETIME starts at year 1000).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Activity:
    """A checked activity, ready to store."""

    lead_id: str
    event_type: str
    occurred_at: datetime
    outcome: str | None
    data: dict[str, Any] | None


# --- checking ------------------------------------------------------------------------


def _text(field: str, value: Any, max_length: int, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    text = value.strip()
    if not text:
        if required:
            raise ValidationError(field, "must not be empty")
        return None
    if len(text) > max_length:
        raise ValidationError(field, f"is {len(text)} characters; at most {max_length}")
    if "\x00" in text:
        raise ValidationError(field, "must not contain NUL characters")
    return text


def _event_type(value: Any) -> str:
    event_type = _text("event_type", value, MAX_TYPE, required=True)
    assert event_type is not None
    if event_type.lower() in INTERNAL_TYPES:
        raise ValidationError(
            "event_type", f"{event_type!r} is recorded by leadbase itself, not as an activity"
        )
    return event_type


def _occurred_at(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError("occurred_at", "must be an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise ValidationError("occurred_at", "must be a date and time")
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if at > now + FUTURE_SLACK:
        raise ValidationError("occurred_at", "is more than a day in the future")
    if at < EARLIEST:
        raise ValidationError("occurred_at", "is before 1900")
    return at


def _count(data: Mapping[str, Any], key: str, *, whole: bool) -> None:
    """A web visit's page_views (whole) or duration_seconds, when given."""
    value = data.get(key)
    if value is None:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (whole and not isinstance(value, int)) or value < 0:
        what = "a whole number" if whole else "a number"
        raise ValidationError(f"data.{key}", f"must be {what}, 0 or more")


def _data(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("data", "must be a JSON object")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        raise ValidationError("data", "must hold only JSON values") from None
    size = len(text.encode("utf-8"))
    if size > MAX_DATA_BYTES:
        raise ValidationError("data", f"is {size:,} bytes as JSON; at most {MAX_DATA_BYTES:,}")
    if "\\u0000" in text:
        raise ValidationError("data", "must not contain NUL characters")
    if "page" in value and value["page"] is not None and not isinstance(value["page"], str):
        raise ValidationError("data.page", "must be a string")
    _count(value, "page_views", whole=True)
    _count(value, "duration_seconds", whole=False)
    return value or None


def check(row: Mapping[str, Any], now: datetime) -> Activity:
    """One activity as given (lead_id, event_type, occurred_at, outcome,
    data), checked; ValidationError names the first bad field."""
    if not isinstance(row, Mapping):
        raise ValidationError("row", "must be an object")
    unknown = sorted(str(key) for key in set(row) - ROW_KEYS)
    if unknown:
        raise ValidationError(unknown[0], "unknown field")
    lead_id = _text("lead_id", row.get("lead_id"), 36, required=True)
    assert lead_id is not None
    return Activity(
        lead_id=lead_id,
        event_type=_event_type(row.get("event_type")),
        occurred_at=_occurred_at(row.get("occurred_at"), now),
        outcome=_text("outcome", row.get("outcome"), MAX_OUTCOME, required=False),
        data=_data(row.get("data")),
    )


def _lead_refusal(lead_id: str, state: LeadState | None) -> LeadbaseError | None:
    """Why no activity may be recorded against this lead, if it may not."""
    if state is None:
        return NotFoundError(f"lead {lead_id} not found")
    if state.merged_into_id is not None:  # (a merged lead is also marked deleted)
        refusal = ConflictError(
            f"lead {lead_id} was merged into {state.merged_into_id}: record the activity there"
        )
        refusal.details = [{"field": "lead_id", "merged_into_id": state.merged_into_id}]
        return refusal
    if state.is_deleted:
        return NotFoundError(f"lead {lead_id} not found (deleted)")
    return None


# --- writing -------------------------------------------------------------------------


def _row(activity: Activity, source: str, actor: str, now: datetime) -> dict[str, Any]:
    return {
        "lead_id": activity.lead_id,
        "event_type": activity.event_type,
        "event_timestamp": activity.occurred_at,
        "outcome": activity.outcome,
        "event_data": activity.data,
        "event_source": source,
        "actor": actor,
        "created_at": now,
        "updated_at": now,
    }


def _audited(event_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """The values an activity's audit entry holds."""
    return {
        "id": event_id,
        "lead_id": row["lead_id"],
        "event_type": row["event_type"],
        "occurred_at": row["event_timestamp"],
        "outcome": row["outcome"],
        "data": row["event_data"],
        "source": row["event_source"],
    }


def _audit(uow: UnitOfWork, written: Sequence[dict[str, Any]], now: datetime) -> None:
    if len(written) >= batch.BATCH_MIN:
        batch.append_batch(uow.session, BATCH_ENTITY, BATCH_ACTION, written, AUDITED, now)
        return
    entries = [
        (
            values["lead_id"],
            {"event_id": [None, values["id"]]}
            | {f: [None, values[f]] for f in AUDITED if f != "lead_id" and values[f] is not None},
        )
        for values in written
    ]
    audit.append_many(uow.session, "lead", AUDIT_ACTION, entries, at=now)


def add_event(
    uow: UnitOfWork,
    lead_id: str,
    event_type: str,
    *,
    occurred_at: datetime | str | None = None,
    outcome: str | None = None,
    data: dict[str, Any] | None = None,
    source: str = "api",
) -> LeadEvent:
    """Record one activity against the lead; NotFoundError for a missing or
    deleted lead, ConflictError naming the lead a merged one went into."""
    row: dict[str, Any] = {"lead_id": lead_id, "event_type": event_type}
    row |= {"occurred_at": occurred_at, "outcome": outcome, "data": data}
    [result] = add_events(uow, [row], source=source, atomic=True)
    assert isinstance(result, int)
    event = uow.session.get(LeadEvent, result)
    assert event is not None
    return event


def add_events(
    uow: UnitOfWork, rows: Sequence[Mapping[str, Any]], *, source: str, atomic: bool
) -> list[int | LeadbaseError]:
    """Record many activities in one batch insert; each row's new event id
    in order. ``atomic``: the first bad row raises its error (naming the
    row) and nothing is written; otherwise the good rows are written and
    each bad row's place holds its error."""
    now = utcnow()
    results: list[Activity | LeadbaseError] = []
    for index, row in enumerate(rows):
        try:
            results.append(check(row, now))
        except ValidationError as exc:
            results.append(_at_row(exc, index, len(rows)) if atomic else exc)
    serialize_writers(uow.session)
    checked = [r for r in results if isinstance(r, Activity)]
    states = repository.lead_states(uow.session, {a.lead_id for a in checked})
    for index, result in enumerate(results):
        if isinstance(result, Activity):
            refusal = _lead_refusal(result.lead_id, states.get(result.lead_id))
            if refusal is not None:
                results[index] = _at_row(refusal, index, len(rows)) if atomic else refusal
    if atomic:
        for result in results:
            if isinstance(result, LeadbaseError):
                raise result
    return _write(uow, results, source, now)


def _write(
    uow: UnitOfWork, results: list[Activity | LeadbaseError], source: str, now: datetime
) -> list[int | LeadbaseError]:
    actor = context.current().actor
    good = [r for r in results if isinstance(r, Activity)]
    rows = [_row(activity, source, actor, now) for activity in good]
    ids = iter(repository.insert_events(uow.session, rows))
    written = [_audited(next(ids), row) for row in rows]
    _audit(uow, written, now)
    leads_service.rescore(uow, sorted({activity.lead_id for activity in good}))
    by_row = iter(w["id"] for w in written)
    return [next(by_row) if isinstance(r, Activity) else r for r in results]


def _at_row(exc: LeadbaseError, index: int, rows: int) -> LeadbaseError:
    """The error as a bulk call raises it: naming the row (a single
    activity's error stays as it is)."""
    if rows == 1:
        return exc
    if isinstance(exc, ValidationError):
        message = exc.details[0]["message"] if exc.details else exc.message
        return ValidationError(
            f"rows[{index}].{exc.field}",
            message,
            details=[{"index": index, "field": exc.field, "message": message}],
        )
    named = type(exc)(f"row {index}: {exc.message}")
    named.details = [{"index": index, **detail} for detail in exc.details]
    return named
