"""What /api/v1/sync/airtable answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadbase.models import AirtableConflict, AirtableRun
from leadbase.sync.airtable.service import FailedPush, SyncState


class RunOut(BaseModel):
    id: str
    kind: str
    status: str
    actor: str
    counts: dict[str, int]
    cursor: datetime | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: AirtableRun) -> RunOut:
        return cls(
            id=run.id,
            kind=run.kind,
            status=run.status,
            actor=run.actor,
            counts=dict(run.counts or {}),
            cursor=run.cursor,
            error=run.error,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class FailedPushOut(BaseModel):
    lead_id: str
    lead_name: str | None
    status: str
    attempts: int
    error: str | None
    last_attempt: datetime | None

    @classmethod
    def of(cls, failure: FailedPush) -> FailedPushOut:
        return cls(**failure.__dict__)


class ConflictOut(BaseModel):
    id: str
    lead_id: str
    record_id: str
    fields: dict[str, Any]
    local_modified_at: datetime | None
    remote_modified_at: datetime | None
    applied: str
    status: str
    resolution: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, conflict: AirtableConflict) -> ConflictOut:
        return cls(
            id=conflict.id,
            lead_id=conflict.lead_id,
            record_id=conflict.record_id,
            fields=dict(conflict.fields or {}),
            local_modified_at=conflict.local_modified_at,
            remote_modified_at=conflict.remote_modified_at,
            applied=conflict.applied,
            status=conflict.status,
            resolution=conflict.resolution,
            resolved_by=conflict.resolved_by,
            resolved_at=conflict.resolved_at,
            created_at=conflict.created_at,
        )


class StatusOut(BaseModel):
    configured: bool
    missing: list[str]
    base_id: str | None
    table: str | None
    pending: int
    failed: int
    linked: int
    open_conflicts: int
    cursor: datetime | None
    last_push: RunOut | None
    last_pull: RunOut | None
    runs: list[RunOut]
    failures: list[FailedPushOut]

    @classmethod
    def of(cls, state: SyncState) -> StatusOut:
        return cls(
            configured=state.configured,
            missing=state.missing,
            base_id=state.base_id,
            table=state.table,
            pending=state.pending,
            failed=state.failed,
            linked=state.linked,
            open_conflicts=state.open_conflicts,
            cursor=state.cursor,
            last_push=RunOut.of(state.last_push) if state.last_push else None,
            last_pull=RunOut.of(state.last_pull) if state.last_pull else None,
            runs=[RunOut.of(run) for run in state.runs],
            failures=[FailedPushOut.of(failure) for failure in state.failures],
        )


class QueuedOut(BaseModel):
    job_id: str
    kind: str


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: Literal["local", "remote"] | None = Field(
        default=None, description="Every field: ours (local) or Airtable's (remote)"
    )
    fields: dict[str, Literal["local", "remote"]] | None = Field(
        default=None, description="Per field (the Airtable field names of the conflict)"
    )
