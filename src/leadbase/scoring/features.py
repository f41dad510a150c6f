"""Feature rows for the learned score, read in batches from stored data.

A lead becomes a sparse ``{column: value}`` row: numeric columns every lead
has (email flags, completeness, company size, activity totals, recency)
and indicator columns named ``prefix=value`` (``country=France``,
``tag=vip``, ``events=demo``, ``outcome=connected``) for whatever values
the data holds. Training picks the indicator columns frequent enough to
learn from (``vocabulary``); a model stores its column names, and
``matrix`` lays any rows out in that order.

What is not a feature, so the label cannot leak in: lead_status,
lead_score, score_explanation, and status_changed events. For a lead with
a known outcome, ``before_outcome`` reads only the activities up to the
status change that set it, and measures recency from then: a model learns
what a lead looked like before it converted, which is what it sees in the
leads it scores.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, false, func, literal_column, or_, select
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.enrichment.providers.email import (
    domain_of,
    is_disposable,
    is_free_mail,
    is_role_account,
)
from leadbase.models.company import Company
from leadbase.models.lead import NOT_ACTIVITIES, LeadEvent, SalesLead

Row = dict[str, float]


# Recency is capped: a year without activity and none at all read alike.
RECENCY_CAP_DAYS = 365.0

# Title words by seniority, most senior first: the first bucket that
# matches a word of the title wins ("VP Sales Manager" is a VP).
SENIORITY: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (bucket, re.compile(rf"\b({words})\b", re.IGNORECASE))
    for bucket, words in (
        ("c_level", r"ceo|cto|cfo|coo|cmo|cio|cro|chief|founder|co-founder|owner|president"),
        ("vp", r"vp|svp|evp|vice president|head"),
        ("director", r"director|directeur|directora?"),
        ("manager", r"manager|lead|principal|supervisor"),
        ("senior", r"senior|sr\.?|staff"),
    )
)

# The fields a complete lead has; completeness is the share it has.
COMPLETENESS_FIELDS = (
    "full_name",
    "title",
    "email",
    "phone",
    "linkedin_url",
    "company_name",
    "country",
    "industry",
)

# Numeric columns every model has, whatever the data.
NUMERIC_COLUMNS = (
    "has_email",
    "email_verified",
    "email_free_mail",
    "email_role_account",
    "email_disposable",
    "has_phone",
    "phone_verified",
    "has_linkedin",
    "is_manual",
    "verified",
    "completeness",
    "tag_count",
    "company_size_log",
    "company_size_known",
    "activities",
    "page_views",
    "pages",
    "no_activity",
    "days_since_last",
    "days_since_first",
)

# Indicator columns kept per prefix, most frequent first.
MAX_VALUES_PER_PREFIX = 40


@lru_cache(maxsize=4096)
def seniority(title: str | None) -> str:
    """The title's bucket (cached: titles repeat across leads)."""
    if not title or not title.strip():
        return "unknown"
    for bucket, pattern in SENIORITY:
        if pattern.search(title):
            return bucket
    return "individual"


def _company_size(count: int | None, low: int | None, high: int | None) -> float | None:
    if count:
        return float(count)
    if low and high:
        return (low + high) / 2
    one = low or high
    return float(one) if one else None


def _indicator(row: Row, prefix: str, value: Any) -> None:
    text = str(value).strip() if value is not None else ""
    if text:
        row[f"{prefix}={text[:100]}"] = 1.0


@lru_cache(maxsize=4096)
def _domain_flags(domain: str) -> tuple[float, float]:
    """(free-mail, disposable) of an email domain, cached: domains repeat."""
    return float(is_free_mail(domain)), float(is_disposable(domain))


def _field_row(lead: Any) -> Row:
    """The stored fields of one lead (a row of ``_lead_rows``)."""
    email = lead.email or ""
    free_mail, disposable = _domain_flags(domain_of(email)) if "@" in email else (0.0, 0.0)
    size = _company_size(lead.employee_count, lead.employee_size_min, lead.employee_size_max)
    tags = [t for t in (lead.tags or []) if isinstance(t, str) and t.strip()]
    filled = sum(1 for name in COMPLETENESS_FIELDS if getattr(lead, name))
    row: Row = {
        "has_email": float(bool(email)),
        "email_verified": float(bool(lead.email_verified)),
        "email_free_mail": free_mail,
        "email_role_account": float(bool(email) and is_role_account(email)),
        "email_disposable": disposable,
        "has_phone": float(bool(lead.phone)),
        "phone_verified": float(bool(lead.phone_verified)),
        "has_linkedin": float(bool(lead.linkedin_url)),
        "is_manual": float(bool(lead.is_manual)),
        "verified": float(bool(lead.verified)),
        "completeness": filled / len(COMPLETENESS_FIELDS),
        "tag_count": float(len(tags)),
        "company_size_log": math.log1p(size) if size else 0.0,
        "company_size_known": float(size is not None),
        "activities": 0.0,
        "page_views": 0.0,
        "pages": 0.0,
        "no_activity": 1.0,
        "days_since_last": RECENCY_CAP_DAYS,
        "days_since_first": RECENCY_CAP_DAYS,
    }
    row[f"seniority={seniority(lead.title)}"] = 1.0
    for prefix in ("country", "industry", "source"):
        _indicator(row, prefix, getattr(lead, prefix))
    for tag in tags:
        _indicator(row, "tag", tag)
    return row


def _days(since: datetime | None, until: datetime) -> float:
    if since is None:
        return RECENCY_CAP_DAYS
    return min(max((until - since).total_seconds() / 86400, 0.0), RECENCY_CAP_DAYS)


def lead_features(
    session: Session,
    lead_ids: Sequence[str],
    *,
    now: datetime | None = None,
    before_outcome: bool = False,
) -> dict[str, Row]:
    """Feature rows of the (existing) leads among ``lead_ids``: three
    queries per 500 leads, whatever their activity count: the leads, their
    activity counts by (event type, outcome), and per lead the first and
    last activity, page views and pages."""
    now = now or datetime.now(UTC)
    rows: dict[str, Row] = {}
    for chunk in chunked(list(lead_ids)):
        as_of: dict[str, datetime] = {}
        for lead in _lead_rows(session, chunk):
            rows[lead.id] = _field_row(lead)
            as_of[lead.id] = (before_outcome and lead.status_changed_at) or now
        for lead_id, event_type, outcome, count in _activity_rows(session, chunk, before_outcome):
            row = rows[lead_id]
            row["activities"] += count
            row[f"events={event_type}"] = row.get(f"events={event_type}", 0.0) + count
            if outcome:
                key = f"outcome={outcome.strip()[:50]}"
                row[key] = row.get(key, 0.0) + count
        spans: dict[str, tuple[datetime, datetime]] = {}
        for lead_id, first, last, views, pages in _per_lead_rows(session, chunk, before_outcome):
            spans[lead_id] = (first, last)
            rows[lead_id]["page_views"] = float(views or 0)
            rows[lead_id]["pages"] = float(pages or 0)
        for lead_id in chunk:
            row_or_none = rows.get(lead_id)
            if row_or_none is not None:
                _finish(row_or_none, spans.get(lead_id), as_of[lead_id])
    return rows


def _finish(row: Row, span: tuple[datetime, datetime] | None, as_of: datetime) -> None:
    """Counts on a log scale (ten calls are not ten times one), and recency
    from the (first, last) activity."""
    first, last = span or (None, None)
    for key, value in row.items():
        if key in ("activities", "page_views", "pages") or key.startswith(("events=", "outcome=")):
            row[key] = math.log1p(value)
    row["no_activity"] = float(last is None)
    row["days_since_last"] = _days(last, as_of)
    row["days_since_first"] = _days(first, as_of)


# -- queries ---------------------------------------------------------------


def _lead_rows(session: Session, lead_ids: Sequence[str]) -> Iterable[Any]:
    fields = [getattr(SalesLead, name) for name in COMPLETENESS_FIELDS]
    stmt = (
        select(
            SalesLead.id,
            *fields,
            SalesLead.email_verified,
            SalesLead.phone_verified,
            SalesLead.is_manual,
            SalesLead.verified,
            SalesLead.source,
            SalesLead.tags,
            SalesLead.status_changed_at,
            Company.employee_count,
            Company.employee_size_min,
            Company.employee_size_max,
        )
        .outerjoin(Company, Company.id == SalesLead.company_id)
        .where(SalesLead.id.in_(lead_ids))
    )
    return session.execute(stmt)


def _activity_filter(lead_ids: Sequence[str], before_outcome: bool) -> Any:
    condition = and_(LeadEvent.lead_id.in_(lead_ids), LeadEvent.event_type.not_in(NOT_ACTIVITIES))
    if before_outcome:
        condition = and_(
            condition,
            or_(
                SalesLead.status_changed_at.is_(None),
                LeadEvent.event_timestamp <= SalesLead.status_changed_at,
            ),
        )
    return condition


def _events_from(before_outcome: bool) -> Any:
    if before_outcome:
        return LeadEvent.__table__.join(SalesLead.__table__, SalesLead.id == LeadEvent.lead_id)
    return LeadEvent.__table__


def _activity_rows(
    session: Session, lead_ids: Sequence[str], before_outcome: bool
) -> Iterable[tuple[str, str, str | None, int]]:
    """Counts per (lead, event type, outcome): one GROUP BY over the
    (lead_id, event_type) index."""
    stmt = (
        select(LeadEvent.lead_id, LeadEvent.event_type, LeadEvent.outcome, func.count())
        .select_from(_events_from(before_outcome))
        .where(_activity_filter(lead_ids, before_outcome))
        .group_by(LeadEvent.lead_id, LeadEvent.event_type, LeadEvent.outcome)
    )
    return session.execute(stmt).tuples()


def _json_number(dialect: str, key: str) -> str:
    """event_data's ``key`` as a number where it is one, else NULL: a
    malformed value is left out instead of failing the cast."""
    if dialect == "postgresql":
        return (
            f"CASE WHEN jsonb_typeof(lead_events.event_data -> '{key}') = 'number' "
            f"THEN (lead_events.event_data ->> '{key}')::float END"
        )
    if dialect == "mysql":
        value = f"JSON_EXTRACT(lead_events.event_data, '$.{key}')"
        return (
            f"CASE WHEN JSON_TYPE({value}) IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', "
            f"'DECIMAL') THEN {value} + 0 END"
        )
    return (
        f"CASE WHEN json_type(lead_events.event_data, '$.{key}') IN ('integer', 'real') "
        f"THEN json_extract(lead_events.event_data, '$.{key}') END"
    )


def _json_text(dialect: str, key: str) -> str:
    if dialect == "postgresql":
        return f"lead_events.event_data ->> '{key}'"
    if dialect == "mysql":
        return f"JSON_UNQUOTE(JSON_EXTRACT(lead_events.event_data, '$.{key}'))"
    return f"json_extract(lead_events.event_data, '$.{key}')"


def _per_lead_rows(
    session: Session, lead_ids: Sequence[str], before_outcome: bool
) -> Iterable[tuple[str, datetime, datetime, float | None, int]]:
    """First and last activity, page views (summed) and distinct pages (from
    event_data) per lead: timestamps are converted once a lead, not once a
    (type, outcome) group."""
    dialect = session.get_bind().dialect.name
    stmt: Select[Any] = (
        select(
            LeadEvent.lead_id,
            func.min(LeadEvent.event_timestamp),
            func.max(LeadEvent.event_timestamp),
            func.sum(literal_column(_json_number(dialect, "page_views"))),
            func.count(func.distinct(literal_column(_json_text(dialect, "page")))),
        )
        .select_from(_events_from(before_outcome))
        .where(_activity_filter(lead_ids, before_outcome))
        .group_by(LeadEvent.lead_id)
    )
    return session.execute(stmt).tuples()


def labelled_leads(session: Session, positive: str, negative: str) -> list[tuple[str, int]]:
    """(id, 1 or 0) of every live lead whose status is ``positive`` or
    ``negative``, in id order (a fixed order keeps a seeded split fixed)."""
    stmt = (
        select(SalesLead.id, SalesLead.lead_status)
        .where(
            SalesLead.lead_status.in_((positive, negative)),
            SalesLead.is_deleted == false(),
            SalesLead.merged_into_id.is_(None),
        )
        .order_by(SalesLead.id)
    )
    return [(lead_id, int(status == positive)) for lead_id, status in session.execute(stmt)]


# -- columns ----------------------------------------------------------------


def vocabulary(rows: Iterable[Mapping[str, float]], min_support: int) -> list[str]:
    """The columns to learn from: every numeric column, and the indicator
    columns set in at least ``min_support`` rows (the most frequent
    MAX_VALUES_PER_PREFIX of each prefix), in a stable order."""
    seen: Counter[str] = Counter()
    for row in rows:
        seen.update(key for key in row if "=" in key)
    kept: dict[str, list[str]] = {}
    for key, count in sorted(seen.items(), key=lambda item: (-item[1], item[0])):
        prefix = key.partition("=")[0]
        if count >= min_support and len(kept.setdefault(prefix, [])) < MAX_VALUES_PER_PREFIX:
            kept[prefix].append(key)
    return [*NUMERIC_COLUMNS, *(key for prefix in sorted(kept) for key in sorted(kept[prefix]))]


def matrix(rows: Sequence[Mapping[str, float]], columns: Sequence[str]) -> np.ndarray[Any, Any]:
    """``rows`` laid out in ``columns`` (a value the columns do not know is dropped)."""
    index = {name: j for j, name in enumerate(columns)}
    out = np.zeros((len(rows), len(columns)), dtype=np.float64)
    for i, row in enumerate(rows):
        for key, value in row.items():
            j = index.get(key)
            if j is not None:
                out[i, j] = value
    return out
