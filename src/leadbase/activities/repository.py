"""Named queries of activities (lead_events rows a client recorded)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from leadbase.activities.schemas import INTERNAL_TYPES
from leadbase.db import bulk_insert
from leadbase.models import LeadEvent, SalesLead

# Ids per IN list: well below every database's parameter limit.
CHUNK = 5000
# Rows per INSERT ... RETURNING statement on PostgreSQL and MariaDB: the
# drivers parse a statement's text in time that grows faster than its
# length, so SQLAlchemy's 1,000 rows a statement ran at a third of the
# speed of 100 (10,000 activities: 1,200/s vs 3,300/s on PostgreSQL).
PAGE = 100


class LeadState(NamedTuple):
    is_deleted: bool
    merged_into_id: str | None


def lead_states(session: Session, lead_ids: Collection[str]) -> dict[str, LeadState]:
    """Whether each of the leads that exist is deleted or merged away."""
    ids = sorted(set(lead_ids))
    found: dict[str, LeadState] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(SalesLead.id, SalesLead.is_deleted, SalesLead.merged_into_id).where(
                SalesLead.id.in_(ids[start : start + CHUNK])
            )
        )
        found.update({row.id: LeadState(bool(row.is_deleted), row.merged_into_id) for row in rows})
    return found


def insert_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT the rows (all with the same keys) in batches; their new ids in
    the rows' order (RETURNING, matched to the rows by SQLAlchemy's
    insertmanyvalues on every database we run on)."""
    if not rows:
        return []
    table: Table = LeadEvent.__table__  # type: ignore[assignment]
    if session.get_bind().dialect.name == "sqlite":
        # SQLAlchemy sends such an INSERT ... RETURNING one row at a time on
        # SQLite. The driver's executemany is 5 times as fast, and its ids
        # are consecutive: the one writer holds the lock (BEGIN IMMEDIATE)
        # and each row takes the highest id so far plus one.
        bulk_insert(session, LeadEvent, rows)
        last = session.execute(select(func.max(table.c.id))).scalar_one()
        return list(range(last - len(rows) + 1, last + 1))
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    statement = statement.execution_options(insertmanyvalues_page_size=PAGE)
    return list(session.execute(statement, list(rows)).scalars())


def page(
    session: Session,
    lead_id: str,
    limit: int,
    after: tuple[datetime, int] | None = None,
    event_type: str | None = None,
) -> Sequence[LeadEvent]:
    """The lead's activities, newest first (then the latest recorded), from
    after the (occurred_at, id) position a previous page ended at."""
    query = select(LeadEvent).where(
        LeadEvent.lead_id == lead_id, LeadEvent.event_type.not_in(INTERNAL_TYPES)
    )
    if event_type is not None:
        query = query.where(LeadEvent.event_type == event_type)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                LeadEvent.event_timestamp < at,
                and_(LeadEvent.event_timestamp == at, LeadEvent.id < last_id),
            )
        )
    query = query.order_by(LeadEvent.event_timestamp.desc(), LeadEvent.id.desc()).limit(limit)
    return session.scalars(query).all()
