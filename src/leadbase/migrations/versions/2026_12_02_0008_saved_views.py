"""Saved views and per-user list columns (issue 11).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadbase.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    when = leadbase.models.base.UTCDateTime
    op.create_table(
        "saved_views",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("list_key", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("columns", _json(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_saved_views_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
    )
    op.create_index("idx_saved_views_owner", "saved_views", ["owner_id", "list_key", "name"])
    op.create_index("idx_saved_views_shared", "saved_views", ["shared", "list_key", "name"])
    op.create_table(
        "list_columns",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("list_key", sa.String(length=30), nullable=False),
        sa.Column("columns", _json(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_list_columns_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "list_key", name=op.f("pk_list_columns")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes (MariaDB refuses to drop the owner
    # index on its own: the foreign key needs it).
    op.drop_table("list_columns")
    op.drop_table("saved_views")
