"""Queries of the JSON-file migration: its ``migration_log`` rows and the
lookups ``migrate-json --validate`` finds source leads with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.leads.repository import email_matches
from leadbase.models import MigrationLog, SalesLead

# What a lookup tells about the lead holding a value: "active" (or merged
# into another lead, which then holds its data) or "deleted" (soft-deleted).
State = str


def add_log(session: Session, **values: Any) -> MigrationLog:
    entry = MigrationLog(**values)
    session.add(entry)
    session.flush()
    return entry


def logs_for(session: Session, source_file: str | None = None) -> Sequence[MigrationLog]:
    """Migration log rows, oldest first (of one file, or all)."""
    query = select(MigrationLog).order_by(MigrationLog.migration_date, MigrationLog.id)
    if source_file is not None:
        query = query.where(MigrationLog.source_file == source_file)
    return session.scalars(query).all()


def _states(session: Session, column: Any, values: Iterable[str]) -> dict[str, State]:
    """value -> "active" when any lead (merged ones included) holds it, else
    "deleted" when only soft-deleted ones do."""
    found: dict[str, State] = {}
    for chunk in chunked(sorted(set(values))):
        # email has no index of its own (migration 0013): key_email finds it.
        matches = email_matches(chunk) if column is SalesLead.email else column.in_(chunk)
        rows = session.execute(select(column, SalesLead.is_deleted).where(matches)).all()
        for value, is_deleted in rows:
            if not is_deleted or value not in found:
                found[value] = "deleted" if is_deleted else "active"
    return found


def states_by_email(session: Session, emails: Iterable[str]) -> dict[str, State]:
    return _states(session, SalesLead.email, emails)


def states_by_linkedin_url(session: Session, urls: Iterable[str]) -> dict[str, State]:
    return _states(session, SalesLead.linkedin_url, urls)


def states_by_external_id(
    session: Session, provider_name: str, external_ids: Iterable[str]
) -> dict[str, State]:
    """external id -> state, among the leads of one provider."""
    found: dict[str, State] = {}
    for chunk in chunked(sorted(set(external_ids))):
        rows = session.execute(
            select(SalesLead.external_id, SalesLead.is_deleted).where(
                SalesLead.provider_name == provider_name, SalesLead.external_id.in_(chunk)
            )
        ).all()
        for value, is_deleted in rows:
            if not is_deleted or value not in found:
                found[value] = "deleted" if is_deleted else "active"
    return found


def company_key(company: str | None) -> str:
    return (company or "").casefold()


def states_by_name_and_company(
    session: Session, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], State]:
    """(full name, ``company_key``) -> state: names compared as stored (the
    write path cleans both sides the same way), companies case-blind."""
    wanted = set(pairs)
    found: dict[tuple[str, str], State] = {}
    for chunk in chunked(sorted({name for name, _ in wanted})):
        rows = session.execute(
            select(SalesLead.full_name, SalesLead.company_name, SalesLead.is_deleted).where(
                SalesLead.full_name.in_(chunk)
            )
        ).all()
        for name, company, is_deleted in rows:
            pair = (name, company_key(company))
            if pair in wanted and (not is_deleted or pair not in found):
                found[pair] = "deleted" if is_deleted else "active"
    return found
