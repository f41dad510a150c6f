"""The name lookup of a row with an email reads only leads without one.

The write path's matcher (dedupe.matcher) looks an emailed row's name key
up only among the leads without an email: one with another email can at
most be a review pair, which the surname-and-employer key and the scan
find. This partial index holds just those leads, so the lookup reads a
few index entries instead of every namesake's row. key_email is in it so
the lookup needs no other index; MariaDB has no partial indexes and gets
a plain (key_name, key_email) index, which answers the same lookup by a
range of it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_EMAIL = sa.text("key_email IS NULL")


def upgrade() -> None:
    op.create_index(
        "idx_lead_key_name_no_email",
        "sales_leads",
        ["key_name", "key_email"],
        sqlite_where=NO_EMAIL,
        postgresql_where=NO_EMAIL,
    )


def downgrade() -> None:
    op.drop_index("idx_lead_key_name_no_email", table_name="sales_leads")
