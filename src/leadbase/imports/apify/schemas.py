"""What the Apify API answers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from leadbase.imports.apify.client import RunInfo
from leadbase.imports.apify.service import SyncStateView, view
from leadbase.models import ApifySyncState


class ApifyErrorOut(BaseModel):
    """The error envelope, as every route answers it (documented here for 502)."""

    success: bool = False
    error: str
    message: str
    details: list[dict[str, Any]] = []


class SyncStateOut(BaseModel):
    id: str
    kind: str  # "run" | "dataset"
    label: str
    run_id: str | None
    dataset_id: str | None
    sync_status: str  # pending, running, completed, failed
    run_status: str | None
    total: int
    synced: int
    failed: int
    duplicates: int
    progress: float | None
    error: str | None
    last_sync_at: datetime | None
    cost_usd: float | None

    @classmethod
    def of(cls, state: ApifySyncState | SyncStateView) -> SyncStateOut:
        shown = view(state) if isinstance(state, ApifySyncState) else state
        return cls(**shown.__dict__)


class SyncStatePage(BaseModel):
    items: list[SyncStateOut]
    next_cursor: str | None


class ApifyRunOut(BaseModel):
    run_id: str
    actor_id: str
    actor_name: str | None
    status: str
    dataset_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    cost_usd: Decimal | None
    sync: SyncStateOut | None  # None: never imported

    @classmethod
    def of(cls, run: RunInfo, state: ApifySyncState | None) -> ApifyRunOut:
        return cls(
            run_id=run.run_id,
            actor_id=run.actor_id,
            actor_name=run.actor_name,
            status=run.status,
            dataset_id=run.dataset_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            cost_usd=run.cost_usd,
            sync=SyncStateOut.of(state) if state is not None else None,
        )


class QueuedImportOut(BaseModel):
    job_id: str | None  # None: the run is imported in full already
    sync: SyncStateOut
