"""Creates audited a batch to an entry.

A bulk create of many rows (an import's batch) writes ONE chain entry, not
one per row: entity ``<type>_batch``, entity id the batch's timestamp (every
row of the batch has exactly that ``created_at``, so a row finds its entry
through the entity index at no cost per row), action ``create_many``.

Its ``changes`` is canonical JSON naming its format::

    {"data": "<base64 of zlib of canonical JSON>", "format": "columns+zlib+base64"}

where the JSON inside holds the ids once and each field's values as a
column, in id order (null: the row did not set the field)::

    {"columns": {"city": ["Paris", null, ...], ...}, "ids": ["…", "…", ...]}

The entry's hash covers that stored text like any other entry's, so
``verify`` catches an edited value inside it as it catches any edit. Read
back (``created``), a row's values are exactly what its own create entry
would have held: the same canonical JSON, field by field.
"""

from __future__ import annotations

import base64
import functools
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from leadbase.audit.chain import append_many, canonical_json, format_timestamp
from leadbase.db import row_tuples

# From how many rows a create is one batch entry: below it each row keeps
# its own entry (a single create, a small bulk call), as readable as ever.
BATCH_MIN = 50
BATCH_ACTION = "create_many"
FORMAT = "columns+zlib+base64"
# MariaDB's TEXT column holds 65,535 bytes: a batch entry's changes stay
# below, split over more entries when its rows do not fit in one.
MAX_TEXT = 60_000
# The column JSON to cut a batch at before compressing it: such data
# compresses about 5 to 1 (names, emails, repeated values), to 1.33 times as
# much in base64; a piece that does not fit is cut in two.
MAX_RAW = MAX_TEXT * 3
# Rows encoded to estimate a big batch's size (with a seventh to spare).
ESTIMATE_ROWS = 200


def batch_type(entity_type: str) -> str:
    """The entity type a batch of ``entity_type`` creates is filed under."""
    return f"{entity_type}_batch"


def batch_id(created_at: datetime) -> str:
    """The batch entry's entity id: its rows' common ``created_at``."""
    return format_timestamp(created_at)


def append_creates(
    session: Session,
    entity_type: str,
    creates: Sequence[tuple[str, Mapping[str, list[Any]]]],
    at: datetime,
) -> None:
    """Audit new rows, all created at ``at``: (id, {field: [None, value]}) each.

    A few rows get an entry each; a batch of ``BATCH_MIN`` or more gets one
    ``create_many`` entry holding them all (see the module's docstring).
    """
    if len(creates) < BATCH_MIN:
        append_many(session, entity_type, "create", creates, at=at)
        return
    entries = [(batch_id(at), changes) for changes in _encoded(creates)]
    append_many(session, batch_type(entity_type), BATCH_ACTION, entries, at=at, raw=True)


def append_rows(
    session: Session,
    entity_type: str,
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    at: datetime,
) -> None:
    """``append_creates`` for new rows that hold every one of ``fields``
    (None: not set) and their ``id``: the batch entry's columns are read
    off the rows, without a changes dict per row first."""
    if len(rows) < BATCH_MIN:
        creates = [
            (row["id"], {field: [None, row[field]] for field in fields if row[field] is not None})
            for row in rows
        ]
        append_many(session, entity_type, "create", creates, at=at)
        return
    append_batch(session, batch_type(entity_type), BATCH_ACTION, rows, fields, at)


def append_batch(
    session: Session,
    entity_type: str,
    action: str,
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    at: datetime,
) -> None:
    """Rows (their ``id`` and ``fields``), all written at ``at``, as batch
    entries of ``entity_type`` and ``action`` (as few as fit, see the
    module's docstring), whatever their number: bulk activities use it."""
    columns = _Columns.of(rows, fields)
    entries = [(batch_id(at), changes) for changes in _encoded(columns, _Columns.to_json)]
    append_many(session, entity_type, action, entries, at=at, raw=True)


@dataclass(frozen=True)
class _Columns:
    """Rows turned into columns once (every field, sorted): a batch cut in
    pieces slices the columns instead of reading every row again."""

    ids: Sequence[Any]
    columns: dict[str, Sequence[Any]]

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> _Columns:
        names = ["id", *sorted(fields)]
        if not rows:
            return cls((), dict.fromkeys(names[1:], ()))
        ids, *columns = zip(*row_tuples(rows, names), strict=True)  # tuples: JSON arrays
        return cls(ids, dict(zip(names[1:], columns, strict=True)))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, part: slice) -> _Columns:
        return _Columns(self.ids[part], {f: c[part] for f, c in self.columns.items()})

    def to_json(self) -> str:
        """What ``_columns`` makes of these rows' creates: a field no row set is left out."""
        count = len(self.ids)
        return canonical_json(
            {
                "columns": {f: c for f, c in self.columns.items() if c.count(None) != count},
                "ids": self.ids,
            }
        )


class _Sliceable(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, part: slice, /) -> Any: ...


def _encoded(creates: Any, columns: Callable[[Any], str] | None = None) -> list[str]:
    """The batch's entries' ``changes``: one, or as many as keep each within
    ``MAX_TEXT`` (a single row too big for it stays whole, as its own
    entry would be). ``creates``: (id, changes) pairs, or ``_Columns``;
    ``columns`` makes a piece's column JSON (``_columns`` by default)."""
    to_columns = columns or _columns
    if len(creates) >= 4 * ESTIMATE_ROWS:
        # Clearly too big for one entry: cut by an estimate from the first
        # rows, not by encoding the whole first (each piece is checked again).
        sample = len(to_columns(creates[:ESTIMATE_ROWS]))
        estimate = sample * len(creates) // ESTIMATE_ROWS
        if estimate > 2 * MAX_RAW:
            return _pieces(creates, -(-estimate * 8 // 7 // MAX_RAW), to_columns)
    inner = to_columns(creates)
    if len(inner) > MAX_RAW and len(creates) > 1:
        return _pieces(creates, -(-len(inner) // MAX_RAW), to_columns)
    text = _compressed(inner)
    if len(text) > MAX_TEXT and len(creates) > 1:  # compressed worse than most
        return _pieces(creates, 2, to_columns)
    return [text]


def _pieces(creates: _Sliceable, pieces: int, columns: Callable[[Any], str]) -> list[str]:
    size = -(-len(creates) // pieces)
    return [
        text
        for i in range(0, len(creates), size)
        for text in _encoded(creates[i : i + size], columns)
    ]


def encode(creates: Sequence[tuple[str, Mapping[str, list[Any]]]]) -> str:
    """The ``changes`` text of one batch entry for these creates (any size)."""
    return _compressed(_columns(creates))


def _columns(creates: Sequence[tuple[str, Mapping[str, list[Any]]]]) -> str:
    fields = sorted({field for _, changes in creates for field in changes})
    columns: dict[str, list[Any]] = {field: [None] * len(creates) for field in fields}
    for i, (_, changes) in enumerate(creates):
        for field, (old, new) in changes.items():
            if old is not None or new is None:
                raise ValueError(f"a create sets {field} from nothing: not {old!r} -> {new!r}")
            columns[field][i] = new
    return canonical_json({"columns": columns, "ids": [entity_id for entity_id, _ in creates]})


def _compressed(inner: str) -> str:
    # Level 6: 2.5 times as fast as 9 on a batch, for 2% more bytes.
    data = base64.b64encode(zlib.compress(inner.encode("utf-8"), 6)).decode("ascii")
    return canonical_json({"data": data, "format": FORMAT})


@dataclass(frozen=True)
class Batch:
    """A decoded batch entry: where each id sits, and the value columns."""

    index: Mapping[str, int]
    columns: Mapping[str, Sequence[Any]]

    def created(self, entity_id: str) -> dict[str, Any] | None:
        """One row's values as created; None when the batch does not hold it."""
        i = self.index.get(entity_id)
        if i is None:
            return None
        return {field: column[i] for field, column in self.columns.items() if column[i] is not None}


@functools.lru_cache(maxsize=8)
def decode(changes: str) -> Batch:
    """A batch entry's ``changes`` text, decoded (cached by the text itself:
    a revert reads the same batch for each of its rows; an edited text is
    another key)."""
    outer = json.loads(changes)
    if outer.get("format") != FORMAT:
        raise ValueError(f"unknown audit batch format: {outer.get('format')!r}")
    inner = json.loads(zlib.decompress(base64.b64decode(outer["data"])))
    ids = inner["ids"]
    columns = inner["columns"]
    if any(len(column) != len(ids) for column in columns.values()):
        raise ValueError("audit batch columns and ids differ in length")
    return Batch({entity_id: i for i, entity_id in enumerate(ids)}, columns)


def create_changes(values: Mapping[str, Any]) -> str:
    """The ``changes`` text a row's own create entry would hold."""
    return canonical_json({field: [None, value] for field, value in values.items()})


def json_values(changes: str) -> dict[str, Any]:
    """A create entry's ``changes`` text as {field: value}."""
    return {field: new for field, (_old, new) in json.loads(changes).items()}
