"""Analytics indexes (issue 15): what the funnel counts without reading events.

sales_leads gains stage_reached: the furthest funnel stage a status change
took the lead to or from, kept only while it is past the lead's current
status (lost leads, leads moved back), filled here from the status_changed
events; a partial index holds only those leads. lead_events gains a partial
index of the status changes by (old_status, stage_seconds, lead_id): the
funnel's counts and medians of time in stage read it in order.
sales_leads gains enrichment_steps, the steps of enrichment_data as
"provider=status,..." (filled here from the JSON), with a partial index:
success per provider counts its few distinct values. A partial index of
activities with an outcome by (outcome, event_timestamp, event_type) counts
activity volume by outcome one time range a cell.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:45:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from leadbase.models.lead import enrichment_steps_key

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANKS = {"new": 0, "contacted": 1, "qualified": 2, "converted": 3}


def _rank(column: str) -> str:
    whens = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in RANKS.items())
    return f"CASE {column} {whens} ELSE 0 END"


def _where_set(column: str) -> dict[str, sa.TextClause]:
    condition = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": condition, "postgresql_where": condition}


@contextmanager
def _fulltext_kept() -> Iterator[None]:
    """MariaDB rebuilds sales_leads, FULLTEXT index included, to add or drop
    a column: keep 0004's stopword setting (none), as 0009 and 0015 do."""
    if op.get_bind().dialect.name != "mysql":
        yield
        return
    op.execute("SET @leadbase_stopword = @@SESSION.innodb_ft_enable_stopword")
    op.execute("SET SESSION innodb_ft_enable_stopword = OFF")
    try:
        yield
    finally:
        op.execute("SET SESSION innodb_ft_enable_stopword = @leadbase_stopword")


def _fill_enrichment_steps() -> None:
    """enrichment_steps of every lead with enrichment_data, as the write
    path derives it, a batch of ids at a time."""
    bind = op.get_bind()
    leads = sa.table(
        "sales_leads",
        sa.column("id", sa.String()),
        sa.column("enrichment_data", sa.JSON()),
        sa.column("enrichment_steps", sa.String()),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(leads.c.id, leads.c.enrichment_data)
            .where(leads.c.enrichment_data.is_not(None), leads.c.id > after)
            .order_by(leads.c.id)
            .limit(5000)
        ).all()
        if not rows:
            return
        keyed = [
            {"lead_id": lead_id, "steps": key}
            for lead_id, data in rows
            if (key := enrichment_steps_key(data)) is not None
        ]
        if keyed:
            bind.execute(
                leads.update()
                .where(leads.c.id == sa.bindparam("lead_id"))
                .values(enrichment_steps=sa.bindparam("steps")),
                keyed,
            )
        after = rows[-1][0]


def upgrade() -> None:
    with _fulltext_kept(), op.batch_alter_table("sales_leads") as batch:
        batch.add_column(sa.Column("stage_reached", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("enrichment_steps", sa.String(length=255), nullable=True))
    furthest = (
        f"SELECT MAX(CASE WHEN {_rank('e.old_status')} > {_rank('e.new_status')} "
        f"THEN {_rank('e.old_status')} ELSE {_rank('e.new_status')} END) "
        "FROM lead_events e WHERE e.lead_id = sales_leads.id "
        "AND e.event_type = 'status_changed'"
    )
    op.execute(
        f"UPDATE sales_leads SET stage_reached = ({furthest}) WHERE id IN "
        "(SELECT lead_id FROM lead_events WHERE event_type = 'status_changed')"
    )
    op.execute(
        "UPDATE sales_leads SET stage_reached = NULL WHERE stage_reached IS NOT NULL "
        f"AND stage_reached <= {_rank('lead_status')}"
    )
    _fill_enrichment_steps()
    op.create_index(
        "idx_lead_enrichment_steps",
        "sales_leads",
        ["enrichment_steps", "enrichment_status", "created_at"],
        unique=False,
        **_where_set("enrichment_steps"),
    )
    op.create_index(
        "idx_lead_stage_reached",
        "sales_leads",
        ["stage_reached", "created_at"],
        unique=False,
        **_where_set("stage_reached"),
    )
    op.create_index(
        "idx_event_outcome_time",
        "lead_events",
        ["outcome", "event_timestamp", "event_type"],
        unique=False,
        **_where_set("outcome"),
    )
    op.create_index(
        "idx_event_stage_seconds",
        "lead_events",
        ["old_status", "stage_seconds", "lead_id"],
        unique=False,
        **_where_set("stage_seconds"),
    )


def downgrade() -> None:
    op.drop_index("idx_event_stage_seconds", table_name="lead_events")
    op.drop_index("idx_event_outcome_time", table_name="lead_events")
    op.drop_index("idx_lead_stage_reached", table_name="sales_leads")
    op.drop_index("idx_lead_enrichment_steps", table_name="sales_leads")
    with _fulltext_kept(), op.batch_alter_table("sales_leads") as batch:
        batch.drop_column("enrichment_steps")
        batch.drop_column("stage_reached")
