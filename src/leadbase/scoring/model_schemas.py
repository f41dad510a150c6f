"""What the API shows of the learned scoring model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ScoringModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

    version: int
    algorithm: str = Field(description="gradient_boosting or logistic_regression: the one kept.")
    is_active: bool
    features: list[str] = Field(description="The feature columns, in the estimator's order.")
    metrics: dict[str, Any] = Field(
        description="Held-out auc (and auc_by_algorithm), brier, calibration bins, "
        "train/test counts by outcome, seed, train_seconds."
    )
    trained_by: str | None
    created_at: datetime
