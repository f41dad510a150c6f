"""PostgreSQL: the rollups of 0017 counted once a statement, not once a row.

0017's PostgreSQL triggers ran for each lead and each activity row, and
each upserted the rollup rows of its day (fifteen for a lead). A bulk
write updates those same few rows thousands of times in one transaction,
and PostgreSQL keeps every version of a row until the transaction ends:
each update walks a longer chain of versions. A 100k-row import ran at
about 35 leads a second; 4,000 leads through ``add_leads`` took 26.6 s
with the triggers and 4.7 s without.

Here inserts of leads and of events are counted by statement-level
triggers that read the statement's transition table (every row it
inserted) and move each rollup row once, by the statement's count. The
write path sends its bulk inserts as multi-row statements on PostgreSQL
(db.create_db_engine), so a statement is a thousand rows. Updates and
removals keep 0017's row triggers: the bulk updates (score writes) go a
row a statement as executemany sends them, where a statement trigger
costs more than a row trigger (4,000 scores: 10.1 s against 7.5 s), and a
lead's events must be uncounted before a cascade removes them.

SQLite and MariaDB have no transition tables; their row triggers update a
row in place and do not slow down this way. This revision leaves them as
they are. The counts are unchanged (the analytics rollup tests hold them
equal to the rows on all three databases).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0017 (models.analytics and models.lead.NOT_ACTIVITIES; a test holds them equal).
NOT_ACTIVITIES = (
    "created",
    "deleted",
    "merged",
    "restored",
    "status_changed",
    "unmerged",
    "updated",
)
HOUR = 3600
VALUES = {
    "status": "COALESCE(r.lead_status, '')",
    "source": "COALESCE(r.source, '')",
    "country": "COALESCE(r.country, '')",
    "industry": "COALESCE(r.industry, '')",
    "stage": "COALESCE(r.lead_status, '') || '|' || COALESCE(CAST(r.stage_reached AS TEXT), '')",
    "enrichment": "COALESCE(r.enrichment_status, '') || '|' || COALESCE(r.enrichment_steps, '')",
    "score": "COALESCE(CAST(r.lead_score AS TEXT), '')",
}
GROUPS = ("country", "industry", "source", "status")
for _i, _a in enumerate(GROUPS):
    for _b in GROUPS[_i + 1 :]:
        VALUES[f"{_a}+{_b}"] = f"{VALUES[_a]} || '|' || {VALUES[_b]}"
ALL_DAYS = "DATE '2000-01-01'"
TOTALLED = ("enrichment", "score")


def _dimensions() -> str:
    """A VALUES list of (dimension, day, value) of a lead row ``r``."""
    day = "CAST(r.created_at AS DATE)"
    rows = [f"('{name}', {day}, {value})" for name, value in VALUES.items()]
    rows += [f"('{name}:all', {ALL_DAYS}, {VALUES[name]})" for name in TOTALLED]
    return ", ".join(rows)


def _count_leads(counted: str) -> str:
    """Add ``counted`` (rows of sales_leads' columns plus ``n``, the sign)
    to lead_rollups: every dimension of every row, summed, once a key."""
    return f"""
    INSERT INTO lead_rollups (dimension, day, value, leads)
    SELECT d.dimension, d.day, d.value, SUM(r.n)
    FROM ({counted}) r
    CROSS JOIN LATERAL (VALUES {_dimensions()}) AS d(dimension, day, value)
    GROUP BY d.dimension, d.day, d.value
    HAVING SUM(r.n) <> 0
    ON CONFLICT (dimension, day, value)
    DO UPDATE SET leads = lead_rollups.leads + EXCLUDED.leads"""


def _count_events(counted: str) -> list[str]:
    """Add ``counted`` (event rows ``e`` with ``n``, the sign) to the
    activity and time-in-stage rollups."""
    kinds = ", ".join(f"'{kind}'" for kind in NOT_ACTIVITIES)
    day = "CAST(e.event_timestamp AS DATE)"
    activities = f"""
    INSERT INTO activity_rollups (day, event_type, outcome, activities)
    SELECT {day}, e.event_type, COALESCE(e.outcome, ''), SUM(e.n)
    FROM ({counted}) e
    WHERE e.event_type NOT IN ({kinds})
    GROUP BY {day}, e.event_type, COALESCE(e.outcome, '')
    HAVING SUM(e.n) <> 0
    ON CONFLICT (day, event_type, outcome)
    DO UPDATE SET activities = activity_rollups.activities + EXCLUDED.activities"""
    stages = f"""
    INSERT INTO stage_rollups (old_status, hour, changes)
    SELECT COALESCE(e.old_status, ''), e.stage_seconds / {HOUR}, SUM(e.n)
    FROM ({counted}) e
    WHERE e.stage_seconds IS NOT NULL
    GROUP BY COALESCE(e.old_status, ''), e.stage_seconds / {HOUR}
    HAVING SUM(e.n) <> 0
    ON CONFLICT (old_status, hour)
    DO UPDATE SET changes = stage_rollups.changes + EXCLUDED.changes"""
    return [activities, stages]


def _function(name: str, statements: Sequence[str]) -> str:
    body = ";\n".join(statements)
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body};\nRETURN NULL;\nEND $$"
    )


def _leads_inserted() -> str:
    return _function(
        "lead_rollups_inserted",
        [_count_leads("SELECT r.*, 1 AS n FROM new_rows r WHERE NOT r.is_deleted")],
    )


def _events_inserted() -> str:
    # A lookup by primary key an event (a few per statement are the usual
    # case), not a join the planner might answer by reading every lead.
    alive = (
        "SELECT e.*, 1 AS n FROM new_rows e WHERE EXISTS "
        "(SELECT 1 FROM sales_leads l WHERE l.id = e.lead_id AND NOT l.is_deleted)"
    )
    return _function("event_rollups_inserted", _count_events(alive))


FUNCTIONS = ("lead_rollups_inserted", "event_rollups_inserted")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # 0017's row functions stay: they count updates (a few rows a
    # statement, or a score a statement as executemany sends them) and
    # removals; only inserts move to the statement.
    op.execute("DROP TRIGGER lead_rollups_change ON sales_leads")
    op.execute("DROP TRIGGER event_rollups_change ON lead_events")
    op.execute(_leads_inserted())
    op.execute(_events_inserted())
    op.execute(
        "CREATE TRIGGER lead_rollups_inserted AFTER INSERT ON sales_leads "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION lead_rollups_inserted()"
    )
    op.execute(
        "CREATE TRIGGER lead_rollups_change AFTER UPDATE ON sales_leads "
        "FOR EACH ROW EXECUTE FUNCTION lead_rollups_change()"
    )
    op.execute(
        "CREATE TRIGGER event_rollups_inserted AFTER INSERT ON lead_events "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION event_rollups_inserted()"
    )
    op.execute(
        "CREATE TRIGGER event_rollups_change AFTER UPDATE OR DELETE ON lead_events "
        "FOR EACH ROW EXECUTE FUNCTION event_rollups_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, table in (
        ("lead_rollups_inserted", "sales_leads"),
        ("lead_rollups_change", "sales_leads"),
        ("event_rollups_inserted", "lead_events"),
        ("event_rollups_change", "lead_events"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}()")
    op.execute(
        "CREATE TRIGGER lead_rollups_change AFTER INSERT OR UPDATE ON sales_leads "
        "FOR EACH ROW EXECUTE FUNCTION lead_rollups_change()"
    )
    op.execute(
        "CREATE TRIGGER event_rollups_change AFTER INSERT OR UPDATE OR DELETE ON lead_events "
        "FOR EACH ROW EXECUTE FUNCTION event_rollups_change()"
    )
