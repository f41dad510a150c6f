"""LeadDatabase: the Python API for scripts and agents (seed 004).

Each call is its own unit of work on the same service path as the HTTP API,
so it gets the same validation, duplicate handling, audit trail and sync
marks. One instance may be shared by many threads: every call takes its own
pooled connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import inspect

from leadbase import context
from leadbase.activities import service as activities_service
from leadbase.config import Settings
from leadbase.db import Database, UnitOfWork, serialize_writers
from leadbase.duplicates import service as duplicates_service
from leadbase.errors import NotFoundError, ValidationError
from leadbase.leads import repository, service
from leadbase.leads.schemas import DuplicatePolicy
from leadbase.models import SalesLead
from leadbase.models.base import Base

# A lead's fields as scripts see them: every column but those the write path
# derives for itself (sort_name, what names sort by).
LEAD_COLUMNS = tuple(c.key for c in SalesLead.__table__.columns if c.key != "sort_name")


def to_dict(row: Base) -> dict[str, Any]:
    return {attr.key: attr.value for attr in inspect(row).attrs if attr.key in LEAD_COLUMNS}


class LeadDatabase:
    def __init__(
        self,
        database_url: str | None = None,
        actor: str | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.db = Database(database_url, settings)
        self.actor = actor or f"script:{context.os_user()}"

    # -- plumbing ------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[UnitOfWork]:
        """A unit of work acting as this client's actor, unless the caller
        already set one (a CLI command, a job)."""
        ctx = context.current()
        actor = self.actor if ctx.actor == context.ActorContext().actor else ctx.actor
        with context.acting_as(actor), self.db.unit_of_work() as uow:
            yield uow

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> LeadDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------

    def add_lead(self, data: Mapping[str, Any], on_duplicate: DuplicatePolicy = "merge") -> str:
        """Store a lead; returns the id of the lead that now holds the data."""
        with self._write() as uow:
            return service.create(uow, data, on_duplicate=on_duplicate).lead_id

    def add_leads(
        self, rows: Sequence[Mapping[str, Any]], on_duplicate: DuplicatePolicy = "merge"
    ) -> list[str]:
        """Store many leads in one transaction; ids come back in input order."""
        with self._write() as uow:
            return [r.lead_id for r in service.bulk_create(uow, rows, on_duplicate=on_duplicate)]

    def update_lead(
        self, lead_id: str, updates: Mapping[str, Any], *, expected_version: int | None = None
    ) -> bool:
        """Change the given fields. A ``version`` in ``updates`` (or
        ``expected_version``) makes the write conditional: a stale one raises
        ConflictError. Returns True when something changed."""
        changes = dict(updates)
        version = changes.pop("version", expected_version)
        if version is not None and not isinstance(version, int):
            raise ValidationError("version", "must be an integer")
        with self._write() as uow:
            before = _version_of(uow, lead_id)
            lead = service.update(uow, lead_id, changes, expected_version=version)
            return lead.version != before

    def delete_lead(self, lead_id: str, *, expected_version: int | None = None) -> bool:
        with self._write() as uow:
            service.soft_delete(uow, lead_id, expected_version=expected_version)
            return True

    def restore_lead(self, lead_id: str) -> bool:
        with self._write() as uow:
            service.restore(uow, lead_id)
            return True

    def mark_for_sync(self, lead_id: str) -> bool:
        with self._write() as uow:
            service.mark_for_sync(uow, lead_id)
            return True

    # -- activities -----------------------------------------------------------------

    def add_event(
        self,
        lead_id: str,
        event_type: str,
        *,
        occurred_at: datetime | str | None = None,
        outcome: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Record an activity (a call, an email, a web visit...) against the
        lead; returns the event's id. ``occurred_at`` may be in the past."""
        with self._write() as uow:
            event = activities_service.add_event(
                uow,
                lead_id,
                event_type,
                occurred_at=occurred_at,
                outcome=outcome,
                data=dict(data) if isinstance(data, Mapping) else data,
                source="script",
            )
            return event.id

    def add_events(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Record many activities (each a dict with ``lead_id`` and
        add_event's keys) in one transaction; ids in input order. All or
        nothing: a bad row raises its error naming the row (``rows[3].
        event_type``) and nothing is written."""
        with self._write() as uow:
            results = activities_service.add_events(uow, rows, source="script", atomic=True)
            return [r for r in results if isinstance(r, int)]

    # -- duplicates -----------------------------------------------------------------

    def merge_leads(
        self,
        survivor_id: str,
        other_ids: Sequence[str],
        choices: Mapping[str, str] | None = None,
        *,
        cluster_id: str | None = None,
    ) -> str:
        """Merge ``other_ids`` into ``survivor_id`` in one transaction; returns
        the merge's id. ``choices``: field -> the id of the lead whose value
        wins (``leadbase.duplicates.survivorship`` says what wins otherwise). The
        merged leads keep their rows, with ``merged_into_id`` set."""
        with self._write() as uow:
            merge = duplicates_service.merge_leads(
                uow, survivor_id, other_ids, choices, cluster_id=cluster_id
            )
            return merge.id

    def unmerge_lead(self, lead_id: str) -> str:
        """Undo the latest merge the lead took part in; returns that merge's id.
        ConflictError when it was undone already or a lead changed since."""
        with self._write() as uow:
            return duplicates_service.unmerge(uow, lead_id).id

    def dismiss_duplicates(self, cluster_id: str) -> bool:
        """The stored cluster is not a duplicate: later scans and writes
        never join its leads again."""
        with self._write() as uow:
            duplicates_service.dismiss_cluster(uow, cluster_id)
            return True

    def list_duplicates(self, status: str | None = "open", limit: int = 50) -> list[dict[str, Any]]:
        """Stored duplicate clusters, best first."""
        with self.db.read_session() as session:
            page = duplicates_service.list_clusters(session, status=status, limit=limit)
            return [
                {
                    "id": c.id,
                    "lead_ids": list(c.lead_ids),
                    "score": c.score,
                    "reasons": list(c.reasons),
                    "action": c.action,
                    "status": c.status,
                }
                for c in page.items
            ]

    # -- reads ----------------------------------------------------------------------

    def get_lead(self, lead_id: str, *, include_deleted: bool = False) -> dict[str, Any] | None:
        with self.db.read_session() as session:
            lead = repository.get(session, lead_id, include_deleted=include_deleted)
            return to_dict(lead) if lead is not None else None

    def search_leads(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Leads whose columns equal the given values (a list means any of them).

        ``include_deleted`` and ``limit`` are options, not columns; so are
        ``q`` (text search over name, email, company name and title, as
        GET /leads does it) and ``tag`` (leads whose tags hold it).
        """
        filters = dict(filters or {})
        include_deleted = bool(filters.pop("include_deleted", False))
        limit = filters.pop("limit", None)
        q, tag = filters.pop("q", None), filters.pop("tag", None)
        for name, value in (("q", q), ("tag", tag)):
            if value is not None and not isinstance(value, str):
                raise ValidationError(name, "must be a string")
        unknown = sorted(set(filters) - set(LEAD_COLUMNS))
        if unknown:
            raise ValidationError(unknown[0], "unknown filter")
        with self.db.read_session() as session:
            query = repository.searched(
                session, filters, q=q, tag=tag, include_deleted=include_deleted
            ).order_by(SalesLead.id)
            if limit is not None:
                query = query.limit(int(limit))
            return [to_dict(lead) for lead in session.scalars(query)]

    def get_all_leads(self, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every active lead, streamed in keyset pages: memory stays flat."""
        last_id: str | None = None
        while True:
            with self.db.read_session() as session:
                page = [
                    to_dict(lead) for lead in repository.page_after(session, last_id, batch_size)
                ]
            if not page:
                return
            yield from page
            last_id = page[-1]["id"]

    def get_sync_pending_leads(self, limit: int | None = None) -> list[dict[str, Any]]:
        with self.db.read_session() as session:
            return [
                to_dict(lead)
                for lead in repository.sync_pending(session, service.SYNC_TARGET, limit)
            ]

    def count_leads(self, *, include_deleted: bool = False) -> int:
        with self.db.read_session() as session:
            return repository.count(session, include_deleted=include_deleted)


def _version_of(uow: UnitOfWork, lead_id: str) -> int:
    # Lock first: the version read must be the one the update starts from.
    serialize_writers(uow.session)
    lead = repository.get_current(uow.session, lead_id)
    if lead is None:
        raise NotFoundError(f"lead {lead_id} not found")
    return lead.version
