"""/api/v1/sync/airtable/status, /runs and /conflicts: what a person checking
the sync sees before and after leads wait to go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadbase.db import Database
from leadbase.leads import service as leads_service
from leadbase.models import AirtableRun, utcnow
from leadbase.sync.airtable import runs
from tests.api_clients import api_settings, signed_in

VIEWER = "viewer@example.com"


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    database = Database(
        sqlite_url,
        api_settings(
            sqlite_url, airtable_token="pat", airtable_base_id="appX", airtable_table="Leads"
        ),
    )
    yield database
    database.dispose()


def test_status_counts_what_waits_and_names_missing_settings(
    sqlite_url: str, database: Database
) -> None:
    client, headers = signed_in(database, {VIEWER: "viewer"})
    with client:
        empty = client.get("/api/v1/sync/airtable/status", headers=headers[VIEWER])
        assert empty.status_code == 200, empty.text
        data = empty.json()["data"]
        assert data["configured"] is True and data["missing"] == []
        assert (data["pending"], data["failed"], data["linked"]) == (0, 0, 0)
        assert data["last_push"] is None and data["runs"] == []

        with database.unit_of_work() as uow:
            leads_service.bulk_create(uow, [{"email": f"p{i}@example.com"} for i in range(3)])
        run_id = runs.start(database, "push", "test:alice")
        runs.finish(database, run_id, {"pushed": 3, "requests": 1})

        data = client.get("/api/v1/sync/airtable/status", headers=headers[VIEWER]).json()["data"]
        assert data["pending"] == 3  # never pushed: no link, no outbox row
        assert data["last_push"]["counts"]["pushed"] == 3
        assert data["last_push"]["status"] == "succeeded"
        listed = client.get("/api/v1/sync/airtable/runs", headers=headers[VIEWER]).json()["data"]
        assert [run["id"] for run in listed] == [run_id]
        conflicts = client.get("/api/v1/sync/airtable/conflicts", headers=headers[VIEWER])
        assert conflicts.status_code == 200 and conflicts.json()["data"] == []
        assert client.get("/api/v1/sync/airtable/status").status_code == 401


def test_status_without_settings_says_which_are_missing(sqlite_url: str) -> None:
    database = Database(sqlite_url, api_settings(sqlite_url))
    client, headers = signed_in(database, {VIEWER: "viewer"})
    with client:
        data = client.get("/api/v1/sync/airtable/status", headers=headers[VIEWER]).json()["data"]
    database.dispose()
    assert data["configured"] is False
    assert data["missing"] == [
        "LEADBASE_AIRTABLE_TOKEN",
        "LEADBASE_AIRTABLE_BASE_ID",
        "LEADBASE_AIRTABLE_TABLE",
    ]


def test_a_failed_run_keeps_its_error(database: Database) -> None:
    run_id = runs.start(database, "pull", "test:alice")
    runs.finish(database, run_id, {"pulled": 5}, error="Airtable answered 401", cursor=utcnow())
    with database.read_session() as session:
        run = session.get(AirtableRun, run_id)
        assert run is not None
        assert (run.status, run.error, run.counts["pulled"]) == (
            "failed",
            "Airtable answered 401",
            5,
        )
        assert run.finished_at is not None
