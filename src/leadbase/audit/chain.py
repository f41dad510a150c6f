"""The audit chain.

Services call ``append`` while they write; the entries wait on the session
and are written just before it commits, in one batch, under the chain lock
(``db.serialize_writers``), each hashed together with the hash before it.
Writing at commit time keeps the lock short and the seq gap-free: a
transaction that rolls back never took a number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from leadbase import context
from leadbase.db import bulk_insert, serialize_writers
from leadbase.models import GENESIS_HASH, AuditChainHead, AuditLog, utcnow

_PENDING = "leadbase_audit_pending"
HASHED_FIELDS = (
    "seq",
    "entity_type",
    "entity_id",
    "action",
    "actor",
    "ip",
    "user_agent",
    "request_id",
    "created_at",
    "changes",
    "prev_hash",
)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# The encoder json.dumps(value, sort_keys=True, ...) would build on every call,
# built once: encoding holds no state between calls.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def format_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(entry: dict[str, Any]) -> str:
    content = {name: entry[name] for name in HASHED_FIELDS}
    content["created_at"] = format_timestamp(entry["created_at"])
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def append(
    session: Session,
    entity_type: str,
    entity_id: str,
    action: str,
    changes: dict[str, list[Any]],
) -> None:
    """Queue one entry; it is written, hashed and chained when the session commits.

    ``changes`` maps each changed field to ``[old, new]``. The actor, ip,
    user agent and request id come from the caller's context now, not at
    commit time.
    """
    append_many(session, entity_type, action, [(entity_id, changes)])


def queued(session: Session) -> int:
    """How many entries wait for the commit: a mark to rewind to."""
    return len(session.info.get(_PENDING, ()))


def unqueue(session: Session, mark: int) -> None:
    """Drop the entries queued after ``mark``: their savepoint rolled back."""
    del session.info.get(_PENDING, [])[mark:]


def append_many(
    session: Session,
    entity_type: str,
    action: str,
    changes: Iterable[tuple[str, Mapping[str, Any] | str]],
    at: datetime | None = None,
    raw: bool = False,
) -> None:
    """``append`` for a batch: one entry per (entity id, changes), in order,
    with the caller's context and one timestamp, ``at`` (the rows' own, so
    an entry tells the instant its rows were written) or now.

    ``raw``: each changes is already the stored text (``batch.encode``)."""
    ctx = context.current()
    now = at if at is not None else utcnow()
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.extend(
        {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "action": action,
            "actor": ctx.actor,
            "ip": ctx.ip,
            "user_agent": ctx.user_agent,
            "request_id": ctx.request_id,
            "created_at": now,
            "changes": entity_changes if raw else canonical_json(entity_changes),
        }
        for entity_id, entity_changes in changes
    )


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    serialize_writers(session)
    head = session.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1)
    ).one()
    seq, prev_hash = head.seq, head.hash
    for entry in pending:
        seq += 1
        entry["seq"] = seq
        entry["prev_hash"] = prev_hash
        entry["hash"] = prev_hash = entry_hash(entry)
    bulk_insert(session, AuditLog, pending)
    session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=seq, hash=prev_hash)
    )


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} entries verified"
        where = f"entry {self.first_bad_seq}" if self.first_bad_seq is not None else "chain head"
        return f"audit chain broken at {where}: {self.reason}"


def _entries(session: Session, after: int | None, batch: int = 5000) -> Iterator[AuditLog]:
    """Entries in seq order after seq ``after``; from the very lowest seq when None."""
    last = after
    while True:
        query = select(AuditLog).order_by(AuditLog.seq).limit(batch)
        if last is not None:
            query = query.where(AuditLog.seq > last)
        rows = session.scalars(query).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


@dataclass
class _Walk:
    """How far ``verify`` has got: entries checked so far and the last good hash."""

    checked: int = 0
    prev_hash: str = GENESIS_HASH
    last_seq: int | None = None

    def advance(self, session: Session) -> VerifyResult | None:
        """Check every entry after the last one seen; the first bad one, if any."""
        for row in _entries(session, self.last_seq):
            expected_seq = self.checked + 1
            if row.seq != expected_seq:
                return VerifyResult(
                    False,
                    self.checked,
                    expected_seq,
                    f"entry missing (next entry found is {row.seq})",
                )
            if row.prev_hash != self.prev_hash:
                return VerifyResult(
                    False, self.checked, row.seq, "previous-hash link does not match"
                )
            entry = {name: getattr(row, name) for name in HASHED_FIELDS}
            if entry_hash(entry) != row.hash:
                return VerifyResult(False, self.checked, row.seq, "content does not match its hash")
            self.prev_hash, self.last_seq, self.checked = row.hash, row.seq, self.checked + 1
        return None


def verify(session: Session) -> VerifyResult:
    """Walk the chain from the first entry; report the first that does not hold.

    Safe on a live database at READ COMMITTED, where each statement sees what
    was committed before it: entries and the head move together in one
    commit, so a head found ahead of the walk means writers appended while
    we walked, and the walk catches up; only a head still ahead of a walk
    that started after it was read means entries are missing.
    """
    walk = _Walk()
    if (bad := walk.advance(session)) is not None:
        return bad
    while True:
        head = session.execute(
            select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1)
        ).one_or_none()
        if head is None:
            return VerifyResult(False, walk.checked, None, "chain head row is missing")
        if head.seq <= walk.checked:
            break
        before = walk.checked
        if (bad := walk.advance(session)) is not None:
            return bad
        if walk.checked == before:  # nothing new since the head was read: cut off
            break
    return _compare_head(walk, head.seq, head.hash)


def _compare_head(walk: _Walk, head_seq: int, head_hash: str) -> VerifyResult:
    checked = walk.checked
    if head_seq == checked and head_hash == walk.prev_hash:
        return VerifyResult(True, checked)
    reason = f"chain head records {head_seq} entries but {checked} are present"
    if head_seq > checked:  # cut off the end
        return VerifyResult(False, checked, checked + 1, reason)
    if head_seq < checked:  # entries added past the head: the first of them is forged
        return VerifyResult(False, checked, head_seq + 1, reason)
    reason = "chain head hash does not match the last entry"
    return VerifyResult(False, checked, checked or None, reason)
