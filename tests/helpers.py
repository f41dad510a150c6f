"""Read-side helpers for tests: count rows and read the audit trail directly."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from leadbase.client import LeadDatabase
from leadbase.leads import repository as leads_repository
from leadbase.leads.endpoints import history_of
from leadbase.leads.schemas import TimelineEvent
from leadbase.models import AuditLog, LeadEvent, SalesLead, SyncStatus


def counts(db: LeadDatabase) -> dict[str, int]:
    with db.db.read_session() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (SalesLead, LeadEvent, AuditLog, SyncStatus)
        }


def audit_entries(db: LeadDatabase, entity_id: str | None = None) -> list[dict[str, Any]]:
    query = select(AuditLog).order_by(AuditLog.seq)
    if entity_id:
        query = query.where(AuditLog.entity_id == entity_id)
    with db.db.read_session() as session:
        return [
            {
                "seq": row.seq,
                "action": row.action,
                "actor": row.actor,
                "ip": row.ip,
                "user_agent": row.user_agent,
                "request_id": row.request_id,
                "changes": json.loads(row.changes),
                "entity_id": row.entity_id,
            }
            for row in session.scalars(query)
        ]


def timeline(db: LeadDatabase, lead_id: str) -> list[TimelineEvent]:
    """The lead's timeline as GET /leads/{id}/history tells it."""
    with db.db.read_session() as session:
        lead = leads_repository.get(session, lead_id, include_deleted=True)
        assert lead is not None
        return history_of(session, lead).timeline


def events(db: LeadDatabase, lead_id: str) -> list[str]:
    return [event.event_type for event in timeline(db, lead_id)]


SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ta", "ri", "vo", "be", "zu", "do", "fa")


def unique_word(i: int) -> str:
    """A word of its own for each i: names and places that do not look
    alike, so generated leads are not one block of look-alikes."""
    parts = []
    while True:
        i, digit = divmod(i, len(SYLLABLES))
        parts.append(SYLLABLES[digit])
        if not i:
            return "".join(parts).capitalize()
