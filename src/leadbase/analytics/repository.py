"""The analytics queries: grouped counts over the leads a list's filters
select, their events and the run tables. Every figure is counted in SQL.

Deleted leads. Counting only the active leads of a group reads each row (or
an index holding is_deleted), while counting all of them reads only the
group's own index (value, created_at): so a count is "all minus the
deleted ones", the deleted ones found through the partial is_deleted index,
which holds only them (the trick leads.repository.value_counts plays).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.leads import listing as leads_listing
from leadbase.leads import repository as leads_repository
from leadbase.leads.listing import Listing
from leadbase.models import (
    AirtableRun,
    ApifySyncState,
    DuplicateCluster,
    DuplicateClusterLead,
    ImportRun,
    LeadEvent,
    Merge,
    SalesLead,
)
from leadbase.models.lead import FUNNEL_RANKS, NOT_ACTIVITIES, STEPS_OVERFLOW, steps_of_key

GroupKey = tuple[Any, ...]


# --- periods: one small expression per database ---------------------------------------


def _sql(value: str) -> ColumnElement[Any]:
    """A constant written into the statement, not bound: the same
    expression in SELECT and GROUP BY must be the same text for PostgreSQL
    (two binds of one value are two different expressions to it)."""
    return literal_column("'" + value.replace("'", "''") + "'")


def _sqlite_period(column: Any, interval: str) -> ColumnElement[str]:
    # Stored as text, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: a day is its
    # first ten characters. 'weekday 0' moves to the coming Sunday (or
    # stays on one), six days back is that week's Monday.
    day = func.substr(column, literal_column("1"), literal_column("10"), type_=String)
    if interval == "day":
        return day
    if interval == "week":
        return func.date(day, _sql("weekday 0"), _sql("-6 days"), type_=String)
    return func.substr(column, literal_column("1"), literal_column("7"), type_=String).concat(
        _sql("-01")
    )


def _postgresql_period(column: Any, interval: str) -> ColumnElement[str]:
    # timestamp without time zone, in UTC; date_trunc('week') starts on Monday (ISO).
    truncated = func.date_trunc(_sql(interval), column)
    return func.to_char(truncated, _sql("YYYY-MM-DD"), type_=String)


def _mariadb_period(column: Any, interval: str) -> ColumnElement[str]:
    if interval == "day":
        return func.date_format(column, _sql("%Y-%m-%d"), type_=String)
    if interval == "week":
        # WEEKDAY(): Monday 0 .. Sunday 6.
        monday = func.subdate(column, func.weekday(column))
        return func.date_format(monday, _sql("%Y-%m-%d"), type_=String)
    return func.date_format(column, _sql("%Y-%m-01"), type_=String)


_PERIODS = {"sqlite": _sqlite_period, "postgresql": _postgresql_period, "mysql": _mariadb_period}


def period(session: Session, column: Any, interval: str) -> ColumnElement[str]:
    """The first day (YYYY-MM-DD, UTC) of the day, week (from Monday) or
    month ``column`` falls in."""
    return _PERIODS[session.get_bind().dialect.name](column, interval).label("period")


# --- time ranges ------------------------------------------------------------------------


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def between(column: Any, since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    """``column`` on or after ``since`` and on or before ``until`` (whole UTC days)."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= _start(since))
    if until is not None:
        conditions.append(column < _start(until + timedelta(days=1)))
    return conditions


# --- counting by period: one index range a cell ---------------------------------------
#
# GROUP BY a period expression reads every entry of an index, computes the
# expression for each and sorts them all (SQLite: 0.3 s for 190k leads). A
# count of the entries of one index range needs neither: so a period's
# count is "created_at in [start, end)" counted on the (value, created_at)
# or (created_at, id) index, each cell a scalar subquery, many cells one
# statement. Past MAX_CELLS cells (days by country over years) GROUP BY is
# the cheaper way after all.

MAX_CELLS = 2000
CELLS_A_STATEMENT = 400  # SQLite allows 2,000 result columns


def period_start(moment: datetime, interval: str) -> date:
    day = moment.astimezone(UTC).date()
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def next_period(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def periods(first: datetime, last: datetime, interval: str) -> list[date]:
    """The starts of the periods from the one holding ``first`` to the one holding ``last``."""
    starts = [period_start(first, interval)]
    end = period_start(last, interval)
    while starts[-1] < end:
        starts.append(next_period(starts[-1], interval))
    return starts


def _span_of(
    session: Session, query: Select[Any], column: Any, since: date | None, until: date | None
) -> tuple[datetime, datetime] | None:
    """The range to cut into periods: since..until, else the rows' first and last."""
    first = _start(since) if since is not None else None
    last = _start(until) if until is not None else None
    if first is None or last is None:
        found = session.execute(
            query.with_only_columns(func.min(column), func.max(column), maintain_column_froms=True)
        ).one()
        if found[0] is None:
            return None
        first = first or _aware(found[0])
        last = last or _aware(found[1])
    return (first, last) if first <= last else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def cell_counts(
    session: Session,
    query: Select[Any],
    column: Any,
    interval: str,
    *,
    by: Any = None,
    values: Sequence[Any] = (),
    since: date | None = None,
    until: date | None = None,
) -> Counter[GroupKey] | None:
    """``query``'s rows by (period of ``column``[, ``by`` value]), one
    index range count a cell; rows whose ``by`` is none of ``values`` count
    under None. None: too many cells (the caller groups instead)."""
    span = _span_of(session, query, column, since, until)
    if span is None:
        return Counter()
    starts = periods(*span, interval)
    keys: list[Any] = [None, *values] if by is not None else [None]
    if len(starts) * len(keys) > MAX_CELLS:
        return None
    cells = [(start, value) for start in starts for value in keys]
    counts: Counter[GroupKey] = Counter()
    for chunk in chunked(cells, CELLS_A_STATEMENT):
        subqueries = []
        for start, value in chunk:
            # The first and last periods may stick out of since..until.
            low = max(_start(start), _start(since)) if since is not None else _start(start)
            end = _start(next_period(start, interval))
            if until is not None:
                end = min(end, _start(until + timedelta(days=1)))
            cell = query.where(column >= low, column < end)
            if value is not None:
                cell = cell.where(by == value)
            subqueries.append(
                cell.with_only_columns(func.count(), maintain_column_froms=True).scalar_subquery()
            )
        row = session.execute(select(*subqueries)).one()
        for (start, value), n in zip(chunk, row, strict=True):
            counts[(start.isoformat(), value) if by is not None else (start.isoformat(),)] += int(n)
    if by is not None:  # the period's total, less its valued cells: the rest
        for start in starts:
            label = start.isoformat()
            counts[(label, None)] -= sum(counts[(label, value)] for value in values)
    return +counts


# --- leads ------------------------------------------------------------------------------


def _grouped(session: Session, query: Select[Any], keys: Sequence[Any]) -> Counter[GroupKey]:
    counted = query.with_only_columns(*keys, func.count(), maintain_column_froms=True)
    counted = counted.group_by(*keys)
    return Counter({tuple(row[:-1]): int(row[-1]) for row in session.execute(counted)})


def leads_by_period(
    session: Session,
    wanted: Listing,
    interval: str,
    by: Any = None,
    *,
    since: date | None = None,
    until: date | None = None,
) -> Counter[GroupKey]:
    """The leads of ``wanted`` created in the range by (period[, ``by``]):
    by index range counts (``cell_counts``), less the deleted ones; by
    GROUP BY when the cells are too many or the list is a search."""
    keys: list[Any] = [period(session, SalesLead.created_at, interval)]
    if by is not None:
        keys.append(by)
    every = dataclasses.replace(wanted, include_deleted=True)
    query = leads_listing.query(session, every)
    counts = None
    if not wanted.searched:
        values = (
            leads_repository.distinct_values(session, by.key, MAX_CELLS) if by is not None else []
        )
        if len(values) < MAX_CELLS:
            counts = cell_counts(
                session,
                query,
                SalesLead.created_at,
                interval,
                by=by,
                values=values,
                since=since,
                until=until,
            )
    if counts is None:
        return lead_counts(session, wanted, keys, since=since, until=until)
    if not wanted.include_deleted:
        deleted = query.where(
            SalesLead.is_deleted == true(), *between(SalesLead.created_at, since, until)
        )
        counts.subtract(_grouped(session, deleted, keys))
    return +counts


def lead_counts(
    session: Session,
    wanted: Listing,
    keys: Sequence[Any],
    *,
    since: date | None = None,
    until: date | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Counter[GroupKey]:
    """The leads of ``wanted`` created in the range (and meeting ``where``),
    counted by ``keys``: all of them, less the deleted ones (see the
    module's docstring)."""
    every = dataclasses.replace(wanted, include_deleted=True)
    query = leads_listing.query(session, every).where(
        *between(SalesLead.created_at, since, until), *where
    )
    counts = _grouped(session, query, keys)
    if not wanted.include_deleted:
        counts.subtract(_grouped(session, query.where(SalesLead.is_deleted == true()), keys))
    return +counts  # groups left at zero go


def _where(session: Session, wanted: Listing) -> list[Any]:
    """The list's conditions on sales_leads (none: every lead)."""
    clause = leads_listing.query(session, wanted).whereclause
    return [] if clause is None else [clause]


def narrowed(wanted: Listing) -> bool:
    """Whether the list picks some leads (a filter, a search), not all of them."""
    return bool(wanted.filters) or wanted.searched


def _of_leads(session: Session, wanted: Listing, column: Any) -> list[Any]:
    """Conditions on ``column`` (a lead id) that keep the rows of the list's
    leads. The whole list less the deleted leads is "not one of the
    deleted", which are few and indexed on their own."""
    if narrowed(wanted):
        ids = leads_listing.query(session, wanted).with_only_columns(SalesLead.id)
        return [column.in_(ids)]
    if wanted.include_deleted:
        return []
    return [column.not_in(select(SalesLead.id).where(SalesLead.is_deleted == true()))]


# --- the funnel -------------------------------------------------------------------------

RANKS = FUNNEL_RANKS


def reached_past_status(
    session: Session, wanted: Listing, *, since: date | None, until: date | None
) -> Counter[GroupKey]:
    """(lead_status, stage_reached) -> how many of the list's leads created
    in the range reached a stage past their current status (stage_reached
    is set: few leads, all in the partial idx_lead_stage_reached)."""
    return lead_counts(
        session,
        wanted,
        [SalesLead.lead_status, SalesLead.stage_reached],
        since=since,
        until=until,
        # "IN (1, 2, 3)", not only "IS NOT NULL": SQLite then picks the
        # partial index over a scan of another in GROUP BY order.
        where=[
            SalesLead.stage_reached.is_not(None),
            SalesLead.stage_reached.in_(range(1, len(RANKS))),
        ],
    )


def _of_leads_created(
    session: Session, wanted: Listing, column: Any, since: date | None, until: date | None
) -> list[Any]:
    """Conditions on ``column`` (a lead id) keeping the rows of the list's
    leads created in the range (see ``_of_leads``)."""
    if since is None and until is None:
        return _of_leads(session, wanted, column)
    ids = (
        leads_listing.query(session, wanted)
        .where(*between(SalesLead.created_at, since, until))
        .with_only_columns(SalesLead.id)
    )
    return [column.in_(ids)]


def _stage_changes(
    session: Session, wanted: Listing, since: date | None, until: date | None
) -> list[Any]:
    """Status changes with their time in stage known, of the list's leads
    created in the range. Only status_changed events carry stage_seconds,
    so "stage_seconds is set" picks them: the partial idx_event_stage_seconds
    (old_status, stage_seconds, lead_id) answers without reading the rows."""
    return [
        LeadEvent.stage_seconds.is_not(None),
        *_of_leads_created(session, wanted, LeadEvent.lead_id, since, until),
    ]


def stage_times(
    session: Session, wanted: Listing, *, since: date | None, until: date | None
) -> dict[str, list[int]]:
    """Each status's stage_seconds of changes leaving it, smallest first, of
    the list's leads created in the range: for a narrowed list, whose lead
    ids cost a read each to gather, one pass over the index rather than a
    count and a median query each (four gatherings)."""
    lead_id: Any = LeadEvent.lead_id
    if session.get_bind().dialect.name == "sqlite":
        # Walk idx_event_stage_seconds, testing each lead id against the
        # list's, not look each of the list's leads up (many more reads).
        lead_id = lead_id.concat(_sql(""))
    query = (
        select(LeadEvent.old_status, LeadEvent.stage_seconds)
        .where(
            LeadEvent.stage_seconds.is_not(None),
            *_of_leads_created(session, wanted, lead_id, since, until),
        )
        .order_by(LeadEvent.old_status, LeadEvent.stage_seconds)
    )
    times: dict[str, list[int]] = defaultdict(list)
    for status, seconds in session.execute(query):
        times[str(status)].append(int(seconds))
    return times


def left_stage(
    session: Session, wanted: Listing, *, since: date | None, until: date | None
) -> Counter[str]:
    """How many status changes left each status (with its time in it known)."""
    query = (
        select(LeadEvent.old_status, func.count())
        .where(*_stage_changes(session, wanted, since, until))
        .group_by(LeadEvent.old_status)
    )
    return Counter({str(status): int(n) for status, n in session.execute(query)})


def stage_seconds(
    session: Session,
    wanted: Listing,
    stage: str,
    *,
    offset: int,
    limit: int,
    since: date | None,
    until: date | None,
) -> list[int]:
    """The stage_seconds of changes leaving ``stage``, smallest first, from
    ``offset``: a median is the middle one or two."""
    query = (
        select(LeadEvent.stage_seconds)
        .where(LeadEvent.old_status == stage, *_stage_changes(session, wanted, since, until))
        .order_by(LeadEvent.stage_seconds)
        .offset(offset)
        .limit(limit)
    )
    return [int(value or 0) for value in session.scalars(query)]


# --- activities -------------------------------------------------------------------------


def activity_counts(
    session: Session,
    wanted: Listing,
    interval: str,
    by: str,
    *,
    since: date | None,
    until: date | None,
) -> Counter[GroupKey]:
    """Activities of the list's leads that happened in the range, by period
    and event_type (``by`` "type") or outcome: of every lead, one index range
    a cell (``activity_cells``), less the deleted leads' ones; a narrowed
    list, or too many cells, by GROUP BY."""
    column = LeadEvent.event_type if by == "type" else LeadEvent.outcome
    keys = [period(session, LeadEvent.event_timestamp, interval), column]
    counts = None
    if not narrowed(wanted):
        counts = activity_cells(session, interval, by, since=since, until=until)
    if counts is None:
        return _activities_grouped(
            session, keys, [*_of_leads(session, wanted, LeadEvent.lead_id)], since, until
        )
    if not wanted.include_deleted:
        deleted = select(SalesLead.id).where(SalesLead.is_deleted == true())
        counts.subtract(
            _activities_grouped(session, keys, [LeadEvent.lead_id.in_(deleted)], since, until)
        )
    return +counts


def _activities_grouped(
    session: Session,
    keys: Sequence[Any],
    where: Sequence[Any],
    since: date | None,
    until: date | None,
) -> Counter[GroupKey]:
    query = (
        select(*keys, func.count())
        .where(
            LeadEvent.event_type.not_in(NOT_ACTIVITIES),
            *between(LeadEvent.event_timestamp, since, until),
            *where,
        )
        .group_by(*keys)
    )
    return Counter({tuple(row[:-1]): int(row[-1]) for row in session.execute(query)})


def event_values(session: Session, column: Any, cap: int) -> list[str]:
    """Up to ``cap`` distinct values of a lead_events ``column`` (indexed
    first), a seek each (see leads.repository.distinct_values)."""
    name = column.name
    if session.get_bind().dialect.name == "mysql":
        loose = text(
            f"SELECT {name} FROM lead_events WHERE {name} IS NOT NULL GROUP BY {name} LIMIT :cap"
        )
        return [str(value) for value in session.scalars(loose, {"cap": cap})]
    statement = text(
        f"WITH RECURSIVE walk(v, n) AS ("
        f"SELECT (SELECT min({name}) FROM lead_events WHERE {name} IS NOT NULL), 1 "
        f"UNION ALL SELECT (SELECT min({name}) FROM lead_events WHERE {name} > walk.v), n + 1 "
        f"FROM walk WHERE walk.v IS NOT NULL AND n < :cap"
        f") SELECT v FROM walk WHERE v IS NOT NULL"
    )
    return [str(value) for value in session.scalars(statement, {"cap": cap})]


def _activity_span(
    session: Session, types: Sequence[str], since: date | None, until: date | None
) -> tuple[datetime, datetime] | None:
    """since..until, else the first and last activity: each type's own, a
    seek each on the (event_type, event_timestamp) index."""
    first = _start(since) if since is not None else None
    last = _start(until) if until is not None else None
    if first is None or last is None:
        ends = []
        for kind in types:
            of_kind = select(LeadEvent.event_timestamp).where(LeadEvent.event_type == kind)
            ends.append(of_kind.with_only_columns(func.min(LeadEvent.event_timestamp)))
            ends.append(of_kind.with_only_columns(func.max(LeadEvent.event_timestamp)))
        found = [
            _aware(value)
            for value in session.execute(select(*(end.scalar_subquery() for end in ends))).one()
            if value is not None
        ]
        if not found:
            return None
        first = first or min(found)
        last = last or max(found)
    return (first, last) if first <= last else None


def activity_cells(
    session: Session, interval: str, by: str, *, since: date | None, until: date | None
) -> Counter[GroupKey] | None:
    """Every lead's activities by (period, type or outcome), each cell a
    count of one index range: (event_type, event_timestamp) for a type, the
    partial (outcome, event_timestamp, event_type) for an outcome; an
    activity without one is its period's total less its outcomes'. None:
    too many cells (the caller groups instead)."""
    types = [
        kind
        for kind in event_values(session, LeadEvent.event_type, MAX_CELLS)
        if kind not in NOT_ACTIVITIES
    ]
    if not types:
        return Counter()
    span = _activity_span(session, types, since, until)
    if span is None:
        return Counter()
    starts = periods(*span, interval)
    outcomes = event_values(session, LeadEvent.outcome, MAX_CELLS) if by == "outcome" else []
    values = [("type", kind) for kind in types] + [("outcome", o) for o in outcomes]
    if len(starts) * len(values) > MAX_CELLS:
        return None
    cells = [(start, value) for start in starts for value in values]
    found: Counter[tuple[str, str, str]] = Counter()
    for chunk in chunked(cells, CELLS_A_STATEMENT):
        subqueries = []
        for start, (kind, value) in chunk:
            low = max(_start(start), _start(since)) if since is not None else _start(start)
            end = _start(next_period(start, interval))
            if until is not None:
                end = min(end, _start(until + timedelta(days=1)))
            matches = (
                [LeadEvent.event_type == value]
                if kind == "type"
                else [LeadEvent.outcome == value, LeadEvent.event_type.not_in(NOT_ACTIVITIES)]
            )
            cell = (
                select(func.count())
                .select_from(LeadEvent)
                .where(*matches, LeadEvent.event_timestamp >= low, LeadEvent.event_timestamp < end)
            )
            subqueries.append(cell.scalar_subquery())
        row = session.execute(select(*subqueries)).one()
        for (start, (kind, value)), n in zip(chunk, row, strict=True):
            found[(start.isoformat(), kind, value)] += int(n)
    counts: Counter[GroupKey] = Counter()
    for (label, kind, value), n in found.items():
        if by == "type" and kind == "type":
            counts[(label, value)] += n
        elif by == "outcome":
            # The period's activities: those of an outcome, the rest none.
            counts[(label, value if kind == "outcome" else None)] += n
            if kind == "outcome":
                counts[(label, None)] -= n
    return counts


# --- enrichment -------------------------------------------------------------------------

FINISHED = ("completed", "failed")


def provider_steps(
    session: Session,
    wanted: Listing,
    *,
    since: date | None,
    until: date | None,
    keyed: Counter[GroupKey] | None = None,
) -> Counter[tuple[str, str]]:
    """(provider, step status) -> how many of the list's enriched leads
    (created in the range) ended their last enrichment with such a step
    (enrichment_data.steps, written by enrichment.service.apply_outcome):
    counted by their few distinct enrichment_steps (``keyed``: already
    counted by (steps, status), else from its index); the JSON read only
    for leads whose steps did not fit that column."""
    if keyed is None:
        # Grouped by status too, not filtered by it: the group is then the
        # partial index's order (a condition on the status makes SQLite read
        # the rows through the status index instead).
        keyed = lead_counts(
            session,
            wanted,
            [SalesLead.enrichment_steps, SalesLead.enrichment_status],
            since=since,
            until=until,
            where=[
                SalesLead.enrichment_steps.is_not(None),
                SalesLead.enrichment_steps != STEPS_OVERFLOW,
            ],
        )
    counts: Counter[tuple[str, str]] = Counter()
    for (key, status), n in keyed.items():
        if status in FINISHED and key != STEPS_OVERFLOW:
            for pair in steps_of_key(key):
                counts[pair] += n
    counts.update(_steps_from_json(session, wanted, since=since, until=until))
    return counts


def _steps_from_json(
    session: Session, wanted: Listing, *, since: date | None, until: date | None
) -> Counter[tuple[str, str]]:
    """provider_steps of the leads whose enrichment_steps overflowed, from the JSON."""
    conditions = [
        SalesLead.enrichment_steps == STEPS_OVERFLOW,
        SalesLead.enrichment_status.in_(FINISHED),
        *_where(session, wanted),
        *between(SalesLead.created_at, since, until),
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "mysql":
        return _provider_steps_in_python(session, conditions)
    provider: Any
    status: Any
    if dialect == "sqlite":
        step = func.json_each(SalesLead.enrichment_data, _sql("$.steps")).table_valued("value")
        provider = func.json_extract(step.c.value, _sql("$.provider"))
        status = func.json_extract(step.c.value, _sql("$.status"))
    else:
        steps = SalesLead.enrichment_data.op("->")(_sql("steps"))
        step = func.jsonb_array_elements(steps).table_valued("value")
        provider = step.c.value.op("->>")(_sql("provider"))
        status = step.c.value.op("->>")(_sql("status"))
    query = (
        select(provider, status, func.count())
        .select_from(SalesLead)
        .join(step, true())
        .where(*conditions)
        .group_by(provider, status)
    )
    return Counter(
        {(str(name), str(state)): int(n) for name, state, n in session.execute(query) if name}
    )


def _provider_steps_in_python(session: Session, conditions: list[Any]) -> Counter[tuple[str, str]]:
    """MariaDB: its JSON_TABLE has no SQLAlchemy construct; the steps are
    read and counted here (the same answer, slower on many leads)."""
    counts: Counter[tuple[str, str]] = Counter()
    query = select(SalesLead.enrichment_data).where(*conditions)
    for data in session.scalars(query.execution_options(yield_per=2000)):
        for step in (data or {}).get("steps") or []:
            if isinstance(step, dict) and step.get("provider"):
                counts[(str(step["provider"]), str(step.get("status")))] += 1
    return counts


# --- duplicates -------------------------------------------------------------------------

_JSON_LENGTH = {
    "sqlite": func.json_array_length,
    "postgresql": func.jsonb_array_length,
    "mysql": func.json_length,
}


def _held_by_list(session: Session, wanted: Listing, column: Any) -> ColumnElement[bool]:
    """``column`` (a lead id) is one of the list's leads: a lookup by id a
    row. Clusters and merges are few next to the leads a broad filter picks,
    whose ids would each cost a row read to gather for an IN list."""
    listed = leads_listing.query(session, wanted).with_only_columns(SalesLead.id)
    return listed.where(SalesLead.id == column).exists()


def cluster_counts(
    session: Session, wanted: Listing, *, since: date | None, until: date | None
) -> Counter[tuple[str, str]]:
    """Lead duplicate clusters found in the range, by (status, action); of
    clusters holding one of the list's leads when the list is narrowed."""
    conditions = [
        DuplicateCluster.entity == "lead",
        *between(DuplicateCluster.created_at, since, until),
    ]
    if narrowed(wanted):
        members = select(DuplicateClusterLead.cluster_id).where(
            _held_by_list(session, wanted, DuplicateClusterLead.lead_id)
        )
        conditions.append(DuplicateCluster.id.in_(members))
    keys = [DuplicateCluster.status, DuplicateCluster.action]
    query = select(*keys, func.count()).where(*conditions).group_by(*keys)
    return Counter({(str(s), str(a)): int(n) for s, a, n in session.execute(query)})


def merge_counts(
    session: Session, wanted: Listing, *, since: date | None, until: date | None
) -> tuple[int, int, int]:
    """(merges made in the range, leads they merged, merges undone in the
    range), of leads: those into one of the list's leads when narrowed."""
    survivors = [_held_by_list(session, wanted, Merge.survivor_id)] if narrowed(wanted) else []
    length = _JSON_LENGTH[session.get_bind().dialect.name]
    made = select(func.count(), func.coalesce(func.sum(length(Merge.merged_ids)), 0)).where(
        Merge.entity == "lead", *between(Merge.created_at, since, until), *survivors
    )
    merges, merged = session.execute(made).one()
    undone = select(func.count()).where(
        Merge.entity == "lead",
        Merge.undone_at.is_not(None),
        *between(Merge.undone_at, since, until),
        *survivors,
    )
    return int(merges), int(merged), int(session.scalar(undone) or 0)


# --- imports and syncs ------------------------------------------------------------------


def import_runs(
    session: Session, *, since: date | None, until: date | None
) -> list[tuple[str, int, dict[str, int]]]:
    """(status, rows done, counts) of each file import started in the range."""
    query = select(ImportRun.status, ImportRun.rows_done, ImportRun.counts).where(
        *between(ImportRun.created_at, since, until)
    )
    return [
        (str(s), int(done or 0), dict(counts or {})) for s, done, counts in session.execute(query)
    ]


APIFY_ROWS = ("total_records", "synced_records", "failed_records", "duplicate_records")


def apify_runs(
    session: Session, *, since: date | None, until: date | None
) -> list[tuple[str, int, dict[str, int]]]:
    """(sync status, runs, summed record counts) of the Apify runs recorded in the range."""
    sums = [func.coalesce(func.sum(getattr(ApifySyncState, name)), 0) for name in APIFY_ROWS]
    query = (
        select(ApifySyncState.sync_status, func.count(), *sums)
        .where(
            ApifySyncState.is_deleted.is_not(True),
            *between(ApifySyncState.created_at, since, until),
        )
        .group_by(ApifySyncState.sync_status)
    )
    return [
        (
            str(row[0]),
            int(row[1]),
            {name: int(v) for name, v in zip(APIFY_ROWS, row[2:], strict=True)},
        )
        for row in session.execute(query)
    ]


def airtable_runs(
    session: Session, *, since: date | None, until: date | None
) -> list[tuple[str, str, dict[str, int]]]:
    """(kind, status, counts) of each Airtable run started in the range."""
    query = select(AirtableRun.kind, AirtableRun.status, AirtableRun.counts).where(
        *between(AirtableRun.started_at, since, until)
    )
    return [(str(k), str(s), dict(counts or {})) for k, s, counts in session.execute(query)]
