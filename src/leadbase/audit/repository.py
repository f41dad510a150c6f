"""Named reads of the audit log.

A row created in a bulk batch has no entry of its own: its create is inside
the batch's ``create_many`` entry (``audit.batch``). These reads return it
as if it were the row's own entry (action "create", {field: [None, value]},
the batch entry's seq, actor, ip, user agent, request id, time and hash), so
a history reads the same whichever way the row was created.

Activities recorded in bulk (``activities.service``) are likewise kept in
batch entries (``lead_event_batch``, ``activity_many``, filed under the
events' created_at); a lead's entries include each of its activities as
its own "activity" entry, as one recorded alone has.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadbase.audit import batch
from leadbase.models import AuditLog, LeadEvent, SalesLead

# Entity types whose creates may be batched, and the model whose created_at
# names a row's batch entry.
_BATCHED: dict[str, Any] = {"lead": SalesLead}
# Where bulk activities are audited (activities.service writes them).
ACTIVITY_BATCH = batch.batch_type("lead_event")
ACTIVITY_BATCH_ACTION = "activity_many"
ACTIVITY_ACTION = "activity"


def entries_for(session: Session, entity_type: str, entity_id: str) -> Sequence[AuditLog]:
    """The entity's entries in chain order, its create included wherever it is kept."""
    own = session.scalars(
        select(AuditLog)
        .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == entity_id)
        .order_by(AuditLog.seq)
    ).all()
    if entity_type == "lead":
        own = [*own, *_batched_activities(session, entity_id)]
    if not any(entry.action == "create" for entry in own):
        batched = _batched_creates(session, entity_type, [entity_id])
        if entity_id in batched:
            entry, values = batched[entity_id]
            own = [*own, _as_own(entry, entity_type, entity_id, values)]
    return sorted(own, key=_seq)


def _batched_activities(session: Session, lead_id: str) -> list[AuditLog]:
    """The lead's activities kept in bulk batch entries, each as its own
    "activity" entry (the values one recorded alone holds)."""
    times = session.scalars(
        select(LeadEvent.created_at).where(LeadEvent.lead_id == lead_id).distinct()
    ).all()
    if not times:
        return []
    entries = session.scalars(
        select(AuditLog).where(
            AuditLog.entity_type == ACTIVITY_BATCH,
            AuditLog.entity_id.in_({batch.batch_id(at) for at in times}),
            AuditLog.action == ACTIVITY_BATCH_ACTION,
        )
    ).all()
    found = []
    for entry in entries:
        decoded = batch.decode(entry.changes)
        for event_id, i in decoded.index.items():
            if decoded.columns["lead_id"][i] != lead_id:
                continue
            values = {"event_id": event_id} | {
                field: column[i]
                for field, column in decoded.columns.items()
                if field != "lead_id" and column[i] is not None
            }
            found.append(_as_own(entry, "lead", lead_id, values, ACTIVITY_ACTION))
    return found


def created_values(
    session: Session, entity_type: str, entity_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Each entity's values as created ({field: value}), for those with a create entry."""
    own = session.execute(
        select(AuditLog.entity_id, AuditLog.changes).where(
            AuditLog.entity_type == entity_type,
            AuditLog.entity_id.in_(entity_ids),
            AuditLog.action == "create",
        )
    )
    found = {entity_id: batch.json_values(changes) for entity_id, changes in own}
    missing = [entity_id for entity_id in entity_ids if entity_id not in found]
    for entity_id, (_entry, values) in _batched_creates(session, entity_type, missing).items():
        found[entity_id] = values
    return found


def _seq(entry: AuditLog) -> int:
    return entry.seq


def _batched_creates(
    session: Session, entity_type: str, entity_ids: Collection[str]
) -> dict[str, tuple[AuditLog, dict[str, Any]]]:
    """(batch entry, values as created) of each of ``entity_ids`` whose create
    is kept in a batch entry. A row's batch is filed under the row's
    created_at; should two batches share a microsecond, the row is in one."""
    model = _BATCHED.get(entity_type)
    if model is None or not entity_ids:
        return {}
    by_batch: dict[str, list[str]] = {}
    for entity_id, at in session.execute(
        select(model.id, model.created_at).where(model.id.in_(entity_ids))
    ):
        by_batch.setdefault(batch.batch_id(at), []).append(entity_id)
    if not by_batch:
        return {}
    entries = session.scalars(
        select(AuditLog)
        .where(
            AuditLog.entity_type == batch.batch_type(entity_type),
            AuditLog.entity_id.in_(by_batch),
            AuditLog.action == batch.BATCH_ACTION,
        )
        .order_by(AuditLog.seq)
    ).all()
    found: dict[str, tuple[AuditLog, dict[str, Any]]] = {}
    for entry in entries:
        decoded = batch.decode(entry.changes)
        for entity_id in by_batch[entry.entity_id]:
            values = decoded.created(entity_id)
            if values is not None:
                found.setdefault(entity_id, (entry, values))
    return found


def _as_own(
    entry: AuditLog,
    entity_type: str,
    entity_id: str,
    values: dict[str, Any],
    action: str = "create",
) -> AuditLog:
    """A batch entry's create of one row as the row's own entry (not in the
    session: it is never written)."""
    return AuditLog(
        seq=entry.seq,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        actor=entry.actor,
        ip=entry.ip,
        user_agent=entry.user_agent,
        request_id=entry.request_id,
        created_at=entry.created_at,
        changes=batch.create_changes(values),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )
