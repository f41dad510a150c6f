"""Airtable two-way sync: the link of a lead to its record, conflicts, runs.

``airtable_links.synced_fields`` is the record's fields as both sides last
agreed (after a push or a pull). A lead whose mapped fields differ from it
changed here; a record whose fields differ from it changed in Airtable; a
field that changed on both sides to different values is a conflict. The
same base keeps a pulled change from being pushed back (it is already the
base) and a pushed one from being pulled back as new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, JSONType, UTCDateTime, new_id, utcnow

AIRTABLE_RUN_KINDS = ("push", "pull", "full-pull")
# A sync is a job, not a run: it records a pull run and then a push run.
PULL_RUN_KINDS = ("pull", "full-pull")
AIRTABLE_RUN_STATUSES = ("running", "succeeded", "failed")
AIRTABLE_RUN_COUNTERS = (
    "pushed",
    "created",
    "updated",
    "deleted",
    "pulled",
    "conflicts",
    "failed",
    "requests",
    "rate_limited",
    "retries",
)
CONFLICT_RESOLUTIONS = ("keep-local", "keep-remote", "per-field")


class AirtableLink(Base):
    __tablename__ = "airtable_links"

    lead_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    base_id: Mapped[str] = mapped_column(String(40), nullable=False)
    table_name: Mapped[str] = mapped_column(String(255), nullable=False)
    synced_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    # The lead's version when the two sides last agreed.
    synced_version: Mapped[int] = mapped_column(Integer, nullable=False)
    remote_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Set when a full pull no longer finds the record.
    remote_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AirtableConflict(Base):
    __tablename__ = "airtable_conflicts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lead_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), nullable=False
    )
    record_id: Mapped[str] = mapped_column(String(20), nullable=False)
    # {airtable field: {"local": v, "remote": v, "base": v}}
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    local_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What last-modified-wins applied when the conflict was found.
    applied: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("idx_airtable_conflicts_status", "status", "created_at"),
        Index("idx_airtable_conflicts_lead", "lead_id"),
    )


class AirtableRun(Base):
    __tablename__ = "airtable_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="running")
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    counts: Mapped[dict[str, int]] = mapped_column(JSONType, nullable=False)
    # The newest record modification time a pull saw: the next pull starts there.
    cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("idx_airtable_runs_started", "started_at", "id"),
        Index("idx_airtable_runs_kind_status", "kind", "status", "started_at"),
    )
