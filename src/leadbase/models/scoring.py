"""Learned scoring models: each `leadbase score train` stores one.

The fitted estimator is kept as bytes beside what it needs to be trusted
and reused: the feature names it was fitted on, its held-out metrics
(AUC, calibration), and how many outcomes it learned from. At most one
model is active; `leadbase score` uses it when the scoring mode says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, JSONType, UTCDateTime, new_id, utcnow


class ScoringModel(Base):
    __tablename__ = "scoring_models"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # 1, 2, 3...: the n-th model trained on this database.
    version: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    # "gradient_boosting" or "logistic_regression": the one that won.
    algorithm: Mapped[str] = mapped_column(String(50), nullable=False)
    features: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    # auc, the other algorithm's auc, calibration bins, train/test sizes...
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    # The fitted estimator (joblib), 4 GB at most on MariaDB (LONGBLOB).
    estimator: Mapped[bytes] = mapped_column(
        LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False
    )
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    trained_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("idx_scoring_model_active", "is_active"),)
