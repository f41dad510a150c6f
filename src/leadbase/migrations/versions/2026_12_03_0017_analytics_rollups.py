"""Analytics rollups (issue 15): counts kept by triggers, so that an
unfiltered figure over a million leads reads a few thousand rows.

lead_rollups (dimension, day, value) -> leads, activity_rollups (day,
event_type, outcome) -> activities and stage_rollups (old_status, hour) ->
changes (see models/analytics.py). Triggers on sales_leads and lead_events
keep them exact in the writing transaction, whoever writes (the write path,
the bulk path, merges, restores), counting only leads that are not deleted
and their events. They are filled here from the rows already stored.

A lead's row moves its counts only for the dimensions whose value changed
(a score written moves the "score" dimension alone). Deleting or restoring
a lead (a merge deletes) moves its activities and status changes with it.
Before a lead row is removed for good its events are uncounted: MariaDB's
cascades fire no triggers, and SQLite's fire once the lead is gone.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.lead.NOT_ACTIVITIES as of this migration (a test holds them equal).
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
# The columns each dimension's value is made of.
COLUMNS = {
    "status": ("lead_status",),
    "source": ("source",),
    "country": ("country",),
    "industry": ("industry",),
    "stage": ("lead_status", "stage_reached"),
    "enrichment": ("enrichment_status", "enrichment_steps"),
    "score": ("lead_score",),
}
# Pairs of the four a list filters on and a figure groups by ("a+b", value
# "a's|b's"): one filter and a grouping read a rollup too.
GROUPS = ("country", "industry", "source", "status")
PAIRS = tuple(f"{a}+{b}" for i, a in enumerate(GROUPS) for b in GROUPS[i + 1 :])
for _pair in PAIRS:
    _a, _b = _pair.split("+")
    COLUMNS[_pair] = COLUMNS[_a] + COLUMNS[_b]
# Dimensions of many values a day also kept over all days (day ALL_DAYS):
# a figure with no date range reads a row a value.
ALL_DAYS = "2000-01-01"
TOTALLED = ("enrichment", "score")
for _name in TOTALLED:
    COLUMNS[f"{_name}:all"] = COLUMNS[_name]
DIMENSIONS = tuple(COLUMNS)


def _trigger_name(dimension: str) -> str:
    return dimension.replace("+", "_").replace(":", "_")


TRIGGERS = {
    "sqlite": [
        "lead_rollups_insert",
        "lead_rollups_delete",
        "lead_rollups_move",
        *(f"lead_rollups_{_trigger_name(dimension)}" for dimension in DIMENSIONS),
        "lead_rollups_events",
        "event_rollups_insert",
        "event_rollups_delete",
        "event_rollups_update",
    ],
    "postgresql": [
        "lead_rollups_change",
        "lead_rollups_remove",
        "event_rollups_change",
    ],
    "mysql": [
        "lead_rollups_insert",
        "lead_rollups_update",
        "lead_rollups_delete",
        "event_rollups_insert",
        "event_rollups_update",
        "event_rollups_delete",
    ],
}


class Dialect:
    """The few spellings that differ between the three databases."""

    def __init__(self, name: str) -> None:
        self.name = name

    def concat(self, *parts: str) -> str:
        if self.name == "mysql":
            return f"CONCAT({', '.join(parts)})"
        return " || ".join(parts)

    def text(self, column: str) -> str:
        return f"CAST({column} AS {'CHAR' if self.name == 'mysql' else 'TEXT'})"

    def day(self, column: str) -> str:
        if self.name == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS...' in UTC
            return f"substr({column}, 1, 10)"
        return f"CAST({column} AS DATE)"

    def hour(self, column: str) -> str:
        return f"({column} DIV {HOUR})" if self.name == "mysql" else f"({column} / {HOUR})"

    def alive(self, row: str) -> str:
        """1 when the lead row counts (not deleted), else 0."""
        if self.name == "postgresql":
            return f"(CASE WHEN {row}.is_deleted THEN 0 ELSE 1 END)"
        return f"(CASE WHEN {row}.is_deleted = 1 THEN 0 ELSE 1 END)"

    def lead_alive(self, lead_id: str) -> str:
        """1 when the lead ``lead_id`` exists and counts, else 0."""
        deleted = "NOT is_deleted" if self.name == "postgresql" else "is_deleted = 0"
        return f"(SELECT COUNT(*) FROM sales_leads WHERE id = {lead_id} AND {deleted})"

    def upsert(self, table: str, columns: Sequence[str], count: str, rows: Sequence[str]) -> str:
        """Add each row's count to its key's (a new key starts at it)."""
        head = f"INSERT INTO {table} ({', '.join((*columns, count))}) "
        if self.name == "mysql":
            tail = f" ON DUPLICATE KEY UPDATE {count} = {count} + VALUES({count})"
        else:
            excluded = "excluded" if self.name == "sqlite" else "EXCLUDED"
            target = table if self.name == "postgresql" else ""
            own = f"{target}.{count}" if target else count
            tail = (
                f" ON CONFLICT ({', '.join(columns)}) DO UPDATE SET "
                f"{count} = {own} + {excluded}.{count}"
            )
        return head + "VALUES " + ", ".join(rows) + tail

    def value(self, dimension: str, row: str) -> str:
        """The dimension's value of a lead row ('' for none)."""
        dimension = dimension.removesuffix(":all")
        if "+" in dimension:
            first, second = dimension.split("+")
            return self.concat(self.value(first, row), "'|'", self.value(second, row))
        if dimension == "stage":
            return self.concat(
                f"COALESCE({row}.lead_status, '')",
                "'|'",
                f"COALESCE({self.text(f'{row}.stage_reached')}, '')",
            )
        if dimension == "enrichment":
            return self.concat(
                f"COALESCE({row}.enrichment_status, '')",
                "'|'",
                f"COALESCE({row}.enrichment_steps, '')",
            )
        if dimension == "score":
            return f"COALESCE({self.text(f'{row}.lead_score')}, '')"
        return f"COALESCE({row}.{COLUMNS[dimension][0]}, '')"

    # --- statements -------------------------------------------------------------------

    def dimension_day(self, dimension: str, row: str) -> str:
        """The day a lead row counts on in ``dimension``."""
        if dimension.endswith(":all"):
            return f"'{ALL_DAYS}'" if self.name == "sqlite" else f"DATE '{ALL_DAYS}'"
        return self.day(f"{row}.created_at")

    def lead_counts(self, row: str, sign: str) -> str:
        """Every dimension of a lead row, moved by ``sign`` (an expression)."""
        rows = [
            f"('{d}', {self.dimension_day(d, row)}, {self.value(d, row)}, {sign})"
            for d in DIMENSIONS
        ]
        return self.upsert("lead_rollups", ("dimension", "day", "value"), "leads", rows)

    def dimension_moved(self, dimension: str) -> str:
        """One dimension's count from its old value to its new one."""
        day = self.dimension_day(dimension, "NEW")
        rows = [
            f"('{dimension}', {day}, {self.value(dimension, 'OLD')}, -1)",
            f"('{dimension}', {day}, {self.value(dimension, 'NEW')}, 1)",
        ]
        return self.upsert("lead_rollups", ("dimension", "day", "value"), "leads", rows)

    def _added(self, table: str, columns: Sequence[str], count: str, select: str) -> str:
        """INSERT ... SELECT ``select`` (its WHERE included), adding counts."""
        head = f"INSERT INTO {table} ({', '.join((*columns, count))}) {select}"
        if self.name == "mysql":
            return head + f" ON DUPLICATE KEY UPDATE {count} = {count} + VALUES({count})"
        own = f"{table}." if self.name == "postgresql" else ""
        return head + (
            f" ON CONFLICT ({', '.join(columns)}) DO UPDATE SET "
            f"{count} = {own}{count} + excluded.{count}"
        )

    def event_counts(self, row: str, sign: str) -> list[str]:
        """An event row's activity or time-in-stage count, moved by ``sign``
        when its lead counts (the statement adds nothing otherwise)."""
        kinds = ", ".join(f"'{kind}'" for kind in NOT_ACTIVITIES)
        alive = f"{self.lead_alive(f'{row}.lead_id')} = 1"
        dual = " FROM DUAL" if self.name == "mysql" else ""
        activity = self._added(
            "activity_rollups",
            ("day", "event_type", "outcome"),
            "activities",
            f"SELECT {self.day(f'{row}.event_timestamp')}, {row}.event_type, "
            f"COALESCE({row}.outcome, ''), {sign}{dual} "
            f"WHERE {row}.event_type NOT IN ({kinds}) AND {alive}",
        )
        stage = self._added(
            "stage_rollups",
            ("old_status", "hour"),
            "changes",
            f"SELECT COALESCE({row}.old_status, ''), {self.hour(f'{row}.stage_seconds')}, "
            f"{sign}{dual} WHERE {row}.stage_seconds IS NOT NULL AND {alive}",
        )
        return [activity, stage]

    def lead_events(self, lead_id: str, sign: str) -> list[str]:
        """A lead's activities and status changes, all moved by ``sign``
        (INSERT ... SELECT ... GROUP BY: a statement each)."""
        kinds = ", ".join(f"'{kind}'" for kind in NOT_ACTIVITIES)
        day, hour = self.day("e.event_timestamp"), self.hour("e.stage_seconds")
        activity = self._added(
            "activity_rollups",
            ("day", "event_type", "outcome"),
            "activities",
            f"SELECT {day}, e.event_type, COALESCE(e.outcome, ''), {sign} * COUNT(*) "
            f"FROM lead_events e WHERE e.lead_id = {lead_id} AND e.event_type NOT IN ({kinds}) "
            f"GROUP BY {day}, e.event_type, COALESCE(e.outcome, '')",
        )
        stage = self._added(
            "stage_rollups",
            ("old_status", "hour"),
            "changes",
            f"SELECT COALESCE(e.old_status, ''), {hour}, {sign} * COUNT(*) "
            f"FROM lead_events e WHERE e.lead_id = {lead_id} AND e.stage_seconds IS NOT NULL "
            f"GROUP BY COALESCE(e.old_status, ''), {hour}",
        )
        return [activity, stage]

    def distinct(self, old: str, new: str) -> str:
        """``old`` and ``new`` differ, NULL counted as a value."""
        if self.name == "mysql":
            return f"NOT ({old} <=> {new})"
        return f"{old} {'IS NOT' if self.name == 'sqlite' else 'IS DISTINCT FROM'} {new}"

    def changed(self, columns: Sequence[str]) -> str:
        return " OR ".join(self.distinct(f"OLD.{c}", f"NEW.{c}") for c in columns)

    def moved_dimensions(self) -> str:
        """(plpgsql, MariaDB) Each dimension whose value changed, moved."""
        return " ".join(
            f"IF {self.distinct(self.value(d, 'OLD'), self.value(d, 'NEW'))} THEN "
            f"{self.dimension_moved(d)}; END IF;"
            for d in DIMENSIONS
        )


EVENT_COLUMNS = ("lead_id", "event_type", "outcome", "event_timestamp", "old_status")


# --- SQLite: a trigger a case, WHEN says which -------------------------------------------


def _sqlite() -> list[str]:
    d = Dialect("sqlite")
    body = lambda statements: "BEGIN " + "; ".join(statements) + "; END"  # noqa: E731
    same_day = f"{d.day('OLD.created_at')} = {d.day('NEW.created_at')}"
    both_alive = "OLD.is_deleted = 0 AND NEW.is_deleted = 0"
    statements = [
        "CREATE TRIGGER lead_rollups_insert AFTER INSERT ON sales_leads "
        f"WHEN NEW.is_deleted = 0 {body([d.lead_counts('NEW', '1')])}",
        # Before: the events are still there to uncount.
        "CREATE TRIGGER lead_rollups_delete BEFORE DELETE ON sales_leads "
        "WHEN OLD.is_deleted = 0 "
        f"{body([d.lead_counts('OLD', '-1'), *d.lead_events('OLD.id', '-1')])}",
        "CREATE TRIGGER lead_rollups_move AFTER UPDATE OF is_deleted, created_at ON sales_leads "
        f"WHEN OLD.is_deleted IS NOT NEW.is_deleted OR NOT ({same_day}) "
        + body(
            [
                d.lead_counts("OLD", f"-{d.alive('OLD')}"),
                d.lead_counts("NEW", d.alive("NEW")),
            ]
        ),
        "CREATE TRIGGER lead_rollups_events AFTER UPDATE OF is_deleted ON sales_leads "
        "WHEN OLD.is_deleted IS NOT NEW.is_deleted "
        f"{body(d.lead_events('NEW.id', '(1 - 2 * NEW.is_deleted)'))}",
    ]
    for dimension in DIMENSIONS:
        columns = COLUMNS[dimension]
        statements.append(
            f"CREATE TRIGGER lead_rollups_{_trigger_name(dimension)} "
            f"AFTER UPDATE OF {', '.join(dict.fromkeys(columns))} "
            f"ON sales_leads WHEN {both_alive} AND {same_day} AND "
            f"{d.distinct(d.value(dimension, 'OLD'), d.value(dimension, 'NEW'))} "
            f"{body([d.dimension_moved(dimension)])}"
        )
    statements += [
        f"CREATE TRIGGER event_rollups_insert AFTER INSERT ON lead_events "
        f"{body(d.event_counts('NEW', '1'))}",
        f"CREATE TRIGGER event_rollups_delete AFTER DELETE ON lead_events "
        f"{body(d.event_counts('OLD', '-1'))}",
        f"CREATE TRIGGER event_rollups_update AFTER UPDATE OF "
        f"{', '.join((*EVENT_COLUMNS, 'stage_seconds'))} ON lead_events "
        f"WHEN {d.changed((*EVENT_COLUMNS, 'stage_seconds'))} "
        f"{body([*d.event_counts('OLD', '-1'), *d.event_counts('NEW', '1')])}",
    ]
    return statements


# --- PostgreSQL: a function a table ------------------------------------------------------


def _plpgsql(statements: Sequence[str]) -> str:
    return " ".join(f"{statement};" for statement in statements)


def _postgresql() -> list[str]:
    d = Dialect("postgresql")
    moved = d.moved_dimensions()
    leads = f"""
CREATE FUNCTION lead_rollups_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT NEW.is_deleted THEN {d.lead_counts("NEW", "1")}; END IF;
    RETURN NULL;
  END IF;
  IF OLD.is_deleted IS DISTINCT FROM NEW.is_deleted
     OR CAST(OLD.created_at AS DATE) IS DISTINCT FROM CAST(NEW.created_at AS DATE) THEN
    {d.lead_counts("OLD", f"-{d.alive('OLD')}")};
    {d.lead_counts("NEW", d.alive("NEW"))};
    IF OLD.is_deleted IS DISTINCT FROM NEW.is_deleted THEN
      {_plpgsql(d.lead_events("NEW.id", "(CASE WHEN NEW.is_deleted THEN -1 ELSE 1 END)"))}
    END IF;
  ELSIF NOT NEW.is_deleted THEN
    {moved}
  END IF;
  RETURN NULL;
END $$""".strip()
    remove = f"""
CREATE FUNCTION lead_rollups_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT OLD.is_deleted THEN
    {d.lead_counts("OLD", "-1")};
    {_plpgsql(d.lead_events("OLD.id", "-1"))}
  END IF;
  RETURN OLD;
END $$""".strip()
    events = f"""
CREATE FUNCTION event_rollups_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NOT ({d.changed((*EVENT_COLUMNS, "stage_seconds"))}) THEN RETURN NULL; END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {_plpgsql(d.event_counts("OLD", "-1"))}
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    {_plpgsql(d.event_counts("NEW", "1"))}
  END IF;
  RETURN NULL;
END $$""".strip()
    return [
        leads,
        "CREATE TRIGGER lead_rollups_change AFTER INSERT OR UPDATE ON sales_leads "
        "FOR EACH ROW EXECUTE FUNCTION lead_rollups_change()",
        remove,
        "CREATE TRIGGER lead_rollups_remove BEFORE DELETE ON sales_leads "
        "FOR EACH ROW EXECUTE FUNCTION lead_rollups_remove()",
        events,
        "CREATE TRIGGER event_rollups_change AFTER INSERT OR UPDATE OR DELETE ON lead_events "
        "FOR EACH ROW EXECUTE FUNCTION event_rollups_change()",
    ]


# --- MariaDB: a trigger an operation (cascades fire none) --------------------------------


def _mariadb() -> list[str]:
    d = Dialect("mysql")
    moved = d.moved_dimensions()
    sign = "(CASE WHEN NEW.is_deleted = 1 THEN -1 ELSE 1 END)"
    uncounted = d.lead_counts("OLD", f"-{d.alive('OLD')}")
    return [
        "CREATE TRIGGER lead_rollups_insert AFTER INSERT ON sales_leads FOR EACH ROW BEGIN "
        f"IF NEW.is_deleted = 0 THEN {d.lead_counts('NEW', '1')}; END IF; END",
        "CREATE TRIGGER lead_rollups_update AFTER UPDATE ON sales_leads FOR EACH ROW BEGIN "
        "IF NOT (OLD.is_deleted <=> NEW.is_deleted) "
        "OR DATE(OLD.created_at) <> DATE(NEW.created_at) THEN "
        f"{uncounted}; "
        f"{d.lead_counts('NEW', d.alive('NEW'))}; "
        "IF NOT (OLD.is_deleted <=> NEW.is_deleted) THEN "
        f"{_plpgsql(d.lead_events('NEW.id', sign))} END IF; "
        f"ELSEIF NEW.is_deleted = 0 THEN {moved} END IF; END",
        "CREATE TRIGGER lead_rollups_delete BEFORE DELETE ON sales_leads FOR EACH ROW BEGIN "
        f"IF OLD.is_deleted = 0 THEN {d.lead_counts('OLD', '-1')}; "
        f"{_plpgsql(d.lead_events('OLD.id', '-1'))} END IF; END",
        "CREATE TRIGGER event_rollups_insert AFTER INSERT ON lead_events FOR EACH ROW BEGIN "
        f"{_plpgsql(d.event_counts('NEW', '1'))} END",
        "CREATE TRIGGER event_rollups_update AFTER UPDATE ON lead_events FOR EACH ROW BEGIN "
        f"IF {d.changed((*EVENT_COLUMNS, 'stage_seconds'))} THEN "
        f"{_plpgsql([*d.event_counts('OLD', '-1'), *d.event_counts('NEW', '1')])} END IF; END",
        "CREATE TRIGGER event_rollups_delete AFTER DELETE ON lead_events FOR EACH ROW BEGIN "
        f"{_plpgsql(d.event_counts('OLD', '-1'))} END",
    ]


TRIGGER_SQL = {"sqlite": _sqlite, "postgresql": _postgresql, "mysql": _mariadb}


# --- fill from what is stored ----------------------------------------------------------


def _fill(d: Dialect) -> None:
    alive = "NOT is_deleted" if d.name == "postgresql" else "is_deleted = 0"
    for dimension in DIMENSIONS:
        value = d.value(dimension, "sales_leads")
        day = d.dimension_day(dimension, "sales_leads")
        op.execute(
            "INSERT INTO lead_rollups (dimension, day, value, leads) "
            f"SELECT '{dimension}', {day}, {value}, COUNT(*) FROM sales_leads "
            f"WHERE {alive} GROUP BY {value if dimension.endswith(':all') else f'{day}, {value}'}"
        )
    kinds = ", ".join(f"'{kind}'" for kind in NOT_ACTIVITIES)
    lead_alive = f"e.lead_id IN (SELECT id FROM sales_leads WHERE {alive})"
    day = d.day("e.event_timestamp")
    op.execute(
        "INSERT INTO activity_rollups (day, event_type, outcome, activities) "
        f"SELECT {day}, e.event_type, COALESCE(e.outcome, ''), COUNT(*) FROM lead_events e "
        f"WHERE e.event_type NOT IN ({kinds}) AND {lead_alive} "
        f"GROUP BY {day}, e.event_type, COALESCE(e.outcome, '')"
    )
    hour = d.hour("e.stage_seconds")
    op.execute(
        "INSERT INTO stage_rollups (old_status, hour, changes) "
        f"SELECT COALESCE(e.old_status, ''), {hour}, COUNT(*) FROM lead_events e "
        f"WHERE e.stage_seconds IS NOT NULL AND {lead_alive} "
        f"GROUP BY COALESCE(e.old_status, ''), {hour}"
    )


def upgrade() -> None:
    op.create_table(
        "lead_rollups",
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "day", "value", name=op.f("pk_lead_rollups")),
    )
    op.create_table(
        "activity_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("outcome", sa.String(length=50), nullable=False),
        sa.Column("activities", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "event_type", "outcome", name=op.f("pk_activity_rollups")),
    )
    op.create_table(
        "stage_rollups",
        sa.Column("old_status", sa.String(length=50), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("old_status", "hour", name=op.f("pk_stage_rollups")),
    )
    name = op.get_bind().dialect.name
    _fill(Dialect(name))
    for statement in TRIGGER_SQL[name]():
        op.execute(statement)


def downgrade() -> None:
    name = op.get_bind().dialect.name
    for trigger in TRIGGERS[name]:
        table = "lead_events" if trigger.startswith("event") else "sales_leads"
        on = f" ON {table}" if name == "postgresql" else ""
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}{on}")
    if name == "postgresql":
        for function in ("lead_rollups_change", "lead_rollups_remove", "event_rollups_change"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("stage_rollups")
    op.drop_table("activity_rollups")
    op.drop_table("lead_rollups")
