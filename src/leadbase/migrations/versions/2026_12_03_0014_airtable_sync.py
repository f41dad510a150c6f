"""Airtable two-way sync: lead-to-record links, conflicts, runs (issue 14).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadbase.models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    when = leadbase.models.base.UTCDateTime
    op.create_table(
        "airtable_links",
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=20), nullable=False),
        sa.Column("base_id", sa.String(length=40), nullable=False),
        sa.Column("table_name", sa.String(length=255), nullable=False),
        sa.Column("synced_fields", _json(), nullable=False),
        sa.Column("synced_version", sa.Integer(), nullable=False),
        sa.Column("remote_modified_at", when(), nullable=True),
        sa.Column("synced_at", when(), nullable=False),
        sa.Column("remote_deleted_at", when(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["sales_leads.id"],
            name=op.f("fk_airtable_links_lead_id_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_airtable_links")),
        sa.UniqueConstraint("record_id", name=op.f("uq_airtable_links_record_id")),
    )
    op.create_table(
        "airtable_conflicts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=20), nullable=False),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("local_modified_at", when(), nullable=True),
        sa.Column("remote_modified_at", when(), nullable=True),
        sa.Column("applied", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("resolved_by", sa.String(length=255), nullable=True),
        sa.Column("resolved_at", when(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["sales_leads.id"],
            name=op.f("fk_airtable_conflicts_lead_id_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_airtable_conflicts")),
    )
    op.create_index("idx_airtable_conflicts_status", "airtable_conflicts", ["status", "created_at"])
    op.create_index("idx_airtable_conflicts_lead", "airtable_conflicts", ["lead_id"])
    op.create_table(
        "airtable_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("counts", _json(), nullable=False),
        sa.Column("cursor", when(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", when(), nullable=False),
        sa.Column("finished_at", when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_airtable_runs")),
    )
    op.create_index("idx_airtable_runs_started", "airtable_runs", ["started_at", "id"])
    op.create_index(
        "idx_airtable_runs_kind_status", "airtable_runs", ["kind", "status", "started_at"]
    )


def downgrade() -> None:
    op.drop_table("airtable_runs")
    op.drop_table("airtable_conflicts")
    op.drop_table("airtable_links")
