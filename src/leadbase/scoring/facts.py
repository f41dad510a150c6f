"""What the score is computed from: a lead's fields, its company's size,
and what its activities add up to. Read in batches (a few queries per
chunk of leads, never one per lead)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.scoring import repository

# The lead fields the rules read (completeness may name any lead field).
LEAD_COLUMNS = (
    "full_name",
    "first_name",
    "last_name",
    "title",
    "email",
    "email_verified",
    "phone",
    "linkedin_url",
    "company_name",
    "company_domain",
    "street",
    "city",
    "state",
    "postal_code",
    "country",
    "industry",
    "tags",
    "source",
    "verified",
    "lead_status",
    "notes",
)


@dataclass
class Activity:
    """A lead's activities summed up: counts by kind and outcome, when."""

    by_type: Counter[str] = field(default_factory=Counter)
    by_outcome: Counter[str] = field(default_factory=Counter)
    first_at: datetime | None = None
    last_at: datetime | None = None
    page_views: int = 0

    @property
    def count(self) -> int:
        return sum(self.by_type.values())

    def add(self, event_type: str, outcome: str | None, at: datetime, data: Any) -> None:
        self.by_type[event_type] += 1
        if outcome:
            self.by_outcome[outcome] += 1
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        if event_type == "web_visit":
            views = data.get("page_views") if isinstance(data, dict) else None
            if isinstance(views, int) and not isinstance(views, bool) and views >= 0:
                self.page_views += views
            else:
                self.page_views += 1


@dataclass
class LeadFacts:
    lead_id: str
    fields: dict[str, Any]
    employee_count: int | None = None
    company_country: str | None = None
    company_industry: str | None = None
    activity: Activity = field(default_factory=Activity)

    def get(self, name: str) -> Any:
        return self.fields.get(name)


def _employees(count: int | None, low: int | None, high: int | None) -> int | None:
    """The count, else the middle of the size band (or its one known end)."""
    if count is not None:
        return count
    if low is not None and high is not None:
        return (low + high) // 2
    return low if low is not None else high


def lead_facts(session: Session, lead_ids: Collection[str]) -> dict[str, LeadFacts]:
    """The facts of each of these leads that exists (deleted ones too)."""
    found: dict[str, LeadFacts] = {}
    for chunk in chunked(list(dict.fromkeys(lead_ids))):
        found.update(_chunk_facts(session, chunk))
    return found


def _chunk_facts(session: Session, lead_ids: Collection[str]) -> dict[str, LeadFacts]:
    facts: dict[str, LeadFacts] = {}
    for row in repository.lead_rows(session, lead_ids, LEAD_COLUMNS):
        values = row._mapping
        facts[values["id"]] = LeadFacts(
            lead_id=values["id"],
            fields={name: values[name] for name in LEAD_COLUMNS},
            employee_count=_employees(
                values["employee_count"], values["employee_size_min"], values["employee_size_max"]
            ),
            company_country=values["company_country"],
            company_industry=values["company_industry"],
        )
    _add_activities(session, facts)
    return facts


def _add_activities(session: Session, facts: Mapping[str, LeadFacts]) -> None:
    if not facts:
        return
    for lead_id, event_type, outcome, at, data in repository.activity_rows(session, list(facts)):
        facts[lead_id].activity.add(event_type, outcome, at, data)
