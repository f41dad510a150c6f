"""What an activity is: its kinds, limits and the shapes the API speaks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadbase.models.lead import NOT_ACTIVITIES

# The usual kinds (the console's select offers them; any other short string
# is kept as given).
ACTIVITY_TYPES = (
    "call",
    "email",
    "meeting",
    "demo",
    "webinar",
    "web_visit",
    "form_fill",
    "linkedin_message",
    "note",
)
# Kinds the write path and merges record themselves: a client never writes them.
INTERNAL_TYPES = frozenset(NOT_ACTIVITIES)
# What a few usual outcomes look like (documented, not enforced).
USUAL_OUTCOMES = ("connected", "no_answer", "voicemail", "inbound", "replied", "meeting_set")
Source = Literal["api", "console", "script", "import"]

MAX_TYPE = 50
MAX_OUTCOME = 50
MAX_DATA_BYTES = 16 * 1024
# A clock a little ahead (another time zone typed as UTC) is forgiven; a
# date further ahead is a mistake.
FUTURE_SLACK = timedelta(days=1)
MAX_BULK = 10_000
# The audit action of an activity's entry (entity "lead", the lead's id).
AUDIT_ACTION = "activity"


class ActivityIn(BaseModel):
    """An activity to record against a lead."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(
        max_length=MAX_TYPE,
        description="What happened: usually one of " + ", ".join(ACTIVITY_TYPES) + "; any other "
        "short string is kept as given. Internal kinds (" + ", ".join(sorted(INTERNAL_TYPES)) + ") "
        "are refused.",
        examples=["call"],
    )
    occurred_at: datetime | None = Field(
        None,
        description="When it happened (ISO 8601; no zone = UTC). Default now; may be in the "
        "past; more than a day ahead is refused.",
    )
    outcome: str | None = Field(
        None,
        max_length=MAX_OUTCOME,
        description="Its result, e.g. " + ", ".join(USUAL_OUTCOMES),
        examples=["connected"],
    )
    data: dict[str, Any] | None = Field(
        None,
        description="Any JSON object up to 16 KB. Web visits: page, page_views (int), "
        "duration_seconds; a note: note.",
        examples=[{"page": "/pricing", "page_views": 3, "duration_seconds": 95}],
    )


class BulkActivityIn(ActivityIn):
    lead_id: str = Field(max_length=36)


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    lead_id: str
    event_type: str
    occurred_at: datetime
    outcome: str | None
    data: dict[str, Any] | None
    source: str | None
    actor: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: Any) -> ActivityOut:
        """A ``LeadEvent`` row as the API shows it."""
        return cls(
            id=event.id,
            lead_id=event.lead_id,
            event_type=event.event_type,
            occurred_at=event.event_timestamp,
            outcome=event.outcome,
            data=event.event_data,
            source=event.event_source,
            actor=event.actor,
            created_at=event.created_at,
        )


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


class BulkResult(BaseModel):
    """One row of a bulk request: its new event's id, or why it was refused."""

    index: int
    id: int | None = None
    error: str | None = Field(None, description="not_found, conflict or validation_error")
    field: str | None = None
    message: str | None = None
