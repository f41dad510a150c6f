"""Named reads of the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadbase.models import AuditLog


def entries_for(session: Session, entity_type: str, entity_id: str) -> Sequence[AuditLog]:
    return session.scalars(
        select(AuditLog)
        .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == entity_id)
        .order_by(AuditLog.seq)
    ).all()
