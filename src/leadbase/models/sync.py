"""Outbound sync outbox (seed 004's sync_status) and JSON migration log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, BigIntPK, UTCDateTime, utcnow

SYNC_OPERATIONS = ("create", "update", "delete")
SYNC_STATES = ("pending", "success", "failed")


class SyncStatus(Base):
    __tablename__ = "sync_status"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sales_leads.id", ondelete="CASCADE"), nullable=False
    )
    target: Mapped[str] = mapped_column(String(50), nullable=False, default="airtable")
    operation: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        Index("idx_sync_status_lead", "lead_id", "target", "status"),
        Index("idx_sync_status_pending", "target", "status", "created_at"),
    )


class MigrationLog(Base):
    __tablename__ = "migration_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    source_file: Mapped[str] = mapped_column(String(1000), nullable=False)
    leads_migrated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    leads_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    migration_date: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    error_details: Mapped[str | None] = mapped_column(Text)
