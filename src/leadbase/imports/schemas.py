"""What the imports API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from leadbase.models import ImportRun


class ImportRunOut(BaseModel):
    id: str
    file_name: str
    file_format: str
    file_size: int
    status: str
    mapping: dict[str, str | None]
    options: dict[str, Any]
    rows_total: int | None
    rows_done: int
    progress: float | None  # 0..1 when the total is known
    counts: dict[str, int]
    error: str | None
    job_id: str | None
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reverted_at: datetime | None

    @classmethod
    def of(cls, run: ImportRun) -> ImportRunOut:
        total = run.rows_total
        if run.status == "completed":
            progress: float | None = 1.0
        elif total:
            progress = min(run.rows_done / total, 0.99)
        else:
            progress = None
        return cls(
            id=run.id,
            file_name=run.file_name,
            file_format=run.file_format,
            file_size=run.file_size,
            status=run.status,
            mapping=run.mapping,
            options={k: v for k, v in run.options.items() if k != "shape"},
            rows_total=total,
            rows_done=run.rows_done,
            progress=progress,
            counts=run.counts,
            error=run.error,
            job_id=run.job_id,
            actor=run.actor,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            reverted_at=run.reverted_at,
        )


class ImportRunPage(BaseModel):
    items: list[ImportRunOut]
    next_cursor: str | None


class RevertOut(BaseModel):
    run: ImportRunOut
    deleted: int
    restored: int
    kept: int
