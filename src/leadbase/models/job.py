"""jobs: the durable record of all background work.

A row is the truth about one piece of work, whichever runner executes it
(threads of this process, a `leadbase worker`, or Celery on Redis): a
message in a queue is only a hint to look at a row. Job rows are runner
bookkeeping, not business data: they are written by leadbase.jobs.repository
alone and their state changes are not audited (the leads a handler changes
go through the one write path and are).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, JSONType, UTCDateTime, new_id, utcnow

# queued: waiting for next_run_at; running: leased to lease_owner until
# lease_expires_at; failed: the last attempt failed, a retry is due at
# next_run_at; succeeded and dead (no attempts left) are final.
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "dead")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'dead')", name="status"
        ),
        # Claiming looks for due work: waiting rows by next_run_at, running
        # rows by an expired lease.
        Index("idx_jobs_status_next_run", "status", "next_run_at"),
        Index("idx_jobs_status_lease", "status", "lease_expires_at"),
        Index("idx_jobs_kind_created", "kind", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    # attempts started so far (a claim counts, even if its worker then died)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Celery mode: when the row was last handed to the broker, so the
    # sweeper re-sends only what was never sent or got lost.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
