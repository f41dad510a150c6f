"""A bulk create is audited as one entry per batch, not one per lead.

An import's batch (or any bulk create of ``BATCH_MIN`` leads or more) writes
one ``create_many`` entry holding every created lead's values. The chain
still catches an edit inside it or its removal, and each lead's history (the
API's, the console page's, an import's revert) reads its create as before.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from leadbase import audit, context
from leadbase.audit import batch
from leadbase.audit import repository as audit_repository
from leadbase.cli import app
from leadbase.db import Database
from leadbase.leads import service as leads_service
from leadbase.models import AuditLog, ImportRun, SalesLead
from tests import dbs
from tests.api_clients import api_settings, signed_in
from tests.browser import ConsoleServer
from tests.helpers import unique_word

runner = CliRunner()
HEADERS = ["Full Name", "E-mail", "Job Title", "City", "Tags"]
ROWS = 200


def person(i: int) -> dict[str, Any]:
    return {
        "full_name": f"{unique_word(i + 11)} {unique_word(i * 5 + 2)}",
        "email": f"someone{i}@example{i % 7}.org",
        "title": "Buyer" if i % 2 else "Engineer",
        "city": "Lyon",
        "tags": ["fair", f"t{i % 3}"],
    }


def write_csv(path: Path, people: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS)
        for p in people:
            writer.writerow(
                [*(p[f] for f in ("full_name", "email", "title", "city")), ";".join(p["tags"])]
            )
    return path


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def imported(env_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """200 people imported in batches of 100; the database they are in."""
    monkeypatch.chdir(tmp_path)
    path = write_csv(tmp_path / "people.csv", [person(i) for i in range(ROWS)])
    cli("import", str(path), "--batch-size", "100")
    database = Database(env_db_url)
    yield database
    database.dispose()


def entries(database: Database, **where: Any) -> list[AuditLog]:
    with database.read_session() as session:
        query = select(AuditLog).filter_by(**where).order_by(AuditLog.seq)
        return list(session.scalars(query))


def lead_ids(database: Database) -> dict[str, str]:
    """email -> id of every lead."""
    with database.read_session() as session:
        return dict(session.execute(select(SalesLead.email, SalesLead.id)).all())


def verify(database: Database) -> audit.VerifyResult:
    with database.read_session() as session:
        return audit.verify(session)


def rewrite(database: Database, seq: int, changes: str) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET changes = :c WHERE seq = :s"), {"c": changes, "s": seq}
        )


def created(values: dict[str, Any]) -> dict[str, list[Any]]:
    return {field: [None, value] for field, value in values.items()}


# --- the chain -----------------------------------------------------------------------


def test_an_import_writes_an_entry_per_batch_and_the_chain_verifies(imported: Database) -> None:
    batches = entries(imported, entity_type="lead_batch")
    assert [entry.action for entry in batches] == ["create_many", "create_many"]
    assert entries(imported, entity_type="lead", action="create") == []
    run_id = batches[0].request_id.removeprefix("import:")
    assert {entry.request_id for entry in batches} == {f"import:{run_id}"}
    stored = json.loads(batches[0].changes)
    assert stored["format"] == batch.FORMAT and set(stored) == {"format", "data"}
    assert "audit chain intact" in cli("audit", "verify")

    # Each batch entry is filed under its leads' created_at, to the microsecond.
    with imported.read_session() as session:
        stamps = set(session.scalars(select(SalesLead.created_at)))
    assert {batch.batch_id(at) for at in stamps} == {entry.entity_id for entry in batches}


# Tampering caught is the verifier's Python over the rows (test_audit holds it on servers).
@dbs.only("env_db_url", "sqlite")
def test_an_edited_value_inside_a_batch_entry_is_caught(imported: Database) -> None:
    first = entries(imported, entity_type="lead_batch")[0]
    stored = json.loads(first.changes)
    inner = json.loads(zlib.decompress(base64.b64decode(stored["data"])))
    emails = inner["columns"]["email"]
    emails[7] = "someone.else@example.org"  # one lead's value, the rest untouched
    data = base64.b64encode(zlib.compress(audit.canonical_json(inner).encode())).decode()
    rewrite(imported, first.seq, audit.canonical_json({**stored, "data": data}))

    result = verify(imported)
    assert not result.ok
    assert (result.first_bad_seq, result.reason) == (first.seq, "content does not match its hash")
    failed = runner.invoke(app, ["audit", "verify"])
    assert failed.exit_code != 0 and f"entry {first.seq}" in failed.output


@dbs.only("env_db_url", "sqlite")
def test_a_deleted_batch_entry_is_caught(imported: Database) -> None:
    first = entries(imported, entity_type="lead_batch")[0]
    with imported.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": first.seq})
    result = verify(imported)
    assert not result.ok and result.first_bad_seq == first.seq


def test_a_few_leads_keep_an_entry_each(env_db_url: str) -> None:
    database = Database(env_db_url)
    try:
        with context.acting_as("test:bulk"), database.unit_of_work() as uow:
            leads_service.bulk_create(uow, [person(i) for i in range(batch.BATCH_MIN - 1)])
        assert entries(database, entity_type="lead_batch") == []
        creates = entries(database, entity_type="lead", action="create")
        assert len(creates) == batch.BATCH_MIN - 1
        assert verify(database).ok
    finally:
        database.dispose()


# --- each lead's history --------------------------------------------------------------


def test_each_imported_lead_reads_its_own_create(imported: Database) -> None:
    ids = lead_ids(imported)
    [first, second] = entries(imported, entity_type="lead_batch")
    with imported.read_session() as session:
        for i in (0, 99, 100, 199):
            lead_id = ids[person(i)["email"]]
            [entry] = audit_repository.entries_for(session, "lead", lead_id)
            holder = first if i < 100 else second
            assert (entry.action, entry.entity_id, entry.seq) == ("create", lead_id, holder.seq)
            assert (entry.actor, entry.request_id, entry.hash) == (
                holder.actor,
                holder.request_id,
                holder.hash,
            )
            changes = json.loads(entry.changes)
            assert {f: changes[f] for f in person(i)} == created(person(i))
            assert all(old is None for old, _new in changes.values())
        values = audit_repository.created_values(session, "lead", [ids[person(5)["email"]]])
        assert values[ids[person(5)["email"]]]["email"] == person(5)["email"]


def test_the_api_history_shows_an_imported_leads_created_values(
    imported: Database, env_db_url: str
) -> None:
    database = Database(env_db_url, api_settings(env_db_url))
    lead_id = lead_ids(imported)[person(42)["email"]]
    client, auth = signed_in(database, {"viewer@example.com": "viewer"})
    try:
        answer = client.get(f"/api/v1/leads/{lead_id}/history", headers=auth["viewer@example.com"])
        assert answer.status_code == 200, answer.text
        history = answer.json()["data"]
    finally:
        client.close()
        database.dispose()
    [create] = history["audit"]
    assert create["action"] == "create" and create["request_id"].startswith("import:")
    assert {f: create["changes"][f] for f in person(42)} == created(person(42))
    [born] = [e for e in history["timeline"] if e["event_type"] == "created"]
    assert set(person(42)) <= set(born["changed_fields"])


def test_an_import_of_many_is_reverted(imported: Database) -> None:
    with imported.read_session() as session:
        run = session.scalars(select(ImportRun)).one()
    out = cli("import", "revert", run.id)
    assert str(ROWS) in out
    with imported.read_session() as session:
        deleted = session.scalars(select(SalesLead.is_deleted)).all()
    assert len(deleted) == ROWS and all(deleted)
    assert verify(imported).ok


def test_the_console_page_shows_a_bulk_created_leads_values(sqlite_url: str) -> None:
    console = ConsoleServer(sqlite_url).start()
    try:
        ids = console.add_leads([person(i) for i in range(batch.BATCH_MIN)])
        client = console.client("editor")
        page = client.get(f"/leads/{ids[3]}").text
        client.close()
    finally:
        console.stop()
    [entry] = entries(Database(sqlite_url), entity_type="lead_batch")
    history = page[page.index('data-testid="timeline"') :]
    assert f'data-seq="{entry.seq}"' in history
    assert "Created" in history and "test:seed" in history
    for value in ("Lyon", person(3)["email"], person(3)["full_name"], "Buyer"):
        assert f"<ins>{value}</ins>" in history


def noise(i: int) -> str:
    """384 characters that hardly compress."""
    return "".join(hashlib.sha256(f"{i}.{k}".encode()).hexdigest() for k in range(6))


def test_a_batch_too_big_for_one_entry_is_split_and_read_whole(db_url: str) -> None:
    """MariaDB's TEXT holds 64 KB: a batch whose values do not compress that
    far is kept in several entries, under the same timestamp."""
    people = [{**person(i), "notes": noise(i)} for i in range(400)]
    database = Database(db_url)
    try:
        with context.acting_as("test:bulk"), database.unit_of_work() as uow:
            ids = [r.lead_id for r in leads_service.bulk_create(uow, people)]
        batches = entries(database, entity_type="lead_batch")
        assert len(batches) > 1
        assert all(len(entry.changes) <= batch.MAX_TEXT for entry in batches)
        assert len({entry.entity_id for entry in batches}) == 1
        assert verify(database).ok
        with database.read_session() as session:
            values = audit_repository.created_values(session, "lead", ids)
            assert [values[lead_id]["notes"] for lead_id in ids] == [p["notes"] for p in people]
            [last] = audit_repository.entries_for(session, "lead", ids[-1])
        assert last.seq == batches[-1].seq
    finally:
        database.dispose()
