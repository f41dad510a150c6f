"""Named queries over sales_leads and the rows that hang off a lead.

Only leads.service calls the insert functions here; everything else reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from leadbase.models import LeadEvent, LeadSource, SalesLead, SyncStatus

CHUNK = 500  # bound IN-lists: stays under every driver's parameter limit


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _active() -> Any:
    return (SalesLead.is_deleted.is_(False)) & (SalesLead.merged_into_id.is_(None))


def get(session: Session, lead_id: str, *, include_deleted: bool = False) -> SalesLead | None:
    lead = session.get(SalesLead, lead_id)
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
            select(column, SalesLead.id)
            .where(column.in_(chunk), _active())
            .order_by(SalesLead.created_at, SalesLead.id)
        )
        for value, lead_id in rows:
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
            select(SalesLead.provider_name, SalesLead.external_id, SalesLead.id)
            .where(SalesLead.external_id.in_(chunk), _active())
            .order_by(SalesLead.created_at, SalesLead.id)
        )
        for provider, external, lead_id in rows:
            if (provider, external) in wanted:
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
    if rows:
        session.execute(insert(SalesLead), rows)


def insert_sources(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(LeadSource), rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(LeadEvent), rows)


def insert_sync_marks(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(SyncStatus), rows)


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
