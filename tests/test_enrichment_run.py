"""Starting enrichment for many leads: POST /api/v1/enrichment/run and `leadbase enrich`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadbase import context
from leadbase.cli import app as cli
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.db import Database
from tests.api_clients import api_settings, signed_in


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], LeadDatabase]]:
    settings = api_settings(sqlite_url, jobs_in_server=False)
    database = Database(sqlite_url, settings)
    client, by_email = signed_in(database, {"ed@example.com": "editor", "vi@example.com": "viewer"})
    headers = {"ed": by_email["ed@example.com"], "vi": by_email["vi@example.com"]}
    leads = LeadDatabase(sqlite_url, actor="test:setup", settings=settings)
    yield client, headers, leads
    leads.close()
    database.dispose()


def test_run_queues_the_oldest_matching_leads_in_batches(
    api: tuple[TestClient, dict[str, dict[str, str]], LeadDatabase],
) -> None:
    client, auth, leads = api
    ids = [leads.add_lead({"email": f"p{n}@example.com", "country": "DE"}) for n in range(3)]
    leads.add_lead({"email": "elsewhere@example.com", "country": "FR"})
    leads.add_lead({"email": "done@example.com", "country": "DE", "enrichment_status": "completed"})

    first = client.post(
        "/api/v1/enrichment/run", json={"country": "DE", "limit": 2}, headers=auth["ed"]
    )
    assert first.status_code == 202, first.text
    queued = first.json()["data"]
    assert queued["queued"] == 2 and [j["lead_id"] for j in queued["jobs"]] == ids[:2]
    for job in queued["jobs"]:
        lead = leads.get_lead(job["lead_id"])
        assert lead is not None and lead["enrichment_status"] == "in_progress"
        assert lead["enrichment_task_id"] == job["job_id"]
        assert client.get(f"/api/v1/jobs/{job['job_id']}", headers=auth["vi"]).status_code == 200

    rest = client.post("/api/v1/enrichment/run", json={"country": "DE"}, headers=auth["ed"])
    assert [j["lead_id"] for j in rest.json()["data"]["jobs"]] == ids[2:]
    none_left = client.post("/api/v1/enrichment/run", json={"country": "DE"}, headers=auth["ed"])
    assert none_left.json()["data"] == {"queued": 0, "jobs": []}

    viewer = client.post("/api/v1/enrichment/run", json={}, headers=auth["vi"])
    assert viewer.status_code == 403
    bad = client.post("/api/v1/enrichment/run", json={"limit": 0}, headers=auth["ed"])
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "limit"
    unknown = client.post("/api/v1/enrichment/run", json={"colour": "red"}, headers=auth["ed"])
    assert unknown.status_code == 422


@pytest.fixture
def cli_leads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LeadDatabase]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LEADBASE_DATABASE_URL", url)
    # The person provider needs no network: names from the email's local part.
    monkeypatch.setenv("LEADBASE_ENRICHMENT_PROVIDERS", '["person"]')
    monkeypatch.setenv("LEADBASE_JOB_POLL_SECONDS", "0.05")
    get_settings.cache_clear()
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    leads = LeadDatabase(url, actor="test:setup")
    yield leads
    leads.close()
    get_settings.cache_clear()


def test_enrich_command_runs_the_pending_leads_through_the_waterfall(
    cli_leads: LeadDatabase,
) -> None:
    ids = [cli_leads.add_lead({"email": f"{n}@example.com"}) for n in ("ada.king", "alan.turing")]
    later = cli_leads.add_lead({"email": "grace.hopper@example.com"})

    queued_only = CliRunner().invoke(cli, ["enrich", "--limit", "2", "--no-wait"])
    assert queued_only.exit_code == 0, queued_only.output
    assert "queued 2 enrichment jobs" in queued_only.output
    assert all(cli_leads.get_lead(i)["enrichment_status"] == "in_progress" for i in ids)  # type: ignore[index]

    # The queued jobs wait; `enrich` queues the last pending lead and runs
    # what is due, the earlier jobs included.
    result = CliRunner().invoke(cli, ["enrich"])
    assert result.exit_code == 0, result.output
    assert "1 completed" in result.output
    for lead_id in [*ids, later]:
        lead = cli_leads.get_lead(lead_id)
        assert lead is not None and lead["enrichment_status"] == "completed"
    grace = cli_leads.get_lead(later)
    assert grace is not None and (grace["first_name"], grace["last_name"]) == ("Grace", "Hopper")
    with context.acting_as("test:check"):
        nothing = CliRunner().invoke(cli, ["enrich"])
    assert nothing.exit_code == 0 and "no pending leads to enrich" in nothing.output
