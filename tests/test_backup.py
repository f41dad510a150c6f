"""Backup and restore on SQLite, PostgreSQL and MariaDB.

A backup is one consistent snapshot even while writes go on; a restore into
an empty database gives back every row, column for column, and an audit
chain that verifies; a backup that cannot be loaded changes nothing.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, insert, inspect, select, text, update
from typer.testing import CliRunner

from leadbase import audit, cli, context
from leadbase.audit import batch as audit_batch
from leadbase.auth import service as auth_service
from leadbase.backup import BackupError, backup, restore
from leadbase.client import LeadDatabase
from leadbase.companies import service as companies
from leadbase.config import get_settings
from leadbase.db import create_db_engine
from leadbase.jobs import service as jobs_service
from leadbase.models import (
    AirtableConflict,
    AirtableLink,
    AirtableRun,
    ApifySyncState,
    Base,
    Company,
    IdempotencyKey,
    ImportReject,
    ImportRun,
    LeadEvent,
    LeadSource,
    MigrationLog,
    SalesLead,
    ScoringModel,
)
from leadbase.views import service as views_service
from leadbase.views.schemas import ColumnsIn, SavedViewIn
from tests import dbs

ROOT = Path(__file__).resolve().parent.parent
SQLITE_MAGIC = b"SQLite format 3\x00"


# --- helpers ---------------------------------------------------------------------


@contextmanager
def empty_database(kind: str, directory: Path) -> Iterator[str]:
    """A new, empty, unmigrated database of the given kind."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'restored.db'}"
    else:
        with dbs.server_database(kind) as url:
            yield url


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_db_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, all columns, in primary-key order. JSON
    columns also say whether they are SQL NULL, which reads back as None
    just like JSON null does."""
    tables: dict[str, list[dict[str, Any]]] = {}
    with engine_for(url) as engine, engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            json_nulls = [
                c.is_(None).label(f"{c.key}:sql_null")
                for c in table.columns
                if isinstance(c.type, JSON)
            ]
            query = select(*table.columns, *json_nulls).order_by(*table.primary_key.columns)
            if table.info.get("derived"):  # a rollup's count may sit at zero: no count
                [count] = [c for c in table.columns if not c.primary_key]
                query = query.where(count != 0)
            tables[table.name] = [dict(row) for row in connection.execute(query).mappings()]
    return tables


def table_names(url: str) -> list[str]:
    with engine_for(url) as engine:
        return sorted(inspect(engine).get_table_names())


def verify(url: str) -> audit.VerifyResult:
    with LeadDatabase(url) as client, client.db.read_session() as session:
        return audit.verify(session)


def count_leads(url: str) -> int:
    with LeadDatabase(url) as client:
        return client.count_leads()


def total_rows(tables: dict[str, list[dict[str, Any]]]) -> int:
    """The rows a backup holds: not the derived rollups, which a restore's
    triggers count afresh (assert_restored_equal holds them equal too)."""
    derived = {t.name for t in Base.metadata.sorted_tables if t.info.get("derived")}
    return sum(len(rows) for name, rows in tables.items() if name not in derived)


NOW = datetime(2026, 11, 23, 16, 18, 37, 123456, tzinfo=UTC)


def populate(url: str) -> None:
    """Leads and companies created, updated, deleted and merged, an Apify run
    with money and JSON in it: every table gets rows, every column type is used."""
    with LeadDatabase(url, actor="test:alice") as client:
        with context.acting_as("test:alice"), client.db.unit_of_work() as uow:
            engines = companies.create(
                uow,
                {"name": "Analytical Engines", "domain": "engines.example", "tags": ["a", "b"]},
            ).id
            looms = companies.create(uow, {"name": "Looms", "domain": "looms.example"}).id
        with context.acting_as("test:alice"), client.db.unit_of_work() as uow:
            admin = auth_service.create_user(
                uow.session, "root@example.com", "long password", "admin"
            )
            auth_service.create_api_key(uow.session, admin, "agent")
            auth_service.login(uow.session, "root@example.com", "long password", client.db.settings)
            root = auth_service.Principal(admin.id, admin.email, admin.role)
            views_service.save_columns(
                uow, root, "leads", ColumnsIn(columns=["title", "country", "tags"])
            )
            views_service.save_view(
                uow,
                root,
                "leads",
                SavedViewIn(
                    name="Hot in Lyon ☃", shared=True, query="country=FR", columns=["city"]
                ),
            )
            companies.update(uow, looms, {"employee_count": 12, "city": "Lyon"})
        ada = client.add_lead(
            {
                "full_name": "Ada Lovelace",
                "email": "ada@engines.example",
                "phone": "+44 20 7946 0958",
                "company_id": engines,
                "tags": ["math", "vip"],
                "email_verified": True,
                "enrichment_data": {"nested": {"list": [1, 2.5, "x", None, True]}, "é": "ü"},
                "raw_data": {"source": "import", "rows": [{"a": 1}]},
                "lead_score": 87,
                "notes": "first line\nsecond line ☃",
            }
        )
        bob = client.add_lead({"full_name": "Bob Babbage", "email": "bob@example.com"})
        client.add_leads(
            [{"full_name": f"Lead {i}", "email": f"l{i}@example.com"} for i in range(5)]
        )
        client.update_lead(ada, {"lead_status": "qualified", "title": "Countess"})
        client.add_event(ada, "call", outcome="connected")
        client.update_lead(bob, {"tags": ["later"], "raw_data": {"k": [1, 2]}})
        carol = client.add_lead({"full_name": "Carol", "phone": "+33 1 23 45 67 89"})
        client.delete_lead(carol)
        client.mark_for_sync(ada)
        with context.acting_as("test:alice"), client.db.unit_of_work() as uow:
            jobs_service.enqueue(uow, "noop", {"sleep_ms": 1, "note": "é ☃"})
        newest = client.add_lead({"full_name": "Newest", "linkedin_url": "linkedin.com/in/new"})
        # A duplicate queued for review and dismissed; a merge with its snapshot.
        twin = client.add_lead(
            {"full_name": "Bob Babbage", "email": "BOB@example.com"}, on_duplicate="review"
        )
        [cluster] = [c for c in client.list_duplicates() if twin in c["lead_ids"]]
        client.dismiss_duplicates(cluster["id"])
        client.merge_leads(newest, [twin])
        # References to a row that comes later in primary-key order: a restore
        # that loads rows in order must still satisfy the foreign keys.
        with client.db.engine.begin() as connection:
            connection.execute(
                update(SalesLead).where(SalesLead.id == ada).values(merged_into_id=newest)
            )
            connection.execute(
                update(Company).where(Company.id == engines).values(merged_into_id=looms)
            )
            # A new lead has no lead_sources row (its own fields say it): an import's has.
            connection.execute(
                insert(LeadSource),
                [
                    {
                        "id": "source-1",
                        "lead_id": bob,
                        "source_type": "csv_import",
                        "import_batch_id": "batch-1",
                        "scrape_params": {"file": "leads.csv", "rows": [1, 2]},
                        "created_at": NOW,
                        "updated_at": NOW,
                        "is_deleted": False,
                    }
                ],
            )
            connection.execute(
                insert(ImportRun),
                [
                    {
                        "id": "import-run-1",
                        "file_name": "leads.csv",
                        "file_path": "/data/imports/x/leads.csv",
                        "file_sha256": "c" * 64,
                        "file_size": 1234,
                        "file_format": "csv",
                        "mapping": {"E-mail": "email", "Colour": None},
                        "options": {"mode": "create", "match_on": ["email"]},
                        "fingerprint": "d" * 64,
                        "status": "completed",
                        "rows_total": 3,
                        "rows_done": 3,
                        "counts": {"created": 2, "rejected": 1},
                        "actor": "cli:someone",
                        "created_at": NOW,
                        "updated_at": NOW,
                        "started_at": NOW,
                        "finished_at": NOW.replace(microsecond=7),
                    }
                ],
            )
            connection.execute(
                insert(ImportReject),
                [
                    {
                        "run_id": "import-run-1",
                        "row_number": 3,
                        "reason": "email: not a valid email address",
                        "row": {"E-mail": "nope", "Colour": "bleu ciel é"},
                    }
                ],
            )
            connection.execute(
                insert(MigrationLog),
                [
                    {
                        "source_file": "/imports/leads.json",
                        "leads_migrated": 7,
                        "leads_failed": 0,
                        "migration_date": NOW,
                        "status": "completed",
                    }
                ],
            )
            connection.execute(
                insert(IdempotencyKey),
                [
                    {
                        "id": "idem-1",
                        "principal": "user:someone",
                        "key": "a" * 64,
                        "method": "POST",
                        "path": "/api/v1/leads",
                        "request_hash": "b" * 64,
                        "status_code": 201,
                        "response_body": '{"success": true}',
                        "response_headers": {"location": "/api/v1/leads/x"},
                        "created_at": NOW,
                    }
                ],
            )
            connection.execute(
                insert(ApifySyncState),
                [
                    {
                        "id": "run-state-1",
                        "actor_id": "apify/google-maps",
                        "run_id": "run-1",
                        "sync_status": "completed",
                        "last_sync_at": NOW,
                        "started_at": NOW.replace(microsecond=1),
                        "total_records": 10,
                        "synced_records": 9,
                        "failed_records": 1,
                        "duplicate_records": 0,
                        "retry_count": 0,
                        "input_params": {"query": ["cafés", "bars"], "max": 50, "dry": False},
                        "error_details": [1, {"a": None}],
                        "compute_units": Decimal("0.0001"),
                        "cost_usd": Decimal("12345678.9012"),
                        "extra_metadata": {"x": 1.25},
                        "created_at": NOW,
                        "updated_at": NOW,
                        "is_deleted": True,
                    }
                ],
            )
            # Airtable: a lead's record, a conflict kept, a run with its cursor.
            connection.execute(
                insert(AirtableLink),
                [
                    {
                        "lead_id": bob,
                        "record_id": "recBobBobBobBob12",
                        "base_id": "appSales",
                        "table_name": "Leads — 2026",
                        "synced_fields": {"Email": "bob@example.com", "Tags": ["a", "é"]},
                        "synced_version": 3,
                        "remote_modified_at": NOW.replace(microsecond=5),
                        "synced_at": NOW,
                    }
                ],
            )
            connection.execute(
                insert(AirtableConflict),
                [
                    {
                        "id": "conflict-1",
                        "lead_id": bob,
                        "record_id": "recBobBobBobBob12",
                        "fields": {"Title": {"local": "CTO", "remote": "CEO", "base": None}},
                        "applied": "remote",
                        "status": "open",
                        "created_at": NOW,
                    }
                ],
            )
            connection.execute(
                insert(AirtableRun),
                [
                    {
                        "id": "airtable-run-1",
                        "kind": "pull",
                        "status": "succeeded",
                        "actor": "system:airtable",
                        "counts": {"pulled": 2, "rate_limited": 0},
                        "cursor": NOW.replace(microsecond=9),
                        "started_at": NOW,
                        "finished_at": NOW,
                    }
                ],
            )
            connection.execute(
                insert(ScoringModel),
                [
                    {
                        "id": "model-1",
                        "version": 1,
                        "algorithm": "logistic_regression",
                        "features": ["events=demo", "country=GB"],
                        "metrics": {"auc": 0.91, "brier": 0.12},
                        # Bytes of every value (the estimator is binary on every database).
                        "estimator": bytes(range(256)) * 3,
                        "is_active": True,
                        "trained_by": "test:trainer",
                        "created_at": NOW,
                    }
                ],
            )


def assert_restored_equal(source_url: str, target_url: str) -> dict[str, list[dict[str, Any]]]:
    source, target = snapshot(source_url), snapshot(target_url)
    for name in source:
        assert target[name] == source[name], f"table {name} differs after restore"
    return source


# --- same kind round trip --------------------------------------------------------


def test_round_trip_gives_back_every_row(db_url: str, tmp_path: Path) -> None:
    kind = dbs.backend(db_url).replace("mysql", "mariadb")
    populate(db_url)
    source = snapshot(db_url)
    assert all(source.values()), "every table should have rows"
    lead_events = source["lead_events"]
    file = tmp_path / "backups" / "leadbase.backup"
    seen: list[tuple[str, int]] = []

    with engine_for(db_url) as engine:
        written = backup(engine, file, lambda table, n: seen.append((table, n)))
    assert written == total_rows(source)
    assert file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in file.parent.iterdir()] == [file.name], "no temporary left behind"
    assert (file.read_bytes()[:16] == SQLITE_MAGIC) is (kind == "sqlite")
    assert seen and seen[-1][1] == written
    assert [n for _, n in seen] == sorted(n for _, n in seen)

    with empty_database(kind, tmp_path) as target:
        seen.clear()
        with engine_for(target) as engine:
            assert restore(engine, file, lambda table, n: seen.append((table, n))) == written
        assert seen and seen[-1][1] == written
        assert_restored_equal(db_url, target)
        result = verify(target)
        assert result.ok, result.describe()
        assert result.checked == len(source["audit_log"])

        # The restored database takes new writes: ids carry on past the
        # restored ones (PostgreSQL's sequences were moved) and the chain grows.
        with LeadDatabase(target, actor="test:bob") as client:
            new = client.add_lead({"full_name": "After Restore", "email": "after@example.com"})
            client.update_lead(new, {"title": "New"})
            assert client.count_leads() == count_leads(db_url) + 1
        with engine_for(target) as engine, engine.begin() as connection:
            # an activity: changes write no lead_events row (migration 0013)
            connection.execute(insert(LeadEvent).values(lead_id=new, event_type="phone_call"))
        after = snapshot(target)
        new_event_ids = [e["id"] for e in after["lead_events"] if e["lead_id"] == new]
        assert min(new_event_ids) > max(e["id"] for e in lead_events)
        result = verify(target)
        assert result.ok, result.describe()
        assert result.checked == len(source["audit_log"]) + 2


# --- across databases ------------------------------------------------------------


def test_sqlite_backup_restores_into_postgresql(
    sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    """Into a database that is already migrated (and empty) this time."""
    populate(sqlite_url)
    file = tmp_path / "sqlite.backup"
    with engine_for(sqlite_url) as engine:
        backup(engine, file)
    with engine_for(postgres_url) as engine:
        restore(engine, file)
    source = assert_restored_equal(sqlite_url, postgres_url)
    result = verify(postgres_url)
    assert result.ok and result.checked == len(source["audit_log"]), result.describe()
    with LeadDatabase(postgres_url) as client:
        client.add_lead({"full_name": "On PostgreSQL now"})
    assert verify(postgres_url).ok


def test_postgresql_dump_restores_into_sqlite(postgres_url: str, tmp_path: Path) -> None:
    populate(postgres_url)
    file = tmp_path / "postgres.backup"
    with engine_for(postgres_url) as engine:
        backup(engine, file)
    target = f"sqlite:///{tmp_path / 'from-postgres.db'}"
    with engine_for(target) as engine:
        restore(engine, file)
    source = assert_restored_equal(postgres_url, target)
    result = verify(target)
    assert result.ok and result.checked == len(source["audit_log"]), result.describe()


def test_dump_keeps_types_on_the_wire(postgres_url: str, tmp_path: Path) -> None:
    """Money as exact decimals, timestamps to the microsecond, JSON as JSON."""
    populate(postgres_url)
    file = tmp_path / "postgres.backup"
    with engine_for(postgres_url) as engine:
        backup(engine, file)
    with gzip.open(file, "rt", encoding="utf-8") as stream:
        lines = [json.loads(line) for line in stream]
    header, trailer = lines[0], lines[-1]
    assert header["format"] == "leadbase-dump" and header["dialect"] == "postgresql"
    assert trailer["end"] is True and trailer["rows"] == len(lines) - 2
    [run] = [line["r"] for line in lines if line.get("t") == "apify_sync_states"]
    assert run["cost_usd"] == "12345678.9012"
    assert run["compute_units"] == "0.0001"
    assert run["last_sync_at"].startswith("2026-11-23T16:18:37.123456")
    assert run["input_params"] == {"query": ["cafés", "bars"], "max": 50, "dry": False}
    assert run["is_deleted"] is True


def test_dump_streams_rows(postgres_url: str, tmp_path: Path) -> None:
    """Memory stays flat: the server hands rows over in batches (a server-side
    cursor), and no more than a batch of them is held in Python."""
    with LeadDatabase(postgres_url) as client:
        lead = client.add_lead({"full_name": "Busy"})
        with client.db.engine.begin() as connection:
            connection.execute(
                insert(LeadEvent),
                [
                    {"lead_id": lead, "event_type": "note", "event_description": f"{i:06}" * 700}
                    for i in range(4000)
                ],
            )
        others: list[str] = []

        def look(table: str, rows: int) -> None:
            if table == "lead_events" and not others:
                with client.db.engine.connect() as connection:
                    others.extend(
                        connection.scalars(
                            text(
                                "SELECT query FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            )
                        )
                    )

        file = tmp_path / "big.backup"
        tracemalloc.start()
        try:
            rows = backup(client.db.engine, file, look)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert rows > 4000
    assert any(query.startswith("FETCH") for query in others), others
    assert peak < 8_000_000, f"backup peaked at {peak / 1e6:.1f} MB"


# --- consistency while writes go on ----------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_backup_while_writing_is_one_snapshot(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url")
    stop, errors = threading.Event(), []
    written = [0]

    with LeadDatabase(url, actor="test:writer") as client:
        client.add_leads(
            [{"full_name": f"Seed {i}", "email": f"s{i}@x.example"} for i in range(300)]
        )

        def keep_writing() -> None:
            try:
                while not stop.is_set():
                    client.add_lead({"full_name": f"W {written[0]}"}, on_duplicate="allow")
                    written[0] += 1
            except Exception as exc:  # surfaced below
                errors.append(exc)

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            while written[0] < 5:
                time.sleep(0.005)
            before = written[0]

            def slowly(_table: str, _rows: int) -> None:
                time.sleep(0.03)  # let writers commit between the tables we read

            file = tmp_path / "live.backup"
            backup(client.db.engine, file, slowly)
            during = written[0] - before
            while written[0] < before + during + 5:
                time.sleep(0.005)
        finally:
            stop.set()
            writer.join()
    assert not errors, errors
    assert during > 0, "the writer should have been writing while the backup ran"

    target = f"sqlite:///{tmp_path / 'restored.db'}"
    with engine_for(target) as engine:
        restore(engine, file)
    result = verify(target)
    assert result.ok, result.describe()
    tables = snapshot(target)
    leads = {row["id"] for row in tables["sales_leads"]}
    creates = [
        row["entity_id"]
        for row in tables["audit_log"]
        if row["entity_type"] == "lead" and row["action"] == "create"
    ]
    # The 300 seeds are one batch entry (audit.batch); the writer's leads one each.
    [seeds] = [row for row in tables["audit_log"] if row["entity_type"] == "lead_batch"]
    creates += list(audit_batch.decode(seeds["changes"]).index)
    assert len(creates) == len(set(creates))
    assert set(creates) == leads, "every lead has its create entry and no entry lacks its lead"
    assert len(tables["audit_log"]) == result.checked == len(leads) - 300 + 1
    assert {row["lead_id"] for row in tables["lead_events"]} <= leads  # none lacks its lead
    assert {row["lead_id"] for row in tables["sync_status"]} <= leads  # new leads: no mark
    assert 300 + before <= len(leads) < 300 + written[0]


# --- refusals --------------------------------------------------------------------


def test_restore_refuses_a_database_that_is_not_empty(db_url: str, tmp_path: Path) -> None:
    with LeadDatabase(db_url) as client:
        client.add_lead({"full_name": "Already Here"})
    file = tmp_path / "one.backup"
    with engine_for(db_url) as engine:
        backup(engine, file)
        before = snapshot(db_url)
        with pytest.raises(BackupError, match="not empty"):
            restore(engine, file)
    assert snapshot(db_url) == before


def test_restore_refuses_a_chain_that_was_emptied_but_not_reset(
    sqlite_url: str, tmp_path: Path
) -> None:
    """No rows left, but the chain head says entries were written: not empty."""
    file = tmp_path / "empty.backup"
    with engine_for(sqlite_url) as engine:
        backup(engine, file)
    with LeadDatabase(sqlite_url) as client:
        client.add_lead({"full_name": "Gone"})
    with engine_for(sqlite_url) as engine, engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "audit_chain_head":
                connection.execute(table.delete())
    with engine_for(sqlite_url) as engine, pytest.raises(BackupError, match="not empty"):
        restore(engine, file)


def test_restore_refuses_a_missing_file(sqlite_url: str, tmp_path: Path) -> None:
    with engine_for(sqlite_url) as engine, pytest.raises(BackupError, match="no such backup"):
        restore(engine, tmp_path / "nope.backup")


@pytest.fixture(scope="module")
def dump_lines(
    _server_urls: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """The lines of a small, good PostgreSQL dump, made once."""
    url = _server_urls("postgresql")
    dbs.empty_all_tables(url)
    file = tmp_path_factory.mktemp("dump") / "source.backup"
    with LeadDatabase(url) as client:
        client.add_leads([{"full_name": f"P {i}"} for i in range(3)])
        backup(client.db.engine, file)
    with gzip.open(file, "rt", encoding="utf-8") as stream:
        return stream.readlines()


def _gzip(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(lines)


GARBAGE: dict[str, Callable[[list[str], Path], object]] = {
    "random bytes": lambda lines, path: path.write_bytes(os.urandom(4096)),
    "gzip of random bytes": lambda lines, path: path.write_bytes(gzip.compress(os.urandom(4096))),
    "gzip of other JSON": lambda lines, path: _gzip(path, ['{"hello": "world"}\n', "[1, 2]\n"]),
    "gzip of a JSON list": lambda lines, path: _gzip(path, ["[1, 2, 3]\n"]),
    "truncated gzip": lambda lines, path: path.write_bytes(
        gzip.compress("".join(lines).encode())[:-40]
    ),
    "dump without its end": lambda lines, path: _gzip(path, lines[:-3]),
    "dump with a bad line": lambda lines, path: _gzip(path, [*lines[:-3], "{oops\n", *lines[-3:]]),
    "dump with a row of an unknown table": lambda lines, path: _gzip(
        path, [*lines[:-1], '{"t": "users", "r": {"id": 1}}\n', lines[-1]]
    ),
    "dump with a row missing columns": lambda lines, path: _gzip(
        path, [*lines[:-2], '{"t": "sync_status", "r": {"id": 99}}\n', *lines[-2:]]
    ),
    "dump from another schema revision": lambda lines, path: _gzip(
        path, [lines[0].replace('"revision": "', '"revision": "x'), *lines[1:]]
    ),
    "dump of a newer format": lambda lines, path: _gzip(
        path, [lines[0].replace('"version": 1', '"version": 9'), *lines[1:]]
    ),
    "SQLite file that is not leadbase's": lambda lines, path: _foreign_sqlite(path),
    "SQLite header then garbage": lambda lines, path: path.write_bytes(
        SQLITE_MAGIC + os.urandom(8192)
    ),
}


def _foreign_sqlite(path: Path) -> None:
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.execute("INSERT INTO notes (body) VALUES ('hi')")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_restore_refuses_garbage_and_changes_nothing(
    garbage: str, dump_lines: list[str], tmp_path: Path
) -> None:
    file = tmp_path / "garbage.backup"
    GARBAGE[garbage](dump_lines, file)
    target = f"sqlite:///{tmp_path / 'untouched.db'}"
    with engine_for(target) as engine, pytest.raises(BackupError) as caught:
        restore(engine, file)
    assert "backup" in caught.value.message or "revision" in caught.value.message
    assert table_names(target) == [], "the target was not even migrated"


def test_a_damaged_dump_leaves_a_server_database_as_it_was(
    dump_lines: list[str], tmp_path: Path
) -> None:
    """The whole restore, migration included, is one transaction."""
    file = tmp_path / "cut.backup"
    _gzip(file, dump_lines[:-1])  # rows all there, end marker gone
    with dbs.server_database("postgresql") as target, engine_for(target) as engine:
        with pytest.raises(BackupError, match="end marker"):
            restore(engine, file)
        assert table_names(target) == []


def test_backup_will_not_overwrite_the_database_itself(sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    before = snapshot(sqlite_url)
    with engine_for(sqlite_url) as engine, pytest.raises(BackupError, match="database itself"):
        backup(engine, path)
    assert snapshot(sqlite_url) == before


def test_failed_backup_keeps_the_previous_one(postgres_url: str, tmp_path: Path) -> None:
    file = tmp_path / "nightly.backup"
    file.write_bytes(b"yesterday's backup")

    def interrupted(_table: str, _rows: int) -> None:
        raise KeyboardInterrupt

    with engine_for(postgres_url) as engine, pytest.raises(KeyboardInterrupt):
        backup(engine, file, interrupted)
    assert file.read_bytes() == b"yesterday's backup"
    assert [p.name for p in tmp_path.iterdir()] == [file.name]


def test_backup_to_an_unwritable_place_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with engine_for(sqlite_url) as engine, pytest.raises(BackupError, match="cannot write"):
        backup(engine, tmp_path / "taken")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with engine_for(sqlite_url) as engine, pytest.raises(BackupError, match="cannot write"):
        backup(engine, blocker / "backup")


# --- command line ----------------------------------------------------------------


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", url)
    get_settings.cache_clear()


def test_cli_backup_and_restore(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(sqlite_url)
    rows = total_rows(snapshot(sqlite_url))
    file = tmp_path / "cli.backup"
    runner = CliRunner()
    _use(monkeypatch, sqlite_url)
    result = runner.invoke(cli.app, ["backup", str(file)])
    assert result.exit_code == 0, result.output
    assert f"({rows} rows)" in result.output
    assert file.stat().st_mode & 0o777 == 0o600

    target = f"sqlite:///{tmp_path / 'cli-restored.db'}"
    _use(monkeypatch, target)
    result = runner.invoke(cli.app, ["restore", str(file)])
    assert result.exit_code == 0, result.output
    assert f"restored {rows} rows" in result.output
    assert "intact" in result.output
    assert_restored_equal(sqlite_url, target)

    result = runner.invoke(cli.app, ["restore", str(file)])
    assert result.exit_code != 0
    assert isinstance(result.exception, BackupError)
    assert "not empty" in result.exception.message


def test_cli_refusal_exits_2_with_a_message(sqlite_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "LEADBASE_DATABASE_URL": sqlite_url, "LEADBASE_DATA_DIR": str(tmp_path)}
    missing = tmp_path / "missing.backup"
    completed = subprocess.run(
        [sys.executable, "-m", "leadbase", "restore", str(missing)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "error" in completed.stderr and "no such backup file" in completed.stderr
