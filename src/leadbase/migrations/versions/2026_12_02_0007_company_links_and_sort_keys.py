"""Leads linked to their companies; accent-folded sort keys (issue 11).

Columns: ``sales_leads.sort_name`` (index ``(sort_name, id)``, replacing
``(full_name, id)``: the list's name sort orders by it) and
``companies.name_key`` (indexed: the name lookup) and
``companies.sort_name`` (index ``(sort_name, id)``). They are derived from
the names (``dedupe.normalise.sort_key`` / ``company_name_key``), filled in
here for every stored row, and not audited: no field anyone gave changes.

Then every live lead (not deleted, not merged away) without a company whose
company domain or name names one is linked to it, found or created with the
write path's own matching (``companies.service.wanted`` and
``CompanyFinder``: registered domain, else name key).

How the audit trail stays true: this revision writes the rows itself, with
Core statements on the tables as they stand at 0007, and appends an audit
entry for each change (a ``create`` per company, an ``update`` of
``company_id`` per lead, as ``system:migration``), hash-chained with
``audit.chain.entry_hash`` exactly as the write path chains them, plus the
lead's timeline event, version bump and outbound sync mark. It does not call
``leads.service`` / ``companies.service`` themselves: they load ORM entities
of the *current* models, and a later revision adding a column to either
table would make this one fail on any database upgraded from before it.
The matching and keys are the write path's (pure functions), so the result
is what the write path would have done. ``leadbase audit verify`` passes
afterwards.

Downgrade drops the columns and indexes and puts back the ``(full_name,
id)`` index. The links and companies stay: they were changes to data made
on the record (audited), and 0006's schema holds them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from leadbase.audit.chain import canonical_json, entry_hash
from leadbase.dedupe import normalise as norm
from leadbase.errors import ValidationError

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR = "system:migration"
BATCH = 2000
SYNC_TARGET = "airtable"
# What a company's audited "create" names: the fields a caller may give (0007's).
COMPANY_FIELDS = (
    "name",
    "domain",
    "company_type",
    "country",
    "city",
    "industry",
    "employee_count",
    "employee_size_min",
    "employee_size_max",
    "description",
    "website",
    "linkedin_url",
    "tags",
)


def _utc_column(name: str) -> sa.ColumnClause[Any]:
    return sa.column(name, sa.DateTime())


# The tables as 0007 knows them (only the columns it reads or writes).
leads = sa.table(
    "sales_leads",
    sa.column("id", sa.String),
    sa.column("full_name", sa.String),
    sa.column("sort_name", sa.String),
    sa.column("company_id", sa.String),
    sa.column("company_name", sa.String),
    sa.column("company_domain", sa.String),
    sa.column("is_deleted", sa.Boolean),
    sa.column("merged_into_id", sa.String),
    sa.column("version", sa.Integer),
    _utc_column("updated_at"),
    sa.column("updated_by", sa.String),
)
companies = sa.table(
    "companies",
    sa.column("id", sa.String),
    *(sa.column(field) for field in COMPANY_FIELDS if field != "tags"),
    sa.column("tags", sa.JSON),
    sa.column("name_key", sa.String),
    sa.column("sort_name", sa.String),
    sa.column("version", sa.Integer),
    sa.column("merged_into_id", sa.String),
    _utc_column("created_at"),
    _utc_column("updated_at"),
    sa.column("created_by", sa.String),
    sa.column("updated_by", sa.String),
    sa.column("is_deleted", sa.Boolean),
    _utc_column("deleted_at"),
    sa.column("deleted_by", sa.String),
)
events = sa.table(
    "lead_events",
    sa.column("lead_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("event_name", sa.String),
    sa.column("event_source", sa.String),
    _utc_column("event_timestamp"),
    sa.column("event_data", sa.JSON),
    sa.column("actor", sa.String),
    sa.column("changed_fields", sa.JSON),
    _utc_column("created_at"),
    _utc_column("updated_at"),
)
sync = sa.table(
    "sync_status",
    sa.column("lead_id", sa.String),
    sa.column("target", sa.String),
    sa.column("operation", sa.String),
    sa.column("status", sa.String),
    sa.column("attempt_count", sa.Integer),
    _utc_column("created_at"),
    _utc_column("updated_at"),
)
audit_log = sa.table(
    "audit_log",
    *(
        sa.column(name)
        for name in (
            "seq",
            "entity_type",
            "entity_id",
            "action",
            "actor",
            "ip",
            "user_agent",
            "request_id",
            "changes",
            "prev_hash",
            "hash",
        )
    ),
    _utc_column("created_at"),
)
chain_head = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))


@contextmanager
def _fulltext_kept() -> Iterator[None]:
    """MariaDB rebuilds sales_leads, FULLTEXT index included, to add or drop
    a column, and the rebuilt index takes the session's stopword setting:
    keep 0004's (no stopword list), or "the" stops being a word."""
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
        op.add_column("sales_leads", sa.Column("sort_name", sa.String(255), nullable=True))
    op.add_column("companies", sa.Column("name_key", sa.String(255), nullable=True))
    op.add_column("companies", sa.Column("sort_name", sa.String(255), nullable=True))
    connection = op.get_bind()
    _fill_keys(connection)
    op.create_index("idx_lead_sort_name", "sales_leads", ["sort_name", "id"])
    op.drop_index("idx_lead_full_name", table_name="sales_leads")
    op.create_index("idx_company_name_key", "companies", ["name_key"])
    op.create_index("idx_company_sort_name", "companies", ["sort_name", "id"])
    _link_leads(connection, _Chain(connection))


def downgrade() -> None:
    op.create_index("idx_lead_full_name", "sales_leads", ["full_name", "id"])
    op.drop_index("idx_lead_sort_name", table_name="sales_leads")
    op.drop_index("idx_company_sort_name", table_name="companies")
    op.drop_index("idx_company_name_key", table_name="companies")
    op.drop_column("companies", "sort_name")
    op.drop_column("companies", "name_key")
    with _fulltext_kept():
        op.drop_column("sales_leads", "sort_name")


# --- keys ---------------------------------------------------------------------------


def _batches(connection: sa.Connection, query: sa.Select[Any], id_column: Any) -> Iterable[Any]:
    """``query``'s rows in id order, BATCH at a time (keyset: no OFFSET)."""
    last = None
    while True:
        page = query.order_by(id_column).limit(BATCH)
        if last is not None:
            page = page.where(id_column > last)
        rows = connection.execute(page).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _fill_keys(connection: sa.Connection) -> None:
    named_leads = sa.select(leads.c.id, leads.c.full_name).where(leads.c.full_name.is_not(None))
    set_lead = (
        leads.update().where(leads.c.id == sa.bindparam("b_id")).values(sort_name=sa.bindparam("s"))
    )
    for rows in _batches(connection, named_leads, leads.c.id):
        connection.execute(
            set_lead, [{"b_id": r.id, "s": norm.sort_key(r.full_name)} for r in rows]
        )
    set_company = (
        companies.update()
        .where(companies.c.id == sa.bindparam("b_id"))
        .values(name_key=sa.bindparam("k"), sort_name=sa.bindparam("s"))
    )
    all_companies = sa.select(companies.c.id, companies.c.name)
    for rows in _batches(connection, all_companies, companies.c.id):
        connection.execute(
            set_company,
            [
                {"b_id": r.id, "k": norm.company_name_key(r.name), "s": norm.sort_key(r.name)}
                for r in rows
            ],
        )


# --- the audit chain ----------------------------------------------------------------


class _Chain:
    """Appends to the hash chain as ``audit.chain`` does at commit: under the
    chain head's lock, each entry hashed with the one before it."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        head = sa.select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1)
        if connection.dialect.name != "sqlite":
            head = head.with_for_update()
        self.seq, self.hash = connection.execute(head).one()

    def append(self, entries: list[tuple[str, str, str, dict[str, list[Any]]]]) -> None:
        """(entity type, entity id, action, changes) each; one insert for all."""
        rows = []
        for entity_type, entity_id, action, changes in entries:
            self.seq += 1
            row = {
                "seq": self.seq,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "action": action,
                "actor": ACTOR,
                "ip": None,
                "user_agent": None,
                "request_id": None,
                # What UTCDateTime stores (naive UTC) and reads back: the hash
                # covers the timestamp as verify will read it.
                "created_at": datetime.now(UTC).replace(tzinfo=None),
                "changes": canonical_json(changes),
                "prev_hash": self.hash,
            }
            row["hash"] = self.hash = entry_hash(row)
            rows.append(row)
        if rows:
            self.connection.execute(audit_log.insert(), rows)
            self.connection.execute(
                chain_head.update().where(chain_head.c.id == 1).values(seq=self.seq, hash=self.hash)
            )


# --- links --------------------------------------------------------------------------


def _link_leads(connection: sa.Connection, chain: _Chain) -> None:
    from leadbase.companies.service import CompanyFinder, new_row, wanted

    unlinked = sa.select(leads.c.id, leads.c.company_domain, leads.c.company_name).where(
        leads.c.company_id.is_(None),
        leads.c.is_deleted.is_not(True),
        leads.c.merged_into_id.is_(None),
        sa.or_(leads.c.company_domain.is_not(None), leads.c.company_name.is_not(None)),
    )
    for rows in _batches(connection, unlinked, leads.c.id):
        wants = []
        for row in rows:
            try:
                want = wanted(row.company_domain, row.company_name)
            except ValidationError:  # a domain stored before it was checked: go by name
                want = wanted(None, row.company_name)
            wants.append(want)
        finder = CompanyFinder(_known(connection, [w for w in wants if w is not None]))
        now = datetime.now(UTC).replace(tzinfo=None)
        created: list[dict[str, Any]] = []
        links: list[tuple[str, str]] = []
        for row, want in zip(rows, wants, strict=True):
            if want is None:
                continue
            match = finder.find(want)
            if match is None:
                match = finder.create(new_row(want, {}, ACTOR, now))
                assert match.row is not None
                created.append(match.row)
            links.append((row.id, match.id))
        _write(connection, chain, created, links, now)


def _known(connection: sa.Connection, wants: list[Any]) -> list[tuple[str, Any, Any]]:
    """Live companies with one of the wanted domains or name keys."""
    live = sa.select(
        companies.c.id, companies.c.domain, companies.c.name_key, companies.c.created_at
    ).where(companies.c.is_deleted.is_not(True), companies.c.merged_into_id.is_(None))
    domains = sorted({w.domain for w in wants if w.domain})
    keys = sorted({w.name_key for w in wants if w.name_key})
    found: dict[str, Any] = {}
    for column, values in ((companies.c.domain, domains), (companies.c.name_key, keys)):
        for start in range(0, len(values), 500):
            for row in connection.execute(live.where(column.in_(values[start : start + 500]))):
                found[row.id] = row
    oldest_first = sorted(found.values(), key=lambda row: (row.created_at, row.id))
    return [(row.id, row.domain, row.name_key) for row in oldest_first]


def _write(
    connection: sa.Connection,
    chain: _Chain,
    created: list[dict[str, Any]],
    links: list[tuple[str, str]],
    now: datetime,
) -> None:
    if created:
        columns = set(companies.c.keys())
        connection.execute(
            companies.insert(), [{k: v for k, v in row.items() if k in columns} for row in created]
        )
    if not links:
        return
    connection.execute(
        leads.update()
        .where(leads.c.id == sa.bindparam("b_id"))
        .values(
            company_id=sa.bindparam("b_company"),
            version=leads.c.version + 1,
            updated_at=now,
            updated_by=ACTOR,
        ),
        [{"b_id": lead_id, "b_company": company_id} for lead_id, company_id in links],
    )
    connection.execute(
        events.insert(),
        [
            {
                "lead_id": lead_id,
                "event_type": "updated",
                "event_name": "Lead updated",
                "event_source": "system",
                "event_timestamp": now,
                "event_data": {"reason": "company_linked"},
                "actor": ACTOR,
                "changed_fields": ["company_id"],
                "created_at": now,
                "updated_at": now,
            }
            for lead_id, _ in links
        ],
    )
    _mark_for_sync(connection, [lead_id for lead_id, _ in links], now)
    chain.append(
        [("company", row["id"], "create", _created(row)) for row in created]
        + [
            ("lead", lead_id, "update", {"company_id": [None, company_id]})
            for lead_id, company_id in links
        ]
    )


def _created(row: dict[str, Any]) -> dict[str, list[Any]]:
    return {f: [None, row[f]] for f in COMPANY_FIELDS if row.get(f) is not None}


def _mark_for_sync(connection: sa.Connection, lead_ids: list[str], now: datetime) -> None:
    """A pending outbox row per lead, unless one is pending already (as the write path)."""
    pending = set(
        connection.scalars(
            sa.select(sync.c.lead_id).where(
                sync.c.lead_id.in_(lead_ids),
                sync.c.target == SYNC_TARGET,
                sync.c.status == "pending",
            )
        )
    )
    marks = [
        {
            "lead_id": lead_id,
            "target": SYNC_TARGET,
            "operation": "update",
            "status": "pending",
            "attempt_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for lead_id in lead_ids
        if lead_id not in pending
    ]
    if marks:
        connection.execute(sync.insert(), marks)
