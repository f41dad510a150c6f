"""Named queries over sales_leads and the rows that hang off a lead.

Only leads.service calls the insert functions here; everything else reads.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    Table,
    TextClause,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute, Session

from leadbase.audit import repository as audit_repository
from leadbase.db import bulk_insert, chunked, driver_rows, insert_rows
from leadbase.dedupe.keys import canonical_email
from leadbase.errors import ValidationError
from leadbase.models import LeadEvent, LeadSource, SalesLead, SyncStatus
from leadbase.models.lead import FILTERED, NOT_ON_TIMELINE


def _is_active(is_deleted: bool, merged_into_id: str | None) -> bool:
    """What ``is_deleted IS false AND merged_into_id IS NULL`` says of a row.

    The duplicate lookups test it here on the rows they fetch rather than in
    SQL: given that condition, SQLite (no ANALYZE statistics) walks the whole
    ``is_deleted`` index, every lead, instead of the looked-up column's index,
    so each lookup slowed down as the table grew.
    """
    return not is_deleted and merged_into_id is None


def get(session: Session, lead_id: str, *, include_deleted: bool = False) -> SalesLead | None:
    lead = session.get(SalesLead, lead_id)
    if lead is None or (lead.is_deleted and not include_deleted and not lead.merged_into_id):
        return None
    return lead


# Built once, run on every GET /leads/{id}: a Core statement whose rows go
# straight to the response schema costs ~100 µs on SQLite; loading the ORM
# entity with Session.get costs ~400.
_ROW_BY_ID = select(SalesLead.__table__).where(SalesLead.id == bindparam("lead_id"))


def row_by_id(
    session: Session, lead_id: str, *, include_deleted: bool = False
) -> RowMapping | None:
    """One lead's columns, for reading only (no entity, no identity map)."""
    row = session.connection().execute(_ROW_BY_ID, {"lead_id": lead_id}).mappings().first()
    # A merged lead is hidden like a deleted one, but asked for by its id it
    # answers: its merged_into_id says where its data went.
    if row is None or (row["is_deleted"] and not include_deleted and not row["merged_into_id"]):
        return None
    return row


def get_current(
    session: Session, lead_id: str, *, include_deleted: bool = False
) -> SalesLead | None:
    """Like ``get``, but re-read from the database even when this session
    already holds the row: a writer calls it once it holds the write lock, so
    it changes what others committed, not an older copy."""
    lead = session.get(SalesLead, lead_id, populate_existing=True)
    if lead is None or (lead.is_deleted and not include_deleted):
        return None
    return lead


def get_many(session: Session, lead_ids: Sequence[str]) -> dict[str, SalesLead]:
    found: dict[str, SalesLead] = {}
    for chunk in chunked(list(lead_ids)):
        for lead in session.scalars(select(SalesLead).where(SalesLead.id.in_(chunk))):
            found[lead.id] = lead
    return found


def email_matches(emails: Sequence[str]) -> ColumnElement[bool]:
    """``email IN emails``, found by the key_email index: email has none
    (migration 0013), and key_email is canonical_email(email), so the leads
    holding one of these emails are among those holding its canonical form."""
    keys = sorted({key for key in map(canonical_email, emails) if key})
    return and_(SalesLead.key_email.in_(keys), SalesLead.email.in_(list(emails)))


def ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, str]:
    """email -> id of the oldest active lead holding it."""
    matches: dict[str, str] = {}
    for chunk in chunked(sorted(set(emails))):
        rows = session.execute(
            select(SalesLead.email, SalesLead.id, SalesLead.is_deleted, SalesLead.merged_into_id)
            .where(email_matches(chunk))
            .order_by(SalesLead.created_at, SalesLead.id)
        )
        for value, lead_id, is_deleted, merged_into_id in rows:
            if _is_active(is_deleted, merged_into_id):
                matches.setdefault(value, lead_id)
    return matches


def pending_sync_lead_ids(session: Session, lead_ids: Sequence[str], target: str) -> set[str]:
    found: set[str] = set()
    for chunk in chunked(list(lead_ids)):
        found.update(
            session.scalars(
                select(SyncStatus.lead_id).where(
                    SyncStatus.lead_id.in_(chunk),
                    SyncStatus.target == target,
                    SyncStatus.status == "pending",
                )
            )
        )
    return found


# SQLite's limit of bound parameters in one statement: each multi-row
# INSERT takes as many rows as fit under it.
SQLITE_MAX_PARAMETERS = 32766


# From how many rows the SQLite INSERT of new leads runs beside the caller's
# work (a thread costs ~100 µs to start; an import's batch of 5,000 takes ~0.5 s).
OVERLAP_MIN = 500


@contextmanager
def inserting_leads(session: Session, rows: list[dict[str, Any]]) -> Iterator[None]:
    """INSERT new lead rows; the block runs while they are written.

    On SQLite and PostgreSQL, for a batch, the statements (PostgreSQL: the
    COPY) run in a helper thread: SQLite works without the GIL, PostgreSQL
    in its own process, so the caller's Python work in the block (audit
    encoding, source rows) runs meanwhile. The block must not use the
    session or its connection: the thread has it until the block ends,
    which waits for the INSERT and raises its error, if any. Elsewhere, and
    for a few rows, the INSERT runs before the block.
    """
    if not rows:
        yield
        return
    dialect = session.get_bind().dialect.name
    work: Callable[[], None]
    if dialect == "postgresql":
        # The server works through the COPY (the table's ~30 indexes: most
        # of a batch's time); the helper thread holds the GIL only to format
        # the rows.
        session.flush()
        table = cast(Table, SalesLead.__table__)
        work = functools.partial(insert_rows, session.connection(), table, rows)
    elif dialect == "sqlite":
        statements = _sqlite_lead_statements(session, rows)
        work = functools.partial(_execute_all, session.connection(), statements)
    else:
        bulk_insert(session, SalesLead, rows)
        yield
        return
    if len(rows) < OVERLAP_MIN:
        work()
        yield
        return
    failed: list[BaseException] = []
    thread = threading.Thread(
        target=contextvars.copy_context().run,  # the caller's context (actor...)
        args=(_run_catching, work, failed),
        name="leadbase-insert-leads",
    )
    thread.start()
    try:
        yield
    finally:
        _join(thread)
    if failed:
        raise failed[0]


def _join(thread: threading.Thread) -> None:
    """Wait for the thread, an interrupt (Ctrl-C) notwithstanding: the
    rollback that follows one must not run while it still inserts (its
    later statements would run outside the transaction and stay)."""
    interrupted: BaseException | None = None
    while thread.is_alive():
        try:
            thread.join()
        except BaseException as exc:  # re-raised once the thread is done
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _run_catching(work: Callable[[], None], failed: list[BaseException]) -> None:
    try:
        work()
    except BaseException as exc:  # raised in the caller's thread when it joins
        failed.append(exc)


def _execute_all(connection: Connection, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    for sql, params in statements:
        connection.exec_driver_sql(sql, params)


def _sqlite_lead_statements(
    session: Session, rows: list[dict[str, Any]]
) -> list[tuple[str, tuple[Any, ...]]]:
    """Multi-row INSERTs, not one statement a row as ``bulk_insert`` runs them.

    The lead_search triggers of migration 0004 run inside each statement,
    and SQLite 3.40's FTS5 writes its pending index to disk at the end of
    every statement that fires them: one statement a row costs a flush a
    row, and the bulk path a third of its speed. Values are converted by
    SQLAlchemy's own bind processors, as ``bulk_insert`` does.
    """
    session.flush()  # the driver-level path bypasses autoflush
    dialect = session.get_bind().dialect
    columns = list(rows[0])
    values = driver_rows(SalesLead.__table__, columns, rows, dialect)  # type: ignore[arg-type]
    quote = dialect.identifier_preparer.quote
    head = f"INSERT INTO sales_leads ({', '.join(quote(c) for c in columns)}) VALUES "
    one_row = f"({', '.join('?' for _ in columns)})"
    return [
        (head + ", ".join([one_row] * len(chunk)), tuple(chain.from_iterable(chunk)))
        for chunk in chunked(values, SQLITE_MAX_PARAMETERS // len(columns))
    ]


def insert_sources(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, LeadSource, rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, LeadEvent, rows)


def insert_sync_marks(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, SyncStatus, rows)


def stored_scores(
    session: Session, lead_ids: Sequence[str]
) -> dict[str, tuple[int | None, dict[str, Any] | None]]:
    """(lead_score, score_explanation) of each of these leads."""
    found: dict[str, tuple[int | None, dict[str, Any] | None]] = {}
    for chunk in chunked(lead_ids):
        rows = session.execute(
            select(SalesLead.id, SalesLead.lead_score, SalesLead.score_explanation).where(
                SalesLead.id.in_(chunk)
            )
        )
        found.update({lead_id: (score, why) for lead_id, score, why in rows})
    return found


_SCORE_UPDATE = (
    update(SalesLead.__table__)  # type: ignore[arg-type]
    .where(SalesLead.__table__.c.id == bindparam("b_id"))
    .values(
        lead_score=bindparam("b_score"),
        score_explanation=bindparam("b_explanation"),
        # A score is not an edit: updated_at stays (no onupdate stamp).
        updated_at=SalesLead.__table__.c.updated_at,
    )
)


def write_scores(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """One executemany UPDATE of lead_score and score_explanation: rows of
    b_id, b_score, b_explanation. No version bump (Core, not the ORM)."""
    if rows:
        session.flush()
        session.connection().execute(_SCORE_UPDATE, list(rows))


def filtered(
    filters: dict[str, Any], *, include_deleted: bool = False, unindexed: bool = False
) -> Select[tuple[SalesLead]]:
    """Equality filters on lead columns; a list or tuple value means "any of".

    ``unindexed`` (SQLite): the filters are tested on rows found another way,
    never used to find them (``likely(column)`` is the column, unindexable).
    """
    query = select(SalesLead)
    if not include_deleted:
        # IS NOT true, not = false: no index serves it. Nearly every lead is
        # not deleted, yet SQLite (no statistics) took the is_deleted index
        # and sorted the whole table instead of walking the sort's index.
        query = query.where(SalesLead.is_deleted.is_not(True))
    for field, value in filters.items():
        column: Any = SalesLead.__table__.c[field]
        if unindexed:
            column = func.likely(column)
        if isinstance(value, bool):
            # A literal true: is_manual's partial index holds the true rows,
            # and only a query saying so as a constant may use it everywhere.
            query = query.where(column == (true() if value else false()))
        elif isinstance(value, list | tuple | set):
            query = query.where(column.in_(list(value)))
        elif value is None:
            query = query.where(column.is_(None))
        else:
            query = query.where(column == value)
    return query


# --- the values a filter can take (leads.facets caches and folds them) -----------------

# Columns whose values the list's filters offer; each has a (column,
# created_at, id) index (models.lead: FILTERED).
FACET_COLUMNS = ("source", "country", "lead_status", "industry")


def distinct_values(session: Session, field: str, cap: int) -> list[str]:
    """Up to ``cap`` distinct stored values of ``field`` (of any lead, deleted
    too), in the index's order.

    A loose index scan: each step asks the (field, created_at, id) index for
    the least value past the previous one, one seek a value, so this costs
    the number of distinct values, not of leads (on 1M leads, a dozen
    values: 0.1 ms on SQLite, 0.7 ms on PostgreSQL, where SELECT DISTINCT
    reads the whole index). MariaDB runs that recursive form as a scan a
    step (1.5 s for 10 values of 50k leads), but scans loosely by itself
    for a GROUP BY (0.3 ms); its default collation ignores case, so it
    lists one spelling of each, which its = and IN match alike.
    """
    column = SalesLead.__table__.c[field].name
    if session.get_bind().dialect.name == "mysql":
        loose = text(
            f"SELECT {column} FROM sales_leads WHERE {column} IS NOT NULL "
            f"GROUP BY {column} LIMIT :cap"
        )
        return [str(value) for value in session.scalars(loose, {"cap": cap})]
    statement = text(
        f"WITH RECURSIVE walk(v, n) AS ("
        f"SELECT (SELECT min({column}) FROM sales_leads), 1 "
        f"UNION ALL SELECT (SELECT min({column}) FROM sales_leads WHERE {column} > walk.v), n + 1 "
        f"FROM walk WHERE walk.v IS NOT NULL AND n < :cap"
        f") SELECT v FROM walk WHERE v IS NOT NULL"
    )
    return [str(value) for value in session.scalars(statement, {"cap": cap})]


def value_counts(session: Session, field: str) -> list[tuple[str, int]]:
    """Active leads per stored value of ``field`` (blank values left out).

    All leads by value from the covering (field, created_at, id) index,
    minus the deleted ones by value through the is_deleted index: counting
    the active ones directly reads every row (2.5 s on 1M SQLite leads
    against 0.1 s this way; 0.1-0.2 s on PostgreSQL), and deleted leads are
    few. Still too slow for every keystroke: leads.facets caches it.
    """
    column: Any = SalesLead.__table__.c[field]
    every = session.execute(
        select(column, func.count()).where(column.is_not(None)).group_by(column)
    ).all()
    deleted: dict[Any, int] = {
        value: int(total)
        for value, total in session.execute(
            select(column, func.count())
            .where(column.is_not(None), SalesLead.is_deleted == true())
            .group_by(column)
        )
    }
    counts = ((str(value), int(total) - deleted.get(value, 0)) for value, total in every)
    return [(value, total) for value, total in counts if total > 0 and value.strip()]


_TAG_COUNTS = {
    "sqlite": (
        "SELECT tag.value, count(*) FROM sales_leads, json_each(sales_leads.tags) AS tag "
        "WHERE sales_leads.tags IS NOT NULL AND sales_leads.is_deleted IS NOT 1 "
        "AND tag.type = 'text' GROUP BY tag.value"
    ),
    "postgresql": (
        "SELECT tag, count(*) FROM sales_leads, jsonb_array_elements_text(sales_leads.tags) AS tag "
        "WHERE sales_leads.tags IS NOT NULL AND jsonb_typeof(sales_leads.tags) = 'array' "
        "AND sales_leads.is_deleted IS NOT true GROUP BY tag"
    ),
    "mysql": (
        # A binary collation: JSON_CONTAINS (the tag filter) tells "VIP" from
        # "vip", so the spellings must not merge as the default collation would.
        "SELECT tag.value, count(*) FROM sales_leads, JSON_TABLE(sales_leads.tags, '$[*]' "
        "COLUMNS (value VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$')) AS tag "
        "WHERE sales_leads.tags IS NOT NULL AND sales_leads.is_deleted IS NOT true "
        "AND tag.value IS NOT NULL GROUP BY tag.value"
    ),
}


def tag_counts(session: Session) -> list[tuple[str, int]]:
    """Active leads per tag. Tags live in a JSON array, which no index
    lists, so this reads every tagged lead: on 1M leads about 1.5 s on
    SQLite, 0.3 s on PostgreSQL (leads.facets caches it)."""
    dialect = session.get_bind().dialect.name
    rows = session.execute(text(_TAG_COUNTS[dialect])).all()
    return [(str(value), int(total)) for value, total in rows if str(value).strip()]


def ids_matching(
    session: Session,
    filters: dict[str, Any],
    *,
    q: str | None = None,
    tag: TagFilter = None,
    include_deleted: bool = False,
    limit: int,
) -> list[str]:
    """Ids of up to ``limit`` leads a list of these filters (and search)
    shows, oldest first."""
    query = listed(session, filters, q=q, tag=tag, include_deleted=include_deleted)
    ordered = query.with_only_columns(SalesLead.id).order_by(SalesLead.created_at, SalesLead.id)
    return list(session.scalars(ordered.limit(limit)))


def page_after(session: Session, last_id: str | None, size: int) -> Sequence[SalesLead]:
    """Keyset page of active leads in id (= creation) order."""
    # IS NOT true: walk the id index, not the is_deleted one (see ``filtered``).
    query = select(SalesLead).where(SalesLead.is_deleted.is_not(True)).order_by(SalesLead.id)
    if last_id is not None:
        query = query.where(SalesLead.id > last_id)
    return session.scalars(query.limit(size)).all()


def sync_pending(session: Session, target: str, limit: int | None = None) -> Sequence[SalesLead]:
    """Leads the target has yet to get: those with a pending mark, and those
    it never got (no outbox row for it at all: a new lead is written without
    one, leads.service)."""
    pending = (
        select(SyncStatus.lead_id)
        .where(SyncStatus.target == target, SyncStatus.status == "pending")
        .distinct()
    )
    marked = select(SyncStatus.id).where(
        SyncStatus.lead_id == SalesLead.id, SyncStatus.target == target
    )
    query = (
        select(SalesLead)
        .where(or_(SalesLead.id.in_(pending), ~marked.exists()))
        .order_by(SalesLead.id)
    )
    if limit:
        query = query.limit(limit)
    return session.scalars(query).all()


def count(session: Session, *, include_deleted: bool = False) -> int:
    """Every lead, less the deleted ones (when left out): counted by the
    partial is_deleted index, which holds the deleted ones only."""
    every = int(session.scalar(select(func.count()).select_from(SalesLead)) or 0)
    if include_deleted:
        return every
    deleted = select(func.count()).select_from(SalesLead).where(SalesLead.is_deleted == true())
    return every - int(session.scalar(deleted) or 0)


# A lead's own source fields: what a lead_sources row of its creation held.
_OWN_SOURCE = ("provider_name", "actor_id", "run_id", "dataset_id", "external_id")


def _own_source(lead: SalesLead, created: Mapping[str, Any] | None) -> LeadSource:
    """Where a lead came from, as it was created (its create entry's values;
    the row's own when it has none): not stored, never added to the session.
    A new lead has no lead_sources row repeating its own fields."""
    values = created if created is not None else {f: getattr(lead, f) for f in _OWN_SOURCE}
    return LeadSource(
        id=lead.id,
        lead_id=lead.id,
        source_type=(created.get("source") if created is not None else lead.source) or "api",
        **{field: values.get(field) for field in _OWN_SOURCE},
        created_at=lead.created_at,
        updated_at=lead.created_at,
        created_by=lead.created_by,
        updated_by=lead.created_by,
        is_deleted=False,
    )


def _created_values(session: Session, lead_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each lead's values as created, from its audit create entry: a merge
    may since have filled its source fields from another lead."""
    return audit_repository.created_values(session, "lead", lead_ids)


def _source_key(source: LeadSource) -> tuple[Any, ...]:
    return (source.source_type, *(getattr(source, field) for field in _OWN_SOURCE))


def sources_for(session: Session, lead_id: str) -> Sequence[LeadSource]:
    """Where the lead came from, oldest first: its ``lead_sources`` rows, and
    the sources the lead itself and the leads merged into it were created
    with (unless a stored row says the same: leads written before 0011 have
    one)."""
    stored = session.scalars(
        select(LeadSource).where(LeadSource.lead_id == lead_id, LeadSource.is_deleted.is_not(True))
    ).all()
    leads = session.scalars(
        select(SalesLead).where(or_(SalesLead.id == lead_id, SalesLead.merged_into_id == lead_id))
    ).all()
    created = _created_values(session, [lead.id for lead in leads])
    told = {_source_key(source) for source in stored}
    own = [_own_source(lead, created.get(lead.id)) for lead in leads]
    return sorted(
        [*stored, *(source for source in own if _source_key(source) not in told)],
        key=lambda source: (source.created_at, source.id),
    )


def events_for(session: Session, lead_id: str) -> Sequence[LeadEvent]:
    """The lead's activities and merge events, oldest first. Change events
    (created, updated...) that writes before migration 0013 stored beside
    their audit entries are left out: the audit log tells those, and the
    status changes written beside their audit entries for the funnel."""
    return session.scalars(
        select(LeadEvent)
        .where(LeadEvent.lead_id == lead_id, LeadEvent.event_type.not_in(NOT_ON_TIMELINE))
        .order_by(LeadEvent.id)
    ).all()


def merged_into(session: Session, lead_id: str) -> list[str]:
    """The leads merged into this one, and those merged into them, and so on:
    a merge hands the survivor their history."""
    found: list[str] = []
    wanted = [lead_id]
    while wanted:
        wanted = list(
            session.scalars(select(SalesLead.id).where(SalesLead.merged_into_id.in_(wanted)))
        )
        wanted = [i for i in wanted if i not in found and i != lead_id]
        found += wanted
    return found


# --- search: full text, tags, keyset sorts ------------------------------------------
#
# Each database answers ``q`` from its own full-text index (migration 0004):
# SQLite an FTS5 table, PostgreSQL a GIN tsvector index, MariaDB a FULLTEXT
# index. The user's words never reach the database as query syntax: they are
# cut into runs of letters and digits first, so quotes, ``*``, ``:``, ``-``,
# parentheses or NOT are separators, never operators. Every word must match,
# as a word or as the start of one ("ada lov" finds "Ada Lovelace").

Condition = ColumnElement[bool] | TextClause
MAX_SEARCH_WORDS = 8  # each word is an index lookup; a longer q is refused
MARIADB_MIN_WORD = 3  # InnoDB's innodb_ft_min_token_size, by default
SQLITE_BROAD_SEARCH = 5000  # matches from which a search walks the sort's index
SEARCHED_FTS5_COLUMNS = "{full_name email company_name title}"
SORT_FIELDS = ("created_at", "updated_at", "lead_score", "full_name")
# Sort fields a lead may leave empty: those leads come last in either direction.
NULLABLE_SORT_FIELDS = ("lead_score", "full_name")
# The column a sort field is ordered by, where it is not the field itself:
# names by their accent- and case-folded key, the same order on every database.
SORT_KEYS = {"full_name": "sort_name"}

# Words as each index cuts them: letters and digits; InnoDB's FULLTEXT
# parser also keeps "_" inside a word ("john_doe").
_WORDS = re.compile(r"[^\W_]+")
_MARIADB_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Sort:
    """An order of GET /leads: a field, ascending or (``-field``) descending."""

    field: str
    descending: bool

    @classmethod
    def parse(cls, spec: str) -> Sort:
        field = spec.removeprefix("-")
        if field not in SORT_FIELDS:
            raise ValidationError("sort", f"must be one of: {', '.join(SORT_FIELDS)}, or -field")
        return cls(field, spec.startswith("-"))

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field

    @property
    def nullable(self) -> bool:
        return self.field in NULLABLE_SORT_FIELDS

    @property
    def key(self) -> str:
        """The column this sort orders by, whose value a Position holds:
        ``sort_name`` for ``full_name``, else the field itself."""
        return SORT_KEYS.get(self.field, self.field)

    @property
    def column(self) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(SalesLead, self.key)
        return column


@dataclass(frozen=True)
class Position:
    """Where a keyset page ended: its last lead's value of ``Sort.key`` and
    its id. The id breaks ties, so leads sharing a value are neither
    skipped nor repeated."""

    value: Any
    id: str


def search_words(q: str, dialect: str) -> list[str]:
    words = (_MARIADB_WORDS if dialect == "mysql" else _WORDS).findall(
        unicodedata.normalize("NFC", q)
    )
    if len(words) > MAX_SEARCH_WORDS:
        raise ValidationError("q", f"at most {MAX_SEARCH_WORDS} words")
    return words


def _fts5_phrase(words: str) -> str:
    """An FTS5 string literal: anything inside it is text to tokenise, not syntax."""
    return '"' + words.replace('"', '""') + '"'


def _has_fts5_tokens(tag: str) -> bool:
    """Whether unicode61 finds a word in ``tag``: letters, digits, private use."""
    return any(unicodedata.category(ch).startswith(("L", "N", "Co")) for ch in tag)


def _is_broad(session: Session, match: str) -> bool:
    found = session.scalar(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM lead_search "
            "WHERE lead_search MATCH :match LIMIT :enough)"
        ),
        {"match": match, "enough": SQLITE_BROAD_SEARCH},
    )
    return bool(found == SQLITE_BROAD_SEARCH)


def _sqlite_search(session: Session, words: list[str], tags: list[str]) -> list[Condition]:
    """One FTS5 MATCH for the words and the tag's words; the tag itself is
    then checked exactly (any of its spellings) on the rows the index leaves.

    A narrow search reads its few matches and sorts them. A broad one (a
    common name, a common tag) walks the sort's index instead and keeps the
    leads among the matches: ``+rowid`` stops SQLite from reading and sorting
    all of them (50 ms for 25,000 of 1M leads, against 5). Walking, the exact
    tag check alone is cheaper than asking the index for every tagged lead.
    """
    word_terms, tag_terms = [], []
    if words:
        prefixes = " AND ".join(f"{_fts5_phrase(word)}*" for word in words)
        word_terms.append(f"({SEARCHED_FTS5_COLUMNS} : ({prefixes}))")
    if tags and all(_has_fts5_tokens(tag) for tag in tags):
        # Any of the spellings: unicode61 folds case, so most match alike,
        # but not all ("ß" and "SS").
        phrases = sorted({_fts5_phrase(tag) for tag in tags})
        tag_terms.append(f"(tags : ({' OR '.join(phrases)}))")
    conditions: list[Condition] = []
    if word_terms or tag_terms:
        broad = _is_broad(session, " AND ".join(word_terms + tag_terms))
        terms = word_terms if broad else word_terms + tag_terms
        if terms:
            rowid = "+sales_leads.rowid" if broad else "sales_leads.rowid"
            conditions.append(
                text(
                    f"{rowid} IN (SELECT rowid FROM lead_search "
                    "WHERE lead_search MATCH :lead_search_match)"
                ).bindparams(lead_search_match=" AND ".join(terms))
            )
    if tags:
        conditions.append(
            text(
                "EXISTS (SELECT 1 FROM json_each(sales_leads.tags) "
                "WHERE json_each.value IN :lead_search_tags)"
            ).bindparams(bindparam("lead_search_tags", value=tags, expanding=True))
        )
    return conditions


def _postgresql_search(words: list[str], tags: list[str]) -> list[Condition]:
    conditions: list[Condition] = []
    if words:
        # Quoted lexemes with :* (prefix); lead_search_fold folds accents the
        # way lead_search_document does for the indexed lead_search_vector.
        tsquery = " & ".join("'" + word.replace("'", "''") + "':*" for word in words)
        conditions.append(
            text(
                "sales_leads.lead_search_vector "
                "@@ to_tsquery('simple', lead_search_fold(:lead_search_query))"
            ).bindparams(lead_search_query=tsquery)
        )
    if tags:
        # GIN (jsonb_path_ops) index lead_search_tags answers @>; one @> a
        # spelling, OR-ed (a BitmapOr of index scans).
        contains = [
            text(f"sales_leads.tags @> CAST(:lead_search_tag_{i} AS JSONB)").bindparams(
                **{f"lead_search_tag_{i}": json.dumps([tag])}
            )
            for i, tag in enumerate(tags)
        ]
        conditions.append(or_(*contains) if len(contains) > 1 else contains[0])
    return conditions


def _mariadb_search(words: list[str], tags: list[str]) -> list[Condition]:
    conditions: list[Condition] = []
    if words:
        # Boolean mode: +word* = this word or a word it starts. InnoDB leaves
        # words shorter than innodb_ft_min_token_size (3) out of its index, so
        # a short word cannot be required ("of the navy" = "the navy"), only
        # looked up as a prefix when all the words are short ("li" finds "Lisa").
        indexed = [word for word in words if len(word) >= MARIADB_MIN_WORD] or words
        against = " ".join(f"+{word}*" for word in indexed)
        conditions.append(
            text(
                "MATCH (sales_leads.full_name, sales_leads.email, sales_leads.company_name, "
                "sales_leads.title) AGAINST (:lead_search_query IN BOOLEAN MODE)"
            ).bindparams(lead_search_query=against)
        )
    if tags:
        # No index: MariaDB cannot index JSON arrays (a scan, unlike SQLite and
        # PostgreSQL). Its JSON_CONTAINS compares strings as written, escapes
        # undecoded: ask for both spellings of a non-ASCII tag.
        params: dict[str, str] = {}
        for i, tag in enumerate(tags):
            params[f"lead_search_tag_{i}"] = json.dumps(tag)
            params[f"lead_search_tag_utf8_{i}"] = json.dumps(tag, ensure_ascii=False)
        either = " OR ".join(f"JSON_CONTAINS(sales_leads.tags, :{name})" for name in params)
        conditions.append(text(f"({either})").bindparams(**params))
    return conditions


# A tag filter: one tag, or the stored spellings of one (leads.facets.resolve_tag).
TagFilter = str | Sequence[str] | None


def _tag_spellings(tag: TagFilter) -> list[str]:
    if tag is None:
        return []
    return [tag] if isinstance(tag, str) else list(dict.fromkeys(tag))


def search_conditions(
    session: Session, q: str | None = None, tag: TagFilter = None
) -> list[Condition]:
    """WHERE conditions for text search ``q`` and the ``tag`` filter (a tag,
    or a list of spellings: leads holding any of them). A ``q`` without a
    single word (blank, only punctuation) does not narrow."""
    dialect = session.get_bind().dialect.name
    words = search_words(q, dialect) if q else []
    tags = _tag_spellings(tag)
    if dialect == "sqlite":
        return _sqlite_search(session, words, tags)
    if dialect == "postgresql":
        return _postgresql_search(words, tags)
    return _mariadb_search(words, tags)


def searched(
    session: Session,
    filters: dict[str, Any],
    *,
    q: str | None = None,
    tag: TagFilter = None,
    include_deleted: bool = False,
    unindexed: bool = False,
) -> Select[tuple[SalesLead]]:
    """``filtered`` plus text search and the tag filter. Exact values, as
    given: leads.facets.resolve_filters turns what a user typed into the
    stored spellings first."""
    return filtered(filters, include_deleted=include_deleted, unindexed=unindexed).where(
        *search_conditions(session, q, tag)
    )


def searched_page(
    session: Session,
    filters: dict[str, Any],
    *,
    q: str | None,
    tag: TagFilter,
    include_deleted: bool,
    sort: Sort,
    after: Position | None,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[RowMapping]:
    """``page(searched(...))``, with filtered_page's strategies on SQLite.
    Given ``source IN ('apify', 'Apify')`` and a tag, SQLite reads every
    lead of the source by its index and sorts them (0.3-1 s on 1M leads):
    newest first, one walk a spelling stops after a page; in another order,
    a window of the sort's index usually holds a page (see filtered_page).
    ``columns``: see ``page``.
    """
    projected = projection(columns, sort)
    sqlite = session.get_bind().dialect.name == "sqlite"
    split = _split_field(filters, sort) if sqlite else None

    def build(narrowed: dict[str, Any], unindexed: bool = False) -> Select[tuple[SalesLead]]:
        return searched(
            session, narrowed, q=q, tag=tag, include_deleted=include_deleted, unindexed=unindexed
        )

    if split is not None:
        return _merged_page(session, build, filters, split, sort, after, limit, projected)
    if filters and sqlite and _windowable(after) and not _in_filter_index_order(filters, sort):
        tested = build(filters, unindexed=True)
        rows = _windows(session, tested, sort, after, limit, projected)
        if len(rows) == limit:
            return rows
    return page(session, build(filters), sort=sort, after=after, limit=limit, columns=projected)


def _after(sort: Sort, position: Position) -> ColumnElement[bool]:
    """Rows past ``position`` in (value, id) order. The leading ``column <=``
    / ``>=`` gives every database an index range to start from."""
    column, value = sort.column, position.value
    if sort.descending:
        return and_(column <= value, or_(column < value, SalesLead.id < position.id))
    return and_(column >= value, or_(column > value, SalesLead.id > position.id))


def _id_order(sort: Sort) -> Any:
    return SalesLead.id.desc() if sort.descending else SalesLead.id.asc()


_ROWS_BY_IDS = select(SalesLead.__table__).where(
    SalesLead.id.in_(bindparam("lead_ids", expanding=True))
)


def projection(columns: Sequence[str] | None, sort: Sort) -> tuple[str, ...] | None:
    """The columns a page of ``sort`` reads when its caller needs only
    ``columns``: those, plus the id and the sort's key, which the keyset
    position and the merge of split pages read. None: every column."""
    if columns is None:
        return None
    return tuple(dict.fromkeys(["id", sort.key, *columns]))


@functools.lru_cache(maxsize=64)
def _rows_by_ids(columns: tuple[str, ...] | None) -> Select[Any]:
    """_ROWS_BY_IDS, of only ``columns`` (all of them for None): an export
    of a few columns then skips decoding the JSON ones (raw_data,
    enrichment_data...), more than half of its time when it read them all."""
    if columns is None:
        return _ROWS_BY_IDS
    table = SalesLead.__table__
    return select(*(table.c[name] for name in columns)).where(
        SalesLead.id.in_(bindparam("lead_ids", expanding=True))
    )


def _first(
    session: Session,
    query: Select[tuple[SalesLead]],
    order: list[Any],
    limit: int,
    columns: tuple[str, ...] | None = None,
) -> list[RowMapping]:
    """The first ``limit`` leads of ``query`` in ``order``: the ids first,
    then their rows. Sorting whole rows, SQLite would copy every column of
    every match of a broad search into its sorter to keep fifty of them.

    Two statements, not a join: joined, PostgreSQL with stale statistics
    (after a bulk import, before autoanalyze) ran the id query once per row
    of the table, minutes for 100k leads. Rows, not entities: a page is only
    read, and fifty entities cost twice what their rows do. ``columns``:
    only those (they include the id), else all.
    """
    ids = session.scalars(query.with_only_columns(SalesLead.id).order_by(*order).limit(limit)).all()
    if not ids:
        return []
    rows = session.connection().execute(_rows_by_ids(columns), {"lead_ids": ids}).mappings().all()
    found = {row["id"]: row for row in rows}
    return [found[lead_id] for lead_id in ids if lead_id in found]


def page(
    session: Session,
    query: Select[tuple[SalesLead]],
    *,
    sort: Sort,
    after: Position | None,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[RowMapping]:
    """One keyset page of ``query`` in (sort value, id) order: rows of
    every column, or (``columns``) of those, the id and the sort's key.

    Leads without a value of a nullable sort field come after all the others
    in either direction, in id order: the page reads the valued rows from the
    (field, id) index, then, once those run out, the empty ones.
    """
    column = sort.column
    projected = projection(columns, sort)
    rows: list[RowMapping] = []
    if after is None or after.value is not None:
        valued = query.where(column.is_not(None)) if sort.nullable else query
        if after is not None:
            valued = valued.where(_after(sort, after))
        order = [column.desc() if sort.descending else column.asc(), _id_order(sort)]
        rows = _first(session, valued, order, limit, projected)
        if not sort.nullable or len(rows) == limit:
            return rows
        after = None
    empty = query.where(column.is_(None))
    if after is not None:
        empty = empty.where(SalesLead.id < after.id if sort.descending else SalesLead.id > after.id)
    rows.extend(_first(session, empty, [_id_order(sort)], limit - len(rows), projected))
    return rows


# How many leads, in sort order from the cursor, a filtered SQLite page
# looks at first (see filtered_page): about 5 ms of row reads at 1M leads;
# then ten times as many when the first window held some matches but not a
# page (filters matching ~1% of leads).
SQLITE_FILTER_WINDOW = 5000
SQLITE_FILTER_WIDENING = 10


def filtered_page(
    session: Session,
    filters: dict[str, Any],
    *,
    include_deleted: bool,
    sort: Sort,
    after: Position | None,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[RowMapping]:
    """``page(filtered(filters))``, with a shortcut for SQLite.

    Given ``country = 'US' AND source = 'apify'``, SQLite reads every US lead
    by the country index and sorts them all to keep fifty: 0.3-0.7 s at 1M
    leads, and no ANALYZE changes its mind. Common values are dense in any
    stretch of the sort index, so it first looks only at the next
    SQLITE_FILTER_WINDOW leads in sort order (ids straight from that index,
    the filters tested on those rows alone); those nearly always hold a full
    page. When they do not, the values are rare, and the filter's own index
    is the cheap way after all.

    Newest first (the default), a (filter, created_at, id) index serves any
    one equality filter in order, so no window is needed. A filter of a few
    values (the spellings of a country or source) is as many such walks,
    merged (see ``_merged_page``): SQLite would otherwise read every lead of
    every spelling and sort them. ``columns``: see ``page``.
    """
    projected = projection(columns, sort)
    sqlite = session.get_bind().dialect.name == "sqlite"
    split = _split_field(filters, sort) if sqlite else None
    if split is not None:

        def build(narrowed: dict[str, Any]) -> Select[tuple[SalesLead]]:
            return filtered(narrowed, include_deleted=include_deleted)

        return _merged_page(session, build, filters, split, sort, after, limit, projected)
    if filters and sqlite and _windowable(after) and not _in_filter_index_order(filters, sort):
        tested = filtered(filters, include_deleted=include_deleted, unindexed=True)
        rows = _windows(session, tested, sort, after, limit, projected)
        if len(rows) == limit:
            return rows
    query = filtered(filters, include_deleted=include_deleted)
    return page(session, query, sort=sort, after=after, limit=limit, columns=projected)


def _in_filter_index_order(filters: dict[str, Any], sort: Sort) -> bool:
    """One of ``filters`` is an equality on a column whose (column,
    created_at, id) index lists its matches in ``sort`` order."""
    return sort.field == "created_at" and any(
        field in FILTERED and not isinstance(value, list | tuple | set) and value is not None
        for field, value in filters.items()
    )


# At most this many values of one filter are walked one by one (see _merged_page).
SQLITE_SPLIT_VALUES = 16


def _split_field(filters: dict[str, Any], sort: Sort) -> str | None:
    """A filter of a few values to walk value by value in sort order: when
    no single-valued filter's index already lists the matches in order."""
    if sort.field != "created_at" or _in_filter_index_order(filters, sort):
        return None
    for field, value in filters.items():
        if (
            field in FILTERED
            and isinstance(value, list | tuple | set)
            and 1 < len(value) <= SQLITE_SPLIT_VALUES
            and None not in value
        ):
            return field
    return None


def _merged_page(
    session: Session,
    build: Callable[[dict[str, Any]], Select[tuple[SalesLead]]],
    filters: dict[str, Any],
    field: str,
    sort: Sort,
    after: Position | None,
    limit: int,
    columns: tuple[str, ...] | None = None,
) -> list[RowMapping]:
    """The page of ``build(filters)`` where ``filters[field]`` lists values:
    one page per value, each a walk of that value's (field, created_at, id)
    index from the cursor, merged. Any page holds the first ``limit`` of its
    value's matches, so the merge's first ``limit`` are the list's."""
    rows: list[RowMapping] = []
    for value in dict.fromkeys(filters[field]):
        narrowed = build({**filters, field: value})
        rows += page(session, narrowed, sort=sort, after=after, limit=limit, columns=columns)
    rows.sort(key=lambda row: (row[sort.key], row["id"]), reverse=sort.descending)
    return rows[:limit]


def _windowable(after: Position | None) -> bool:
    """Valued rows still to come (the empty ones of a nullable sort have no window)."""
    return after is None or after.value is not None


def _windows(
    session: Session,
    tested: Select[tuple[SalesLead]],
    sort: Sort,
    after: Position | None,
    limit: int,
    columns: tuple[str, ...] | None = None,
) -> list[RowMapping]:
    """The first ``limit`` matches of ``tested`` in the next window of leads
    in sort order, widened once when it held some but not a page. A full
    page is exactly the first ``limit`` matches after the cursor: a window is
    the start of the sort order from there."""
    size = SQLITE_FILTER_WINDOW
    rows = _window_page(session, tested, sort, after, limit, size, columns)
    if len(rows) < limit and len(rows) * SQLITE_FILTER_WIDENING >= limit:
        size *= SQLITE_FILTER_WIDENING
        rows = _window_page(session, tested, sort, after, limit, size, columns)
    return rows


def _window_page(
    session: Session,
    tested: Select[tuple[SalesLead]],
    sort: Sort,
    after: Position | None,
    limit: int,
    size: int,
    columns: tuple[str, ...] | None = None,
) -> list[RowMapping]:
    """The first ``limit`` rows of ``tested`` (its conditions unindexed)
    among the next ``size`` leads in sort order."""
    column = sort.column
    order = [column.desc() if sort.descending else column.asc(), _id_order(sort)]
    rowid: ColumnClause[Any] = literal_column("sales_leads.rowid")
    # rowids, not ids: the (field, id) index holds them, and a rowid finds
    # its row in one lookup where an id needs the id index first.
    window = select(rowid).select_from(SalesLead).order_by(*order).limit(size)
    if sort.nullable:
        window = window.where(column.is_not(None))
    if after is not None:
        window = window.where(_after(sort, after))
    query = tested.where(rowid.in_(window.correlate(None).scalar_subquery()))
    return _first(session, query, order, limit, columns)


# --- the console list: its total and "select all matching" (issue 11) ----------------


def listed(
    session: Session,
    filters: dict[str, Any],
    *,
    q: str | None,
    tag: TagFilter,
    include_deleted: bool,
) -> Select[tuple[SalesLead]]:
    """The leads a list of these filters shows (as its pages do)."""
    if q or tag:
        return searched(session, filters, q=q, tag=tag, include_deleted=include_deleted)
    return filtered(filters, include_deleted=include_deleted)


def count_capped(
    session: Session,
    filters: dict[str, Any],
    *,
    q: str | None = None,
    tag: TagFilter = None,
    include_deleted: bool = False,
    cap: int,
) -> int:
    """How many leads the list matches, counting at most ``cap + 1``: a
    result above ``cap`` means "more than cap". The LIMIT inside the
    subquery stops every database after cap + 1 index entries, so a total
    over a million leads costs what one over ten thousand does."""
    matching = listed(session, filters, q=q, tag=tag, include_deleted=include_deleted)
    capped = matching.with_only_columns(SalesLead.id).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


class CountTookTooLong(Exception):
    """A budgeted count ran out of time and was stopped."""


def count_capped_within(
    session: Session,
    filters: dict[str, Any],
    *,
    q: str | None = None,
    tag: TagFilter = None,
    include_deleted: bool = False,
    cap: int,
    seconds: float,
) -> int:
    """``count_capped``, stopped by the database after ``seconds``
    (CountTookTooLong). What a count costs grows with the rows it reads to
    find cap + 1 matches: cheap for one indexed filter, dear for two filters
    one index cannot answer together, or a common tag. The budget keeps a
    page fast whatever the filters; the caller shows a smaller total then.
    """
    dialect = session.get_bind().dialect.name

    def count() -> int:
        return count_capped(
            session, filters, q=q, tag=tag, include_deleted=include_deleted, cap=cap
        )

    if dialect == "sqlite":
        return _sqlite_count_within(session, count, seconds)
    if dialect == "postgresql":
        return _postgresql_count_within(session, count, seconds)
    return _mariadb_count_within(session, count, seconds)


def _postgresql_count_within(session: Session, count: Callable[[], int], seconds: float) -> int:
    # In a savepoint: a cancelled statement spoils only the savepoint, whose
    # rollback also undoes the SET LOCAL.
    try:
        with session.begin_nested():
            session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}"))
            found = count()
            session.execute(text("SET LOCAL statement_timeout TO DEFAULT"))
            return found
    except DBAPIError as exc:
        if "statement timeout" in str(exc):
            raise CountTookTooLong from None
        raise


def _mariadb_count_within(session: Session, count: Callable[[], int], seconds: float) -> int:
    try:
        session.execute(text(f"SET SESSION max_statement_time = {seconds:.3f}"))
    except DBAPIError:  # MySQL has no max_statement_time: count without a budget
        return count()
    try:
        return count()
    except DBAPIError as exc:
        if "max_statement_time" in str(exc):
            raise CountTookTooLong from None
        raise
    finally:
        session.execute(text("SET SESSION max_statement_time = DEFAULT"))


def _sqlite_count_within(session: Session, count: Callable[[], int], seconds: float) -> int:
    raw: Any = session.connection().connection.driver_connection
    deadline = time.perf_counter() + seconds

    def past_deadline() -> int:
        return 1 if time.perf_counter() > deadline else 0

    raw.set_progress_handler(past_deadline, 2000)  # checked every 2,000 VM steps
    try:
        return count()
    except DBAPIError as exc:
        if "interrupted" in str(exc):
            raise CountTookTooLong from None
        raise
    finally:
        raw.set_progress_handler(None, 0)
