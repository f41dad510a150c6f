"""What the scoring API answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ScoringRules(BaseModel):
    """The rules in effect and where they come from."""

    digest: str = Field(description="sha256[:12] of the rules: a score's explanation names it")
    source: str = Field(description='"built-in" or the rules file\'s path')
    rules: dict[str, Any]


class ScoringRun(BaseModel):
    job_id: str = Field(description="the score_leads job (GET /api/v1/jobs/{id})")


class LeadScore(BaseModel):
    lead_id: str
    score: int | None = Field(description="0..100; null: not scored yet")
    explanation: dict[str, Any] | None = Field(
        description='{"score", "mode", "rules", "points": [{"rule", "points", "reason"}], '
        '"scored_at"}; with a model also "model"'
    )
