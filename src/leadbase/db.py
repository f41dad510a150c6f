"""Engines for SQLite, PostgreSQL and MariaDB/MySQL, and the unit of work.

The unit of work is the only place that commits: a caller (request, CLI
command, job, LeadDatabase method) opens one, services flush into it, and
leaving the block commits once or rolls everything back. Jobs registered with
``after_commit`` run only once the commit has succeeded.
"""

from __future__ import annotations

import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from leadbase.config import Settings, get_settings
from leadbase.models.audit import AuditChainHead
from leadbase.models.base import Base, UTCDateTime

_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
}


def normalise_url(url: str | URL) -> URL:
    """Pick the drivers we ship (psycopg 3, PyMySQL) for bare scheme names."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def ensure_private_sqlite_file(path: str) -> None:
    """Create the database file (and its folder) readable by its owner only.

    SQLite gives the -wal and -shm files the mode of the main file, so one
    0600 file keeps all three private.
    """
    file = Path(path)
    if file.exists():
        return
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def _sqlite_engine(url: URL, settings: Settings) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        ensure_private_sqlite_file(database)
    busy_ms = settings.sqlite_busy_timeout_ms
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
        pool_size=10,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not pysqlite.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 64 MiB by default: the indexes of 1M leads stay hot.
        cur.execute(f"PRAGMA cache_size=-{int(settings.sqlite_cache_kib)}")
        # Read pages straight from the OS cache, not a read() call each: a
        # lead by id on a 1M-lead file touches a dozen pages no cache holds.
        cur.execute(f"PRAGMA mmap_size={int(settings.sqlite_mmap_bytes)}")
        # Checkpoint every ~40 MiB of WAL instead of 4 MiB: bulk imports commit
        # often, and each checkpoint copies pages back and fsyncs the file.
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that
        # reads and then writes fails at once with SQLITE_BUSY instead of
        # waiting out busy_timeout.
        options = conn.get_execution_options()
        if options.get("leadbase_write"):
            background = getattr(_thread_state, "background", False)
            if background or not _begin_polling(conn.connection.driver_connection, busy_ms):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("leadbase_single_statement"):
            conn.exec_driver_sql("BEGIN")
        # else: one statement is atomic on its own; skipping BEGIN (and the
        # rollback that ends it) saves two round trips on every GET by id.

    return engine


# How often a request retries for the write lock another process holds.
_WRITE_LOCK_POLL_SECONDS = 0.001


def _begin_polling(raw: Any, busy_ms: int) -> bool:
    """BEGIN IMMEDIATE, trying every millisecond while another process writes.

    SQLite's own busy handler sleeps longer and longer between tries (25 ms,
    then 50 and 100) once it has waited a little: a request queued behind a
    job worker's run of short transactions kept missing the gaps between
    them. Requests poll; jobs (background writes) keep the busy handler.
    False only after busy_timeout: the caller then tries once more the usual way.
    """
    deadline = time.monotonic() + busy_ms / 1000
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(_WRITE_LOCK_POLL_SECONDS)
                continue
            return True
        return False
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(busy_ms)}")


def create_db_engine(url: str | URL | None = None, settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    parsed = normalise_url(url or settings.resolved_database_url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, settings)
    # READ COMMITTED on MariaDB too (its default is REPEATABLE READ): once a
    # writer holds the chain lock, every read must see what others committed
    # before it, as on PostgreSQL; a snapshot from an earlier read would not.
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        isolation_level="READ COMMITTED",
    )
    # A Core executemany INSERT goes as multi-row statements of a thousand
    # rows (psycopg would send a statement a row): the rollup triggers of
    # migration 0018 run once a statement (pymysql already batches).
    if parsed.get_backend_name() == "postgresql":
        engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


IN_LIST_CHUNK = 500  # bound IN-lists: stays under every driver's parameter limit


def chunked(values: Sequence[Any], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[Any]]:
    """``values`` in slices of at most ``size`` (for IN-lists and multi-row inserts)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


_thread_state = threading.local()


@contextmanager
def background_writes() -> Iterator[None]:
    """Writes this thread makes in the block are background work (jobs):
    on SQLite they let the requests' writes waiting in this process go first."""
    previous = getattr(_thread_state, "background", False)
    _thread_state.background = True
    try:
        yield
    finally:
        _thread_state.background = previous


class WriteLock:
    """One writer at a time in this process (SQLite has one write lock), with
    requests first: a background writer waits while any other writer waits.

    Without this, a quick-add queued behind a run of enrichment jobs (claim,
    apply, finish: three short transactions each) waits for all of them;
    now it waits for the one in flight at most. Jobs catch up when requests
    pause; under unending request load they wait, which is the point.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._held = False
        self._requests_waiting = 0

    def __enter__(self) -> None:
        background = getattr(_thread_state, "background", False)
        with self._changed:
            if not background:
                self._requests_waiting += 1
            try:
                while self._held or (background and self._requests_waiting):
                    self._changed.wait()
            finally:
                if not background:
                    self._requests_waiting -= 1
            self._held = True

    def __exit__(self, *_exc: object) -> None:
        with self._changed:
            self._held = False
            self._changed.notify_all()


class RequestsFirst:
    """PostgreSQL and MariaDB queue writers themselves (the audit chain's
    head row): requests' writes pass freely here, and a background writer (a
    job) waits while a request of this process is writing. The same
    priority as WriteLock gives on SQLite, without serializing requests.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._requests = 0

    def __enter__(self) -> None:
        with self._changed:
            if getattr(_thread_state, "background", False):
                while self._requests:
                    self._changed.wait()
            else:
                self._requests += 1

    def __exit__(self, *_exc: object) -> None:
        if getattr(_thread_state, "background", False):
            return
        with self._changed:
            self._requests -= 1
            if not self._requests:
                self._changed.notify_all()


class UnitOfWork:
    """One session, one transaction; follow-up work runs after commit only."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._before_commit: list[Callable[[], object]] = []
        self._after_commit: list[Callable[[], object]] = []
        # What services gather over the unit of work and write once at its
        # end (leads.service.rescore: the leads to score again).
        self.gathered: dict[str, set[str]] = {}
        # Job kinds the caller queues itself for all it writes (an import
        # run's scoring: one job at the run's end): gathered for none.
        self.queued_by_caller: set[str] = set()

    def before_commit(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` in the transaction, just before it commits: the last
        writes of the unit of work (one job for everything it gathered)."""
        self._before_commit.append(lambda: fn(*args, **kwargs))

    def run_before_commit(self) -> None:
        while self._before_commit:
            self._before_commit.pop(0)()

    def after_commit(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self._after_commit.append(lambda: fn(*args, **kwargs))

    def run_after_commit(self) -> None:
        for job in self._after_commit:
            job()
        self._after_commit.clear()


def serialize_writers(session: Session) -> None:
    """Make this transaction the only writer until it ends.

    SQLite already has one writer (BEGIN IMMEDIATE). On PostgreSQL and
    MariaDB we lock the audit chain's one-row head first thing, so duplicate
    checks cannot race and the hash chain cannot fork; taking it before any
    other row lock also means writers can never deadlock on each other.
    """
    if session.info.get("leadbase_write_locked"):
        return
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(AuditChainHead.id).where(AuditChainHead.id == 1).with_for_update())
    session.info["leadbase_write_locked"] = True


_Processor = Callable[[Any], Any]
_PROCESSORS: dict[tuple[str, str, str], list[tuple[int, _Processor]]] = {}


def _bind_processors(
    table: Table, columns: Sequence[str], dialect: Any
) -> list[tuple[int, _Processor]]:
    """SQLAlchemy's own per-column conversions (JSON, timestamps...), looked up once."""
    key = (dialect.name, table.name, ",".join(columns))
    if key not in _PROCESSORS:
        found: list[tuple[int, _Processor]] = []
        for index, name in enumerate(columns):
            column_type = table.c[name].type
            if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
                found.append((index, _sqlite_utc_text))
                continue
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                found.append((index, processor))
        _PROCESSORS[key] = found
    return _PROCESSORS[key]


def _sqlite_utc_text(value: datetime) -> str:
    """What SQLAlchemy stores for a UTCDateTime on SQLite ("2026-11-23
    19:23:39.464295", naive UTC, always six fraction digits), at a third of its
    cost: a bulk import writes about ten timestamps a lead."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def bulk_insert(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT many rows, all with the same keys, as one executemany.

    On SQLite the rows go to the driver directly, converted by SQLAlchemy's
    own bind processors: the stored values are the same as through Core, at
    about half the cost per row, which a 100k-lead import feels. Elsewhere
    it is ``insert_rows``: a COPY on PostgreSQL, a Core executemany on MariaDB.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    session.flush()  # the driver-level path bypasses autoflush
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        insert_rows(connection, table, rows)
        return
    columns = _shared_columns(table, rows)
    params = driver_rows(table, columns, rows, connection.dialect)
    sql = (
        f"INSERT INTO {_target(connection, table, columns)} "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    connection.exec_driver_sql(sql, params)


def _shared_columns(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns every row gives (the first row's keys): a driver-level
    statement names them once for all rows."""
    columns = list(rows[0])
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"bulk_insert into {table.name}: rows must share the same keys")
    return columns


def _target(connection: Connection, table: Table, columns: Sequence[str]) -> str:
    """``table (column, ...)``, quoted for the connection's dialect."""
    quote = connection.dialect.identifier_preparer.quote
    return f"{quote(table.name)} ({', '.join(quote(c) for c in columns)})"


# From how many rows a PostgreSQL bulk insert goes as COPY: a 1,000-row
# multi-row INSERT is a 60,000-parameter statement for psycopg to rewrite and
# the server to parse and plan; COPY streams the rows (an import of 20,000
# leads spent ~12 s in INSERTs of sales_leads that COPY does in ~4 s). Fewer
# rows stay one INSERT: one round trip, not COPY's two.
COPY_MIN_ROWS = 20


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``bulk_insert`` on PostgreSQL or MariaDB, given the connection: on
    PostgreSQL as COPY from COPY_MIN_ROWS rows, else a Core executemany."""
    postgresql = connection.dialect.name == "postgresql"
    if postgresql and len(rows) >= COPY_MIN_ROWS and _copy_insert(connection, table, rows):
        return
    connection.execute(insert(table), list(rows))


def _copy_insert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> bool:
    """The rows as one COPY FROM STDIN (text format) in the connection's
    transaction; False (nothing done) when a missing column has a Python-side
    default other than a constant, which only a Core INSERT computes.

    The values go through SQLAlchemy's bind processors (JSON to its text,
    timestamps to naive UTC) as an INSERT's would, then psycopg's text
    dumpers; statement triggers (the rollups' transition tables) fire once,
    as for the INSERT. A database error comes back as SQLAlchemy's
    (IntegrityError...), as an INSERT's would."""
    columns = _shared_columns(table, rows)
    missing = _constant_defaults(table, columns)
    if missing is None:
        return False
    if missing:  # rare: the write path's bulk rows hold every column
        rows = [{**row, **missing} for row in rows]
        columns = list(rows[0])
    values = driver_rows(table, columns, rows, connection.dialect)
    sql = f"COPY {_target(connection, table, columns)} FROM STDIN"
    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for value in values:
                copy.write_row(value)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, connection.dialect.loaded_dbapi.Error) from exc
    return True


def _constant_defaults(table: Table, columns: Sequence[str]) -> dict[str, Any] | None:
    """The Python-side constant defaults of the table's columns not given;
    None if one not given has a computed default (a callable, a sequence)."""
    found: dict[str, Any] = {}
    given = set(columns)
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if not default.is_scalar:
            return None
        found[column.name] = default.arg  # type: ignore[attr-defined]
    return found


def driver_rows(
    table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], dialect: Any
) -> list[tuple[Any, ...]]:
    """The rows' values of ``columns`` as the driver takes them, a tuple a
    row, converted by SQLAlchemy's bind processors (``_bind_processors``).

    Column by column: a batch's rows share many values (its timestamp, its
    actor, a flag), converted once for a column holding one value throughout
    instead of once a row."""
    tuples = row_tuples(rows, columns)
    processors = _bind_processors(table, columns, dialect)
    if not processors:
        return tuples
    values: list[Sequence[Any]] = list(zip(*tuples, strict=True))  # the columns
    for index, processor in processors:
        values[index] = _converted(values[index], processor)
    return list(zip(*values, strict=True))


def row_tuples(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Each row's values of ``columns``, a tuple a row (read by C, not a loop here)."""
    if len(columns) == 1:
        [name] = columns
        return [(row[name],) for row in rows]
    return list(map(operator.itemgetter(*columns), rows))


def _converted(column: Sequence[Any], processor: _Processor) -> list[Any]:
    first = column[0]
    if all(map(operator.is_, column, repeat(first))):  # the same object throughout
        return [None if first is None else processor(first)] * len(column)
    return [None if value is None else processor(value) for value in column]


class Database:
    """An engine plus the ways to use it: read sessions and units of work."""

    def __init__(self, url: str | URL | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.engine = create_db_engine(url, self.settings)
        self.dialect = self.engine.dialect.name
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        single = self.engine.execution_options(leadbase_single_statement=True)
        if self.dialect != "sqlite":
            # One statement needs no transaction: autocommit saves the BEGIN
            # and ROLLBACK round trips around every GET by id.
            single = single.execution_options(isolation_level="AUTOCOMMIT")
        self._single_reads = sessionmaker(single, expire_on_commit=False)
        writer = self.engine.execution_options(leadbase_write=True)
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)
        # In-process writers queue on a lock instead of spinning in SQLite's
        # busy handler; other processes still wait on busy_timeout. Either
        # way requests write before this process's jobs.
        self._write_lock: Any = WriteLock() if self.dialect == "sqlite" else RequestsFirst()

    @property
    def url(self) -> URL:
        return self.engine.url

    @contextmanager
    def read_session(self, *, single_statement: bool = False) -> Iterator[Session]:
        """A session for reading. ``single_statement``: the caller runs one
        statement (or several that need not agree with each other), so on
        SQLite no transaction is opened around them."""
        factory = self._single_reads if single_statement else self._read_sessions
        session = factory()
        try:
            yield session
        finally:
            # close() ends the transaction without expiring loaded objects,
            # so rows read here stay usable after the block.
            session.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with self._write_lock:
            session = self._write_sessions()
            uow = UnitOfWork(session)
            try:
                yield uow
                uow.run_before_commit()
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        uow.run_after_commit()

    def dispose(self) -> None:
        self.engine.dispose()
