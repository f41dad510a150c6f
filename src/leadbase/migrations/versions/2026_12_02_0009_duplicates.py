"""Duplicates: match keys on every lead, clusters, dismissals, merges (issue 12).

Columns ``sales_leads.key_*`` (one index each): the match and blocking keys
``dedupe.keys.match_keys`` derives from a lead's fields, filled in here for
every stored lead, in batches. Like ``sort_name`` they are derived, not
given: no field anyone gave changes, so there is no audit entry.

Tables: ``duplicate_clusters`` (what a scan or a write found, for review;
``duplicate_cluster_leads`` indexes which leads each holds),
``dedupe_dismissals`` (pairs people said are not duplicates) and ``merges``
(each merge with the exact rows it changed, for unmerge; ``merge_members``
indexes who took part).

``lead_sources.lead_id`` stops being unique (a merge moves the merged leads'
sources to the survivor); it keeps a plain index.

Downgrade drops all of it and puts the unique constraint back, which fails
while a merge has left a lead with two sources: unmerge first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 11:00:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadbase.models.base
from leadbase.dedupe.keys import KEY_SOURCE_FIELDS, match_keys

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_COLUMNS = {
    "key_email": 255,
    "key_domain": 255,
    "key_name": 64,
    "key_name_alt": 64,
    "key_company": 255,
    "key_address": 100,
}
BATCH = 5000


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


@contextmanager
def _fulltext_kept() -> Iterator[None]:
    """MariaDB rebuilds sales_leads, FULLTEXT index included, to add or drop
    a column, and the rebuilt index takes the session's stopword setting:
    keep 0004's (no stopword list), or "the" stops being a word (as 0007)."""
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
    with _fulltext_kept():
        with op.batch_alter_table("sales_leads") as batch:
            for column, length in KEY_COLUMNS.items():
                batch.add_column(sa.Column(column, sa.String(length=length), nullable=True))
        _fill_keys()
        for column in KEY_COLUMNS:
            op.create_index(f"idx_lead_{column}", "sales_leads", [column])
    # The plain index first: MariaDB's foreign key needs an index on lead_id.
    op.create_index("ix_lead_sources_lead_id", "lead_sources", ["lead_id"])
    with op.batch_alter_table("lead_sources") as batch:
        batch.drop_constraint("uq_lead_sources_lead_id", type_="unique")
    _create_tables()


def _fill_keys() -> None:
    """Every lead's keys, a batch of ids at a time (keyset by id)."""
    bind = op.get_bind()
    leads = sa.table("sales_leads", sa.column("id"), *(sa.column(f) for f in KEY_SOURCE_FIELDS))
    keyed = sa.table("sales_leads", sa.column("id"), *(sa.column(c) for c in KEY_COLUMNS))
    update = (
        keyed.update()
        .where(keyed.c.id == sa.bindparam("lead_id"))
        .values({column: sa.bindparam(column) for column in KEY_COLUMNS})
    )
    last = ""
    while True:
        rows = (
            bind.execute(
                sa.select(leads).where(leads.c.id > last).order_by(leads.c.id).limit(BATCH)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        bind.execute(update, [{"lead_id": row["id"], **match_keys(row)} for row in rows])
        last = rows[-1]["id"]


def _create_tables() -> None:
    when = leadbase.models.base.UTCDateTime
    op.create_table(
        "duplicate_clusters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("lead_ids", _json(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("resolved_at", when(), nullable=True),
        sa.Column("resolved_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_clusters")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_duplicate_clusters_fingerprint")),
    )
    op.create_index("idx_duplicate_clusters_status", "duplicate_clusters", ["status", "score"])
    op.create_table(
        "dedupe_dismissals",
        sa.Column("lead_a", sa.String(length=36), nullable=False),
        sa.Column("lead_b", sa.String(length=36), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_a"],
            ["sales_leads.id"],
            name=op.f("fk_dedupe_dismissals_lead_a_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_b"],
            ["sales_leads.id"],
            name=op.f("fk_dedupe_dismissals_lead_b_sales_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_a", "lead_b", name=op.f("pk_dedupe_dismissals")),
    )
    op.create_index("idx_dedupe_dismissals_b", "dedupe_dismissals", ["lead_b"])
    op.create_table(
        "merges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("survivor_id", sa.String(length=36), nullable=False),
        sa.Column("merged_ids", _json(), nullable=False),
        sa.Column("snapshot", _json(), nullable=False),
        sa.Column("survivor_version", sa.Integer(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("undone_at", when(), nullable=True),
        sa.Column("undone_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
    )
    op.create_index("idx_merges_survivor", "merges", ["entity", "survivor_id", "created_at"])
    op.create_table(
        "duplicate_cluster_leads",
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["duplicate_clusters.id"],
            name=op.f("fk_duplicate_cluster_leads_cluster_id_duplicate_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "lead_id", name=op.f("pk_duplicate_cluster_leads")),
    )
    op.create_index("idx_duplicate_cluster_leads_lead", "duplicate_cluster_leads", ["lead_id"])
    op.create_table(
        "merge_members",
        sa.Column("merge_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["merge_id"],
            ["merges.id"],
            name=op.f("fk_merge_members_merge_id_merges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("merge_id", "member_id", name=op.f("pk_merge_members")),
    )
    op.create_index("idx_merge_members_member", "merge_members", ["member_id"])


def downgrade() -> None:
    op.drop_table("merge_members")
    op.drop_table("duplicate_cluster_leads")
    op.drop_table("merges")
    op.drop_table("dedupe_dismissals")
    op.drop_table("duplicate_clusters")
    with op.batch_alter_table("lead_sources") as batch:
        batch.create_unique_constraint("uq_lead_sources_lead_id", ["lead_id"])
    op.drop_index("ix_lead_sources_lead_id", table_name="lead_sources")
    with _fulltext_kept():
        for column in KEY_COLUMNS:
            op.drop_index(f"idx_lead_{column}", table_name="sales_leads")
        with op.batch_alter_table("sales_leads") as batch:
            for column in KEY_COLUMNS:
                batch.drop_column(column)
