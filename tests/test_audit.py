"""The hash-chained audit log: tampering is caught, entries say who did what.

Tampering goes through raw SQL on the engine, as someone with database access
would; detection goes through ``leadbase.audit.verify`` and the CLI.
"""

from __future__ import annotations

import getpass
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from leadbase import audit, context
from leadbase.audit import canonical_json, entry_hash
from leadbase.cli import app
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.leads import service
from leadbase.models import AuditChainHead, AuditLog
from tests import dbs
from tests.helpers import audit_entries

AUDIT = AuditLog.__table__
# Detection reads the rows back the same way on every database; that they hash
# back to the chain on each (types, precision) is what the intact-chain and
# actor tests hold on all three.
TAMPERED_ON = dbs.only("db_url", "sqlite", "postgresql")
runner = CliRunner()


# -- helpers ------------------------------------------------------------------------


def make_history(db: LeadDatabase) -> list[str]:
    """Five entries: three creates, an update and a delete."""
    ada = db.add_lead({"full_name": "Ada Lovelace", "email": "ada@example.com"})
    bob = db.add_lead({"full_name": "Bob Babbage", "email": "bob@example.com"})
    cyd = db.add_lead({"full_name": "Cyd Charisse", "email": "cyd@example.com"})
    assert db.update_lead(bob, {"title": "Engineer"})
    db.delete_lead(cyd)
    return [ada, bob, cyd]


def check(db: LeadDatabase) -> audit.VerifyResult:
    with db.db.read_session() as session:
        return audit.verify(session)


def rows(db: LeadDatabase) -> list[dict[str, Any]]:
    with db.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(AUDIT).order_by(AUDIT.c.seq))]


def run_sql(db: LeadDatabase, sql: str, **params: Any) -> None:
    with db.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def head(db: LeadDatabase) -> tuple[int, str]:
    with db.db.engine.connect() as conn:
        row = conn.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one()
    return int(row.seq), str(row.hash)


def forged_entry(db: LeadDatabase, *, hash_correctly: bool) -> dict[str, Any]:
    """A plausible next entry: the right seq, linked to the real last hash."""
    last = rows(db)[-1]
    entry: dict[str, Any] = {
        "seq": last["seq"] + 1,
        "entity_type": "lead",
        "entity_id": last["entity_id"],
        "action": "update",
        "actor": "user:mallory",
        "ip": "10.6.6.6",
        "user_agent": "curl/8",
        "request_id": None,
        "created_at": datetime.now(UTC),
        "changes": canonical_json({"lead_score": [None, 100]}),
        "prev_hash": last["hash"],
    }
    if hash_correctly:
        entry["hash"] = entry_hash(entry)
    else:  # well-formed and unique, but not the hash of this content
        entry["hash"] = hashlib.sha256(b"trust me").hexdigest()
    return entry


@pytest.fixture(autouse=True)
def _nobody_acting() -> Iterator[None]:
    """Each test starts with no actor set, whatever ran before it in this thread."""
    token = context._current.set(context.ActorContext())
    yield
    context._current.reset(token)


# -- an intact chain -------------------------------------------------------------------


def test_intact_chain_verifies(leads: LeadDatabase) -> None:
    empty = check(leads)
    assert (empty.ok, empty.checked, empty.first_bad_seq) == (True, 0, None)

    make_history(leads)
    result = check(leads)
    assert result.ok, result.describe()
    assert result.checked == 5 == len(rows(leads))
    assert result.first_bad_seq is None
    assert [r["seq"] for r in rows(leads)] == [1, 2, 3, 4, 5]
    assert head(leads) == (5, rows(leads)[-1]["hash"])


def test_entries_link_each_to_the_one_before(leads: LeadDatabase) -> None:
    make_history(leads)
    entries = rows(leads)
    assert entries[0]["prev_hash"] == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["hash"]
    for row in entries:  # each hash is recomputable from the stored row alone
        assert entry_hash(row) == row["hash"]


# -- tampering ---------------------------------------------------------------------------


@TAMPERED_ON
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "user:mallory"),
        ("changes", canonical_json({"title": [None, "Janitor"]})),
        ("ip", "203.0.113.9"),
    ],
)
def test_edited_entry_is_caught_at_its_seq(leads: LeadDatabase, column: str, value: str) -> None:
    make_history(leads)
    run_sql(leads, f"UPDATE audit_log SET {column} = :v WHERE seq = 4", v=value)
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert result.checked == 3
    assert "does not match its hash" in (result.reason or "")


@TAMPERED_ON
def test_edit_with_recomputed_hash_breaks_the_next_link(leads: LeadDatabase) -> None:
    """Re-hashing the edited entry is not enough: the next entry still points at the old hash."""
    make_history(leads)
    row = rows(leads)[1]
    row["actor"] = "user:mallory"
    run_sql(
        leads,
        "UPDATE audit_log SET actor = :a, hash = :h WHERE seq = 2",
        a=row["actor"],
        h=entry_hash(row),
    )
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "previous-hash link" in (result.reason or "")


@TAMPERED_ON
def test_deleted_middle_entry_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    run_sql(leads, "DELETE FROM audit_log WHERE seq = 3")
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "missing" in (result.reason or "")


@TAMPERED_ON
def test_deleted_first_entry_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    run_sql(leads, "DELETE FROM audit_log WHERE seq = 1")
    result = check(leads)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)


@TAMPERED_ON
def test_deleted_last_entry_is_caught_by_the_chain_head(leads: LeadDatabase) -> None:
    make_history(leads)
    run_sql(leads, "DELETE FROM audit_log WHERE seq = 5")
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 5
    assert result.checked == 4
    assert "chain head" in (result.reason or "")


@TAMPERED_ON
def test_truncated_log_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    run_sql(leads, "DELETE FROM audit_log")
    result = check(leads)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)


@TAMPERED_ON
def test_forged_entry_with_wrong_hash_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    with leads.db.engine.begin() as conn:
        conn.execute(AUDIT.insert(), [forged_entry(leads, hash_correctly=False)])
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 6
    assert result.checked == 5


@TAMPERED_ON
def test_forged_entry_with_right_hash_is_caught_by_the_chain_head(leads: LeadDatabase) -> None:
    make_history(leads)
    with leads.db.engine.begin() as conn:
        conn.execute(AUDIT.insert(), [forged_entry(leads, hash_correctly=True)])
    assert head(leads)[0] == 5
    result = check(leads)
    assert not result.ok
    # every entry hashes and links correctly; only the head knows there were 5
    assert result.checked == 6
    assert result.first_bad_seq == 6
    assert "chain head" in (result.reason or "")


@TAMPERED_ON
@pytest.mark.parametrize("seq", [0, -1])
def test_forged_entry_before_the_first_is_caught(leads: LeadDatabase, seq: int) -> None:
    make_history(leads)
    entry = forged_entry(leads, hash_correctly=False)
    entry.update(seq=seq, prev_hash="0" * 64)
    entry["hash"] = entry_hash(entry)
    with leads.db.engine.begin() as conn:
        conn.execute(AUDIT.insert(), [entry])
    result = check(leads)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)


@TAMPERED_ON
def test_head_pointing_elsewhere_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    run_sql(leads, "UPDATE audit_chain_head SET hash = :h WHERE id = 1", h="f" * 64)
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 5


@TAMPERED_ON
def test_missing_head_row_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    run_sql(leads, "DELETE FROM audit_chain_head")
    result = check(leads)
    assert not result.ok
    assert "head" in (result.reason or "")


def _swap(db: LeadDatabase, a: int, b: int, columns: list[str]) -> None:
    by_seq = {r["seq"]: r for r in rows(db)}
    with db.db.engine.begin() as conn:
        if "hash" in columns:  # hash is unique: park one while the other moves
            conn.execute(update(AUDIT).where(AUDIT.c.seq == b).values(hash="x" * 64))
        conn.execute(
            update(AUDIT).where(AUDIT.c.seq == a).values({c: by_seq[b][c] for c in columns})
        )
        conn.execute(
            update(AUDIT).where(AUDIT.c.seq == b).values({c: by_seq[a][c] for c in columns})
        )


@TAMPERED_ON
@pytest.mark.parametrize(
    "columns",
    [
        pytest.param([c.name for c in AUDIT.columns if c.name != "seq"], id="whole-rows"),
        pytest.param(["entity_id", "action", "actor", "created_at", "changes"], id="content-only"),
    ],
)
def test_swapped_entries_are_caught(leads: LeadDatabase, columns: list[str]) -> None:
    make_history(leads)
    _swap(leads, 2, 4, columns)
    moved = {r["seq"]: r for r in rows(leads)}
    assert moved[2]["action"] == "update" and moved[4]["action"] == "create"
    result = check(leads)
    assert not result.ok
    assert result.first_bad_seq == 2
    assert result.checked == 1


@TAMPERED_ON
def test_adjacent_swap_is_caught(leads: LeadDatabase) -> None:
    make_history(leads)
    _swap(leads, 4, 5, [c.name for c in AUDIT.columns if c.name != "seq"])
    result = check(leads)
    assert (result.ok, result.first_bad_seq) == (False, 4)


# -- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def cli_url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    yield sqlite_url


def test_cli_verify_exit_codes(cli_url: str) -> None:
    with LeadDatabase(cli_url, actor="test:alice") as db:
        make_history(db)

        result = runner.invoke(app, ["audit", "verify"])
        assert result.exit_code == 0, result.output
        assert "intact" in result.output and "5 entries" in result.output

        run_sql(db, "UPDATE audit_log SET changes = :c WHERE seq = 3", c="{}")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "broken at entry 3" in result.output
    assert "intact" not in result.output


def test_cli_verify_as_a_real_process(cli_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBASE_")}
    env["LEADBASE_DATABASE_URL"] = cli_url
    command = [sys.executable, "-m", "leadbase", "audit", "verify"]
    with LeadDatabase(cli_url, actor="test:alice") as db:
        make_history(db)
        good = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert good.returncode == 0, good.stderr
        assert "intact" in good.stdout

        run_sql(db, "DELETE FROM audit_log WHERE seq = 2")
    bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "broken at entry 2" in bad.stderr
    assert "missing" in bad.stderr


# -- who, from where -------------------------------------------------------------------


# Who and where (context variables) is Python; its SQL is what every entry writes.
@dbs.only("db_url", "sqlite", "postgresql")
def test_request_context_is_recorded_exactly(leads: LeadDatabase) -> None:
    with context.acting_as("user:bob", ip="10.1.2.3", user_agent="pytest-UA", request_id="req-1"):
        lead_id = leads.add_lead({"full_name": "Ada Lovelace", "email": "ada@example.com"})
        leads.update_lead(lead_id, {"title": "Countess"})
        leads.delete_lead(lead_id)
    entries = audit_entries(leads, lead_id)
    assert [e["action"] for e in entries] == ["create", "update", "delete"]
    for entry in entries:
        assert (entry["actor"], entry["ip"], entry["user_agent"], entry["request_id"]) == (
            "user:bob",
            "10.1.2.3",
            "pytest-UA",
            "req-1",
        )
    lead = leads.get_lead(lead_id, include_deleted=True)
    assert lead is not None
    assert lead["created_by"] == lead["deleted_by"] == "user:bob"
    # outside the block the client is itself again
    other = leads.add_lead({"full_name": "Bob"})
    [entry] = audit_entries(leads, other)
    assert (entry["actor"], entry["ip"], entry["user_agent"], entry["request_id"]) == (
        "test:alice",
        None,
        None,
        None,
    )
    assert check(leads).ok


@dbs.only("db_url", "sqlite", "postgresql")
def test_client_actor_without_context(db_url: str) -> None:
    named = LeadDatabase(db_url, actor="agent:enricher")
    unnamed = LeadDatabase(db_url)
    try:
        first = named.add_lead({"full_name": "One"})
        second = unnamed.add_lead({"full_name": "Two"})
        assert audit_entries(named, first)[0]["actor"] == "agent:enricher"
        assert audit_entries(named, second)[0]["actor"] == f"script:{getpass.getuser()}"
    finally:
        named.close()
        unnamed.close()


@dbs.only("db_url", "sqlite", "postgresql")
def test_actor_is_taken_when_the_change_is_made_not_at_commit(leads: LeadDatabase) -> None:
    with leads.db.unit_of_work() as uow:
        with context.acting_as("user:carol", request_id="req-c"):
            first = service.create(uow, {"full_name": "Carol's lead"}).lead_id
        with context.acting_as("user:dave", request_id="req-d"):
            second = service.create(uow, {"full_name": "Dave's lead"}).lead_id
    assert [(e["actor"], e["request_id"]) for e in audit_entries(leads)] == [
        ("user:carol", "req-c"),
        ("user:dave", "req-d"),
    ]
    assert [e["entity_id"] for e in audit_entries(leads)] == [first, second]


def test_threads_keep_their_own_actor(leads: LeadDatabase) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with context.acting_as(f"user:t{n}", ip=f"10.0.0.{n}", request_id=f"req-{n}"):
                barrier.wait()
                for i in range(10):
                    leads.add_lead({"full_name": f"T{n} lead {i}"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    entries = audit_entries(leads)
    assert len(entries) == 40
    for entry in entries:
        n = entry["actor"].removeprefix("user:t")
        assert (entry["ip"], entry["request_id"]) == (f"10.0.0.{n}", f"req-{n}")
    assert sorted({e["actor"] for e in entries}) == [f"user:t{n}" for n in range(4)]
    assert check(leads).ok


@pytest.fixture
def cli_write_command(cli_url: str) -> Iterator[str]:
    """A throw-away `leadbase _add-lead NAME` command that writes through the client."""

    def add_lead(name: str) -> None:
        with LeadDatabase() as db:
            typer.echo(db.add_lead({"full_name": name}))

    app.command("_add-lead")(add_lead)
    added = app.registered_commands[-1]
    try:
        yield cli_url
    finally:
        app.registered_commands.remove(added)


def test_cli_commands_act_as_the_os_user(cli_write_command: str) -> None:
    result = runner.invoke(app, ["_add-lead", "Grace Hopper"])
    assert result.exit_code == 0, result.output
    lead_id = result.output.strip()
    with LeadDatabase(cli_write_command) as db:
        [entry] = audit_entries(db, lead_id)
        lead = db.get_lead(lead_id)
    assert entry["actor"] == f"cli:{getpass.getuser()}"
    assert lead is not None and lead["created_by"] == f"cli:{getpass.getuser()}"


def test_cli_actor_does_not_outlive_the_command(cli_url: str) -> None:
    before = context.current()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert context.current() == before


# -- what changed ----------------------------------------------------------------------


def test_update_records_exactly_the_changed_fields(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(
        {
            "full_name": "Ada Lovelace",
            "email": "ada@example.com",
            "title": "Analyst",
            "city": "London",
        }
    )
    [created] = audit_entries(leads, lead_id)
    assert created["changes"]["title"] == [None, "Analyst"]
    assert created["changes"]["email"] == [None, "ada@example.com"]
    assert all(old is None for old, _ in created["changes"].values())

    assert leads.update_lead(
        lead_id,
        {
            "title": "Countess",  # changed
            "city": None,  # cleared
            "email": "ADA.K@Example.COM",  # changed, stored normalised
            "full_name": "Ada Lovelace",  # given but unchanged: not recorded
            "lead_score": 80,  # was unset
        },
    )
    entry = audit_entries(leads, lead_id)[-1]
    assert entry["action"] == "update"
    assert entry["changes"] == {
        "title": ["Analyst", "Countess"],
        "city": ["London", None],
        "email": ["ada@example.com", "ada.k@example.com"],
        "lead_score": [None, 80],
    }
    # stored verbatim as canonical JSON: what the hash covers
    raw = rows(leads)[-1]["changes"]
    assert raw == canonical_json(json.loads(raw))

    leads.delete_lead(lead_id)
    leads.restore_lead(lead_id)
    assert [e["changes"] for e in audit_entries(leads, lead_id)[-2:]] == [
        {"is_deleted": [False, True]},
        {"is_deleted": [True, False]},
    ]


def test_unchanged_update_writes_no_entry(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead({"full_name": "Ada Lovelace", "title": "Analyst"})
    assert not leads.update_lead(lead_id, {"title": "Analyst"})
    assert len(audit_entries(leads)) == 1


# -- rollback -------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_rolled_back_work_leaves_no_entry_and_no_gap(leads: LeadDatabase) -> None:
    first = leads.add_lead({"full_name": "Before"})
    with pytest.raises(Boom), leads.db.unit_of_work() as uow:
        doomed = service.create(uow, {"full_name": "Doomed", "email": "doomed@example.com"})
        service.update(uow, first, {"title": "Doomed too"})
        raise Boom
    assert leads.get_lead(doomed.lead_id) is None
    lead = leads.get_lead(first)
    assert lead is not None and lead["title"] is None
    assert [e["seq"] for e in audit_entries(leads)] == [1]
    assert head(leads)[0] == 1
    assert check(leads).ok

    after = leads.add_lead({"full_name": "After", "email": "doomed@example.com"})
    entries = audit_entries(leads)
    assert [(e["seq"], e["entity_id"]) for e in entries] == [(1, first), (2, after)]
    result = check(leads)
    assert (result.ok, result.checked) == (True, 2)
