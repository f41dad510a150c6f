"""Named queries over sales_leads and the rows that hang off a lead.

Only leads.service calls the insert functions here; everything else reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from leadbase.db import bulk_insert
from leadbase.models import LeadEvent, LeadSource, SalesLead, SyncStatus

CHUNK = 500  # bound IN-lists: stays under every driver's parameter limit


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _is_active(is_deleted: bool, merged_into_id: str | None) -> bool:
    """What ``is_deleted IS false AND merged_into_id IS NULL`` says of a row.

    The duplicate lookups test it here on the rows they fetch rather than in
    SQL: given that condition, SQLite (no ANALYZE statistics) walks the whole
    ``is_deleted`` index, every lead, instead of the looked-up column's index,
    so each lookup slowed down as the table grew.
    """
    return not is_deleted and merged_into_id is None


def get(session: Session, lead_id: str, *, include_deleted: bool = False) -> SalesLead | None:
    lead = session.get(SalesLead, lead_id)
    if lead is None or (lead.is_deleted and not include_deleted):
        return None
    return lead


def get_current(
    session: Session, lead_id: str, *, include_deleted: bool = False
) -> SalesLead | None:
    """Like ``get``, but re-read from the database even when this session
    already holds the row: a writer calls it once it holds the write lock, so
    it changes what others committed, not an older copy."""
    lead = session.get(SalesLead, lead_id, populate_existing=True)
    if lead is None or (lead.is_deleted and not include_deleted):
        return None
    return lead


def get_many(session: Session, lead_ids: Sequence[str]) -> dict[str, SalesLead]:
    found: dict[str, SalesLead] = {}
    for chunk in _chunks(list(lead_ids)):
        for lead in session.scalars(select(SalesLead).where(SalesLead.id.in_(chunk))):
            found[lead.id] = lead
    return found


def _ids_by_column(session: Session, column: Any, values: Iterable[str]) -> dict[str, str]:
    """value -> id of the oldest active lead holding it."""
    wanted = sorted(set(values))
    matches: dict[str, str] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(column, SalesLead.id, SalesLead.is_deleted, SalesLead.merged_into_id)
            .where(column.in_(chunk))
            .order_by(SalesLead.created_at, SalesLead.id)
        )
        for value, lead_id, is_deleted, merged_into_id in rows:
            if _is_active(is_deleted, merged_into_id):
                matches.setdefault(value, lead_id)
    return matches


def ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, str]:
    return _ids_by_column(session, SalesLead.email, emails)


def ids_by_linkedin_url(session: Session, urls: Iterable[str]) -> dict[str, str]:
    return _ids_by_column(session, SalesLead.linkedin_url, urls)


def ids_by_phone(session: Session, phones: Iterable[str]) -> dict[str, str]:
    return _ids_by_column(session, SalesLead.phone, phones)


def ids_by_provider_external(
    session: Session, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    wanted = set(pairs)
    matches: dict[tuple[str, str], str] = {}
    for chunk in _chunks(sorted({external for _, external in wanted})):
        rows = session.execute(
            select(
                SalesLead.provider_name,
                SalesLead.external_id,
                SalesLead.id,
                SalesLead.is_deleted,
                SalesLead.merged_into_id,
            )
            .where(SalesLead.external_id.in_(chunk))
            .order_by(SalesLead.created_at, SalesLead.id)
        )
        for provider, external, lead_id, is_deleted, merged_into_id in rows:
            if (provider, external) in wanted and _is_active(is_deleted, merged_into_id):
                matches.setdefault((provider, external), lead_id)
    return matches


def pending_sync_lead_ids(session: Session, lead_ids: Sequence[str], target: str) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(list(lead_ids)):
        found.update(
            session.scalars(
                select(SyncStatus.lead_id).where(
                    SyncStatus.lead_id.in_(chunk),
                    SyncStatus.target == target,
                    SyncStatus.status == "pending",
                )
            )
        )
    return found


def insert_leads(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, SalesLead, rows)


def insert_sources(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, LeadSource, rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, LeadEvent, rows)


def insert_sync_marks(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, SyncStatus, rows)


def filtered(filters: dict[str, Any], *, include_deleted: bool = False) -> Select[tuple[SalesLead]]:
    """Equality filters on lead columns; a list or tuple value means "any of"."""
    query = select(SalesLead)
    if not include_deleted:
        query = query.where(SalesLead.is_deleted.is_(False))
    for field, value in filters.items():
        column = SalesLead.__table__.c[field]
        if isinstance(value, list | tuple | set):
            query = query.where(column.in_(list(value)))
        elif value is None:
            query = query.where(column.is_(None))
        else:
            query = query.where(column == value)
    return query


def page_after(session: Session, last_id: str | None, size: int) -> Sequence[SalesLead]:
    """Keyset page of active leads in id (= creation) order."""
    query = select(SalesLead).where(SalesLead.is_deleted.is_(False)).order_by(SalesLead.id)
    if last_id is not None:
        query = query.where(SalesLead.id > last_id)
    return session.scalars(query.limit(size)).all()


def sync_pending(session: Session, target: str, limit: int | None = None) -> Sequence[SalesLead]:
    pending = (
        select(SyncStatus.lead_id)
        .where(SyncStatus.target == target, SyncStatus.status == "pending")
        .distinct()
    )
    query = select(SalesLead).where(SalesLead.id.in_(pending)).order_by(SalesLead.id)
    if limit:
        query = query.limit(limit)
    return session.scalars(query).all()


def count(session: Session, *, include_deleted: bool = False) -> int:
    query = select(func.count()).select_from(SalesLead)
    if not include_deleted:
        query = query.where(SalesLead.is_deleted.is_(False))
    return int(session.scalar(query) or 0)


def events_for(session: Session, lead_id: str) -> Sequence[LeadEvent]:
    return session.scalars(
        select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
    ).all()


def page(
    session: Session,
    filters: dict[str, Any],
    *,
    after_id: str | None,
    limit: int,
    descending: bool,
    include_deleted: bool,
) -> Sequence[SalesLead]:
    """One keyset page in id order (UUIDv7 ids: creation order), newest first
    when ``descending``. The cursor is the last id of the previous page."""
    query = filtered(filters, include_deleted=include_deleted)
    if after_id is not None:
        query = query.where(SalesLead.id < after_id if descending else SalesLead.id > after_id)
    order = SalesLead.id.desc() if descending else SalesLead.id.asc()
    return session.scalars(query.order_by(order).limit(limit)).all()
