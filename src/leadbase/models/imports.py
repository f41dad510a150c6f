"""File imports: one row per run, and the rows a run rejected.

A run's ``rows_done`` moves in the same transaction as each batch it
writes, so after a crash the same command starts at the first row not yet
committed: no row is written twice, none is skipped. The leads a run
touched are found by their ``lead_sources.import_batch_id`` (the run's id),
the values it changed by the audit entries under its ``request_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, BigIntPK, JSONType, UTCDateTime, new_id, utcnow

IMPORT_MODES = ("create", "upsert", "update")
# running -> completed | failed; completed -> reverted. A "running" run whose
# process is gone (kill -9) is resumed by the next run of the same file.
IMPORT_STATUSES = ("queued", "running", "completed", "failed", "reverted")
IMPORT_COUNTS = ("created", "updated", "merged", "unchanged", "skipped", "rejected")


class ImportRun(Base):
    __tablename__ = "import_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    # Where the file is read from (an upload is kept under the data folder).
    file_path: Mapped[str | None] = mapped_column(String(1000))
    file_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    file_size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    file_format: Mapped[str] = mapped_column(String(10), nullable=False)
    # Everything that decides what a row becomes: header -> field, mode,
    # match keys, duplicate policy, encoding, delimiter.
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    # sha256 of file + mapping + options: the same import asked twice.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSONType, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    # "host:pid" of the process working on it: a crashed owner is resumable.
    owner: Mapped[str | None] = mapped_column(String(300))
    job_id: Mapped[str | None] = mapped_column(String(36))
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reverted_by: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("idx_import_runs_created", "created_at", "id"),)


class ImportReject(Base):
    __tablename__ = "import_rejects"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("import_runs.id", ondelete="CASCADE"), nullable=False
    )
    row_number: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    row: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (Index("idx_import_rejects_run", "run_id", "row_number"),)
