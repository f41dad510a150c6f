"""Making and retrying jobs, in the caller's unit of work.

A job is inserted in the caller's transaction and handed to the runner only
after that transaction commits: work never starts on data that was rolled
back, and a job whose hand-over fails is still in the table for a polling
runner or the Celery sweeper. Services never commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadbase import context
from leadbase.config import get_settings
from leadbase.db import UnitOfWork
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.jobs import handover, registry, repository
from leadbase.models import Job, new_id, utcnow

MAX_PAYLOAD_BYTES = 64 * 1024
RETRYABLE = ("failed", "dead")


def _check(kind: str, payload: Any, max_attempts: int | None) -> None:
    settings = get_settings()
    if not registry.is_known(kind, settings.job_handler_modules):
        raise ValidationError("kind", f"no handler is registered for job kind {kind!r}")
    if not isinstance(payload, dict):
        raise ValidationError("payload", "must be a JSON object")
    try:
        size = len(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError("payload", f"is not JSON: {exc}") from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationError("payload", f"is {size} bytes; at most {MAX_PAYLOAD_BYTES}")
    if max_attempts is not None and not 1 <= max_attempts <= 100:
        raise ValidationError("max_attempts", "must be between 1 and 100")


def enqueue(
    uow: UnitOfWork,
    kind: str,
    payload: dict[str, Any],
    *,
    max_attempts: int | None = None,
    job_id: str | None = None,
) -> str:
    """A queued job in the caller's transaction; the runner hears of it after
    the commit (never, on rollback). Returns its id, usable before commit;
    ``job_id`` (a ``models.new_id()``) lets a caller write the id first."""
    _check(kind, payload, max_attempts)
    settings = get_settings()
    now = utcnow()
    job_id = job_id or new_id()
    repository.insert(
        uow.session,
        job_id,
        kind,
        payload,
        max_attempts=max_attempts or settings.job_max_attempts,
        now=now,
        actor=context.current().actor,
        # Celery mode sends the task right after the commit.
        sent_at=now if settings.queue == "celery" else None,
    )
    uow.after_commit(handover.hand_over, job_id, settings)
    return job_id


# --- scheduled chains ---------------------------------------------------------------
# A schedule (Apify watch, Airtable sync) is one chain of jobs: each run,
# as it ends, queues the next one a while later. A chain is found by its
# kind and payload; a run that comes again after a crash must not start a
# second chain.


def chain_waiting(
    session: Session,
    kind: str,
    belongs: Callable[[dict[str, Any]], bool],
    *,
    but: str | None = None,
) -> bool:
    """Whether a job of ``kind`` whose payload ``belongs`` to the chain is
    still to run (other than the job ``but``, the one now running)."""
    return any(belongs(job.payload) and job.id != but for job in repository.waiting(session, kind))


def later(uow: UnitOfWork, job_id: str, delay_seconds: float | None) -> None:
    """Hold a job just queued for ``delay_seconds`` (None or 0: due now)."""
    if delay_seconds:
        repository.postpone(uow.session, job_id, utcnow() + timedelta(seconds=delay_seconds))


def retry(uow: UnitOfWork, job_id: str) -> Job:
    """A failed or dead job: due again now, with a fresh set of attempts."""
    job = repository.get_for_update(uow.session, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    if job.status not in RETRYABLE:
        raise ConflictError(f"job {job_id} is {job.status}: only failed or dead jobs are retried")
    settings = get_settings()
    repository.requeue(uow.session, job, utcnow(), sent=settings.queue == "celery")
    uow.after_commit(handover.hand_over, job_id, settings)
    return job


def retry_dead(uow: UnitOfWork) -> list[str]:
    """Every dead job, due again now. Returns their ids."""
    job_ids = repository.ids_with_status(uow.session, "dead")
    for job_id in job_ids:
        retry(uow, job_id)
    return job_ids
