"""jobs: the durable record of background work (issue 4).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadbase.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    when = leadbase.models.base.UTCDateTime
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_run_at", when(), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", when(), nullable=True),
        sa.Column("sent_at", when(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("started_at", when(), nullable=True),
        sa.Column("finished_at", when(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'dead')",
            name=op.f("ck_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("idx_jobs_status_next_run", "jobs", ["status", "next_run_at"])
    op.create_index("idx_jobs_status_lease", "jobs", ["status", "lease_expires_at"])
    op.create_index("idx_jobs_kind_created", "jobs", ["kind", "created_at"])


def downgrade() -> None:
    op.drop_index("idx_jobs_kind_created", table_name="jobs")
    op.drop_index("idx_jobs_status_lease", table_name="jobs")
    op.drop_index("idx_jobs_status_next_run", table_name="jobs")
    op.drop_table("jobs")
