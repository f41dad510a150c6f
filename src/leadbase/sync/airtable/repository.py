"""Named queries on the sync's own tables: links, runs, conflicts.

Push and pull each keep their queries in their own section below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.models import (
    AirtableConflict,
    AirtableLink,
    AirtableRun,
    SalesLead,
    SyncStatus,
)
from leadbase.models.airtable import PULL_RUN_KINDS

# The outbox's target name for this sync (leads.service marks leads for it).
TARGET = "airtable"

# --- links -----------------------------------------------------------------------------


def links_for_leads(session: Session, lead_ids: Sequence[str]) -> dict[str, AirtableLink]:
    found: dict[str, AirtableLink] = {}
    for chunk in chunked(list(lead_ids)):
        for link in session.scalars(select(AirtableLink).where(AirtableLink.lead_id.in_(chunk))):
            found[link.lead_id] = link
    return found


def links_for_records(session: Session, record_ids: Sequence[str]) -> dict[str, AirtableLink]:
    found: dict[str, AirtableLink] = {}
    for chunk in chunked(list(record_ids)):
        query = select(AirtableLink).where(AirtableLink.record_id.in_(chunk))
        for link in session.scalars(query):
            found[link.record_id] = link
    return found


def link_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AirtableLink)) or 0)


def save_link(
    session: Session,
    existing: AirtableLink | None,
    *,
    lead_id: str,
    record_id: str,
    base_id: str,
    table_name: str,
    synced_fields: dict[str, Any],
    synced_version: int,
    remote_modified_at: datetime | None,
    now: datetime,
) -> AirtableLink:
    """Link the lead to the record, or move its ``existing`` link (the caller
    has looked it up): both sides now agree on ``synced_fields``."""
    link = existing
    if link is None:
        link = AirtableLink(lead_id=lead_id)
        session.add(link)
    link.record_id = record_id
    link.base_id = base_id
    link.table_name = table_name
    link.synced_fields = synced_fields
    link.synced_version = synced_version
    link.remote_modified_at = remote_modified_at
    link.synced_at = now
    link.remote_deleted_at = None
    return link


# --- runs ------------------------------------------------------------------------------


def get_run(session: Session, run_id: str) -> AirtableRun | None:
    return session.get(AirtableRun, run_id)


def recent_runs(session: Session, limit: int = 20) -> Sequence[AirtableRun]:
    query = select(AirtableRun).order_by(AirtableRun.started_at.desc(), AirtableRun.id.desc())
    return session.scalars(query.limit(limit)).all()


def last_pull_cursor(session: Session) -> datetime | None:
    """Where the next pull starts: the cursor of the newest pull that finished."""
    query = (
        select(AirtableRun.cursor)
        .where(
            AirtableRun.kind.in_(PULL_RUN_KINDS),
            AirtableRun.status == "succeeded",
            AirtableRun.cursor.is_not(None),
        )
        .order_by(AirtableRun.cursor.desc())
        .limit(1)
    )
    return session.scalar(query)


def last_run_of(
    session: Session, kinds: Sequence[str], status: str | None = None
) -> AirtableRun | None:
    query = select(AirtableRun).where(AirtableRun.kind.in_(list(kinds)))
    if status:
        query = query.where(AirtableRun.status == status)
    return session.scalars(query.order_by(AirtableRun.started_at.desc()).limit(1)).first()


# --- status --------------------------------------------------------------------------


def pending_count(session: Session) -> int:
    """Leads Airtable has yet to get (``_to_push``): what the status shows
    and what a push goes through."""
    return int(session.scalar(select(func.count()).where(_to_push())) or 0)


def failed_marks(session: Session, limit: int = 50) -> Sequence[tuple[SyncStatus, SalesLead]]:
    """Outbox rows that gave up or keep failing, newest attempt first, with their lead."""
    query = (
        select(SyncStatus, SalesLead)
        .join(SalesLead, SalesLead.id == SyncStatus.lead_id)
        .where(
            SyncStatus.target == TARGET,
            or_(SyncStatus.status == "failed", SyncStatus.error_message.is_not(None)),
            SyncStatus.status != "success",
        )
        .order_by(SyncStatus.last_attempt.desc(), SyncStatus.id.desc())
        .limit(limit)
    )
    return [(mark, lead) for mark, lead in session.execute(query).tuples()]


def failed_count(session: Session) -> int:
    query = select(func.count()).where(SyncStatus.target == TARGET, SyncStatus.status == "failed")
    return int(session.scalar(query) or 0)


# --- conflicts -------------------------------------------------------------------------


def open_conflicts(session: Session, limit: int = 100) -> Sequence[AirtableConflict]:
    query = (
        select(AirtableConflict)
        .where(AirtableConflict.status == "open")
        .order_by(AirtableConflict.created_at.desc(), AirtableConflict.id)
    )
    return session.scalars(query.limit(limit)).all()


def open_conflict_count(session: Session) -> int:
    query = select(func.count()).where(AirtableConflict.status == "open")
    return int(session.scalar(query) or 0)


# --- pull ------------------------------------------------------------------------------


def live_links(session: Session) -> list[tuple[str, str]]:
    """(lead id, record id) of every link whose record was last known to exist:
    what a full pull checks against the records it saw."""
    query = select(AirtableLink.lead_id, AirtableLink.record_id).where(
        AirtableLink.remote_deleted_at.is_(None)
    )
    return [(lead_id, record_id) for lead_id, record_id in session.execute(query)]


def add_conflict(session: Session, **values: Any) -> AirtableConflict:
    conflict = AirtableConflict(**values)
    session.add(conflict)
    return conflict


def get_conflict(session: Session, conflict_id: str) -> AirtableConflict | None:
    return session.get(AirtableConflict, conflict_id)


def conflicts_with_leads(
    session: Session, *, open_only: bool = True, limit: int = 100
) -> list[tuple[AirtableConflict, str | None]]:
    """Conflicts, newest first, each with its lead's full name (None: lead gone)."""
    query = (
        select(AirtableConflict, SalesLead.full_name)
        .outerjoin(SalesLead, SalesLead.id == AirtableConflict.lead_id)
        .order_by(AirtableConflict.created_at.desc(), AirtableConflict.id)
    )
    if open_only:
        query = query.where(AirtableConflict.status == "open")
    return [(conflict, name) for conflict, name in session.execute(query.limit(limit))]


def note_run(session: Session, run_id: str, note: str) -> None:
    """What a run that finished could not do (records that failed), kept in
    its ``error`` without marking it failed: the rest went through."""
    run = session.get(AirtableRun, run_id)
    if run is not None:
        run.error = note


def _to_push() -> ColumnElement[bool]:
    """Leads Airtable has yet to get: a pending outbox row, or never pushed at
    all (no outbox row, no link: a new lead is written without a mark)."""
    pending = select(SyncStatus.id).where(
        SyncStatus.lead_id == SalesLead.id,
        SyncStatus.target == TARGET,
        SyncStatus.status == "pending",
    )
    marked = select(SyncStatus.id).where(
        SyncStatus.lead_id == SalesLead.id, SyncStatus.target == TARGET
    )
    linked = select(AirtableLink.lead_id).where(AirtableLink.lead_id == SalesLead.id)
    never_pushed = and_(~marked.exists(), ~linked.exists(), SalesLead.is_deleted.is_not(True))
    return or_(pending.exists(), never_pushed)


def push_page(session: Session, after_id: str | None, size: int) -> Sequence[SalesLead]:
    """The next ``size`` leads to push after ``after_id``, in id order (a keyset
    page: a push of 10k leads never holds them all)."""
    query = select(SalesLead).where(_to_push()).order_by(SalesLead.id).limit(size)
    if after_id is not None:
        query = query.where(SalesLead.id > after_id)
    return session.scalars(query).all()


def lead_versions(session: Session, lead_ids: Sequence[str]) -> dict[str, int]:
    """The leads' versions now: one changed since we read it keeps its mark."""
    found: dict[str, int] = {}
    for chunk in chunked(list(lead_ids)):
        query = select(SalesLead.id, SalesLead.version).where(SalesLead.id.in_(chunk))
        found.update({lead_id: int(version) for lead_id, version in session.execute(query)})
    return found


def _pending_rows(lead_ids: Sequence[str]) -> Update:
    return (
        update(SyncStatus)
        .where(
            SyncStatus.lead_id.in_(list(lead_ids)),
            SyncStatus.target == TARGET,
            SyncStatus.status == "pending",
        )
        .execution_options(synchronize_session=False)
    )


def settle_pushed(session: Session, lead_ids: Sequence[str], now: datetime) -> None:
    """Their pending rows are done: Airtable holds what they asked for."""
    for chunk in chunked(list(lead_ids)):
        session.execute(
            _pending_rows(chunk).values(
                status="success", last_attempt=now, error_message=None, updated_at=now
            )
        )


def settle_failed(
    session: Session, lead_id: str, error: str, now: datetime, max_attempts: int
) -> None:
    """One more failed try: the row stays pending, or is failed after the last."""
    attempts = SyncStatus.attempt_count + 1
    session.execute(
        _pending_rows([lead_id]).values(
            attempt_count=attempts,
            status=case((attempts >= max_attempts, "failed"), else_="pending"),
            error_message=error[:2000],
            last_attempt=now,
            updated_at=now,
        )
    )


def retry_failed(session: Session, now: datetime) -> int:
    """Failed rows get a fresh set of tries; returns how many."""
    query = (
        update(SyncStatus)
        .where(SyncStatus.target == TARGET, SyncStatus.status == "failed")
        .values(status="pending", attempt_count=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(session.execute(query), "rowcount", 0) or 0)


def mark_record_deleted(session: Session, lead_id: str, now: datetime) -> None:
    """The lead's record is gone from Airtable (we deleted it): the link stays,
    so a restore knows to make a new one."""
    link = session.get(AirtableLink, lead_id)
    if link is not None:
        link.remote_deleted_at = now
        link.synced_at = now


def save_links(session: Session, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """``save_link`` for a batch: one query for the links that exist, one flush."""
    existing = links_for_leads(session, [row["lead_id"] for row in rows])
    for row in rows:
        save_link(session, existing.get(row["lead_id"]), now=now, **row)
    session.flush()
