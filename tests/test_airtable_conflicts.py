"""Conflicts a pull finds, resolved keep-local, keep-remote or per field
(through the write path, as the person resolving), and the CLI:
``leadbase airtable pull|conflicts|resolve``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadbase.cli import app
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.sync.airtable import cli as airtable_cli
from leadbase.sync.airtable import conflicts
from leadbase.sync.airtable.settings import AirtableConfig
from tests.emulators.airtable import AirtableEmulator
from tests.test_airtable_pull import (
    config,  # noqa: F401 (fixtures)
    emu,  # noqa: F401
    lead_of,
    leads,  # noqa: F401
    links,
    no_echo,
    pending,
    person,
    push_module,
    run_pull,
    run_push,
    updates_of,
    url,  # noqa: F401
)

runner = CliRunner()
ALICE = "user:alice@example.com"


def conflicted(
    db: LeadDatabase,
    cfg: AirtableConfig,
    airtable: AirtableEmulator,
    *,
    remote_newer: bool,
    i: int = 1,
) -> tuple[str, str, conflicts.ConflictView]:
    """A record and its lead, both changed since the last pull (title and
    city, to different values); the conflict the next pull finds."""
    start = datetime.now(UTC) - timedelta(hours=2)
    record = airtable.user_create(person(i), at=start)
    run_pull(db, cfg)
    if push_module is not None:
        run_push(db, cfg)  # the record gets its Leadbase ID: both sides agree
    lead_id = lead_of(db.db, record).id
    remote_at = datetime.now(UTC) + timedelta(minutes=5) if remote_newer else start
    db.update_lead(lead_id, {"title": "Local Title", "city": "Porto"})
    airtable.user_update(
        record, {"Title": "Remote Title", "City": "Faro"}, at=remote_at + timedelta(minutes=1)
    )
    assert run_pull(db, cfg).conflicts == 1
    [found] = conflicts.list_conflicts(db.db)
    return record, lead_id, found


def test_keep_local_after_remote_won_writes_the_local_values_back_for_the_push(
    leads: LeadDatabase,  # noqa: F811
    config: AirtableConfig,  # noqa: F811
    emu: AirtableEmulator,  # noqa: F811
) -> None:
    record, lead_id, found = conflicted(leads, config, emu, remote_newer=True)
    assert found.applied == "remote" and lead_of(leads.db, record).title == "Remote Title"

    resolved = conflicts.resolve(leads.db, found.id, "keep-local", ALICE)

    assert (resolved.status, resolved.resolution, resolved.resolved_by) == (
        "resolved",
        "keep-local",
        ALICE,
    )
    assert resolved.resolved_at is not None
    lead = lead_of(leads.db, record)
    assert (lead.title, lead.city) == ("Local Title", "Porto")
    assert updates_of(leads.db, lead_id)[-1] == (
        "update",
        ALICE,
        {"title": ["Remote Title", "Local Title"], "city": ["Faro", "Porto"]},
    )
    assert pending(leads.db, lead_id)
    assert links(leads.db)[record].synced_fields["Title"] == "Remote Title"  # the push sends it
    assert conflicts.list_conflicts(leads.db) == []
    assert [c.id for c in conflicts.list_conflicts(leads.db, include_resolved=True)] == [found.id]


def test_keep_remote_after_local_won_takes_the_remote_values_and_sends_nothing(
    leads: LeadDatabase,  # noqa: F811
    config: AirtableConfig,  # noqa: F811
    emu: AirtableEmulator,  # noqa: F811
) -> None:
    record, _, found = conflicted(leads, config, emu, remote_newer=False)
    assert found.applied == "local" and lead_of(leads.db, record).title == "Local Title"
    assert found.fields["City"] == {"local": "Porto", "remote": "Faro", "base": "Lisbon"}

    conflicts.resolve(leads.db, found.id, "keep-remote", ALICE)

    lead = lead_of(leads.db, record)
    assert (lead.title, lead.city, lead.updated_by) == ("Remote Title", "Faro", ALICE)
    no_echo(leads, config, emu)


def test_per_field_by_airtable_or_lead_field_name(
    leads: LeadDatabase,  # noqa: F811
    config: AirtableConfig,  # noqa: F811
    emu: AirtableEmulator,  # noqa: F811
) -> None:
    record, _, found = conflicted(leads, config, emu, remote_newer=True)

    resolved = conflicts.resolve(leads.db, found.id, {"title": "local", "City": "remote"}, ALICE)

    assert resolved.resolution == "per-field"
    lead = lead_of(leads.db, record)
    assert (lead.title, lead.city) == ("Local Title", "Faro")


def test_a_resolution_that_changes_nothing_writes_nothing(
    leads: LeadDatabase,  # noqa: F811
    config: AirtableConfig,  # noqa: F811
    emu: AirtableEmulator,  # noqa: F811
) -> None:
    record, lead_id, found = conflicted(leads, config, emu, remote_newer=True)
    before = updates_of(leads.db, lead_id)

    conflicts.resolve(leads.db, found.id, "keep-remote", ALICE)

    assert updates_of(leads.db, lead_id) == before
    assert lead_of(leads.db, record).title == "Remote Title"


def test_bad_resolutions_are_refused(
    leads: LeadDatabase,  # noqa: F811
    config: AirtableConfig,  # noqa: F811
    emu: AirtableEmulator,  # noqa: F811
) -> None:
    _, _, found = conflicted(leads, config, emu, remote_newer=True)

    with pytest.raises(ValidationError, match="not a field of this conflict"):
        conflicts.resolve(leads.db, found.id, {"Phone": "local"}, ALICE)
    with pytest.raises(ValidationError, match="local or remote"):
        conflicts.resolve(leads.db, found.id, {"Title": "mine"}, ALICE)
    with pytest.raises(ValidationError):
        conflicts.resolve(leads.db, found.id, "keep-both", ALICE)
    with pytest.raises(NotFoundError):
        conflicts.resolve(leads.db, "nope", "keep-local", ALICE)
    conflicts.resolve(leads.db, found.id, "keep-local", ALICE)
    with pytest.raises(ConflictError, match="resolved by"):
        conflicts.resolve(leads.db, found.id, "keep-remote", ALICE)


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli_db(
    sqlite_url: str,
    emu: AirtableEmulator,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> LeadDatabase:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(airtable_cli.out, "width", 250)
    get_settings.cache_clear()
    return LeadDatabase(sqlite_url, actor="test:alice")


def airtable(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["airtable", *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


def test_cli_pull_conflicts_and_resolve(cli_db: LeadDatabase, emu: AirtableEmulator) -> None:  # noqa: F811
    records = [emu.user_create(person(i)) for i in range(3)]
    out = airtable("pull")
    assert "3 records read, 3 new leads, 0 leads updated, 0 conflicts, 0 failed" in out
    assert "airtable conflicts" not in out
    lead_id = lead_of(cli_db.db, records[1]).id
    cli_db.update_lead(lead_id, {"title": "Local Title"})
    later = datetime.now(UTC) + timedelta(minutes=5)
    emu.user_update(records[1], {"Title": "Remote Title"}, at=later)

    out = airtable("pull")
    assert "1 leads updated, 1 conflicts" in out and "airtable conflicts" in out
    [found] = conflicts.list_conflicts(cli_db.db)
    listed = airtable("conflicts")
    assert found.id in listed and "Local Title" in listed and "Remote Title" in listed
    [shown] = json.loads(airtable("conflicts", "--json"))
    assert shown["id"] == found.id and shown["fields"]["Title"]["remote"] == "Remote Title"

    assert "give --keep" in runner.invoke(app, ["airtable", "resolve", found.id]).output
    airtable("resolve", found.id, "--field", "title=local")
    assert lead_of(cli_db.db, records[1]).title == "Local Title"
    assert airtable("conflicts") == "no open conflicts\n"
    assert "per-field by cli:" in airtable("conflicts", "--all")

    emu.user_delete(records[2])
    full = airtable("pull", "--full")
    assert "full-pull" in full and "1 gone from Airtable" in full
    cli_db.close()


def test_cli_pull_warns_of_a_table_without_last_modified(
    cli_db: LeadDatabase,
    emu: AirtableEmulator,  # noqa: F811
) -> None:
    emu.remove_field("Last Modified")
    emu.user_create(person(0))
    result = runner.invoke(app, ["airtable", "pull"])
    assert result.exit_code == 0, result.output
    assert '1 records had no "Last Modified"' in result.stderr
    cli_db.close()
