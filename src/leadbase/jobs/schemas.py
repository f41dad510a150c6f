"""What the API and CLI show of a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

JobStatus = Literal["queued", "running", "succeeded", "failed", "dead"]


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: JobStatus
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    next_run_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
