"""What a caller may send for a lead. Unknown fields are refused."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Str = Annotated[str, StringConstraints(max_length=255)]
Short = Annotated[str, StringConstraints(max_length=100)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]

EnrichmentStatus = Literal["pending", "in_progress", "completed", "failed"]
LeadStatus = Literal["new", "contacted", "qualified", "converted", "lost"]
# What a write does with a lead it finds to be a duplicate (dedupe.matcher):
# reject (409), merge into it, allow (no lookup), or review (write, and
# queue every likely duplicate for a person). All but allow queue the
# matches below the auto-merge threshold for review.
DuplicatePolicy = Literal["reject", "merge", "allow", "review"]
# Companies are matched on their domain alone: no review queue.
CompanyDuplicatePolicy = Literal["reject", "merge", "allow"]


class LeadInput(BaseModel):
    """Every writable lead field. Create and update share it; an update
    touches only the fields it names (``model_fields_set``)."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)

    full_name: Str | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    title: Str | None = None
    email: Str | None = None
    email_verified: bool = False
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None
    phone_verified: bool = False
    additional_emails: Annotated[list[Str], Field(max_length=50)] | None = None
    additional_phones: Annotated[list[Short], Field(max_length=50)] | None = None
    linkedin_url: Annotated[str, StringConstraints(max_length=500)] | None = None
    company_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    company_name: Str | None = None
    company_domain: Str | None = None
    street: Str | None = None
    address_line2: Str | None = None
    city: Short | None = None
    state: Short | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: Short | None = None
    industry: Short | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] | None = None
    source: Annotated[str, StringConstraints(max_length=50)] | None = None
    provider_name: Short | None = None
    external_id: Str | None = None
    actor_id: Short | None = None
    run_id: Short | None = None
    dataset_id: Short | None = None
    is_manual: bool = False
    enrichment_status: EnrichmentStatus = "pending"
    enrichment_task_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    enrichment_data: dict[str, Any] | None = None
    verified: bool = False
    lead_score: Annotated[int, Field(ge=0, le=100)] | None = None
    score_explanation: dict[str, Any] | None = None
    lead_status: LeadStatus = "new"
    notes: str | None = None
    raw_data: dict[str, Any] | None = None


class QuickAddInput(BaseModel):
    """Quick-add (seed 001): an email and whatever else is at hand; enrichment
    fills in the rest in the background."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: Str
    domain: Str | None = Field(default=None, description="The company's website or domain")
    name: Str | None = Field(default=None, description="The person's full name")
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None


LEAD_FIELDS: tuple[str, ...] = tuple(LeadInput.model_fields)
# Fields that identify a person: a lead needs at least one.
IDENTITY_FIELDS = ("full_name", "first_name", "last_name", "email", "phone", "linkedin_url")
LIST_FIELDS = ("additional_emails", "additional_phones", "tags")
# Free-text fields: trimmed and white space folded ("notes" keeps its lines).
TEXT_FIELDS = (
    "full_name",
    "first_name",
    "last_name",
    "title",
    "company_name",
    "street",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "industry",
    "source",
    "provider_name",
    "external_id",
    "actor_id",
    "run_id",
    "dataset_id",
)


class LeadOut(LeadInput):
    """A stored lead as the API returns it."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    id: str
    version: int
    merged_into_id: str | None = None
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    updated_by: str | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by: str | None = None


class LeadPage(BaseModel):
    items: list[LeadOut]
    next_cursor: str | None


class BulkItem(BaseModel):
    index: int
    id: str
    outcome: str


class HistoryEntry(BaseModel):
    seq: int
    action: str
    actor: str
    ip: str | None
    user_agent: str | None
    request_id: str | None
    at: datetime
    changes: dict[str, list[Any]]  # {field: [old, new]}

    @classmethod
    def from_audit(cls, entry: Any) -> HistoryEntry:
        """An ``AuditLog`` row as the history shows it."""
        return cls(
            seq=entry.seq,
            action=entry.action,
            actor=entry.actor,
            ip=entry.ip,
            user_agent=entry.user_agent,
            request_id=entry.request_id,
            at=entry.created_at,
            # Written only by audit.append: canonical JSON, {field: [old, new]}.
            changes=json.loads(entry.changes),
        )


class TimelineEvent(BaseModel):
    event_type: str
    actor: str | None
    at: datetime
    changed_fields: list[str] | None
    event_data: dict[str, Any] | None


class LeadHistory(BaseModel):
    audit: list[HistoryEntry]
    timeline: list[TimelineEvent]
