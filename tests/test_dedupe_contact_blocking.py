"""The write path's name lookup by contact: a row with an email (LinkedIn
URL) is compared, by its name key, only with leads that lack one; a
namesake with another email is left to the scan. The same inside one batch
as across batches, by one statement or by chunks, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from leadbase.cli import app
from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.dedupe import matcher as matcher_module
from leadbase.dedupe.keys import match_keys
from leadbase.dedupe.matcher import NAME_NO_CONTACT, NAME_NO_EMAIL, Matcher
from leadbase.dedupe.rules import load_rules
from leadbase.leads.schemas import DuplicatePolicy
from leadbase.models import DuplicateCluster, SalesLead

runner = CliRunner()

# Namesakes with other emails, nothing else to tell them apart or together
# but a region: a pair to review, which only the name key brings together.
MARIA = {
    "first_name": "Maria",
    "last_name": "Garcia",
    "email": "maria.garcia@gmail.com",
    "state": "Madrid",
    "country": "Spain",
}
MARIA_ELSEWHERE = {**MARIA, "email": "mgarcia77@hotmail.com"}
# One person, known first by her LinkedIn URL, then by her email.
JANE_LINKEDIN = {
    "first_name": "Jane",
    "last_name": "Whitfield",
    "linkedin_url": "https://www.linkedin.com/in/jane-whitfield",
    "company_name": "Acme Robotics Inc.",
    "city": "San Francisco",
}
JANE_EMAIL = {
    "first_name": "Jane",
    "last_name": "Whitfield",
    "email": "jane.whitfield@acme-robotics.com",
    "company_name": "Acme Robotics",
    "city": "San Francisco",
}
JANE_NO_CONTACT = {"first_name": "Jane", "last_name": "Whitfeld", "company_name": "Acme Robotics"}


@pytest.fixture(params=["one statement", "chunks"])
def leads(
    request: pytest.FixtureRequest, env_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LeadDatabase]:
    """A client; "chunks": every lookup of a batch goes by chunked IN lists
    (as a batch of thousands does), not one statement."""
    if request.param == "chunks":
        monkeypatch.setattr(matcher_module, "IN_LIST_CHUNK", 1)
    client = LeadDatabase(env_db_url, actor="test:alice")
    yield client
    client.close()


def write(
    leads: LeadDatabase,
    rows: Sequence[dict[str, Any]],
    together: bool,
    on_duplicate: DuplicatePolicy = "merge",
) -> list[str]:
    """Rows in one batch, or each in its own."""
    if together:
        return leads.add_leads(rows, on_duplicate=on_duplicate)
    return [leads.add_lead(row, on_duplicate=on_duplicate) for row in rows]


def clusters(leads: LeadDatabase) -> list[DuplicateCluster]:
    with leads.db.read_session() as session:
        return list(session.scalars(select(DuplicateCluster)))


@pytest.mark.parametrize("together", [False, True], ids=["across batches", "one batch"])
def test_a_namesake_with_another_email_is_left_to_the_scan(
    leads: LeadDatabase, together: bool
) -> None:
    ids = write(leads, [MARIA, MARIA_ELSEWHERE], together, "review")
    assert len(set(ids)) == 2
    assert clusters(leads) == []  # not compared on write

    result = runner.invoke(app, ["dedupe", "scan"])
    assert result.exit_code == 0, result.output
    [cluster] = clusters(leads)
    assert sorted(cluster.lead_ids) == sorted(ids) and cluster.origin == "scan"


@pytest.mark.parametrize("together", [False, True], ids=["across batches", "one batch"])
def test_a_linkedin_only_lead_takes_the_same_persons_email(
    leads: LeadDatabase, together: bool
) -> None:
    first, again = write(leads, [JANE_LINKEDIN, JANE_EMAIL], together)
    assert again == first
    stored = leads.get_lead(first)
    assert stored is not None and stored["email"] == JANE_EMAIL["email"]
    assert stored["linkedin_url"] == JANE_LINKEDIN["linkedin_url"]


@pytest.mark.parametrize("together", [False, True], ids=["across batches", "one batch"])
def test_a_row_without_contacts_still_finds_an_emailed_lead(
    leads: LeadDatabase, together: bool
) -> None:
    first, again = write(leads, [JANE_EMAIL, JANE_NO_CONTACT], together)
    assert again == first
    assert leads.count_leads() == 1


@pytest.mark.parametrize("together", [False, True], ids=["across batches", "one batch"])
def test_an_emailed_row_finds_a_lead_without_contacts(leads: LeadDatabase, together: bool) -> None:
    first, again = write(leads, [JANE_NO_CONTACT, JANE_EMAIL], together)
    assert again == first


def test_an_import_leaves_namesakes_with_other_emails_apart(
    env_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`leadbase import` (import_rows): one file, one batch."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "people.csv"
    rows = [MARIA, MARIA_ELSEWHERE, JANE_LINKEDIN, JANE_EMAIL]
    fields = sorted({field for row in rows for field in row})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    result = runner.invoke(app, ["import", str(path)])  # merge; a review pair is queued
    assert result.exit_code == 0, result.output
    database = Database(env_db_url)
    try:
        with database.read_session() as session:
            assert len(session.scalars(select(SalesLead.id)).all()) == 3  # Jane merged
            assert session.scalars(select(DuplicateCluster)).all() == []
    finally:
        database.dispose()


def _keyed(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **match_keys(row)}


@pytest.mark.parametrize("chunk", [500, 1], ids=["one statement", "chunks"])
def test_a_name_lookup_reads_the_newest_leads_without_an_email(
    env_db_url: str, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The lookup keeps its cap (rules.max_block) by contact: the newest
    leads without an email, whatever the emailed namesakes after them."""
    monkeypatch.setattr(matcher_module, "IN_LIST_CHUNK", chunk)
    client = LeadDatabase(env_db_url, actor="test:alice")
    try:
        bare = [{**JANE_EMAIL, "email": None, "city": f"City {i}"} for i in range(4)]
        bare_ids = client.add_leads(bare, on_duplicate="allow")
        emailed = [{**JANE_EMAIL, "email": f"jane{i}@example.org"} for i in range(4)]
        client.add_leads(emailed, on_duplicate="allow")
        rules = dataclasses.replace(load_rules(), max_block=2)
        with client.db.read_session() as session:
            matcher = Matcher(session, rules)
            # Two rows of one batch: two values to look up, one statement or two chunks.
            row = _keyed(JANE_EMAIL)
            other = _keyed({**MARIA, "email": None})
            matcher.prefetch([row, other])
            assert matcher._by_key[(NAME_NO_EMAIL, row["key_name"])] == bare_ids[-2:]
            assert {c.lead_id for c in matcher.all(row)} <= set(bare_ids[-2:])
    finally:
        client.close()


def test_the_lookup_without_an_email_reads_the_partial_index(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            for lookup in (NAME_NO_EMAIL, NAME_NO_CONTACT):
                sql = matcher_module._sqlite_sql(((lookup, 1),), 50)
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("X",)).all()
                assert any("idx_lead_key_name_no_email" in str(step[-1]) for step in plan)
    finally:
        engine.dispose()
