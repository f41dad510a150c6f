"""The analytics figures of every lead, read from the rollups the triggers
keep (models/analytics.py): a few thousand rows, whatever the number of
leads and activities. They answer for the whole list (no filter, no
search, deleted leads left out); a narrowed list is counted from its rows
(analytics.repository).

The returned shapes are repository's, so the service reads either the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from leadbase.analytics.repository import GroupKey, narrowed, period_start
from leadbase.leads.listing import Listing
from leadbase.models import LeadEvent, SalesLead
from leadbase.models.analytics import (
    ALL_DAYS,
    NONE,
    SEPARATOR,
    STAGE_BUCKET_SECONDS,
    TOTALLED,
    ActivityRollup,
    LeadRollup,
    StageRollup,
)

# The lead column a figure groups by -> its rollup dimension.
DIMENSION_OF = {
    "lead_status": "status",
    "source": "source",
    "country": "country",
    "industry": "industry",
}


def answer(wanted: Listing) -> bool:
    """Whether the rollups hold this list's figures: every lead, less the deleted."""
    return not narrowed(wanted) and not wanted.include_deleted


def one_filter(wanted: Listing) -> tuple[str, tuple[str, ...]] | None:
    """(dimension, values) when the list is every lead but the deleted with
    one of these values of status, source, country or industry (a filter's
    stored spellings): the pair rollups count its leads by period and
    another of the four."""
    if wanted.searched or wanted.include_deleted or len(wanted.filters) != 1:
        return None
    [(column, value)] = wanted.filters.items()
    if column not in DIMENSION_OF or not isinstance(value, str | list | tuple):
        return None  # is_manual=true, company_id=..., a null: counted from the rows
    values = (value,) if isinstance(value, str) else tuple(value)
    if not values:
        return None
    if not all(isinstance(v, str) and SEPARATOR not in v for v in values):
        return None
    return DIMENSION_OF[column], values


def _days(column: Any, since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column <= until)
    return conditions


def _value(text: str) -> str | None:
    return None if text == NONE else text


def lead_values(
    session: Session,
    dimension: str,
    *,
    since: date | None,
    until: date | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[tuple[date, str, int]]:
    """(day, value, leads) of one dimension, days in the range."""
    query = select(LeadRollup.day, LeadRollup.value, LeadRollup.leads).where(
        LeadRollup.dimension == dimension,
        LeadRollup.leads != 0,
        *_days(LeadRollup.day, since, until),
        *where,
    )
    return [(day, str(value), int(n)) for day, value, n in session.execute(query)]


def leads_by_period(
    session: Session,
    interval: str,
    by: Any,
    *,
    since: date | None,
    until: date | None,
    only: tuple[str, tuple[str, ...]] | None = None,
) -> Counter[GroupKey]:
    """Leads created by (period[, value of ``by``]); any dimension holds
    every lead. ``only``: of the leads with this (dimension, value)."""
    grouped = DIMENSION_OF[by.key] if by is not None else None
    counts: Counter[GroupKey] = Counter()
    for day, value, n in _values_of(session, grouped, only, since=since, until=until):
        label = period_start_of_day(day, interval)
        counts[(label, _value(value)) if by is not None else (label,)] += n
    return +counts


def _values_of(
    session: Session,
    grouped: str | None,
    only: tuple[str, tuple[str, ...]] | None,
    *,
    since: date | None,
    until: date | None,
) -> list[tuple[date, str, int]]:
    """(day, value of ``grouped``, leads) of the leads ``only`` picks."""
    if only is None:
        return lead_values(session, grouped or "status", since=since, until=until)
    dimension, wanted = only
    if grouped is None or grouped == dimension:
        where: ColumnElement[bool] = LeadRollup.value.in_(wanted)
        return lead_values(session, dimension, since=since, until=until, where=[where])
    first, second = sorted((dimension, grouped))
    pair = f"{first}+{second}"
    if first == dimension:  # "wanted|theirs"
        heads = [v + SEPARATOR for v in wanted]
        where = or_(*(LeadRollup.value.startswith(head, autoescape=True) for head in heads))
        rows = lead_values(session, pair, since=since, until=until, where=[where])
        return [(day, _after(value, heads), n) for day, value, n in rows]
    tails = [SEPARATOR + v for v in wanted]
    where = or_(*(LeadRollup.value.endswith(tail, autoescape=True) for tail in tails))
    rows = lead_values(session, pair, since=since, until=until, where=[where])
    return [(day, _before(value, tails), n) for day, value, n in rows]


def _after(value: str, heads: list[str]) -> str:
    """``value`` without the one of ``heads`` it starts with (a database's
    LIKE may ignore case: so may this)."""
    folded = value.casefold()
    head = next((h for h in heads if folded.startswith(h.casefold())), heads[0])
    return value[len(head) :]


def _before(value: str, tails: list[str]) -> str:
    folded = value.casefold()
    tail = next((t for t in tails if folded.endswith(t.casefold())), tails[0])
    return value[: -len(tail)]


def period_start_of_day(day: date, interval: str) -> str:
    """The period's first day, as the figures label it."""
    return period_start(datetime.combine(day, time(), tzinfo=UTC), interval).isoformat()


def by_value(
    session: Session, dimension: str, *, since: date | None, until: date | None
) -> Counter[str]:
    """Leads by their value of ``dimension`` ("" for none), created in the
    range: summed in SQL, or, for a dimension of many values a day with no
    range, read from its totals over all days."""
    days = _days(LeadRollup.day, since, until)
    if dimension in TOTALLED and since is None and until is None:
        dimension, days = f"{dimension}:all", [LeadRollup.day == ALL_DAYS]
    query = (
        select(LeadRollup.value, func.sum(LeadRollup.leads))
        .where(LeadRollup.dimension == dimension, *days)
        .group_by(LeadRollup.value)
    )
    return +Counter({str(value): int(n) for value, n in session.execute(query)})


def _split(
    session: Session, dimension: str, *, since: date | None, until: date | None
) -> tuple[Counter[GroupKey], Counter[tuple[str | None, str]]]:
    """A two-part dimension ("first|second"): leads by (first,), and by
    (first, second) of those whose second part is set."""
    by_first: Counter[GroupKey] = Counter()
    both: Counter[tuple[str | None, str]] = Counter()
    for value, n in by_value(session, dimension, since=since, until=until).items():
        first, _, second = value.partition(SEPARATOR)
        by_first[(_value(first),)] += n
        if second:
            both[(_value(first), second)] += n
    return by_first, both


def status_and_stage(
    session: Session, *, since: date | None, until: date | None
) -> tuple[Counter[GroupKey], Counter[GroupKey]]:
    """The funnel's two counts: leads by (lead_status,), and by
    (lead_status, stage_reached) of those whose stage_reached is set."""
    by_status, both = _split(session, "stage", since=since, until=until)
    return by_status, Counter({(status, int(rank)): n for (status, rank), n in both.items()})


def enrichment_values(
    session: Session, *, since: date | None, until: date | None
) -> tuple[Counter[GroupKey], Counter[GroupKey]]:
    """Leads by (enrichment_status,), and by (enrichment_steps,
    enrichment_status) of those with steps."""
    by_status, both = _split(session, "enrichment", since=since, until=until)
    return by_status, Counter({(steps, status): n for (status, steps), n in both.items()})


def score_values(
    session: Session, *, since: date | None, until: date | None
) -> tuple[Counter[GroupKey], int]:
    """Scored leads by (lead_score,), and how many leads in all."""
    per_score: Counter[GroupKey] = Counter()
    leads = 0
    for value, n in by_value(session, "score", since=since, until=until).items():
        leads += n
        if value != NONE:
            per_score[(int(value),)] += n
    return per_score, leads


# --- activities -------------------------------------------------------------------------


def activity_counts(
    session: Session, interval: str, by: str, *, since: date | None, until: date | None
) -> Counter[GroupKey]:
    """Activities by (period, type or outcome)."""
    column = ActivityRollup.event_type if by == "type" else ActivityRollup.outcome
    query = (
        select(ActivityRollup.day, column, func.sum(ActivityRollup.activities))
        .where(*_days(ActivityRollup.day, since, until))
        .group_by(ActivityRollup.day, column)
    )
    counts: Counter[GroupKey] = Counter()
    for day, value, n in session.execute(query):
        counts[(period_start_of_day(day, interval), _value(str(value)))] += int(n)
    return +counts


# --- time in stage ------------------------------------------------------------------------


def left_stage(session: Session) -> Counter[str]:
    """How many status changes left each status (their time in it known)."""
    query = select(StageRollup.old_status, func.sum(StageRollup.changes)).group_by(
        StageRollup.old_status
    )
    return +Counter({str(status): int(n) for status, n in session.execute(query)})


def stage_seconds(session: Session, stage: str, *, offset: int, limit: int) -> list[int]:
    """The stage_seconds of changes leaving ``stage``, smallest first, from
    ``offset``: the rollup finds the hour the offset falls in, the events'
    (old_status, stage_seconds) index gives the exact values from there."""
    hours = session.execute(
        select(StageRollup.hour, StageRollup.changes)
        .where(StageRollup.old_status == stage, StageRollup.changes != 0)
        .order_by(StageRollup.hour)
    ).all()
    before = 0
    for hour, n in hours:
        if before + n > offset:
            return _seconds_from(session, stage, int(hour), offset - before, limit)
        before += n
    return []


def _seconds_from(session: Session, stage: str, hour: int, offset: int, limit: int) -> list[int]:
    deleted = select(SalesLead.id).where(SalesLead.is_deleted == true())
    query = (
        select(LeadEvent.stage_seconds)
        .where(
            LeadEvent.stage_seconds.is_not(None),
            LeadEvent.old_status == stage,
            LeadEvent.stage_seconds >= hour * STAGE_BUCKET_SECONDS,
            LeadEvent.lead_id.not_in(deleted),
        )
        .order_by(LeadEvent.stage_seconds)
        .offset(offset)
        .limit(limit)
    )
    return [int(value or 0) for value in session.scalars(query)]
