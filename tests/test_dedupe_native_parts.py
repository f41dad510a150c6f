"""The compiled scan's own parts (``dedupe._native``): its read of SQLite
through the connection's handle, and its sort in the database's order.

The whole-scan comparisons with the Python path are in test_dedupe_native;
here each part is held to what it stands for: ``cursor.fetchall()`` and
SQLite's ``ORDER BY`` (NULL first, then by code point).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.dedupe import scan
from leadbase.dedupe.rules import Rules
from tests.conftest import NATIVE_NOT_BUILT as NOT_BUILT


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    found = sqlite3.connect(tmp_path / "read.db")
    found.execute("CREATE TABLE t (a, b TEXT, c REAL, d BLOB)")
    found.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        [
            (1, "plain", 1.5, b"\x00\x01"),
            (None, "", None, b""),
            (-(2**62), "Émile Zoë", -0.0, None),
            ("text in an untyped column", "日本 😀", 3.0, b"x" * 300),
            (2**63 - 1, "x" * 5000, float("inf"), None),
        ],
    )
    found.commit()
    yield found
    found.close()


QUERY = "SELECT a, b, c, d, NULL, 7, 'literal' FROM t ORDER BY rowid"


def test_read_rows_are_fetchall(native: Any, connection: sqlite3.Connection) -> None:
    """Every kind of value comes back as Python's sqlite3 gives it: the same
    list of tuples, types and all."""
    expected = connection.execute(QUERY).fetchall()
    found = native.sqlite_rows(connection, QUERY)
    assert found == expected
    assert [[type(v) for v in row] for row in found] == [[type(v) for v in row] for row in expected]


def test_read_sees_the_connection_s_own_transaction(
    native: Any, connection: sqlite3.Connection
) -> None:
    """It reads through the same connection: a row written but not yet
    committed is there, as a scan inside a unit of work expects."""
    connection.execute("INSERT INTO t (a, b) VALUES (99, 'uncommitted')")
    assert connection.in_transaction
    found = native.sqlite_rows(connection, "SELECT a, b FROM t WHERE a = 99")
    assert found == [(99, "uncommitted")]


def test_read_of_many_rows(native: Any, tmp_path: Path) -> None:
    """More rows than the 256 read between two lets-go of the interpreter lock."""
    with sqlite3.connect(tmp_path / "many.db") as many:
        many.execute("CREATE TABLE n (i INTEGER, s TEXT)")
        many.executemany("INSERT INTO n VALUES (?, ?)", ((i, f"row {i}") for i in range(1000)))
        query = "SELECT i, s FROM n ORDER BY i"
        assert native.sqlite_rows(many, query) == many.execute(query).fetchall()
    many.close()


def test_a_bad_query_is_an_error_and_changes_nothing(
    native: Any, connection: sqlite3.Connection
) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        native.sqlite_rows(connection, "SELECT * FROM missing")
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        native.sqlite_rows(connection, "SELECT missing_column FROM t")
    # the connection goes on working, its rows as they were
    assert native.sqlite_rows(connection, QUERY) == connection.execute(QUERY).fetchall()


def test_connections_it_cannot_read_as_python_would_are_left_to_python(
    native: Any, connection: sqlite3.Connection
) -> None:
    """None (the caller reads the usual way) where the rows would differ
    from Python's: another text factory; or where it is not a sqlite3
    connection at all."""
    connection.text_factory = bytes
    assert native.sqlite_rows(connection, QUERY) is None
    connection.text_factory = str
    assert native.sqlite_rows(connection, QUERY) is not None
    assert native.sqlite_rows(object(), QUERY) is None


def test_an_in_memory_database_is_read(native: Any) -> None:
    memory = sqlite3.connect(":memory:")
    memory.execute("CREATE TABLE m (x)")
    memory.execute("INSERT INTO m VALUES ('in memory')")
    assert native.sqlite_rows(memory, "SELECT x FROM m") == [("in memory",)]
    memory.close()


def test_the_scan_reads_sqlite_through_it(
    native: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scan's in-memory read goes through the compiled read on SQLite (the
    part of a small scan it was built to speed up), and finds the leads."""
    calls: list[str] = []
    read = native.sqlite_rows

    def counted(connection: Any, sql: str) -> Any:
        calls.append(sql)
        return read(connection, sql)

    monkeypatch.setattr(native, "sqlite_rows", counted)
    client = LeadDatabase(sqlite_url, actor="test")
    try:
        client.add_leads(
            [{"first_name": "Jane", "last_name": "Smith", "city": "Perth"}] * 2,
            on_duplicate="allow",
        )
    finally:
        client.close()
    database = Database(sqlite_url)
    try:
        with database.read_session() as session:
            links = scan.find_links(session, Rules())
    finally:
        database.dispose()
    assert len(calls) == 1 and "FROM sales_leads" in calls[0]
    assert len(links) == 1 and links[0].verdict.reasons == ("same name", "same city")


# --- the database's order ----------------------------------------------------------

_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "a", "ab", "abcdefg", "abcdefgh", "abcdefgi", "a\x00", "a\x00b", "ÿ"]),
    st.text(alphabet="ab\x00é😀", max_size=10),
    st.text(max_size=12),
)


def _database_order(major: list[str | None], minor: list[str | None]) -> list[int]:
    """SQLite's ORDER BY major, minor (BINARY: NULL first, then by UTF-8
    bytes, which is by code point), ties in the order given."""
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE o (n INTEGER PRIMARY KEY, major TEXT, minor TEXT)")
        db.executemany(
            "INSERT INTO o VALUES (?, ?, ?)",
            [(n, a, b) for n, (a, b) in enumerate(zip(major, minor, strict=True))],
        )
        found = [n for (n,) in db.execute("SELECT n FROM o ORDER BY major, minor, n")]
    db.close()
    return found


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_VALUES, _VALUES), max_size=40))
def test_order_is_the_database_s(pairs: list[tuple[str | None, str | None]]) -> None:
    """The name neighbourhood's sort (7-byte prefixes first, the text on a
    tie) puts the leads in the order the database's ORDER BY does."""
    if scan.NATIVE is None:
        pytest.skip(NOT_BUILT)
    major, minor = [a for a, _ in pairs], [b for _, b in pairs]
    assert scan.NATIVE.order(major, minor) == _database_order(major, minor)
