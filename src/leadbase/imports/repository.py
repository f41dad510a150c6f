"""Queries of import runs, their rejects and the leads a run touched."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from leadbase.db import bulk_insert, chunked
from leadbase.leads.repository import email_matches
from leadbase.models import ImportReject, ImportRun, LeadSource, SalesLead

# The statistics target of an import's ANALYZE: a sample of 3,000 rows, not
# the default's 30,000 (at 100,000 leads ~0.1 s, not ~2 s, each time). The
# lookups need the table's size and the keys' spread, not fine histograms.
IMPORT_STATISTICS_TARGET = 10


def refresh_statistics(session: Session) -> None:
    """PostgreSQL: ANALYZE the tables an import's duplicate lookups read.
    Without fresh statistics (autovacuum off, or not yet round) the planner
    takes a growing leads table for an empty one, and each batch's lookups
    scan it: an import slowed from ~900 to ~160 leads/s by 14,000 leads.
    A rough sample does (IMPORT_STATISTICS_TARGET), in this transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL default_statistics_target = {IMPORT_STATISTICS_TARGET}"))
        for table in (SalesLead.__tablename__, "companies"):
            session.execute(text(f"ANALYZE {table}"))


def get(session: Session, run_id: str) -> ImportRun | None:
    return session.get(ImportRun, run_id)


def get_for_update(session: Session, run_id: str) -> ImportRun | None:
    return session.scalars(
        select(ImportRun).where(ImportRun.id == run_id).with_for_update()
    ).one_or_none()


def latest_by_fingerprint(session: Session, fingerprint: str) -> ImportRun | None:
    """The newest run of the same file with the same mapping and options
    that was not reverted: a re-run resumes or skips it."""
    return session.scalars(
        select(ImportRun)
        .where(ImportRun.fingerprint == fingerprint, ImportRun.status != "reverted")
        .order_by(ImportRun.created_at.desc(), ImportRun.id.desc())
        .limit(1)
    ).one_or_none()


def newest(session: Session, limit: int, before: str | None = None) -> Sequence[ImportRun]:
    query = select(ImportRun).order_by(ImportRun.created_at.desc(), ImportRun.id.desc())
    if before is not None:
        anchor = session.get(ImportRun, before)
        if anchor is not None:
            query = query.where(
                (ImportRun.created_at < anchor.created_at)
                | ((ImportRun.created_at == anchor.created_at) & (ImportRun.id < anchor.id))
            )
    return session.scalars(query.limit(limit)).all()


def add(session: Session, run: ImportRun) -> None:
    session.add(run)
    session.flush()


def insert_rejects(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        bulk_insert(session, ImportReject, rows)


def rejects(session: Session, run_id: str, batch: int = 1000) -> Iterator[ImportReject]:
    """A run's rejected rows in file order, read a batch at a time."""
    after = -1
    while True:
        page = session.scalars(
            select(ImportReject)
            .where(ImportReject.run_id == run_id, ImportReject.row_number > after)
            .order_by(ImportReject.row_number)
            .limit(batch)
        ).all()
        yield from page
        if len(page) < batch:
            return
        after = page[-1].row_number


def count_rejects(session: Session, run_id: str) -> int:
    query = select(func.count()).select_from(ImportReject).where(ImportReject.run_id == run_id)
    return int(session.scalar(query) or 0)


def lead_ids_touched(session: Session, run_id: str) -> list[str]:
    """Every lead a run wrote a source row for, in the order it did."""
    return list(
        dict.fromkeys(
            session.scalars(
                select(LeadSource.lead_id)
                .where(LeadSource.import_batch_id == run_id)
                .order_by(LeadSource.created_at, LeadSource.id)
            )
        )
    )


def first_leads_touched(session: Session, run_id: str, limit: int) -> Sequence[Any]:
    """(id, full_name, email, company_name, is_deleted) of the first leads a
    run wrote source rows for, over the batch index."""
    return session.execute(
        select(
            SalesLead.id,
            SalesLead.full_name,
            SalesLead.email,
            SalesLead.company_name,
            SalesLead.is_deleted,
        )
        .join(LeadSource, LeadSource.lead_id == SalesLead.id)
        .where(LeadSource.import_batch_id == run_id)
        .order_by(LeadSource.created_at, LeadSource.id)
        .limit(limit)
    ).all()


MATCH_COLUMNS = {
    "id": SalesLead.id,
    "email": SalesLead.email,
    "phone": SalesLead.phone,
    "linkedin_url": SalesLead.linkedin_url,
    "external_id": SalesLead.external_id,
}


def ids_by_field(session: Session, field: str, values: Iterable[str]) -> dict[str, str]:
    """value -> id of the oldest active lead holding it in ``field``."""
    column = MATCH_COLUMNS[field]
    found: dict[str, str] = {}
    for chunk in chunked(sorted(set(values))):
        # email has no index of its own (migration 0013): key_email finds it.
        matches = email_matches(chunk) if field == "email" else column.in_(chunk)
        rows = session.execute(
            select(column, SalesLead.id)
            .where(
                matches,
                SalesLead.is_deleted.is_(False),
                SalesLead.merged_into_id.is_(None),
            )
            .order_by(SalesLead.created_at, SalesLead.id)
        )
        for value, lead_id in rows:
            found.setdefault(value, lead_id)
    return found
