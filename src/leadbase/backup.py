"""Backups that can be taken while writes go on, and restores into an empty DB.

SQLite: the online backup API copies the file as one consistent snapshot.
PostgreSQL / MariaDB: a portable dump (gzip'd JSON lines, one row a line)
read inside one REPEATABLE READ transaction, so every table comes from the
same instant. ``restore`` reads either format into any supported database.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, Table, create_engine, func, insert, select, text
from sqlalchemy.types import JSON, Numeric

from leadbase import schema
from leadbase.errors import LeadbaseError
from leadbase.models import Base
from leadbase.models.base import UTCDateTime

FORMAT = "leadbase-dump"
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH = 1000
Progress = Callable[[str, int], None]


class BackupError(LeadbaseError):
    code = "backup_error"


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def backup(engine: Engine, path: Path, progress: Progress | None = None) -> int:
    """Write a consistent snapshot of every table to ``path``; returns rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        return _backup_sqlite(engine, path)
    return _backup_dump(engine, path, progress)


def _backup_sqlite(engine: Engine, path: Path) -> int:
    if path.exists():
        path.unlink()
    target = sqlite3.connect(path)
    try:
        with engine.connect() as connection:
            source = connection.connection.driver_connection
            assert isinstance(source, sqlite3.Connection)
            source.backup(target)  # all pages in one step: one snapshot
        path.chmod(0o600)
        return sum(
            target.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0] for t in _tables()
        )
    finally:
        target.close()


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _backup_dump(engine: Engine, path: Path, progress: Progress | None) -> int:
    written = 0
    snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
    with snapshot.connect() as connection, gzip.open(path, "wt", encoding="utf-8") as out:
        header = {
            "format": FORMAT,
            "version": 1,
            "revision": schema.current_revision(engine),
            "dialect": engine.dialect.name,
            "tables": [t.name for t in _tables()],
        }
        out.write(json.dumps(header) + "\n")
        for table in _tables():
            result = connection.execution_options(yield_per=BATCH).execute(select(table))
            for row in result.mappings():
                record = {key: _encode(value) for key, value in row.items()}
                out.write(json.dumps({"t": table.name, "r": record}, ensure_ascii=False) + "\n")
                written += 1
                if progress and written % BATCH == 0:
                    progress(table.name, written)
    path.chmod(0o600)
    return written


def _decoder(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    converters: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        if isinstance(column.type, UTCDateTime):
            converters[column.key] = datetime.fromisoformat
        elif isinstance(column.type, Numeric) and not isinstance(column.type, JSON):
            converters[column.key] = Decimal

    def decode(record: dict[str, Any]) -> dict[str, Any]:
        for key, convert in converters.items():
            if record.get(key) is not None:
                record[key] = convert(record[key])
        return record

    return decode


def _read_dump(stream: IO[str]) -> tuple[str | None, Iterator[tuple[str, dict[str, Any]]]]:
    header = json.loads(stream.readline() or "{}")
    if header.get("format") != FORMAT:
        raise BackupError("not a leadbase backup (unknown format)")
    decoders = {t.name: _decoder(t) for t in _tables()}

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for line in stream:
            item = json.loads(line)
            yield item["t"], decoders[item["t"]](item["r"])

    return header.get("revision"), rows()


def _read_sqlite(path: Path) -> tuple[str | None, Iterator[tuple[str, dict[str, Any]]]]:
    source = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    revision = schema.current_revision(source)

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        try:
            with source.connect() as connection:
                for table in _tables():
                    for row in connection.execute(select(table)).mappings():
                        yield table.name, dict(row)
        finally:
            source.dispose()

    return revision, rows()


def _assert_empty(engine: Engine) -> None:
    with engine.connect() as connection:
        for table in _tables():
            if table.name == "audit_chain_head":
                continue
            if connection.execute(select(func.count()).select_from(table)).scalar():
                raise BackupError(
                    f"the target database is not empty (table {table.name} has rows); "
                    "restore only into an empty database"
                )


def restore(engine: Engine, path: Path, progress: Progress | None = None) -> int:
    """Load a backup into an empty database (migrated to head first if needed)."""
    if not path.is_file():
        raise BackupError(f"no such backup file: {path}")
    schema.upgrade(engine)
    _assert_empty(engine)
    with path.open("rb") as probe:
        is_sqlite = probe.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    if is_sqlite:
        revision, rows = _read_sqlite(path)
        return _load(engine, revision, rows, progress)
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        try:
            revision, rows = _read_dump(stream)
            return _load(engine, revision, rows, progress)
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise BackupError(f"backup file is damaged or not a leadbase backup: {exc}") from None


def _load(
    engine: Engine,
    revision: str | None,
    rows: Iterator[tuple[str, dict[str, Any]]],
    progress: Progress | None,
) -> int:
    head = schema.head_revision()
    if revision != head:
        raise BackupError(f"backup is at schema revision {revision}, this leadbase expects {head}")
    tables = {t.name: t for t in _tables()}
    loaded = 0
    with engine.begin() as connection:
        connection.execute(tables["audit_chain_head"].delete())
        batch: list[dict[str, Any]] = []
        current: str | None = None
        for name, record in rows:
            if name != current or len(batch) >= BATCH:
                if batch and current:
                    connection.execute(insert(tables[current]), batch)
                    loaded += len(batch)
                    if progress:
                        progress(current, loaded)
                batch, current = [], name
            batch.append(record)
        if batch and current:
            connection.execute(insert(tables[current]), batch)
            loaded += len(batch)
        _reset_sequences(connection)
    return loaded


def _reset_sequences(connection: Any) -> None:
    """PostgreSQL's serial counters do not move for explicit ids: move them."""
    if connection.dialect.name != "postgresql":
        return
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"COALESCE((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
                    )
                )
