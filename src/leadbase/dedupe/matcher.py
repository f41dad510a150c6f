"""The duplicate lookup of one write: which stored (or just written) leads
look like a row, best first.

The write path makes one ``Matcher`` per batch: ``prefetch`` reads, with one
indexed query per key column for the whole batch, the active leads that
share a key with any row; ``best`` then compares a row with the leads that
share one of its keys, in memory. Rows the batch accepts are ``add``-ed, so
a later row of the same batch finds them too.

Only the selective keys are looked up here (exact identities, the two name
keys, the address key, the phone): a company's key or domain is shared by
all its people, too many to compare on every write; the scan covers them.

The name key (first-name and surname sounds) is shared by many leads, and
a row with an email (LinkedIn URL) can never be merged with one holding a
different email (URL), only reviewed, and only when their employers agree,
which ``key_name_alt`` (surname sound and employer) finds. So such a row
looks its name key up only among the leads without an email (URL): one
with the same email is found by the email itself. The scan still finds
the namesakes with other emails.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, and_, func, literal_column, or_, select, tuple_
from sqlalchemy.orm import Session

from leadbase.db import IN_LIST_CHUNK, chunked
from leadbase.dedupe.repository import dismissed_pairs, pair
from leadbase.dedupe.rules import Rules, load_rules
from leadbase.dedupe.score import (
    COMPARED_FIELDS,
    EXACT_REASONS,
    FEATURE_FIELDS,
    Features,
    Initials,
    Verdict,
    compare_features,
    features,
    features_of,
    initials_meet,
    initials_of,
    name_initials,
)
from leadbase.models import SalesLead
from leadbase.models.lead import MATCH_KEY_COLUMNS

# The columns a candidate is found by, one indexed lookup each.
LOOKUP_COLUMNS = ("key_email", "linkedin_url", "phone", "key_name", "key_name_alt", "key_address")
PROVIDER_RECORD = "provider_name+external_id"
# Keys that name one lead (every lead holding one is a candidate), and the
# exact rule each falls under (a merged lead's still names its survivor).
_IDENTITY_RULES = {
    "key_email": "email",
    "linkedin_url": "linkedin_url",
    PROVIDER_RECORD: "provider_record",
}
_IDENTITY_KEYS = frozenset(_IDENTITY_RULES)
# The name key as a row with contacts looks it up: the stored leads lacking
# the contact columns listed (whose values could only contradict the row's).
NAME_NO_EMAIL = "key_name:no_email"
NAME_NO_LINKEDIN = "key_name:no_linkedin"
NAME_NO_CONTACT = "key_name:no_contact"
NAME_LOOKUPS: dict[str, tuple[str, ...]] = {
    "key_name": (),
    NAME_NO_EMAIL: ("key_email",),
    NAME_NO_LINKEDIN: ("linkedin_url",),
    NAME_NO_CONTACT: ("key_email", "linkedin_url"),
}
# Leads sharing one of these need not have alike names (a switchboard, a
# building): they are compared only when their names share an initial.
_NAMELESS_KEYS = frozenset({"phone", "key_address"})
SELECTED = ("id", *COMPARED_FIELDS, *MATCH_KEY_COLUMNS, "is_deleted", "merged_into_id")
# SELECTED is the id, then FEATURE_FIELDS in their order (then the other keys).
_FEATURE_END = 1 + len(FEATURE_FIELDS)
if SELECTED[1:_FEATURE_END] != FEATURE_FIELDS:  # pragma: no cover - a guard for editors
    raise ImportError("SELECTED must start with the id and FEATURE_FIELDS")


@dataclass(frozen=True)
class Candidate:
    lead_id: str
    verdict: Verdict


def _name_lookup(row: Mapping[str, Any]) -> str:
    """Which stored leads a row's name key is looked up among."""
    if row.get("key_email"):
        return NAME_NO_CONTACT if row.get("linkedin_url") else NAME_NO_EMAIL
    return NAME_NO_LINKEDIN if row.get("linkedin_url") else "key_name"


def _lookup_keys(row: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (lookup, value) pairs a row's candidates are found by, in
    LOOKUP_COLUMNS order (then the provider record)."""
    # A batch asks this of every row four times: spelled out, not looped.
    get = row.get
    found: list[tuple[str, Any]] = []
    email, linkedin = get("key_email"), get("linkedin_url")
    if email:
        found.append(("key_email", email))
    if linkedin:
        found.append(("linkedin_url", linkedin))
    if value := get("phone"):
        found.append(("phone", value))
    if value := get("key_name"):
        if email:
            lookup = NAME_NO_CONTACT if linkedin else NAME_NO_EMAIL
        else:
            lookup = NAME_NO_LINKEDIN if linkedin else "key_name"
        found.append((lookup, value))
    if value := get("key_name_alt"):
        found.append(("key_name_alt", value))
    if value := get("key_address"):
        found.append(("key_address", value))
    if get("provider_name") and get("external_id"):
        found.append((PROVIDER_RECORD, (row["provider_name"], row["external_id"])))
    return found


if LOOKUP_COLUMNS != (
    "key_email",
    "linkedin_url",
    "phone",
    "key_name",
    "key_name_alt",
    "key_address",
):  # pragma: no cover - a guard for editors
    raise ImportError("_lookup_keys spells LOOKUP_COLUMNS out: change both")


# The name lookups that find a lead, by whether it has (an email key, a LinkedIn URL).
_NAME_INDEXES = {
    (email, linkedin): tuple(
        lookup
        for lookup, empty in NAME_LOOKUPS.items()
        if not (("key_email" in empty and email) or ("linkedin_url" in empty and linkedin))
    )
    for email in (False, True)
    for linkedin in (False, True)
}
if {c for empty in NAME_LOOKUPS.values() for c in empty} - {"key_email", "linkedin_url"}:
    raise ImportError("_NAME_INDEXES knows only key_email and linkedin_url")  # pragma: no cover


def _index_keys(row: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (lookup, value) pairs that find a lead: its name key under each
    name lookup whose contact columns it lacks."""
    found = [(c, v) for c, v in _lookup_keys(row) if c not in NAME_LOOKUPS]
    name = row.get("key_name")
    if name:
        lookups = _NAME_INDEXES[bool(row.get("key_email")), bool(row.get("linkedin_url"))]
        found.extend((lookup, name) for lookup in lookups)
    return found


def is_active(row: Sequence[Any]) -> bool:
    """Not deleted, not merged (rows of SELECTED). Checked here, not in SQL:
    given ``is_deleted = false`` SQLite walks the is_deleted index (all rows)
    instead of the key's."""
    return not row[-2] and row[-1] is None


def _condition(column: str, values: Sequence[Any]) -> Any:
    if column == PROVIDER_RECORD:
        return tuple_(SalesLead.provider_name, SalesLead.external_id).in_(values)
    if column in NAME_LOOKUPS:
        empty = [getattr(SalesLead, c).is_(None) for c in NAME_LOOKUPS[column]]
        return and_(SalesLead.key_name.in_(values), *empty)
    return getattr(SalesLead, column).in_(values)


def _sql_condition(column: str, count: int) -> str:
    """_condition in SQLite's SQL: ``count`` placeholders (one: equality)."""
    base = "key_name" if column in NAME_LOOKUPS else column
    test = f"{base} = ?" if count == 1 else f"{base} IN ({', '.join('?' * count)})"
    return " AND ".join([test, *(f"{c} IS NULL" for c in NAME_LOOKUPS.get(column, ()))])


def candidate_rows(
    session: Session, wanted: Mapping[str, Iterable[Any]], cap: int = 50
) -> list[Sequence[Any]]:
    """The active leads whose key column (or provider record) holds one of
    the wanted values: SELECTED columns. One query (the keys OR-ed, each by
    its index; a blocking key of one value read to its newest ``cap``
    leads) when the values fit in one statement, as for a single write;
    else a query per chunk of each key, each value read to its newest
    ``cap`` leads too."""
    sorted_values = {c: sorted(set(values)) for c, values in wanted.items() if values}
    connection = session.connection()
    if sum(map(len, sorted_values.values())) <= IN_LIST_CHUNK:
        if connection.dialect.name == "sqlite" and PROVIDER_RECORD not in sorted_values:
            return _sqlite_candidates(connection, sorted_values, cap)
        statements = _capped_statements(sorted_values, cap)
    elif connection.dialect.name == "sqlite" and PROVIDER_RECORD not in sorted_values:
        return _sqlite_chunked_candidates(connection, sorted_values, cap)
    elif connection.dialect.name == "postgresql":
        return _postgresql_batch_candidates(connection, sorted_values, cap)
    else:
        statements = [
            _chunk_statement(column, chunk, cap, connection.dialect.name)
            for column, values in sorted_values.items()
            for chunk in chunked(values)
        ]
    rows: dict[str, Sequence[Any]] = {}
    for statement in statements:
        rows.update(
            (row[0], row)
            for row in connection.execute(statement)
            if is_active(row) or is_merged(row)
        )
    return list(rows.values())


def _chunk_statement(column: str, values: Sequence[Any], cap: int, dialect: str) -> Any:
    """A batch's lookup of one chunk of a key's values: an identity key's
    every holder; a blocking key's newest ``cap`` holders of each value,
    ranked on its index (SQLite: by rowid, index-only) before any lead row
    is read, as a single write's lookup reads them."""
    if column in _IDENTITY_KEYS:
        return select(*_SELECTED_COLUMNS).where(_condition(column, values))
    key = SalesLead.key_name if column in NAME_LOOKUPS else getattr(SalesLead, column)
    newest = literal_column("sales_leads.rowid") if dialect == "sqlite" else SalesLead.id
    rank = func.row_number().over(partition_by=key, order_by=newest.desc())
    ranked = select(newest.label("newest"), rank.label("n")).where(_condition(column, values))
    kept = ranked.subquery()
    return select(*_SELECTED_COLUMNS).where(
        newest.in_(select(kept.c.newest).where(kept.c.n <= cap))
    )


def _capped_statements(values: Mapping[str, Sequence[Any]], cap: int) -> list[Any]:
    """The identity keys and many-valued keys OR-ed in one statement; each
    one-valued blocking key its own, to its newest ``cap`` leads."""
    fuzzy = [c for c, v in values.items() if c not in _IDENTITY_KEYS and len(v) == 1]
    conditions = [_condition(c, v) for c, v in values.items() if c not in fuzzy]
    statements = [select(*_SELECTED_COLUMNS).where(or_(*conditions))] if conditions else []
    statements.extend(
        select(*_SELECTED_COLUMNS)
        .where(_condition(column, values[column]))
        .order_by(SalesLead.id.desc())
        .limit(cap)
        for column in fuzzy
    )
    return statements


_SELECTED_COLUMNS = [getattr(SalesLead, name) for name in SELECTED]


@lru_cache(maxsize=256)
def _sqlite_sql(shape: tuple[tuple[str, int], ...], cap: int) -> str:
    """SELECT ... WHERE a IN (?, ?) OR b IN (?) for the (column, how many
    values) shape: built once per shape, without SQLAlchemy's statement
    compilation, which a single write's lookup would otherwise pay each time.

    A blocking key with one value reads at most ``cap`` leads, the newest
    (its index holds equal keys in rowid order: no sort): a very common
    name must not make every write compare thousands of leads."""
    columns = ", ".join(SELECTED)
    fuzzy = [(c, n) for c, n in shape if c not in _IDENTITY_KEYS and n == 1]
    rest = [(c, n) for c, n in shape if (c, n) not in fuzzy]
    parts = []
    if rest:
        where = " OR ".join(f"({_sql_condition(column, count)})" for column, count in rest)
        parts.append(f"SELECT {columns} FROM sales_leads WHERE {where}")
    parts.extend(
        f"SELECT * FROM (SELECT {columns} FROM sales_leads WHERE {_sql_condition(column, 1)} "
        f"ORDER BY rowid DESC LIMIT {cap})"
        for column, _ in fuzzy
    )
    return " UNION ALL ".join(parts)


def _sqlite_candidates(
    connection: Connection, values: Mapping[str, Sequence[Any]], cap: int
) -> list[Sequence[Any]]:
    shape = tuple((column, len(v)) for column, v in values.items())
    sql = _sqlite_sql(shape, cap)
    fuzzy = {c for c, n in shape if c not in _IDENTITY_KEYS and n == 1}
    # The parameters in the order of the parts: the IN lists, then one per capped key.
    params = [value for c, v in values.items() if c not in fuzzy for value in v]
    params.extend(values[c][0] for c, _ in shape if c in fuzzy)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        found = cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()
    return [row for row in found if is_active(row) or is_merged(row)]


@lru_cache(maxsize=256)
def _sqlite_chunk_sql(column: str, count: int, cap: int) -> str:
    """_chunk_statement in SQLite's SQL for ``count`` values, built once:
    a batch's lookups (a dozen chunks each) skip SQLAlchemy's statement
    building and result rows, as a single write's do (_sqlite_sql)."""
    columns = ", ".join(SELECTED)
    where = _sql_condition(column, count)
    if column in _IDENTITY_KEYS:
        return f"SELECT {columns} FROM sales_leads WHERE {where}"
    key = "key_name" if column in NAME_LOOKUPS else column
    return (
        f"SELECT {columns} FROM sales_leads WHERE rowid IN (SELECT newest FROM "
        f"(SELECT rowid AS newest, row_number() OVER (PARTITION BY {key} ORDER BY rowid DESC)"
        f" AS n FROM sales_leads WHERE {where}) WHERE n <= {cap})"
    )


@contextmanager
def _driver_cursor(connection: Connection) -> Iterator[Any]:
    """The driver's own cursor on the connection: a batch's lookups skip
    SQLAlchemy's statement and result layers."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def _gather(rows: dict[str, Sequence[Any]], fetched: Iterable[Sequence[Any]]) -> None:
    """Add the fetched leads (rows of SELECTED) a batch lookup keeps, by id:
    ``is_active(row) or is_merged(row)``, inline (some thousands a batch)."""
    rows.update((row[0], row) for row in fetched if not row[-2] or row[-1] is not None)


def _sqlite_chunked_candidates(
    connection: Connection, values: Mapping[str, Sequence[Any]], cap: int
) -> list[Sequence[Any]]:
    rows: dict[str, Sequence[Any]] = {}
    with _driver_cursor(connection) as cursor:
        for column, column_values in values.items():
            for chunk in chunked(column_values):
                sql = _sqlite_chunk_sql(column, len(chunk), cap)
                _gather(rows, cursor.execute(sql, tuple(chunk)))
    return list(rows.values())


@lru_cache(maxsize=64)
def _postgresql_batch_sql(column: str, cap: int, joined: bool = False) -> str:
    """A batch's lookup of every value of one key, in one statement: the
    values an array, each looked up by the key's index on its own (a
    lateral subquery per value; OFFSET 0 keeps an identity key's from being
    flattened into a join the planner may run as a scan of the table). A
    blocking key's value reads its newest ``cap`` holders, as a single
    write's lookup does, instead of a window over every holder joined back
    to the table by id (which read each lead twice, or scanned the table).

    ``joined``: the values come as one text, a value a line (see
    _postgresql_batch_candidates)."""
    columns = ", ".join(f"s.{name}" for name in SELECTED)
    if column == PROVIDER_RECORD:
        values = "unnest(%s::varchar[], %s::varchar[]) AS v(a, b)"
        where = "provider_name = v.a AND external_id = v.b"
    else:
        array = "string_to_array(%s, E'\\n')" if joined else "%s::varchar[]"
        values = f"unnest({array}) AS v(a)"
        base = "key_name" if column in NAME_LOOKUPS else column
        where = " AND ".join(
            [f"{base} = v.a", *(f"{c} IS NULL" for c in NAME_LOOKUPS.get(column, ()))]
        )
    tail = "OFFSET 0" if column in _IDENTITY_KEYS else f"ORDER BY id DESC LIMIT {cap}"
    return (
        f"SELECT {columns} FROM {values} CROSS JOIN LATERAL "
        f"(SELECT {', '.join(SELECTED)} FROM sales_leads WHERE {where} {tail}) AS s"
    )


def _postgresql_batch_candidates(
    connection: Connection, values: Mapping[str, Sequence[Any]], cap: int
) -> list[Sequence[Any]]:
    rows: dict[str, Sequence[Any]] = {}
    with _driver_cursor(connection) as cursor:
        for column, column_values in values.items():
            joined = _joined(column_values) if column != PROVIDER_RECORD else None
            params: tuple[Any, ...]
            if joined is not None:
                params = (joined,)
            elif column == PROVIDER_RECORD:
                params = tuple(map(list, zip(*column_values, strict=True)))
            else:
                params = (list(column_values),)
            cursor.execute(_postgresql_batch_sql(column, cap, joined is not None), params)
            _gather(rows, cursor.fetchall())
    return list(rows.values())


def _joined(values: Sequence[Any]) -> str | None:
    """The values as one text, a value a line, when they are strings
    without a line break (keys are): psycopg dumps a list of some thousands
    of strings an element at a time in Python (~1 s an import of 100,000
    leads), a text at once. None otherwise: they go as a list."""
    try:
        text = "\n".join(values)
    except TypeError:
        return None
    return text if text.count("\n") == len(values) - 1 else None


def is_merged(row: Sequence[Any]) -> bool:
    """Merged into another lead (rows of SELECTED): its identity keys still
    name that lead, so a re-import of it finds the survivor."""
    return row[-1] is not None


def rows_along_merges(session: Session, lead_ids: Iterable[str]) -> dict[str, Sequence[Any]]:
    """The leads these merged leads went into, and the ones those went
    into, to the end of each chain: SELECTED columns by id."""
    found: dict[str, Sequence[Any]] = {}
    wanted = set(lead_ids)
    while wanted:
        for chunk in chunked(sorted(wanted)):
            statement = select(*_SELECTED_COLUMNS).where(SalesLead.id.in_(chunk))
            found.update((row[0], row) for row in session.execute(statement))
        wanted = {row[-1] for row in found.values() if is_merged(row)} - set(found)
    return found


def _survivor(row: Sequence[Any], rows: Mapping[str, Sequence[Any]]) -> Sequence[Any] | None:
    """Where a merged lead's data is now: the active end of its chain."""
    for _ in range(len(rows) + 1):
        if not is_merged(row):
            return row if is_active(row) else None
        next_row = rows.get(row[-1])
        if next_row is None:
            return None
        row = next_row
    return None  # pragma: no cover - a cycle cannot be written by merges


_FIRST, _LAST, _FULL = (SELECTED.index(f) for f in ("first_name", "last_name", "full_name"))
# The columns _lookup_keys reads, and where a SELECTED row holds them.
_KEY_NAMES = (*LOOKUP_COLUMNS, "provider_name", "external_id")
_KEYS_OF_SELECTED = itemgetter(*(SELECTED.index(name) for name in _KEY_NAMES))


def _key_values(row: Sequence[Any]) -> dict[str, Any]:
    """What _lookup_keys reads of a SELECTED row (a candidate read has
    some thirty columns; its keys are all the lookups need)."""
    return dict(zip(_KEY_NAMES, _KEYS_OF_SELECTED(row), strict=True))


class Matcher:
    def __init__(self, session: Session, rules: Rules | None = None) -> None:
        self.session = session
        self.rules = rules or load_rules()
        # Stored candidates' rows (SELECTED); their features are computed
        # only for those compared, most are not.
        self._rows: dict[str, Sequence[Any]] = {}
        self._features: dict[str, Features] = {}
        self._by_key: dict[tuple[str, Any], list[str]] = {}
        self._dismissed: dict[str, set[tuple[str, str]]] = {}
        # identity key of a merged lead -> the leads it was merged into
        self._aliases: dict[tuple[str, Any], set[str]] = {}

    def _index(self, lead_id: str, row: Mapping[str, Any], *, looked_up: bool = False) -> None:
        """File a lead under every lookup that finds it. ``looked_up``: only
        under lookups already made (a stored lead found by its phone must
        not make its name's lookup look done)."""
        for key in _index_keys(row):
            ids = self._by_key.get(key) if looked_up else self._by_key.setdefault(key, [])
            if ids is not None and lead_id not in ids:
                ids.append(lead_id)

    def _features_of(self, lead_id: str) -> Features:
        found = self._features.get(lead_id)
        if found is None:
            found = self._features[lead_id] = features_of(*self._rows[lead_id][1:_FEATURE_END])
        return found

    def _initials(self, lead_id: str) -> Initials:
        if lead_id in self._features:
            return initials_of(self._features[lead_id])
        row = self._rows[lead_id]
        return name_initials(row[_FIRST], row[_LAST], row[_FULL])

    def prefetch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Load the stored candidates of every row (rows carry their key_* values)."""
        wanted: dict[str, set[Any]] = {}
        for row in rows:
            for column, value in _lookup_keys(row):
                if (column, value) not in self._by_key:
                    wanted.setdefault(column, set()).add(value)
        for column, values in wanted.items():
            for value in values:
                self._by_key.setdefault((column, value), [])
        if not wanted:
            return
        merged: list[Sequence[Any]] = []
        # Oldest first (ids are in creation order): ``all`` keeps a key's last ``cap``.
        found_rows = sorted(
            candidate_rows(self.session, wanted, self.rules.max_block), key=lambda r: r[0]
        )
        for found in found_rows:
            if is_merged(found):
                merged.append(found)
                continue
            self._rows[found[0]] = found
            self._index(found[0], _key_values(found), looked_up=True)
        if merged:
            self._alias_merged(merged, wanted)

    def _alias_merged(
        self, merged: Sequence[Sequence[Any]], wanted: Mapping[str, set[Any]]
    ) -> None:
        """A merged lead's email (LinkedIn URL, provider record) still names
        its survivor: an import of the merged lead again lands on it."""
        chains = rows_along_merges(self.session, {row[-1] for row in merged})
        for row in merged:
            survivor = _survivor(row, chains)
            if survivor is None:
                continue
            values = dict(zip(SELECTED, row, strict=True))
            for key in _lookup_keys(values):
                if key[0] in _IDENTITY_KEYS and key[1] in wanted.get(key[0], ()):
                    self._aliases.setdefault(key, set()).add(survivor[0])

    def add(self, lead_id: str, row: Mapping[str, Any]) -> None:
        """A row this batch just accepted: a candidate for the rows after it.
        Its features wait until a row is compared with it (few are): kept as
        the head of a SELECTED row, as a stored candidate's are."""
        self._rows[lead_id] = (lead_id, *map(row.get, FEATURE_FIELDS))
        self._features.pop(lead_id, None)
        self._index(lead_id, row)

    def _skipped(self, exclude_id: str | None) -> set[tuple[str, str]]:
        if exclude_id is None:
            return set()
        if exclude_id not in self._dismissed:
            self._dismissed[exclude_id] = dismissed_pairs(self.session, [exclude_id])
        return self._dismissed[exclude_id]

    def all(self, row: Mapping[str, Any], *, exclude_id: str | None = None) -> list[Candidate]:
        """Every candidate at or above ``rules.low``, best first (on a tie, merge before review)."""
        # lead id -> whether only a phone or an address key brought it
        ids: dict[str, bool] = {}
        cap = self.rules.max_block
        for key in _lookup_keys(row):
            nameless = key[0] in _NAMELESS_KEYS
            holders: Sequence[str] = self._by_key.get(key, ())
            if key[0] not in _IDENTITY_KEYS:
                holders = holders[-cap:]  # the newest: a common name is no reason to compare all
            for lead_id in holders:
                ids[lead_id] = ids.get(lead_id, True) and nameless
        ids.pop(exclude_id, None)  # type: ignore[arg-type]
        aliased = self._aliased(row, exclude_id)
        if not ids and not aliased:
            return []
        dismissed = self._skipped(exclude_id)
        found = [
            Candidate(lead_id, Verdict(1.0, (reason,), "merge"))
            for lead_id, reason in aliased.items()
            if exclude_id is None or pair(exclude_id, lead_id) not in dismissed
        ]
        mine = features(row)
        my_initials = initials_of(mine)
        for lead_id, nameless in ids.items():
            if lead_id in aliased:
                continue
            if exclude_id is not None and pair(exclude_id, lead_id) in dismissed:
                continue
            if nameless and not initials_meet(my_initials, self._initials(lead_id)):
                continue
            verdict = compare_features(mine, self._features_of(lead_id), self.rules)
            if verdict is not None:
                found.append(Candidate(lead_id, verdict))
        found.sort(key=lambda c: (-c.verdict.score, c.verdict.action != "merge"))
        return found

    def _aliased(self, row: Mapping[str, Any], exclude_id: str | None) -> dict[str, str]:
        """Survivors of merged leads that share an identity key with ``row``:
        lead id -> the exact reason ("same email")."""
        found: dict[str, str] = {}
        if not self._aliases:  # most batches meet no merged lead
            return found
        for key in _lookup_keys(row):
            rule = _IDENTITY_RULES.get(key[0])
            if rule in self.rules.exact:
                for lead_id in self._aliases.get(key, ()):
                    if lead_id != exclude_id:
                        found.setdefault(lead_id, EXACT_REASONS[rule])
        return found

    def best(self, row: Mapping[str, Any], *, exclude_id: str | None = None) -> Candidate | None:
        found = self.all(row, exclude_id=exclude_id)
        return found[0] if found else None
