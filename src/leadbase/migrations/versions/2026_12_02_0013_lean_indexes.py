"""Leaner lead indexes (issue 13: bytes per lead).

- The (filter, created_at, id) indexes of 0005 lose the id: a filtered list
  walks (filter, created_at) newest first and the database sorts leads
  that share a created_at (an import batch) by id as it goes, a run of ties
  at a time (SQLite) or by incremental sort (PostgreSQL). The id was 37 of
  their ~86 bytes a lead, in seven indexes. On MariaDB every secondary index
  holds the primary key anyway: the same bytes, rebuilt to match the models.
- is_manual's is partial: only manual leads (few) are in it; an
  is_manual=false list walks created_at, nearly every lead matching.
- Partial (only the rows with a value; SQLite and PostgreSQL, MariaDB keeps
  plain ones): columns looked up by value that most leads lack (phone,
  linkedin_url, external_id, actor_id, run_id, merged_into_id, key_address;
  not (provider_name, external_id): the matcher's row-value IN does not
  imply a value to SQLite, which would scan the table), lead_score's sort index (valued rows are read
  from it, the others by id), and is_deleted where true (counts of deleted
  leads; nothing reads live ones by it). lead_sources: provider and actor
  indexes (an import's sources have neither) and is_deleted likewise.
- Dropped: sales_leads email (a lookup by email goes by key_email, which
  is canonical_email(email): leads.repository.email_matches), company_domain
  (nothing looks leads up by it), (company_id, lead_status) (a company's
  leads are few: (company_id, created_at) finds them).

Downgrade puts back the indexes as 0011 left them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERED = ("enrichment_status", "lead_status", "source", "country", "industry", "company_id")
SPARSE = ("phone", "linkedin_url", "external_id", "actor_id", "run_id", "merged_into_id")

# (index, table, columns before, columns after, condition after: the rows
# it keeps; None: every row).
CHANGED: tuple[tuple[str, str, list[str], list[str], str | None], ...] = (
    *(
        (
            f"idx_lead_{field}_created",
            "sales_leads",
            [field, "created_at", "id"],
            [field, "created_at"],
            None,
        )
        for field in FILTERED
    ),
    (
        "idx_lead_is_manual_created",
        "sales_leads",
        ["is_manual", "created_at", "id"],
        ["is_manual", "created_at"],
        "is_manual = {true}",
    ),
    *(
        (f"ix_sales_leads_{column}", "sales_leads", [column], [column], f"{column} IS NOT NULL")
        for column in SPARSE
    ),
    (
        "idx_lead_key_address",
        "sales_leads",
        ["key_address"],
        ["key_address"],
        "key_address IS NOT NULL",
    ),
    (
        "idx_lead_score",
        "sales_leads",
        ["lead_score", "id"],
        ["lead_score", "id"],
        "lead_score IS NOT NULL",
    ),
    (
        "ix_sales_leads_is_deleted",
        "sales_leads",
        ["is_deleted"],
        ["is_deleted"],
        "is_deleted = {true}",
    ),
    (
        "idx_source_provider",
        "lead_sources",
        ["provider_name", "external_id"],
        ["provider_name", "external_id"],
        "provider_name IS NOT NULL",
    ),
    (
        "idx_source_actor_run",
        "lead_sources",
        ["actor_id", "run_id"],
        ["actor_id", "run_id"],
        "actor_id IS NOT NULL",
    ),
    (
        "ix_lead_sources_is_deleted",
        "lead_sources",
        ["is_deleted"],
        ["is_deleted"],
        "is_deleted = {true}",
    ),
)
# After CHANGED: on MariaDB, (company_id, created_at) must exist before the
# other index of the company_id foreign key goes.
DROPPED = (
    ("idx_lead_company", "sales_leads", ["company_id", "lead_status"]),
    ("ix_sales_leads_company_domain", "sales_leads", ["company_domain"]),
    ("ix_sales_leads_email", "sales_leads", ["email"]),
)


def _create(name: str, table: str, columns: list[str], condition: str | None) -> None:
    dialect = op.get_bind().dialect.name
    if condition is None or dialect not in ("sqlite", "postgresql"):
        op.create_index(name, table, columns)
        return
    where = condition.format(true="1" if dialect == "sqlite" else "true")
    op.create_index(name, table, columns, **{f"{dialect}_where": sa.text(where)})


def upgrade() -> None:
    partial = op.get_bind().dialect.name in ("sqlite", "postgresql")
    for name, table, before, after, condition in CHANGED:
        if before == after and not partial:
            continue  # MariaDB: no partial index, the plain one stays
        op.drop_index(name, table_name=table)
        _create(name, table, after, condition)
    for name, table, _columns in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    partial = op.get_bind().dialect.name in ("sqlite", "postgresql")
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
    for name, table, before, after, _condition in CHANGED:
        if before == after and not partial:
            continue
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before)
