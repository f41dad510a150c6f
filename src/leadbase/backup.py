"""Backups that can be taken while writes go on, and restores into an empty DB.

SQLite: the online backup API copies the database in one step, so the copy
is one consistent snapshot; the copy is a plain SQLite file (rollback
journal, no -wal file to carry along).

PostgreSQL / MariaDB: a portable dump, gzip'd JSON lines: a header line, one
line a row, and a trailer line with the row counts, so a cut-off file is
noticed. Every table is read inside one REPEATABLE READ transaction, so all
of them come from the same instant, and rows are streamed, never all held.

``restore`` checks the file before it touches the target, then reads either
format into any supported (empty) database in one transaction: all or
nothing (on MariaDB, whose DDL commits at once, the migration may stay).

Backups are written to a private (0600) temporary file that takes the name
``path`` only once complete, so a failed backup never replaces a good one.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import os
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    RowMapping,
    Select,
    Table,
    create_engine,
    func,
    insert,
    inspect,
    null,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import JSON, LargeBinary, Numeric

from leadbase import schema
from leadbase.errors import LeadbaseError
from leadbase.models import Base
from leadbase.models.base import UTCDateTime

FORMAT = "leadbase-dump"
VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
BATCH = 1000
Progress = Callable[[str, int], None]
_CHAIN_HEAD = "audit_chain_head"


class BackupError(LeadbaseError):
    code = "backup_error"


def _tables() -> list[Table]:
    """Every table, parents before children; not the derived ones (the
    analytics rollups), which the restored rows' triggers count afresh."""
    return [table for table in Base.metadata.sorted_tables if not table.info.get("derived")]


def _json_columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if isinstance(c.type, JSON)]


def _null_flag(column: Column[Any]) -> str:
    return f"{column.key}__is_sql_null"


def _select(table: Table) -> Select[Any]:
    """All columns in primary-key order, plus, for each JSON column, whether
    it is SQL NULL: both SQL NULL and JSON ``null`` read back as None, and a
    restore must give back the one that was there."""
    flags = [c.is_(None).label(_null_flag(c)) for c in _json_columns(table)]
    return select(*table.columns, *flags).order_by(*table.primary_key.columns)


def _read_row(table: Table, row: RowMapping) -> tuple[dict[str, Any], list[str]]:
    """The row's values by column key, and the JSON columns holding JSON null."""
    record = {column.key: row[column.key] for column in table.columns}
    json_nulls = [
        c.key for c in _json_columns(table) if record[c.key] is None and not row[_null_flag(c)]
    ]
    return record, json_nulls


# --- backup ----------------------------------------------------------------------


def backup(engine: Engine, path: Path, progress: Progress | None = None) -> int:
    """Write a consistent snapshot of every table to ``path``; returns rows written."""
    path = Path(path)
    _refuse_database_file(engine, path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Private from the first byte: never a moment with the umask's mode.
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write a backup to {path}: {exc.strerror}") from None
    try:
        if engine.dialect.name == "sqlite":
            rows = _backup_sqlite(engine, temporary, progress)
        else:
            rows = _backup_dump(engine, temporary, progress)
        # Only a complete backup takes the name (and replaces an older one).
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(exc, OSError):
            raise BackupError(f"cannot write a backup to {path}: {exc}") from None
        raise
    return rows


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


def _refuse_database_file(engine: Engine, path: Path) -> None:
    database = _sqlite_file(engine)
    if database is None:
        return
    for live in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if path.resolve() == live.resolve() or (
            path.exists() and live.exists() and path.samefile(live)
        ):
            raise BackupError(f"{path} is the database itself; write the backup elsewhere")


def _backup_sqlite(engine: Engine, path: Path, progress: Progress | None) -> int:
    target = sqlite3.connect(path)
    try:
        with engine.connect() as connection:
            source = connection.connection.driver_connection
            assert isinstance(source, sqlite3.Connection)
            source.backup(target)  # all pages in one step: one snapshot
        # The copy carries the source's WAL flag: make it one self-contained file.
        target.execute("PRAGMA journal_mode=DELETE")
        written = 0
        for table in _tables():
            written += target.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0]
            if progress:
                progress(table.name, written)
    finally:
        target.close()
    _fsync(path)
    return written


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):  # a trained model's estimator
        return base64.b64encode(value).decode("ascii")
    return value


def _snapshot(engine: Engine) -> Engine:
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine.execution_options(isolation_level="REPEATABLE READ")


def _backup_dump(engine: Engine, path: Path, progress: Progress | None) -> int:
    written = 0
    counts: dict[str, int] = {}
    with (
        _snapshot(engine).connect() as connection,
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw) as compressed,
        io.TextIOWrapper(compressed, encoding="utf-8", newline="\n") as out,
    ):
        # One transaction from here on: the revision and every table are read
        # from the snapshot taken by the first statement.
        revision = MigrationContext.configure(connection).get_current_revision()
        header = {
            "format": FORMAT,
            "version": VERSION,
            "revision": revision,
            "dialect": engine.dialect.name,
            "tables": [t.name for t in _tables()],
        }
        out.write(json.dumps(header) + "\n")
        for table in _tables():
            counts[table.name] = 0
            result = connection.execute(_select(table).execution_options(yield_per=BATCH))
            for row in result.mappings():
                record, json_nulls = _read_row(table, row)
                line: dict[str, Any] = {
                    "t": table.name,
                    "r": {key: _encode(value) for key, value in record.items()},
                }
                if json_nulls:
                    line["n"] = json_nulls
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
                counts[table.name] += 1
                if progress and written % BATCH == 0:
                    progress(table.name, written)
            if progress:
                progress(table.name, written)
        out.write(json.dumps({"end": True, "rows": written, "counts": counts}) + "\n")
    _fsync(path)  # after the gzip trailer is written
    return written


# --- reading a backup ------------------------------------------------------------

Rows = Iterator[tuple[Table, dict[str, Any]]]


@dataclass
class _Backup:
    revision: str | None
    rows: Rows
    counts: dict[str, int] = field(default_factory=dict)


def _bindable(table: Table, record: dict[str, Any], json_nulls: list[str]) -> dict[str, Any]:
    """None in a JSON column means SQL NULL unless the backup says JSON null."""
    for column in _json_columns(table):
        if record[column.key] is None:
            record[column.key] = JSON.NULL if column.key in json_nulls else null()
    return record


def _decoder(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    converters: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        if isinstance(column.type, UTCDateTime):
            converters[column.key] = datetime.fromisoformat
        elif isinstance(column.type, Numeric) and column.type.asdecimal:
            converters[column.key] = Decimal
        elif isinstance(column.type, LargeBinary):
            converters[column.key] = base64.b64decode

    def decode(record: dict[str, Any]) -> dict[str, Any]:
        for key, convert in converters.items():
            if record[key] is not None:
                record[key] = convert(record[key])
        return record

    return decode


def _damaged(detail: str) -> BackupError:
    return BackupError(f"backup file is damaged or not a leadbase backup: {detail}")


def _dump_rows(stream: IO[str], backup: _Backup) -> Rows:
    tables = {t.name: t for t in _tables()}
    keys = {t.name: {c.key for c in t.columns} for t in _tables()}
    decoders = {t.name: _decoder(t) for t in _tables()}
    number, trailer = 1, None
    try:
        for number, line in enumerate(stream, start=2):
            item = json.loads(line)
            if not isinstance(item, dict):
                raise _damaged(f"line {number} is not a row")
            if trailer is not None:
                raise _damaged(f"line {number} follows the end marker")
            if item.get("end") is True:
                trailer = item
                continue
            name, record = item.get("t"), item.get("r")
            if name not in tables or not isinstance(record, dict):
                raise _damaged(f"line {number} is not a row of a known table")
            if set(record) != keys[name]:
                raise _damaged(f"line {number} does not have the columns of {name}")
            nulls = item.get("n", [])
            table = tables[name]
            backup.counts[name] = backup.counts.get(name, 0) + 1
            yield table, _bindable(table, decoders[name](record), nulls)
    except (OSError, EOFError, zlib.error, ValueError, TypeError, InvalidOperation) as exc:
        # ValueError covers bad JSON, text that is not UTF-8 and bad timestamps.
        raise _damaged(f"line {number}: {exc}") from None
    if trailer is None:
        raise _damaged("it ends before its end marker (cut off?)")
    expected = trailer.get("counts")
    found = {name: n for name, n in backup.counts.items() if n}
    if not isinstance(expected, dict) or {k: v for k, v in expected.items() if v} != found:
        raise _damaged("its row counts do not match its end marker")


@contextlib.contextmanager
def _open_dump(path: Path) -> Iterator[_Backup]:
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as stream:
        try:
            header = json.loads(stream.readline())
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise _damaged(str(exc)) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise BackupError(f"{path} is not a leadbase backup (unknown format)")
        if header.get("version") != VERSION:
            raise BackupError(
                f"{path} is a version {header.get('version')} backup; "
                f"this leadbase reads version {VERSION}"
            )
        revision = header.get("revision")
        backup = _Backup(revision if isinstance(revision, str) else None, iter(()))
        backup.rows = _dump_rows(stream, backup)
        yield backup


@contextlib.contextmanager
def _open_sqlite(path: Path) -> Iterator[_Backup]:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    source = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=NullPool,
    )
    try:
        with source.connect() as connection:
            try:
                revision = MigrationContext.configure(connection).get_current_revision()
            except SQLAlchemyError as exc:
                raise BackupError(
                    f"{path} cannot be read as a SQLite backup: {getattr(exc, 'orig', exc)}"
                ) from None
            backup = _Backup(revision, iter(()))
            backup.rows = _sqlite_rows(connection, backup)
            yield backup
    finally:
        source.dispose()


def _sqlite_rows(connection: Connection, backup: _Backup) -> Rows:
    for table in _tables():
        try:
            for row in connection.execute(_select(table)).mappings():
                record, json_nulls = _read_row(table, row)
                backup.counts[table.name] = backup.counts.get(table.name, 0) + 1
                yield table, _bindable(table, record, json_nulls)
        except SQLAlchemyError as exc:
            raise _damaged(f"table {table.name}: {getattr(exc, 'orig', exc)}") from None


@contextlib.contextmanager
def _open(path: Path) -> Iterator[_Backup]:
    """Open a backup of either kind; refuse one this leadbase cannot load."""
    try:
        with path.open("rb") as probe:
            magic = probe.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read backup file {path}: {exc.strerror}") from None
    if magic == SQLITE_MAGIC:
        opener = _open_sqlite
    elif magic.startswith(GZIP_MAGIC):
        opener = _open_dump
    else:
        raise BackupError(f"{path} is not a leadbase backup (neither SQLite nor a gzip'd dump)")
    with opener(path) as backup:
        head = schema.head_revision()
        if backup.revision is None:
            raise BackupError(f"{path} is not a leadbase backup (no schema revision)")
        if backup.revision != head:
            raise BackupError(
                f"backup is at schema revision {backup.revision}, this leadbase expects {head}"
            )
        yield backup


# --- restore ---------------------------------------------------------------------


def restore(engine: Engine, path: Path, progress: Progress | None = None) -> int:
    """Load a backup into an empty database (migrated to head first if needed).

    The file is checked before the target is touched; the load is one
    transaction, so a backup that turns out damaged half way leaves no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no such backup file: {path}")
    writer = engine.execution_options(leadbase_write=True)  # SQLite: BEGIN IMMEDIATE
    with _open(path) as backup, writer.begin() as connection:
        _lock_chain(connection)
        _assert_empty(connection)
        _upgrade(engine, connection)
        _lock_chain(connection)
        loaded = _load(connection, backup.rows, progress)
        restored_heads = backup.counts.get(_CHAIN_HEAD, 0)
        if restored_heads != 1:
            raise BackupError(
                f"backup holds {restored_heads} audit chain head rows, not 1: "
                "it is damaged or not a leadbase backup"
            )
        _reset_sequences(connection)
    return loaded


def _existing_tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _lock_chain(connection: Connection) -> None:
    """Hold off leadbase writers on PostgreSQL/MariaDB while we check and load."""
    if connection.dialect.name == "sqlite" or _CHAIN_HEAD not in _existing_tables(connection):
        return
    head = Base.metadata.tables[_CHAIN_HEAD]
    connection.execute(select(head.c.id).with_for_update())


def _assert_empty(connection: Connection) -> None:
    existing = _existing_tables(connection)
    for table in _tables():
        if table.name not in existing:
            continue
        if table.name == _CHAIN_HEAD:
            seq = connection.execute(select(func.max(table.c.seq))).scalar()
            if not seq:
                continue
        elif not connection.execute(select(func.count()).select_from(table)).scalar():
            continue
        raise BackupError(
            f"the target database is not empty (table {table.name} has rows); "
            "restore only into an empty database"
        )


def _upgrade(engine: Engine, connection: Connection) -> None:
    """Migrate the target to head inside the restore's transaction. DDL is
    transactional on SQLite and PostgreSQL; MariaDB commits it at once, so
    there a load that fails leaves the database migrated, but still empty."""
    current = MigrationContext.configure(connection).get_current_revision()
    head = schema.head_revision()
    if current == head:
        return
    known = {
        rev.revision
        for rev in ScriptDirectory.from_config(schema.alembic_config()).walk_revisions()
    }
    if current is not None and current not in known:
        raise BackupError(
            f"the target database is at schema revision {current}, unknown to this leadbase"
        )
    config = schema.alembic_config(engine)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@dataclass
class _Deferred:
    """Self-references (merged_into_id) set after every row of the table is in."""

    table: Table
    key: dict[str, Any]
    values: dict[str, Any]


def _self_references(table: Table) -> list[str]:
    return [fk.parent.key for fk in table.foreign_keys if fk.column.table is table]


def _defer(table: Table, record: dict[str, Any], columns: list[str]) -> _Deferred | None:
    values = {key: record[key] for key in columns if record[key] is not None}
    if not values:
        return None
    for key in values:
        record[key] = None
    # Keep onupdate columns (updated_at) as they were when we set the reference.
    values.update({c.key: record[c.key] for c in table.columns if c.onupdate is not None})
    primary_key = {c.key: record[c.key] for c in table.primary_key.columns}
    return _Deferred(table, primary_key, values)


def _write(
    connection: Connection, table: Table, statement: Executable, rows: list[dict[str, Any]]
) -> None:
    """Run one load statement; a row the database refuses is a damaged backup."""
    try:
        connection.execute(statement, rows or None)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise BackupError(f"could not load the rows of table {table.name}: {detail}") from None


def _load(connection: Connection, rows: Rows, progress: Progress | None) -> int:
    connection.execute(Base.metadata.tables[_CHAIN_HEAD].delete())
    references = {t.name: _self_references(t) for t in _tables()}
    deferred: list[_Deferred] = []
    loaded = 0
    batch: list[dict[str, Any]] = []
    current: Table | None = None

    def flush() -> None:
        nonlocal loaded
        if current is None or not batch:
            return
        _write(connection, current, insert(current), batch)
        loaded += len(batch)
        batch.clear()
        if progress:
            progress(current.name, loaded)

    for table, record in rows:
        if table is not current or len(batch) >= BATCH:
            flush()
            current = table
        if references[table.name]:
            later = _defer(table, record, references[table.name])
            if later is not None:
                deferred.append(later)
        batch.append(record)
    flush()
    for item in deferred:
        condition = [item.table.c[key] == value for key, value in item.key.items()]
        _write(connection, item.table, update(item.table).where(*condition).values(item.values), [])
    return loaded


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL's serial counters do not move for explicit ids: move them.
    (SQLite and MariaDB carry on from the largest id by themselves.)"""
    if connection.dialect.name != "postgresql":
        return
    quote_name = connection.dialect.identifier_preparer.quote
    for table in _tables():
        column = table.autoincrement_column
        if column is None:
            continue
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE((SELECT max({quote_name(column.name)}) "
                f"FROM {quote_name(table.name)}), 0) + 1, false)"
            ),
            {"table": quote_name(table.name), "column": column.name},
        )
