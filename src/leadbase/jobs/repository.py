"""Named queries of the jobs table.

Job rows are runner bookkeeping, not leads: they are written here, outside
the leads write path, and their state changes are not audited (the jobs
table itself is the record of what ran, when, how often and how it ended).
Claims are conditional UPDATEs, so two workers can never both hold a job:
PostgreSQL and MariaDB pick candidates with ``FOR UPDATE SKIP LOCKED``;
SQLite has one writer at a time (the unit of work begins IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.models import Job
from leadbase.models.base import JSONType, UTCDateTime

WAITING = ("queued", "failed")
FINAL = ("succeeded", "dead")


def insert(
    session: Session,
    job_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    max_attempts: int,
    now: datetime,
    actor: str,
    sent_at: datetime | None,
) -> Job:
    job = Job(
        id=job_id,
        kind=kind,
        payload=payload,
        status="queued",
        attempts=0,
        max_attempts=max_attempts,
        next_run_at=now,
        sent_at=sent_at,
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    # Flushed with the caller's other writes: a batch of jobs becomes one
    # multi-row INSERT instead of a statement each.
    session.add(job)
    return job


def get(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get_for_update(session: Session, job_id: str) -> Job | None:
    """The job, locked until the transaction ends (no claim can race a retry)."""
    return session.get(Job, job_id, with_for_update=True)


def listing(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> Sequence[Job]:
    """Newest first (ids are time-ordered UUIDv7)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return session.scalars(query).all()


def ids_with_status(session: Session, status: str) -> list[str]:
    return list(session.scalars(select(Job.id).where(Job.status == status).order_by(Job.id)))


FINISHED = ("succeeded", "dead")


def count_finished(session: Session, job_ids: Sequence[str]) -> int:
    """How many of ``job_ids`` have succeeded or died."""
    total = 0
    for wanted in chunked(job_ids):
        query = select(func.count()).where(Job.id.in_(wanted), Job.status.in_(FINISHED))
        total += session.scalar(query) or 0
    return total


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: int(n) for status, n in rows}


# --- claiming -------------------------------------------------------------------


# The claim path runs twice a job: its statements are built once, with
# bind parameters, and run on the connection (no ORM unit of work), which
# is most of a no-op job's cost.
_jobs = cast(Table, Job.__table__)
_c = _jobs.c
_NOW = bindparam("now", type_=UTCDateTime())


def _claimable() -> ColumnElement[bool]:
    """Due work: waiting rows whose time has come, running rows whose lease
    ran out (their worker died or hung; that attempt counted)."""
    return or_(
        and_(_c.status.in_(WAITING), _c.next_run_at <= _NOW),
        and_(_c.status == "running", _c.lease_expires_at <= _NOW),
    )


_LEASE = {
    "status": "running",
    "attempts": _c.attempts + 1,
    "lease_owner": bindparam("owner", type_=String()),
    "lease_expires_at": bindparam("until", type_=UTCDateTime()),
    "started_at": _NOW,
    "updated_at": _NOW,
}
_CLAIM_ONE = update(_jobs).where(_c.id == bindparam("job_id"), _claimable()).values(_LEASE)
_CLAIM_MANY = (
    update(_jobs)
    .where(_c.id.in_(bindparam("job_ids", expanding=True)), _claimable())
    .values(_LEASE)
)
_COLUMNS = (_c.id, _c.kind, _c.payload, _c.attempts, _c.max_attempts)
# Candidates in the order they are taken: first work that is overdue (an
# expired lease, a retry that came due: few rows), then new jobs oldest
# first, walking the (status, next_run_at) index.
_CANDIDATES = [
    select(*_COLUMNS)
    .where(
        or_(
            and_(_c.status == "running", _c.lease_expires_at <= _NOW),
            and_(_c.status == "failed", _c.next_run_at <= _NOW),
        )
    )
    .order_by(_c.next_run_at)
    .limit(bindparam("limit", type_=Integer())),
    select(*_COLUMNS)
    .where(_c.status == "queued", _c.next_run_at <= _NOW)
    .order_by(_c.next_run_at)
    .limit(bindparam("limit", type_=Integer())),
]
_CANDIDATES_SKIP_LOCKED = [query.with_for_update(skip_locked=True) for query in _CANDIDATES]
_CLAIMED = (
    select(*_COLUMNS)
    .where(
        _c.id.in_(bindparam("job_ids", expanding=True)),
        _c.status == "running",
        _c.lease_owner == bindparam("owner", type_=String()),
    )
    .order_by(_c.id)
)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _lease_params(owner: str, now: datetime, lease_seconds: float) -> dict[str, Any]:
    return {"owner": owner, "now": now, "until": now + timedelta(seconds=lease_seconds)}


def claim(session: Session, job_id: str, owner: str, now: datetime, lease_seconds: float) -> bool:
    """Lease this job to ``owner`` if it is due. The condition is checked by
    the UPDATE itself, under the row lock: a concurrent claimer waits, then
    finds the row no longer claimable."""
    params = {"job_id": job_id, **_lease_params(owner, now, lease_seconds)}
    return _rowcount(session.connection().execute(_CLAIM_ONE, params)) == 1


def claim_next(
    session: Session, owner: str, now: datetime, lease_seconds: float, limit: int = 1
) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due jobs to ``owner`` and return them (id, kind,
    payload, attempts counting this claim, max_attempts): overdue work first,
    then new jobs, oldest first. Candidates are locked with SKIP LOCKED where
    the database has it (rows another claimer is taking are passed over, not
    waited for); SQLite has one writer at a time."""
    connection = session.connection()
    skip_locked = connection.dialect.name != "sqlite"
    found: list[Row[Any]] = []
    for query in _CANDIDATES_SKIP_LOCKED if skip_locked else _CANDIDATES:
        found.extend(connection.execute(query, {"now": now, "limit": limit - len(found)}))
        if len(found) >= limit:
            break
    if not found:
        return []
    job_ids = [row.id for row in found]
    params = {"job_ids": job_ids, **_lease_params(owner, now, lease_seconds)}
    if _rowcount(connection.execute(_CLAIM_MANY, params)) != len(found):
        # Not all still claimable (cannot happen under the locks above): keep what we hold.
        return [dict(row._mapping) for row in claimed(session, job_ids, owner)]
    return [{**row._mapping, "attempts": row.attempts + 1} for row in found]


def anything_due(session: Session, now: datetime) -> bool:
    """Whether a claim would find work: a plain read, no write lock taken."""
    connection = session.connection()
    return any(
        connection.execute(query, {"now": now, "limit": 1}).first() is not None
        for query in _CANDIDATES
    )


def claimed(session: Session, job_ids: Sequence[str], owner: str) -> Sequence[Row[Any]]:
    """The jobs of ``job_ids`` that ``owner`` holds now (id, kind, payload,
    attempts, max_attempts)."""
    result = session.connection().execute(_CLAIMED, {"job_ids": list(job_ids), "owner": owner})
    return result.all()


def renew(
    session: Session, job_ids: Sequence[str], owner: str, now: datetime, lease_seconds: float
) -> int:
    """Push the leases ``owner`` still holds forward; returns how many it holds."""
    statement = (
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == "running", Job.lease_owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session.execute(statement))


_FINISH = (
    update(_jobs)
    .where(
        _c.id == bindparam("job_id"),
        _c.status == "running",
        _c.lease_owner == bindparam("owner", type_=String()),
    )
    .values(
        status=bindparam("status", type_=String()),
        result=bindparam("result", type_=JSONType),
        last_error=bindparam("last_error", type_=Text()),
        finished_at=bindparam("finished_at", type_=UTCDateTime()),
        next_run_at=func.coalesce(bindparam("next_run_at", type_=UTCDateTime()), _c.next_run_at),
        attempts=func.coalesce(bindparam("attempts", type_=Integer()), _c.attempts),
        lease_owner=None,
        lease_expires_at=None,
        updated_at=_NOW,
    )
)


def finish(
    session: Session,
    job_id: str,
    owner: str,
    now: datetime,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    last_error: str | None = None,
    finished_at: datetime | None = None,
    next_run_at: datetime | None = None,
    attempts: int | None = None,
) -> bool:
    """Record how an attempt ended, if ``owner`` still holds the job. False:
    the lease was lost (expired and taken by another worker), and the other
    worker's outcome is the one that counts. ``next_run_at`` and
    ``attempts`` stay as they are unless given."""
    params = {
        "job_id": job_id,
        "owner": owner,
        "now": now,
        "status": status,
        "result": result,
        "last_error": last_error,
        "finished_at": finished_at,
        "next_run_at": next_run_at,
        "attempts": attempts,
    }
    return _rowcount(session.connection().execute(_FINISH, params)) == 1


def release(session: Session, job_ids: Sequence[str], owner: str, now: datetime) -> int:
    """Give jobs back (a worker stopping before they finished): they are due
    again at once; the attempt they used still counts."""
    return _rowcount(
        session.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.status == "running", Job.lease_owner == owner)
            .values(
                status="queued",
                lease_owner=None,
                lease_expires_at=None,
                next_run_at=now,
                updated_at=now,
                last_error="released: the worker stopped before the job finished",
            )
            .execution_options(synchronize_session=False)
        )
    )


def requeue(session: Session, job: Job, now: datetime, *, sent: bool) -> None:
    """A failed or dead job, due again now with a fresh set of attempts."""
    job.status = "queued"
    job.attempts = 0
    job.next_run_at = now
    job.finished_at = None
    job.updated_at = now
    job.sent_at = now if sent else None
    session.flush()


# --- Celery mode: what the broker should (again) be told about ----------------------


def unsent_due(session: Session, now: datetime, grace_seconds: float, limit: int) -> list[str]:
    """Due jobs the broker has no live message for: never sent since they
    became due, or sent so long ago that the message must have been lost
    (its worker was killed holding it)."""
    stale = now - timedelta(seconds=grace_seconds)
    waiting = and_(
        Job.status.in_(WAITING),
        Job.next_run_at <= now,
        or_(Job.sent_at.is_(None), Job.sent_at < Job.next_run_at, Job.sent_at < stale),
    )
    expired = and_(
        Job.status == "running",
        Job.lease_expires_at <= now,
        or_(Job.sent_at.is_(None), Job.sent_at < Job.lease_expires_at, Job.sent_at < stale),
    )
    query = select(Job.id).where(or_(waiting, expired)).order_by(Job.next_run_at).limit(limit)
    if session.get_bind().dialect.name != "sqlite":
        # Two sweepers at once: each sends its own share, not both all of it.
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def mark_sent(session: Session, job_ids: Sequence[str], now: datetime) -> None:
    session.execute(
        update(Job)
        .where(Job.id.in_(job_ids))
        .values(sent_at=now)
        .execution_options(synchronize_session=False)
    )


def waiting(session: Session, kind: str) -> Sequence[Job]:
    """Jobs of ``kind`` not ended yet (queued, running, or failed and due again)."""
    return session.scalars(
        select(Job).where(Job.kind == kind, Job.status.in_(("queued", "running", "failed")))
    ).all()


def postpone(session: Session, job_id: str, until: datetime) -> None:
    """A queued job no worker claims before ``until`` (claims want next_run_at <= now)."""
    session.flush()
    session.execute(update(Job).where(Job.id == job_id).values(next_run_at=until))
