"""Scores stored and kept current: the score_leads job after writes and
activities, the bulk `leadbase score`, /api/v1/scoring, the audit chain and
the lead's history (on SQLite, PostgreSQL and MariaDB for the writes)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase import audit
from leadbase.cli import app as cli
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.jobs import service as jobs_service
from leadbase.jobs.local import LocalRunner
from leadbase.models import AuditLog, Job, SalesLead, SyncStatus, utcnow
from leadbase.scoring import service
from leadbase.scoring.rules import default_rules
from tests.api_clients import api_settings, signed_in
from tests.helpers import timeline

runner = CliRunner()
ACME_VP = {
    "full_name": "Ada Lovelace",
    "title": "VP Engineering",
    "email": "ada@acme.io",
    "country": "GB",
    "industry": "Software",
    "source": "referral",
}


def run_jobs(db: Database) -> None:
    LocalRunner(db, concurrency=1).run_until_idle()


def score_jobs(db: Database, status: str | None = None) -> list[dict[str, Any]]:
    query = select(Job.payload).where(Job.kind == "score_leads").order_by(Job.created_at)
    if status:
        query = query.where(Job.status == status)
    with db.read_session() as session:
        return [dict(payload) for payload in session.scalars(query)]


def lead_row(db: Database, lead_id: str) -> SalesLead:
    with db.read_session() as session:
        lead = session.get(SalesLead, lead_id)
        assert lead is not None
        return lead


def points(lead: SalesLead) -> dict[str, int]:
    assert lead.score_explanation is not None
    return {p["rule"]: p["points"] for p in lead.score_explanation["points"]}


def score_entries(db: Database) -> list[dict[str, Any]]:
    with db.read_session() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == "score").order_by(AuditLog.seq)
        ).all()
        return [{"entity_type": r.entity_type, **json.loads(r.changes)} for r in rows]


def test_a_new_lead_is_scored_by_a_job_after_commit_without_a_version_bump(
    leads: LeadDatabase,
) -> None:
    db = leads.db
    lead_id, other = leads.add_leads(
        [ACME_VP, {"full_name": "Bob", "email": "bob@gmail.com", "source": "apify"}]
    )
    assert score_jobs(db) == [{"lead_ids": sorted([lead_id, other])}]  # one for the write
    before = lead_row(db, lead_id)
    assert before.lead_score is None
    run_jobs(db)

    lead = lead_row(db, lead_id)
    assert lead.lead_score == 16 + 8 + 8 + 4 + 5 + 8  # title, country, industry, email...
    explanation = lead.score_explanation
    assert explanation is not None
    assert explanation["score"] == lead.lead_score and explanation["mode"] == "rules"
    assert explanation["rules"] == default_rules().digest
    assert explanation["points"][0] == {
        "rule": "title_seniority",
        "points": 16,
        "reason": "VP title (VP Engineering)",
    }
    # A score is not an edit: same version, same updated_at, nothing to sync.
    assert (lead.version, lead.updated_at) == (before.version, before.updated_at)
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(SyncStatus)) == 0
    assert lead_row(db, other).lead_score == 0  # free mail, unranked everything: clamped
    # One audit entry for the batch, and the chain holds.
    [entry] = score_entries(db)
    assert entry["entity_type"] == "lead_batch" and entry["mode"] == "rules"
    scored = dict(zip(entry["ids"], entry["lead_score"], strict=True))
    assert scored[lead_id] == [None, lead.lead_score]
    with db.read_session() as session:
        assert audit.verify(session).ok
    # Scoring again stores nothing: no write, no entry.
    with db.unit_of_work() as uow:
        assert service.score_chunk(uow, [lead_id, other], default_rules()) == []
    assert len(score_entries(db)) == 1
    # The lead's history does not list scores among its changes.
    assert [event.event_type for event in timeline(leads, lead_id)] == ["created"]


def test_an_edit_a_restore_and_an_activity_rescore_the_lead(leads: LeadDatabase) -> None:
    db = leads.db
    lead_id = leads.add_lead(ACME_VP)
    run_jobs(db)
    first = lead_row(db, lead_id)
    assert first.lead_score is not None

    leads.update_lead(lead_id, {"title": "Chief Executive Officer", "lead_status": "qualified"})
    run_jobs(db)
    edited = lead_row(db, lead_id)
    assert points(edited)["title_seniority"] == 20 and points(edited)["status"] == 10
    assert edited.lead_score == first.lead_score + 4 + 10
    assert edited.version == first.version + 1  # the edit's bump only

    # An activity through the activities write path, which asks for the rescore.
    leads.add_event(
        lead_id, "demo", outcome="meeting_set", occurred_at=utcnow() - timedelta(days=2)
    )
    run_jobs(db)
    engaged = lead_row(db, lead_id)
    assert points(engaged)["engagement"] == 10 + 1 + 8 + 5
    [engagement] = [p for p in engaged.score_explanation["points"] if p["rule"] == "engagement"]  # type: ignore[index]
    assert engagement["reason"] == (
        "last activity 2 days ago (+10); 1 activities (+1); demo (+8); outcomes: meeting set (+5)"
    )
    assert engaged.lead_score == edited.lead_score + 24

    leads.delete_lead(lead_id)
    assert leads.restore_lead(lead_id)
    assert {"lead_ids": [lead_id]} in score_jobs(db, "queued")
    run_jobs(db)
    with db.read_session() as session:
        assert audit.verify(session).ok


def test_merge_and_unmerge_rescore_their_leads(leads: LeadDatabase) -> None:
    db = leads.db
    survivor = leads.add_lead({"full_name": "Ann Bee", "email": "ann@acme.io"})
    other = leads.add_lead(
        {"full_name": "Ann Bee", "phone": "+14155550100", "title": "CTO"}, on_duplicate="allow"
    )
    run_jobs(db)
    leads.merge_leads(survivor, [other])
    assert score_jobs(db, "queued") == [{"lead_ids": [survivor]}]
    run_jobs(db)
    assert points(lead_row(db, survivor))["title_seniority"] == 20  # it took the title
    leads.unmerge_lead(survivor)
    assert score_jobs(db, "queued") == [{"lead_ids": sorted([survivor, other])}]
    run_jobs(db)
    assert points(lead_row(db, survivor))["title_seniority"] == 0
    assert points(lead_row(db, other))["title_seniority"] == 20


def test_a_job_for_all_and_for_unknown_or_deleted_leads(sqlite_url: str) -> None:
    with LeadDatabase(sqlite_url, actor="test:alice") as leads:
        db = leads.db
        ids = leads.add_leads([{**ACME_VP, "email": f"p{i}@acme.io"} for i in range(3)])
        run_jobs(db)
        leads.delete_lead(ids[0])
        with db.unit_of_work() as uow:
            service.queue_all(uow)
            jobs_service.enqueue(uow, "score_leads", {"lead_ids": ["no-such-lead", ids[1]]})
            bad = jobs_service.enqueue(uow, "score_leads", {"lead_ids": "x"})
        run_jobs(db)
        with db.read_session() as session:
            jobs = session.scalars(select(Job).where(Job.kind == "score_leads")).all()
        results = [job.result for job in jobs if job.status == "succeeded"]
        assert {"scored": 2, "changed": 0, "rules": default_rules().digest} in results
        assert {"scored": 1, "changed": 0, "rules": default_rules().digest} in results
        dead = next(job for job in jobs if job.id == bad)
        assert dead.status == "dead" and "lead_ids" in (dead.last_error or "")


def write_csv(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Full Name", "E-mail", "Job Title", "Country"])
        for i in range(rows):
            writer.writerow([f"Person {i}", f"p{i}@acme{i}.io", "Director of Sales", "US"])
    return path


@pytest.fixture
def cli_db(env_db_url: str) -> Iterator[Database]:
    db = Database(env_db_url)
    yield db
    db.dispose()


def test_an_import_queues_one_job_for_the_run_and_score_rescores_everything(
    cli_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_csv(tmp_path / "people.csv", 30)
    dry = runner.invoke(cli, ["import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert score_jobs(cli_db) == []  # a dry run keeps nothing, queues nothing
    result = runner.invoke(cli, ["import", str(path), "--batch-size", "10"])
    assert result.exit_code == 0, result.output
    [job] = score_jobs(cli_db)  # one for the run, not one per batch
    assert set(job) == {"import_run_id"}
    run_jobs(cli_db)
    with cli_db.read_session() as session:
        scores = session.scalars(select(SalesLead.lead_score)).all()
    # director, US, business email, 4 of 10 fields, source import
    assert len(scores) == 30 and set(scores) == {12 + 8 + 4 + 4 + 1}

    # Edit the rules, rescore every lead: one command.
    rules = tmp_path / "rules.toml"
    rules.write_text("[target_countries]\npoints = 20\n")
    scored = runner.invoke(cli, ["score", "--rules", str(rules)])
    assert scored.exit_code == 0, scored.output
    assert "scored 30 leads" in scored.stdout and "30 scores changed" in scored.stdout
    assert "  40-49         30" in scored.stdout
    again = runner.invoke(cli, ["score", "--rules", str(rules)])
    assert "0 scores changed" in again.stdout
    with cli_db.read_session() as session:
        assert set(session.scalars(select(SalesLead.lead_score))) == {12 + 20 + 4 + 4 + 1}

    bad = tmp_path / "bad.toml"
    bad.write_text("[engagement]\nkinds_cap = -1\n")
    refused = runner.invoke(cli, ["score", "--rules", str(bad)])
    assert refused.exit_code == 1
    assert "engagement.kinds_cap" in refused.output


def test_score_rules_prints_and_checks(tmp_path: Path) -> None:
    shown = runner.invoke(cli, ["score", "rules"])
    assert shown.exit_code == 0, shown.output
    printed = json.loads(shown.stdout)
    assert printed["digest"] == default_rules().digest
    assert printed["rules"]["status"]["points"]["lost"] == -30
    good = tmp_path / "rules.json"
    good.write_text(json.dumps({"status": {"points": {"qualified": 40}}}))
    checked = runner.invoke(cli, ["score", "rules", "--check", str(good)])
    # Rich wraps the message at the terminal's width: a long tmp path breaks its line.
    assert checked.exit_code == 0 and "ok (rules" in " ".join(checked.output.split())
    assert json.loads(checked.stdout)["rules"]["status"]["points"] == {"qualified": 40}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"status": {"points": {"qualified": "high"}}}))
    refused = runner.invoke(cli, ["score", "rules", "--check", str(bad)])
    assert refused.exit_code == 1 and "status.points.qualified" in refused.output


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, Any], Database]]:
    rules = tmp_path / "rules.toml"
    rules.write_text("[source.points]\nreferral = 30\n")
    settings = api_settings(sqlite_url, jobs_in_server=False, scoring_rules=rules)
    database = Database(sqlite_url, settings)
    client, by_email = signed_in(database, {"ed@example.com": "editor", "vi@example.com": "viewer"})
    yield client, {"ed": by_email["ed@example.com"], "vi": by_email["vi@example.com"]}, database
    database.dispose()


def test_the_scoring_api(api: tuple[TestClient, dict[str, Any], Database], tmp_path: Path) -> None:
    client, auth, database = api
    created = client.post("/api/v1/leads", json=ACME_VP, headers=auth["ed"])
    assert created.status_code == 201, created.text
    lead_id = created.json()["data"]["id"]

    rules = client.get("/api/v1/scoring/rules", headers=auth["vi"]).json()["data"]
    assert rules["source"] == str(tmp_path / "rules.toml")
    assert rules["rules"]["source"]["points"]["referral"] == 30
    unscored = client.get(f"/api/v1/scoring/leads/{lead_id}", headers=auth["vi"]).json()["data"]
    assert unscored == {"lead_id": lead_id, "score": None, "explanation": None}

    assert client.post("/api/v1/scoring/run", headers=auth["vi"]).status_code == 403
    run = client.post("/api/v1/scoring/run", headers=auth["ed"])
    assert run.status_code == 202, run.text
    job_id = run.json()["data"]["job_id"]
    run_jobs(database)
    job = client.get(f"/api/v1/jobs/{job_id}", headers=auth["vi"]).json()["data"]
    assert job["status"] == "succeeded" and job["result"]["rules"] == rules["digest"]
    scored = client.get(f"/api/v1/scoring/leads/{lead_id}", headers=auth["vi"]).json()["data"]
    assert scored["score"] == 16 + 8 + 8 + 4 + 5 + 30
    assert {"rule": "source", "points": 30, "reason": "source referral"} in scored["explanation"][
        "points"
    ]
    history = client.get(f"/api/v1/leads/{lead_id}/history", headers=auth["vi"])
    assert history.status_code == 200
    assert [e["action"] for e in history.json()["data"]["audit"]] == ["create"]

    missing = client.get("/api/v1/scoring/leads/nope", headers=auth["vi"])
    assert missing.status_code == 404
    (tmp_path / "rules.toml").write_text("[source]\npoints = 3\n")
    bad = client.post("/api/v1/scoring/run", headers=auth["ed"])
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "source.points"
    assert client.get("/api/v1/scoring/rules", headers=auth["vi"]).status_code == 422


def test_scoring_is_off_when_score_on_write_is(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBASE_SCORE_ON_WRITE", "false")
    get_settings.cache_clear()
    with LeadDatabase(sqlite_url, actor="test:alice") as leads:
        leads.add_lead(ACME_VP)
        assert score_jobs(leads.db) == []


def test_the_lead_page_explains_the_score(console: Any) -> None:
    [lead_id] = console.add_leads([ACME_VP])
    client = console.client("viewer")
    assert "Not scored yet" in client.get(f"/leads/{lead_id}").text
    run_jobs(console.database)
    html = client.get(f"/leads/{lead_id}").text
    assert 'data-testid="score-value">49<' in html
    assert '<th scope="row">Title seniority</th><td class="num">16</td>' in html
    assert "<td>VP title (VP Engineering)</td>" in html
    assert "<td>source referral</td>" in html
