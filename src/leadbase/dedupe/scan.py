"""The whole-database duplicate scan: clusters of leads that look alike.

Streaming and memory-lean: one pass per blocking key, each a single query
of the active leads ordered by that key (its index gives the order), and
only the leads of one run of equal keys (a block) in memory at a time.
Within a block every pair is compared; a block larger than
``rules.max_block`` (a common name, a big employer) is sorted by name and
each lead compared with the ``rules.window`` leads after it (the sorted
neighbourhood). A pair an earlier pass already compared (it shares that
pass's key, in a block compared in full) is not compared again.

Then two sorted-neighbourhood passes over every lead's name (first name
first, then last name first) catch what the keys miss, a typo that changed
both names' sound with a mistyped postcode or house number: each lead is
compared with the three before it whose name is nearly the same and that
agree on a place (city, postcode, house number or employer). These read
every lead once but compare few.

A database of up to ``IN_MEMORY_LIMIT`` leads is read once instead, and
every pass's blocks and the neighbourhood orders are made in memory: the
same pairs compared, the same links, without a query (a GROUP BY and a
sort) per pass; every lead's features are worked out a column at a time
and every pair the passes bring up is scored in one batch at the end
(``dedupe.batch``: the verdicts of ``score``, in C and numpy). Where the
build had a C compiler, all of that runs compiled (``dedupe._native``, its
read on SQLite through the connection's own handle) with the same links,
scores and counts; and so does the clustering.

Pairs at or above ``rules.low`` become links; clusters are built from them
the way Kruskal builds a spanning forest, strongest link first, never
joining two groups when a pair across them was dismissed (so a dismissed
pair never lands in one cluster, not even through a third lead):

- first the merge-level links: the groups they hold together are "merge"
  clusters, which ``leadbase dedupe merge --auto`` merges;
- then the review-level links between leads in no merge cluster: "review"
  clusters. A review link that touches a merge cluster is left for the
  next scan (after the merge, the survivor is compared again), so a lead is
  in one cluster at most and an uncertain lead never blocks, nor joins, a
  certain merge;
- a cluster's ``score`` is its weakest link in that spanning forest (the
  link without which it would fall apart), its ``reasons`` that link's.

The scan merges nothing and stores nothing: the caller stores the clusters.
"""

from __future__ import annotations

import gc
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations, compress, groupby
from operator import attrgetter, itemgetter
from typing import Any, Literal, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist
from sqlalchemy import Connection, Select, Table, and_, bindparam, func, select, tuple_, update
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.dedupe import normalise as norm
from leadbase.dedupe.batch import (
    BatchScorer,
    FeatureColumns,
    fold_names,
    place_codes,
    place_houses,
)
from leadbase.dedupe.keys import KEY_SOURCE_FIELDS, match_keys
from leadbase.dedupe.matcher import SELECTED, is_active
from leadbase.dedupe.repository import all_dismissed_pairs, pair
from leadbase.dedupe.rules import Rules
from leadbase.dedupe.score import (
    FEATURE_FIELDS,
    Features,
    Initials,
    Verdict,
    features_of,
    initials_meet,
    initials_of,
    scorer,
)
from leadbase.errors import ConflictError
from leadbase.models import SalesLead
from leadbase.models.lead import MATCH_KEY_COLUMNS

try:  # the in-memory scan compiled (setup.py); without a C compiler, its Python path
    from leadbase.dedupe import _native
except ImportError:  # pragma: no cover - the build leaves it out only without a compiler
    _native = None  # type: ignore[assignment]
# The compiled scan, or None: the Python path (tests set it to compare the two).
NATIVE = _native

# One pass per key, the exact (cheap, certain) ones first.
PASSES: tuple[tuple[str, ...], ...] = (
    ("key_email",),
    ("linkedin_url",),
    ("provider_name", "external_id"),
    ("phone",),
    ("key_name",),
    ("key_name_alt",),
    ("key_address",),
)
# No pass over key_company or key_domain: all of a company's people share
# them; key_name_alt (surname and employer) and the name neighbourhood
# passes (a name nearly the same at one employer) find its duplicates.
NAME_KEYS = frozenset({"key_name", "key_name_alt"})
STREAM_BATCH = 5000
PROGRESS_EVERY = 20_000


@dataclass(frozen=True)
class Cluster:
    lead_ids: tuple[str, ...]
    score: float
    reasons: tuple[str, ...]
    action: Literal["merge", "review"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_ids": list(self.lead_ids),
            "score": self.score,
            "reasons": list(self.reasons),
            "action": self.action,
        }


class Link(NamedTuple):
    a: str
    b: str
    verdict: Verdict


@dataclass
class ScanStats:
    leads: int = 0
    compared: int = 0
    links: int = 0


def _active() -> Any:
    return and_(SalesLead.is_deleted.is_(False), SalesLead.merged_into_id.is_(None))


def count_active(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SalesLead).where(_active())) or 0)


def stream_by_key(session: Session, columns: Sequence[str]) -> Iterator[Sequence[Any]]:
    """The active leads that share their ``columns`` with another lead,
    ordered by them. The database finds the shared keys (a GROUP BY on the
    key's index), so the leads no other lead shares a key with, most of
    them, never reach Python."""
    keyed = [getattr(SalesLead, c) for c in columns]
    shared = (
        select(*keyed)
        .where(*(c.is_not(None) for c in keyed))
        .group_by(*keyed)
        .having(func.count() > 1)
    )
    where = keyed[0].in_(shared) if len(keyed) == 1 else tuple_(*keyed).in_(shared)
    query = select(*(getattr(SalesLead, name) for name in SELECTED)).where(where).order_by(*keyed)
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        yield from _sqlite_rows(connection, query)
        return
    # Core, not the ORM: plain rows, without the ORM's per-row loading.
    streamed = connection.execution_options(stream_results=True).execute(query)
    for partition in streamed.partitions(STREAM_BATCH):
        yield from (row for row in partition if is_active(row))


# What the name neighbourhood passes read of each lead: its name and places.
NEIGHBOUR_FIELDS = (
    *("id", "first_name", "last_name", "full_name"),
    *("city", "postal_code", "street", "key_company", "key_domain"),
    *("is_deleted", "merged_into_id"),
)


def stream_ordered(session: Session, order: Sequence[str]) -> Iterator[Sequence[Any]]:
    """Every active lead's NEIGHBOUR_FIELDS, ordered by the ``order`` columns."""
    query = select(*(getattr(SalesLead, name) for name in NEIGHBOUR_FIELDS)).order_by(
        *(getattr(SalesLead, name) for name in order)
    )
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        yield from _sqlite_rows(connection, query)
        return
    streamed = connection.execution_options(stream_results=True).execute(query)
    for partition in streamed.partitions(STREAM_BATCH):
        yield from (row for row in partition if is_active(row))


def rows_by_id(session: Session, lead_ids: Iterable[str]) -> dict[str, Sequence[Any]]:
    """SELECTED columns of these leads."""
    found: dict[str, Sequence[Any]] = {}
    columns = [getattr(SalesLead, name) for name in SELECTED]
    connection = session.connection()
    for chunk in chunked(sorted(set(lead_ids))):
        for row in connection.execute(select(*columns).where(SalesLead.id.in_(chunk))):
            found[row[0]] = row
    return found


def _sqlite_rows(connection: Connection, query: Select[Any]) -> Iterator[Sequence[Any]]:
    """The query's rows as sqlite3 tuples: the driver's own cursor, without
    SQLAlchemy's row objects, costs half as much a row, and these columns
    (text, integer) need no conversion (is_deleted reads as 0 or 1)."""
    compiled = query.compile(dialect=connection.dialect)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, params)
        while batch := cursor.fetchmany(STREAM_BATCH):
            yield from (row for row in batch if is_active(row))
    finally:
        cursor.close()


_POSITION = {name: at for at, name in enumerate(SELECTED)}
_FEATURE_END = 1 + len(FEATURE_FIELDS)  # SELECTED: the id, then FEATURE_FIELDS


class _Pass:
    """One key's pass: compares pairs, remembers which blocks it cut short."""

    def __init__(self, columns: tuple[str, ...], earlier: Sequence[_Pass]) -> None:
        self.columns = columns
        # Leads sharing a name key sound alike; those sharing a phone, an
        # address or an employer need not: colleagues are most such pairs.
        self.names_alike = columns[0] in NAME_KEYS
        self.positions = tuple(_POSITION[c] for c in columns)
        self.earlier = earlier
        self.windowed: set[Any] = set()
        # A row's key: one column's value, or a tuple (None when a part is missing).
        self.key: Callable[[Sequence[Any]], Any]
        if len(self.positions) == 1:
            self.key = itemgetter(self.positions[0])
        else:
            parts = itemgetter(*self.positions)
            self.key = lambda row: None if None in (key := parts(row)) else key

    def compared_before(self, x: Sequence[Any], y: Sequence[Any]) -> bool:
        return _compared_before(self.earlier, x, y)


def _compared_before(passes: Sequence[_Pass], x: Sequence[Any], y: Sequence[Any]) -> bool:
    """Whether one of these passes compared the two leads: they share its
    key, in a block it compared in full."""
    for done in passes:
        key = done.key(x)
        if key is not None and key == done.key(y) and key not in done.windowed:
            return True
    return False


def _pairs(block: list[Any], feats: list[Features], rules: Rules) -> Iterator[tuple[int, int]]:
    if len(block) <= rules.max_block:
        yield from combinations(range(len(block)), 2)
        return
    order = sorted(range(len(block)), key=lambda i: (feats[i].last or "", feats[i].first or ""))
    for at, i in enumerate(order):
        for j in order[at + 1 : at + 1 + rules.window]:
            yield i, j


class _FeatureCache(dict[str, Features]):
    """Each lead's features, computed once for all passes (bounded)."""

    limit = 300_000

    def add(self, row: Sequence[Any]) -> Features:
        if len(self) >= self.limit:
            self.clear()
        found = self[row[0]] = features_of(*row[1:_FEATURE_END])
        return found


def _scan_block(block: list[Any], current: _Pass, context: _ScanContext) -> None:
    rules, cache = context.rules, context.cache
    if len(block) > rules.max_block:
        current.windowed.add(current.key(block[0]))
    feats = [cache.get(row[0]) or cache.add(row) for row in block]
    inits = None if current.names_alike else [initials_of(f) for f in feats]
    for i, j in _pairs(block, feats, rules):
        x, y = block[i], block[j]
        if inits is not None and not initials_meet(inits[i], inits[j]):
            continue
        if current.compared_before(x, y):
            continue
        ids = pair(x[0], y[0])
        if ids in context.dismissed:
            continue
        context.stats.compared += 1
        verdict = context.score(feats[i], feats[j])
        if verdict is not None:
            context.links.append(Link(ids[0], ids[1], verdict))


# After the key passes, a sorted-neighbourhood pass over names, first name
# first and last name first: a lead is compared with the few before it
# whose name is nearly the same (a typo that changed both name keys' sound,
# with a mistyped postcode or house number) and that agree on a place
# (city, postcode, house number, employer). Cheap string tests on each
# lead; the full comparison for the few pairs that pass them.
NEIGHBOUR_ORDERS: tuple[tuple[str, ...], ...] = (("sort_name", "id"), ("last_name", "first_name"))
NEIGHBOUR_WINDOW = 3
NEIGHBOUR_NAME = 0.85
_HOUSE = re.compile(r"\d+")


def _fold_name(text: str | None) -> str:
    if not text:
        return ""
    return text.lower() if text.isascii() else (norm.sort_key(text) or "")


_NAME_AT = (1, 2, 3)  # NEIGHBOUR_FIELDS positions
_PLACE_AT = (4, 5, 6, 7, 8)


def _neighbour_name(row: Sequence[Any], last_first: bool) -> str:
    first, last, full = (row[at] for at in _NAME_AT)
    if not first and not last:
        return _fold_name(full)
    if last_first:
        return f"{_fold_name(last)} {_fold_name(first)}"
    return f"{_fold_name(first)} {_fold_name(last)}"


_PLACE_KINDS = ("city", "postcode", "house", "company", "domain")


def _places(row: Sequence[Any]) -> frozenset[tuple[str, str]]:
    """A lead's places, each tagged with its kind: city, postcode, house
    number, company key, domain."""
    return _places_of(*(row[at] for at in _PLACE_AT))


def _places_of(
    city: str | None,
    postcode: str | None,
    street: str | None,
    company: str | None,
    domain: str | None,
) -> frozenset[tuple[str, str]]:
    house = _HOUSE.search(street) if street else None
    values = (_fold_name(city), postcode, house.group(0) if house else None, company, domain)
    return frozenset((kind, v) for kind, v in zip(_PLACE_KINDS, values, strict=True) if v)


class _Neighbour:
    """A lead in the window: its row, its name as sorted, its places (when asked)."""

    __slots__ = ("_places", "name", "row")

    def __init__(self, name: str, row: Sequence[Any]) -> None:
        self.name, self.row = name, row
        self._places: frozenset[tuple[str, str]] | None = None

    def places(self) -> frozenset[tuple[str, str]]:
        if self._places is None:
            self._places = _places(self.row)
        return self._places

    def near(self, other: _Neighbour) -> bool:
        """Whether both agree on one place: city, postcode, house number or employer."""
        return not self.places().isdisjoint(other.places())


def _neighbour_pairs(session: Session, order: Sequence[str]) -> Iterator[tuple[str, str]]:
    """The leads near each other in this order whose names are nearly the
    same and who agree on a place: cheap string tests on every lead."""
    last_first = order[0] == "last_name"
    window: deque[_Neighbour] = deque(maxlen=NEIGHBOUR_WINDOW)
    similarity = JaroWinkler.similarity
    for row in stream_ordered(session, order):
        name = _neighbour_name(row, last_first)
        if len(name) < 3:
            continue
        current = _Neighbour(name, row)
        for other in window:
            if similarity(name, other.name) >= NEIGHBOUR_NAME and current.near(other):
                yield pair(row[0], other.row[0])
        window.append(current)


def _neighbour_passes(
    session: Session, key_passes: Sequence[_Pass], context: _ScanContext, meter: _Meter
) -> None:
    """Compare the pairs both orders bring up, unless a key pass did."""
    wanted: set[tuple[str, str]] = set()
    for number, order in enumerate(NEIGHBOUR_ORDERS, start=len(PASSES)):
        wanted.update(_neighbour_pairs(session, order))
        meter.reach((number + 1) * context.stats.leads)
    rows = rows_by_id(session, (lead_id for ids in wanted for lead_id in ids))
    for a, b in sorted(wanted):
        x, y = rows[a], rows[b]
        if not _compared_before(key_passes, x, y):
            context.compare(x, y)


@dataclass
class _ScanContext:
    rules: Rules
    dismissed: set[tuple[str, str]]
    stats: ScanStats
    links: list[Link]
    cache: _FeatureCache

    def __post_init__(self) -> None:
        self.score = scorer(self.rules)

    def compare(self, x: Sequence[Any], y: Sequence[Any]) -> None:
        ids = pair(x[0], y[0])
        if ids in self.dismissed:
            return
        fx = self.cache.get(x[0]) or self.cache.add(x)
        fy = self.cache.get(y[0]) or self.cache.add(y)
        self.stats.compared += 1
        verdict = self.score(fx, fy)
        if verdict is not None:
            self.links.append(Link(ids[0], ids[1], verdict))


def find_links(
    session: Session,
    rules: Rules,
    progress: Callable[[int, int], None] | None = None,
    stats: ScanStats | None = None,
    dismissed: set[tuple[str, str]] | None = None,
) -> list[Link]:
    stats = stats if stats is not None else ScanStats()
    dismissed = dismissed if dismissed is not None else all_dismissed_pairs(session)
    if _count_all(session) <= IN_MEMORY_LIMIT:
        return _links_in_memory(session, rules, dismissed, stats, progress)
    with _unmapped(session):
        return _links_streamed(session, rules, dismissed, stats, progress)


def _links_streamed(
    session: Session,
    rules: Rules,
    dismissed: set[tuple[str, str]],
    stats: ScanStats,
    progress: Callable[[int, int], None] | None,
) -> list[Link]:
    stats.leads = count_active(session)
    context = _ScanContext(rules, dismissed, stats, [], _FeatureCache())
    steps = len(PASSES) + len(NEIGHBOUR_ORDERS)
    meter = _Meter(progress, stats.leads * steps)
    passes: list[_Pass] = []
    for number, columns in enumerate(PASSES):
        current = _Pass(columns, list(passes))
        for _, group in groupby(stream_by_key(session, columns), key=current.key):
            block = list(group)
            meter.advance(len(block))
            if len(block) > 1:
                _scan_block(block, current, context)
        passes.append(current)
        meter.reach((number + 1) * stats.leads)
    _neighbour_passes(session, passes, context, meter)
    stats.links = len(context.links)
    return context.links


# --- small databases: one read, blocks in memory ----------------------------------
#
# Up to IN_MEMORY_LIMIT leads the scan reads every active lead once and
# builds each pass's blocks in a dict: one query instead of one per pass
# (each a GROUP BY and a sort in the database), the leads' features and
# places computed once for all passes, a column at a time, and the pairs
# scored in one batch (dedupe.batch). The pairs compared and the links
# found are those of the streaming passes above, in the same order.

IN_MEMORY_LIMIT = 100_000
# SELECTED with the sort name before the two activity columns (is_active
# reads the last two).
_ALL_COLUMNS = (*SELECTED[:-2], "sort_name", *SELECTED[-2:])
# The names come first in any row read (no column is left out before them).
_FIRST_AT, _LAST_AT, _FULL_AT = (_POSITION[c] for c in ("first_name", "last_name", "full_name"))
_PLACE_COLUMNS = ("city", "postal_code", "street", "key_company", "key_domain")
_HOUSE_AT = Features._fields.index("house")


def _count_all(session: Session) -> int:
    """Leads in the table, deleted and merged ones too: an upper bound of
    the active ones, and the cheapest count there is."""
    connection = session.connection()
    table = connection.dialect.identifier_preparer.quote(SalesLead.__tablename__)
    return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


# Columns most leads lack (an email, a source's record, a company): the
# in-memory read on SQLite leaves out those no lead has at all.
_SPARSE = (
    *("email", "linkedin_url", "provider_name", "external_id", "phone"),
    *("company_name", "company_domain", "key_email", "key_domain", "key_company"),
)


class _Layout(dict[str, int]):
    """Where each of _ALL_COLUMNS is in a row read (a column left out: at
    a NULL read once, the row's last value)."""

    def __init__(self, read: Sequence[str], absent: Sequence[str] = ()) -> None:
        super().__init__({name: at for at, name in enumerate(read)})
        self.absent = frozenset(absent)
        for name in absent:
            self[name] = len(read)


_FULL_LAYOUT = _Layout(_ALL_COLUMNS)


# The full name is read only for the leads without a first or last name:
# the scan splits it then, and needs it nowhere else (a NULL costs less).
_NAMELESS_FULL_NAME = (
    "CASE WHEN ifnull(first_name, '') = '' AND ifnull(last_name, '') = '' THEN full_name END"
)


def _read_all(session: Session) -> tuple[list[Sequence[Any]], _Layout]:
    """Every active lead's _ALL_COLUMNS, in no particular order, and where
    each column is in its row. On SQLite, without the columns no lead has
    (an index tells which, at once) nor the two activity columns (tested in
    the query), and with the full name only where there is no first or
    last name: Python's sqlite3 passes the interpreter lock back and forth
    for every column of every row it reads, so a value not read is a cost
    saved. (The ``+`` keeps SQLite off the merged_into_id index.)"""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    table = quote(SalesLead.__tablename__)
    rows: list[Sequence[Any]]
    if connection.dialect.name != "sqlite":
        sql = f"SELECT {', '.join(quote(c) for c in _ALL_COLUMNS)} FROM {table}"
        rows = [tuple(row) for row in connection.exec_driver_sql(sql) if is_active(row)]
        return rows, _FULL_LAYOUT
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # One walk of the table tells when no lead has any of them (names
        # and addresses only); else an EXISTS a column, most by its index.
        some = " OR ".join(f"{quote(c)} IS NOT NULL" for c in _SPARSE)
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {some})")
        absent = list(_SPARSE)
        if cursor.fetchone()[0]:
            cursor.execute(
                "SELECT "
                + ", ".join(
                    f"EXISTS (SELECT 1 FROM {table} WHERE {quote(c)} IS NOT NULL)" for c in _SPARSE
                )
            )
            absent = [c for c, there in zip(_SPARSE, cursor.fetchone(), strict=True) if not there]
        read = [c for c in _ALL_COLUMNS[:-2] if c not in absent]
        columns = [_NAMELESS_FULL_NAME if c == "full_name" else quote(c) for c in read]
        sql = (
            f"SELECT {', '.join(columns)}{', NULL' if absent else ''} FROM {table} "
            "WHERE NOT ifnull(is_deleted, 0) AND +merged_into_id IS NULL"
        )
        found = NATIVE.sqlite_rows(cursor.connection, sql) if NATIVE is not None else None
        rows = found if found is not None else cursor.execute(sql).fetchall()
        return rows, _Layout(read, absent)
    finally:
        cursor.close()


class _Memory:
    """The leads of an in-memory scan and what is computed of them, once:
    every lead's features a column at a time (``batch.FeatureColumns``),
    and every pair the passes bring up compared in one batch at the end
    (``batch.BatchScorer``), in the order the passes found them."""

    def __init__(
        self,
        rows: list[Sequence[Any]],
        rules: Rules,
        dismissed: set[tuple[str, str]],
        stats: ScanStats,
        layout: _Layout = _FULL_LAYOUT,
    ) -> None:
        self.rows, self.rules, self.dismissed, self.stats = rows, rules, dismissed, stats
        self.layout = layout
        self.count = len(rows)
        # Column by column (a column left out: a NULL in every row).
        self.table: list[Sequence[Any]] = (
            list(zip(*rows, strict=True)) if rows else [()] * (max(layout.values()) + 1)
        )
        self.columns = FeatureColumns.of_table(self.table, layout, self.count)
        self._initials: list[Initials] | None = None
        self._places: NDArray[np.int64] | None = None
        # Pairs (i * count + j, i < j) already settled: compared, or left
        # out by a block compared in full (the streaming passes' test).
        self.seen: set[int] = set()
        # The pairs to compare, as codes, in the order found.
        self.pending: list[int] = []
        self.links: list[Link] = []
        self._names: tuple[list[str], list[str], dict[int, str]] | None = None
        self._named: NDArray[np.bool_] | None = None

    def initials_meet(self, a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.bool_]:
        """score.initials_meet of the leads at a and b, pair by pair."""
        first, last = self.columns.initial_codes("first")[1], self.columns.initial_codes("last")[1]
        fa, la, fb, lb = first[a], last[a], first[b], last[b]
        meet: NDArray[np.bool_] = ((fa < 0) & (la < 0)) | ((fb < 0) & (lb < 0))  # no name
        meet |= (fb >= 0) & ((fb == fa) | (fb == la))
        meet |= (lb >= 0) & ((lb == fa) | (lb == la))
        return meet

    def initial(self, at: int) -> Initials:
        if self._initials is None:
            self._initials = self.columns.initials()
        return self._initials[at]

    def compare(self, codes: Iterable[int]) -> None:
        """Compare these pairs (codes) when the batch is scored."""
        self.pending.extend(codes)

    def score_pending(self) -> None:
        """Score the pending pairs in one batch: links for those at or above
        rules.low, in the order found (a dismissed pair is not compared)."""
        codes = np.array(self.pending, dtype=np.int64)
        firsts, seconds = codes // self.count, codes % self.count
        ids = self.table[0]
        if self.dismissed:
            dismissed = self.dismissed
            kept = [
                k
                for k, (a, b) in enumerate(
                    zip(
                        map(ids.__getitem__, firsts.tolist()),
                        map(ids.__getitem__, seconds.tolist()),
                        strict=True,
                    )
                )
                if ((a, b) if a < b else (b, a)) not in dismissed
            ]
            firsts, seconds = firsts[kept], seconds[kept]
        self.stats.compared += len(firsts)
        verdicts = BatchScorer(self.rules)(self.columns, firsts, seconds)
        found = [k for k, verdict in enumerate(verdicts) if verdict is not None]
        lefts = map(ids.__getitem__, firsts[found].tolist())
        rights = map(ids.__getitem__, seconds[found].tolist())
        for k, a, b in zip(found, lefts, rights, strict=True):
            self.links.append(Link(a, b, verdicts[k]) if a < b else Link(b, a, verdicts[k]))  # type: ignore[arg-type]

    def key_pass(self, columns: tuple[str, ...]) -> None:
        """One key's pass: the leads sharing the key, block by block. The
        keys two leads share are counted in C; only their leads are walked."""
        layout = self.layout
        if not layout.absent.isdisjoint(columns):
            return  # no lead has this key
        column: Sequence[Any]
        if len(columns) == 1:
            column = self.table[layout[columns[0]]]
        else:  # a key of several columns: None when a part is missing
            parts = zip(*(self.table[layout[c]] for c in columns), strict=True)
            column = [None if None in key else key for key in parts]
        counts = Counter(column)
        counts.pop(None, None)
        shared = {key for key, count in counts.items() if count > 1}
        if not shared:
            return
        blocks: dict[Any, list[int]] = {}
        for index in compress(range(self.count), map(shared.__contains__, column)):
            key = column[index]
            if (block := blocks.get(key)) is None:
                blocks[key] = [index]
            else:
                block.append(index)
        names_alike = columns[0] in NAME_KEYS
        count, max_block = self.count, self.rules.max_block
        # Blocks compared in full (most are two leads): every pair, as a
        # code (a block's positions ascend), that no earlier pass settled.
        codes = [
            i * count + j
            for block in blocks.values()
            if len(block) <= max_block
            for i, j in combinations(block, 2)
        ]
        seen = self.seen
        fresh = [code for code in codes if code not in seen]
        seen.update(fresh)
        if not names_alike and fresh:
            at = np.array(fresh, dtype=np.int64)
            fresh = at[self.initials_meet(at // count, at % count)].tolist()
        self.compare(fresh)
        for block in blocks.values():
            if len(block) > max_block:
                self.key_window(block, names_alike)

    def key_window(self, block: list[int], names_alike: bool) -> None:
        """A block larger than ``rules.max_block``: each lead against the
        ``rules.window`` after it in name order."""
        rules, seen, count = self.rules, self.seen, self.count
        first, last = self.columns.first, self.columns.last
        order = sorted(block, key=lambda at: (last[at] or "", first[at] or ""))
        pairs = ((i, j) for n, i in enumerate(order) for j in order[n + 1 : n + 1 + rules.window])
        for i, j in pairs:
            code = i * count + j if i < j else j * count + i
            if code in seen:
                continue
            if not names_alike and not initials_meet(self.initial(i), self.initial(j)):
                continue
            seen.add(code)
            self.pending.append(i * count + j)  # compared in window order, as (i, j)

    def name_parts(self) -> tuple[list[str], list[str], dict[int, str]]:
        """Each lead's first and last name folded as _neighbour_name folds
        them ("" for none), and the folded full name of each lead with
        neither (its neighbour name either way round)."""
        if self._names is None:
            table = self.table
            firsts, lasts = table[_FIRST_AT], table[_LAST_AT]
            full_names = table[_FULL_AT]
            nameless = {
                at: _fold_name(full_names[at])
                for at in compress(range(self.count), full_names)
                if not firsts[at] and not lasts[at]
            }
            self._names = (fold_names(firsts), fold_names(lasts), nameless)
        return self._names

    def neighbour_names(self, ats: Sequence[int], last_first: bool) -> list[str]:
        """The neighbour names (_neighbour_name) of the leads at ``ats``,
        first name first or last name first: made only for the leads whose
        names are compared (those that share a place with a neighbour)."""
        first, last, nameless = self.name_parts()
        if last_first:
            first, last = last, first
        names = [f"{first[at]} {last[at]}" for at in ats]
        if nameless:
            for k, at in enumerate(ats):
                if at in nameless:
                    names[k] = nameless[at]
        return names

    def named(self) -> NDArray[np.bool_]:
        """Whether each lead's neighbour name is long enough (3 letters) to
        compare: its length worked out from its parts."""
        if self._named is None:
            first, last, nameless = self.name_parts()
            count = self.count
            lengths = np.fromiter(map(len, first), dtype=np.int64, count=count)
            lengths += np.fromiter(map(len, last), dtype=np.int64, count=count) + 1
            for at, name in nameless.items():
                lengths[at] = len(name)
            self._named = lengths >= 3
        return self._named

    def ranked(self, order: tuple[str, ...]) -> list[int]:
        """The leads' positions in the database's ``order`` (NULL first,
        then by code point), ties in the order read: one stable sort on the
        two columns' strings joined by a NUL (which sorts before any other
        character, as the end of a string does), NULL read as ""; the way
        round, when a column holds "" or a NUL, one sort per column."""
        # (last_name, first_name) or (sort_name, id), the more significant first
        sort_name = self.layout["sort_name"]
        major, minor = (
            (self.table[_LAST_AT], self.table[_FIRST_AT])
            if order[0] == "last_name"
            else (self.table[sort_name], self.table[0])
        )
        text = "".join(filter(None, major)) + "".join(filter(None, minor))
        if "\0" not in text and "" not in major and "" not in minor:
            joined = [f"{a or ''}\0{b or ''}" for a, b in zip(major, minor, strict=True)]
            return sorted(range(self.count), key=joined.__getitem__)
        ranked = list(range(self.count))
        for values in (minor, major):  # the least significant first
            if "" in values:
                keys: list[Any] = [(v is not None, v or "") for v in values]
            else:
                keys = list(map(_or_empty, values))
            ranked.sort(key=keys.__getitem__)
        return ranked

    def all_places(self) -> NDArray[np.int64]:
        """Each lead's places as codes, one row a kind: city (folded),
        postcode, house number, company key, domain (_places_of's). Equal
        places, equal codes; a place a lead lacks is a code of its own."""
        if self._places is None:
            city, postcode, street, company, domain = (
                self.table[self.layout[c]] for c in _PLACE_COLUMNS
            )
            house = place_houses(street, self.columns.columns[_HOUSE_AT])
            self._places = np.stack(
                [place_codes(v) for v in (fold_names(city), postcode, house, company, domain)]
            )
        return self._places

    def neighbour_pairs(self, order: tuple[str, ...]) -> Iterator[int]:
        """_neighbour_pairs in memory: the pairs (codes) near in this order
        that no key pass settled."""
        count, seen = self.count, self.seen
        last_first = order[0] == "last_name"
        ranked = np.array(self.ranked(order), dtype=np.int64)
        ats = ranked[self.named()[ranked]] if count else ranked
        places = self.all_places()
        # Each lead against the NEIGHBOUR_WINDOW before it: first whether
        # they share a place (codes, numpy), then, for the few that do, how
        # alike their names are (rapidfuzz, in C).
        for back in range(1, NEIGHBOUR_WINDOW + 1):
            if len(ats) <= back:
                break
            at, other = ats[back:], ats[:-back]
            near = np.flatnonzero((places[:, at] == places[:, other]).any(axis=0))
            if not near.size:
                continue
            at, other = at[near], other[near]
            similar = cpdist(
                self.neighbour_names(at.tolist(), last_first),
                self.neighbour_names(other.tolist(), last_first),
                scorer=JaroWinkler.similarity,
                dtype=np.float64,
            )
            alike = np.asarray(similar) >= NEIGHBOUR_NAME
            at, other = at[alike], other[alike]
            codes = np.where(at < other, at * count + other, other * count + at)
            yield from (code for code in codes.tolist() if code not in seen)


def _or_empty(value: str | None) -> str:
    return value or ""


def _links_in_memory(
    session: Session,
    rules: Rules,
    dismissed: set[tuple[str, str]],
    stats: ScanStats,
    progress: Callable[[int, int], None] | None,
) -> list[Link]:
    rows, layout = _read_all(session)
    if NATIVE is not None:
        return _native_links(rows, layout, rules, dismissed, stats, progress)
    memory = _Memory(rows, rules, dismissed, stats, layout)
    stats.leads = memory.count
    meter = _Meter(progress, stats.leads * (len(PASSES) + len(NEIGHBOUR_ORDERS)))
    for number, columns in enumerate(PASSES, start=1):
        memory.key_pass(columns)
        meter.reach(number * stats.leads)
    wanted: set[int] = set()
    for number, order in enumerate(NEIGHBOUR_ORDERS, start=len(PASSES) + 1):
        wanted.update(memory.neighbour_pairs(order))
        meter.reach(number * stats.leads)
    memory.compare(sorted(wanted - memory.seen))
    memory.score_pending()
    stats.links = len(memory.links)
    return memory.links


def _native_links(
    rows: list[Sequence[Any]],
    layout: _Layout,
    rules: Rules,
    dismissed: set[tuple[str, str]],
    stats: ScanStats,
    progress: Callable[[int, int], None] | None,
) -> list[Link]:
    """_links_in_memory's links, compiled (``dedupe._native``): the same
    passes and scores, the same links in the same order."""
    stats.leads = len(rows)
    links, compared = NATIVE.scan_links(
        rows,
        layout,
        rules,
        dismissed,
        tuple(layout[name] for name in FEATURE_FIELDS),
        PASSES,
        NAME_KEYS,
        NEIGHBOUR_ORDERS,
        NEIGHBOUR_WINDOW,
        NEIGHBOUR_NAME,
        Link,
    )
    stats.compared += compared
    stats.links = len(links)
    if progress is not None:
        total = stats.leads * (len(PASSES) + len(NEIGHBOUR_ORDERS))
        progress(total, total)
    return cast(list[Link], links)


class _Meter:
    """Progress reports every PROGRESS_EVERY leads read, not every lead."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress, self.total, self.done, self.reported = progress, total, 0, 0

    def advance(self, count: int) -> None:
        self.done += count
        if self.progress is not None and self.done - self.reported >= PROGRESS_EVERY:
            self.reported = self.done
            self.progress(self.done, self.total)

    def reach(self, done: int) -> None:
        self.done = self.reported = done
        if self.progress is not None:
            self.progress(done, self.total)


class _Forest:
    """Union-find over lead ids that refuses to join across a dismissed pair."""

    def __init__(self, dismissed: set[tuple[str, str]]) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        self.apart: dict[str, set[str]] = {}
        for a, b in dismissed:
            self.apart.setdefault(a, set()).add(b)
            self.apart.setdefault(b, set()).add(a)

    def find(self, lead_id: str) -> str:
        parent = self.parent
        up = parent.get(lead_id)
        if up is None:
            parent[lead_id] = lead_id
            self.members[lead_id] = [lead_id]
            return lead_id
        if up == lead_id:
            return lead_id
        root = up
        while (above := parent[root]) != root:
            root = above
        while lead_id != root:  # path compression
            parent[lead_id], lead_id = root, parent[lead_id]
        return root

    def join(self, a: str, b: str) -> str | None:
        """The new root, or None when already together or kept apart."""
        ra, rb = self.find(a), self.find(b)
        return None if ra == rb else self.join_roots(ra, rb)

    def join_roots(self, ra: str, rb: str) -> str | None:
        """Join two roots' groups: the new root, or None when kept apart."""
        members = self.members
        small, big = (rb, ra) if len(members[rb]) < len(members[ra]) else (ra, rb)
        if self.apart:
            for member in members[small]:
                if any(self.find(other) == big for other in self.apart.get(member, ())):
                    return None
        self.parent[small] = big
        members[big].extend(members.pop(small))
        return big


def build_clusters(links: Sequence[Link], dismissed: set[tuple[str, str]]) -> list[Cluster]:
    """Clusters from links (see the module's doc), strongest first."""
    if NATIVE is not None:
        return cast(list[Cluster], NATIVE.build_clusters(list(links), dismissed, Cluster))
    forest = _Forest(dismissed)
    weakest: dict[str, Verdict] = {}
    # Strongest first, links of one score in the order found (a stable sort).
    merges = sorted((k for k in links if k.verdict.action == "merge"), key=_SCORE, reverse=True)
    reviews = sorted((k for k in links if k.verdict.action != "merge"), key=_SCORE, reverse=True)
    for link in merges:
        _join(forest, weakest, link)
    certain = {lead for root in weakest for lead in forest.members.get(root, ())}
    for link in reviews:
        if link.a not in certain and link.b not in certain:
            _join(forest, weakest, link)
    clusters = []
    find, members = forest.find, forest.members
    for root, verdict in weakest.items():
        if find(root) != root:
            continue
        lead_ids = tuple(sorted(members[root]))
        action: Literal["merge", "review"] = "merge" if lead_ids[0] in certain else "review"
        clusters.append(Cluster(lead_ids, verdict.score, verdict.reasons, action))
    # By score, highest first, then by lead ids (no two clusters share one).
    clusters.sort(key=_LEAD_IDS)
    clusters.sort(key=_CLUSTER_SCORE, reverse=True)
    return clusters


_SCORE = attrgetter("verdict.score")
_CLUSTER_SCORE, _LEAD_IDS = attrgetter("score"), attrgetter("lead_ids")


def _join(forest: _Forest, weakest: dict[str, Verdict], link: Link) -> None:
    """Join the link's two groups; the joined group's weakest link is kept."""
    ra, rb = forest.find(link.a), forest.find(link.b)
    if ra == rb:
        return
    root = forest.join_roots(ra, rb)
    if root is not None:
        held = link.verdict
        for other in (weakest.get(ra), weakest.get(rb)):
            if other is not None and other.score < held.score:
                held = other
        weakest[root] = held


def scan(
    session: Session,
    rules: Rules,
    progress: Callable[[int, int], None] | None = None,
    stats: ScanStats | None = None,
) -> list[Cluster]:
    """Every cluster of look-alike active leads (dismissed pairs never joined)."""
    with _no_cycle_collection():
        dismissed = all_dismissed_pairs(session)
        links = find_links(session, rules, progress, stats, dismissed)
        return build_clusters(links, dismissed)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The scan allocates millions of small objects and makes no reference
    cycles: Python's cycle collector, run every few thousand allocations,
    would walk them all again and again (a fifth of the scan's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _unmapped(session: Session) -> Iterator[None]:
    """On SQLite, read without memory-mapping the file for the streaming
    scan: it reads every page once per pass, which mapping does not speed
    up, and mapped pages count in the process's memory (a 1M-lead file is
    1.4 GB). The in-memory scan reads a small file once: left as it is."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA mmap_size").scalar()
    connection.exec_driver_sql("PRAGMA mmap_size=0")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA mmap_size={int(before or 0)}")


# --- what the CLI needs besides the scan ------------------------------------------------


def survivor_first(session: Session, lead_ids: Sequence[str]) -> tuple[str, list[str]]:
    """(the oldest active lead, the other active leads) of a cluster: the
    oldest has the longest history to keep. A cluster with fewer than two
    active leads left raises ConflictError."""
    rows = session.execute(
        select(SalesLead.id)
        .where(SalesLead.id.in_(list(lead_ids)), _active())
        .order_by(SalesLead.created_at, SalesLead.id)
    ).all()
    ids = [row.id for row in rows]
    if len(ids) < 2:
        raise ConflictError("fewer than two of its leads are still active")
    return ids[0], ids[1:]


def count_leads(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SalesLead)) or 0)


@dataclass(frozen=True)
class RekeyBatch:
    last_id: str | None  # None: no lead after ``after``
    seen: int
    changed: int


_KEY_SOURCES = sorted(KEY_SOURCE_FIELDS)


def rekey_batch(session: Session, after: str, size: int) -> RekeyBatch:
    """Recompute the match keys of the ``size`` leads after id ``after``
    (deleted and merged ones too: a restore or unmerge brings them back).
    Keys are derived, not audited: no version bump, no event."""
    columns = [SalesLead.id, *(getattr(SalesLead, c) for c in (*_KEY_SOURCES, *MATCH_KEY_COLUMNS))]
    rows = session.execute(
        select(*columns).where(SalesLead.id > after).order_by(SalesLead.id).limit(size)
    ).all()
    if not rows:
        return RekeyBatch(None, 0, 0)
    changes = []
    for row in rows:
        values = dict(row._mapping)
        wanted = match_keys(values)
        if any(values[c] != wanted[c] for c in MATCH_KEY_COLUMNS):
            changes.append({"lead_id": row.id, **wanted})
    if changes:
        table = cast(Table, SalesLead.__table__)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("lead_id"))
            .values({c: bindparam(c) for c in MATCH_KEY_COLUMNS}),
            changes,
        )
    return RekeyBatch(rows[-1].id, len(rows), len(changes))
