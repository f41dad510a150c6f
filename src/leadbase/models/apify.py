"""apify_sync_states: one row per Apify run we import (seed 003)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import (
    AuditColumns,
    Base,
    JSONType,
    SoftDeleteColumns,
    UTCDateTime,
    new_id,
)


class ApifySyncState(AuditColumns, SoftDeleteColumns, Base):
    __tablename__ = "apify_sync_states"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    actor_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(255))
    run_id: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    dataset_id: Mapped[str | None] = mapped_column(String(100))
    sync_status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="pending", index=True
    )
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_status: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    synced_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duplicate_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    input_params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    compute_units: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    extra_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)

    __table_args__ = (
        Index("idx_sync_actor_status", "actor_id", "sync_status"),
        Index("idx_sync_status_time", "sync_status", "last_sync_at"),
    )
