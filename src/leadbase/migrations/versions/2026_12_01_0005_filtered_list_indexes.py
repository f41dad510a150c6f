"""Filtered lead lists: a (filter, created_at, id) index per equality filter.

``GET /leads?country=US&source=apify`` (newest first) used to find every US
lead by the country index and sort them all to keep fifty: at 1M leads,
hundreds of milliseconds. With (country, created_at, id) every database
walks the US leads already in order and stops after a page, testing the
other filters on the rows it passes.

The single-column indexes on country, source, company_id and is_manual go:
each new index starts with the same column, so it answers whatever they did
(company_id keeps an index for its foreign key on MariaDB).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERED = (
    "is_manual",
    "enrichment_status",
    "lead_status",
    "source",
    "country",
    "industry",
    "company_id",
)
REPLACED = ("country", "source", "company_id", "is_manual")


def upgrade() -> None:
    # New indexes first: MariaDB refuses to drop the only index of a foreign key.
    for field in FILTERED:
        op.create_index(f"idx_lead_{field}_created", "sales_leads", [field, "created_at", "id"])
    for field in REPLACED:
        op.drop_index(f"ix_sales_leads_{field}", table_name="sales_leads")


def downgrade() -> None:
    for field in REPLACED:
        op.create_index(f"ix_sales_leads_{field}", "sales_leads", [field])
    for field in FILTERED:
        op.drop_index(f"idx_lead_{field}_created", table_name="sales_leads")
