"""`leadbase import FILE`: modes, dry-run, re-run, revert, resume after kill -9.

On SQLite and PostgreSQL (the issue's acceptance); messy-file parsing itself
is pinned in test_import_readers.py.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase import audit
from leadbase.cli import app
from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.models import AuditLog, ImportReject, ImportRun, LeadSource, SalesLead
from tests.helpers import unique_word

runner = CliRunner()
HEADERS = ["Full Name", "E-mail", "Company", "Job Title", "Mobile", "Country", "Favourite colour"]


def person(i: int) -> list[str]:
    return [
        f"{unique_word(i + 7)} {unique_word(i * 7 + 3)}",
        f"person{i}@example{i % 13}.com",
        f"Company {i % 50}",
        "Head of Sales" if i % 2 else "Engineer",
        f"+1415555{i % 10000:04d}",
        "US",
        ["blue", "green", "red"][i % 3],
    ]


def write_csv(
    path: Path, rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8"
) -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


@pytest.fixture
def url(env_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # where rejects files land
    return env_db_url


def invoke(*args: str) -> str:
    result = runner.invoke(app, ["import", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def table_counts(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        with database.read_session() as session:
            return {
                model.__tablename__: int(
                    session.scalar(select(func.count()).select_from(model)) or 0
                )
                for model in (SalesLead, LeadSource, AuditLog, ImportRun, ImportReject)
            }
    finally:
        database.dispose()


def the_run(url: str) -> ImportRun:
    database = Database(url)
    try:
        with database.read_session() as session:
            return session.scalars(select(ImportRun).order_by(ImportRun.created_at.desc())).first()
    finally:
        database.dispose()


def test_import_latin1_semicolons_with_a_bad_row(url: str, tmp_path: Path) -> None:
    rows = [person(i) for i in range(1000)]
    rows[0][0] = "Zoë Ångström"
    rows[500][1] = "not-an-email"  # the one bad row in 1,000
    rows[600] = ["", "", "", "", "", "", ""]  # a blank row: skipped, not rejected
    path = write_csv(tmp_path / "crm export.csv", rows, delimiter=";", encoding="latin-1")

    output = invoke(str(path))

    assert "998 created" in output and "1 rejected" in output
    run = the_run(url)
    assert run.status == "completed" and run.counts["created"] == 998
    with (tmp_path / "crm export.rejects.csv").open(encoding="utf-8") as f:
        rejects = list(csv.DictReader(f))
    assert [r["row"] for r in rejects] == ["501"]
    assert "email" in rejects[0]["reason"] and "not-an-email" in rejects[0]["data"]
    client = LeadDatabase(url)
    try:
        zoe = client.search_leads({"q": "Ångström"})
        assert [lead["full_name"] for lead in zoe] == ["Zoë Ångström"]
        assert zoe[0]["title"] == "Engineer" and zoe[0]["phone"] == "+14155550000"
        # The column no field took is kept, not lost.
        assert zoe[0]["raw_data"] == {"Favourite colour": "blue"}
        assert zoe[0]["source"] == "import"
    finally:
        client.close()
    counts = table_counts(url)
    assert counts["lead_sources"] == 998
    database = Database(url)
    try:
        with database.read_session() as session:
            batch_ids = set(session.scalars(select(LeadSource.import_batch_id)))
            assert batch_ids == {run.id}
            assert audit.verify(session).ok
    finally:
        database.dispose()


def test_rerun_changes_nothing_and_dry_run_changes_nothing(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(50)])
    dry = invoke(str(path), "--dry-run")
    assert "50 created" in dry
    assert table_counts(url)["sales_leads"] == 0 and table_counts(url)["import_runs"] == 0

    invoke(str(path))
    before = table_counts(url)
    again = invoke(str(path))
    assert "nothing to do" in again
    assert table_counts(url) == before

    # A dry run of an edited file against stored leads: what would merge.
    rows = [person(i) for i in range(60)]
    dry = invoke(str(write_csv(tmp_path / "more.csv", rows)), "--dry-run")
    assert "10 created" in dry and "50 unchanged" in dry
    assert table_counts(url) == before


def test_upsert_update_and_revert(url: str, tmp_path: Path) -> None:
    invoke(str(write_csv(tmp_path / "first.csv", [person(i) for i in range(10)])))
    client = LeadDatabase(url, actor="test:alice")
    try:
        changed = [person(i) for i in range(5, 15)]
        for row in changed:
            row[3] = "VP Sales"
        update_file = write_csv(tmp_path / "titles.csv", changed)
        out = invoke(str(update_file), "--mode", "update", "--match-on", "email")
        assert "5 updated" in out and "5 skipped" in out
        out = invoke(str(update_file), "--mode", "upsert", "--match-on", "email")
        assert "5 created" in out and "5 unchanged" in out
        upsert_run = the_run(url)

        # Someone edits one imported value after the import: revert keeps theirs.
        [lead7] = client.search_leads({"q": "person7@example7.com"})
        client.update_lead(lead7["id"], {"title": "Chief Revenue Officer"})

        out = invoke("revert", upsert_run.id)
        assert "5 leads deleted" in out
        titles = {lead["email"]: lead["title"] for lead in client.search_leads({})}
        assert len(titles) == 10  # the 5 the upsert created are gone
        assert titles["person7@example7.com"] == "Chief Revenue Officer"

        [update_run] = [r for r in _runs(url) if r.options["mode"] == "update"]
        out = invoke("revert", update_run.id)
        assert "4 restored" in out and "1 kept" in out
        titles = {lead["email"]: lead["title"] for lead in client.search_leads({})}
        assert titles["person5@example5.com"] == "Head of Sales"
        assert titles["person6@example6.com"] == "Engineer"
        assert titles["person7@example7.com"] == "Chief Revenue Officer"
        statuses = {r.id: r.status for r in _runs(url)}
        assert statuses[update_run.id] == statuses[upsert_run.id] == "reverted"
    finally:
        client.close()
    database = Database(url)
    try:
        with database.read_session() as session:
            assert audit.verify(session).ok
            reverts = session.scalars(
                select(AuditLog).where(AuditLog.request_id.like("revert:%"))
            ).all()
            assert len(reverts) == 9
    finally:
        database.dispose()


def _runs(url: str) -> list[ImportRun]:
    database = Database(url)
    try:
        with database.read_session() as session:
            return list(session.scalars(select(ImportRun)))
    finally:
        database.dispose()


def test_show_mapping_and_list(url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(3)])
    shown = invoke(str(path), "--show-mapping")
    assert "E-mail" in shown and "email" in shown and "person0@example0.com" in shown
    assert table_counts(url)["import_runs"] == 0
    invoke(str(path))
    listed = invoke("list")
    assert "leads.csv" in listed and "completed" in listed
    shown = json.loads(invoke("show", the_run(url).id))
    assert (shown["status"], shown["rows_done"], shown["counts"]["created"]) == ("completed", 3, 3)


def test_bad_file_and_options_say_why(url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "missing.csv")])
    assert result.exit_code != 0
    path = write_csv(tmp_path / "leads.csv", [person(1)])
    result = runner.invoke(app, ["import", str(path), "--mode", "replace"])
    assert result.exit_code != 0 and "mode" in str(result.exception or result.output)
    assert table_counts(url)["import_runs"] == 0


# Enough batches that the kill lands mid-run with most of the file still to go.
ROWS = 1200


def test_resume_after_kill_9(url: str, tmp_path: Path) -> None:
    rows = [person(i) for i in range(ROWS)]
    path = write_csv(tmp_path / "big.csv", rows)
    env = {**os.environ, "LEADBASE_DATABASE_URL": url}
    command = [sys.executable, "-m", "leadbase", "import", str(path), "--batch-size", "100"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            run = _runs(url)
            if run and run[0].rows_done >= 300:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the import never got going")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    [killed] = _runs(url)
    assert killed.status == "running" and 0 < killed.rows_done < ROWS

    out = invoke(str(path))
    [run] = _runs(url)
    assert run.status == "completed" and run.rows_done == ROWS
    assert "created" in out
    counts = table_counts(url)
    # person(i) repeats no email: every row is exactly one lead, none doubled.
    assert counts["sales_leads"] == ROWS
    assert sum(run.counts.values()) == ROWS
    database = Database(url)
    try:
        with database.read_session() as session:
            emails = session.scalar(select(func.count(func.distinct(SalesLead.email))))
            assert emails == ROWS
            assert audit.verify(session).ok
    finally:
        database.dispose()
