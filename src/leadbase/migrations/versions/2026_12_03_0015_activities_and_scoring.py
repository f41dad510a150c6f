"""Activities, status-change events and learned scoring models (issue 15).

lead_events gains an activity's outcome and, on status_changed events, the
seconds the lead spent in the stage it left; an index by (event_type,
event_timestamp) serves activity volume and the funnel over a time range.
sales_leads gains status_changed_at (when the current stage began).
scoring_models keeps each trained model with its features and metrics.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

import leadbase.models.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


@contextmanager
def _fulltext_kept() -> Iterator[None]:
    """MariaDB rebuilds sales_leads, FULLTEXT index included, to add or drop
    a column, and the rebuilt index takes the session's stopword setting:
    keep 0004's (no stopword list), as 0009 does."""
    if op.get_bind().dialect.name != "mysql":
        yield
        return
    op.execute("SET @leadbase_stopword = @@SESSION.innodb_ft_enable_stopword")
    op.execute("SET SESSION innodb_ft_enable_stopword = OFF")
    try:
        yield
    finally:
        op.execute("SET SESSION innodb_ft_enable_stopword = @leadbase_stopword")


def upgrade() -> None:
    when = leadbase.models.base.UTCDateTime
    with op.batch_alter_table("lead_events") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("stage_seconds", sa.BigInteger(), nullable=True))
    op.create_index(
        "idx_event_type_time", "lead_events", ["event_type", "event_timestamp"], unique=False
    )
    with _fulltext_kept(), op.batch_alter_table("sales_leads") as batch:
        batch.add_column(sa.Column("status_changed_at", when(), nullable=True))
    op.create_table(
        "scoring_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=50), nullable=False),
        sa.Column("features", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column(
            "estimator",
            sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("trained_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_models")),
        sa.UniqueConstraint("version", name=op.f("uq_scoring_models_version")),
    )
    op.create_index("idx_scoring_model_active", "scoring_models", ["is_active"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_scoring_model_active", table_name="scoring_models")
    op.drop_table("scoring_models")
    with _fulltext_kept(), op.batch_alter_table("sales_leads") as batch:
        batch.drop_column("status_changed_at")
    op.drop_index("idx_event_type_time", table_name="lead_events")
    with op.batch_alter_table("lead_events") as batch:
        batch.drop_column("stage_seconds")
        batch.drop_column("outcome")
