"""/api/v1/apify: runs with their sync state, importing a run as a job, sync states."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase.db import Database
from tests.api_clients import api_settings, signed_in
from tests.emulators.apify import ApifyEmulator
from tests.test_apify_sync import ACTOR, place

EDITOR, VIEWER = "editor@example.com", "viewer@example.com"
Api = tuple[TestClient, dict[str, dict[str, str]]]


@pytest.fixture
def api(sqlite_url: str, apify_emulator: ApifyEmulator) -> Iterator[Api]:
    database = Database(sqlite_url, api_settings(sqlite_url, mutation_rate_limit="1000/second"))
    client, headers = signed_in(database, {EDITOR: "editor", VIEWER: "viewer"})
    with client:
        yield client, headers
    database.dispose()


def synced(client: TestClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = client.get("/api/v1/apify/sync-states", headers=headers).json()["data"]["items"]
        state = next((s for s in runs if s["run_id"] == run_id), None)
        if state is not None and state["sync_status"] in ("completed", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"the sync of {run_id} did not end")


def test_runs_import_and_sync_states(api: Api, apify_emulator: ApifyEmulator) -> None:
    client, headers = api
    actor = apify_emulator.add_actor(ACTOR)
    now = datetime.now(UTC)
    old = apify_emulator.add_run(
        actor, items=[place(i) for i in range(30)], started_at=now - timedelta(hours=2)
    )
    new = apify_emulator.add_run(actor, items=[place(i) for i in range(30, 35)])

    listed = client.get("/api/v1/apify/runs", params={"actor": ACTOR}, headers=headers[VIEWER])
    assert listed.status_code == 200, listed.text
    runs = listed.json()["data"]
    assert [r["run_id"] for r in runs] == [new.id, old.id]  # newest first
    assert runs[0]["actor_name"] == ACTOR and runs[0]["status"] == "SUCCEEDED"
    assert runs[0]["sync"] is None

    refused = client.post(f"/api/v1/apify/runs/{old.id}/import", headers=headers[VIEWER])
    assert refused.status_code == 403
    queued = client.post(f"/api/v1/apify/runs/{old.id}/import", headers=headers[EDITOR])
    assert queued.status_code == 202, queued.text
    body = queued.json()["data"]
    assert body["job_id"] and body["sync"]["sync_status"] == "pending"
    assert body["sync"]["total"] == 30

    state = synced(client, headers[VIEWER], old.id)
    assert state["sync_status"] == "completed", state
    assert (state["synced"], state["failed"], state["progress"]) == (30, 0, 1.0)
    assert state["label"] == ACTOR and state["kind"] == "run"
    runs = client.get("/api/v1/apify/runs", params={"actor": actor.id}, headers=headers[VIEWER])
    assert runs.json()["data"][1]["sync"]["sync_status"] == "completed"
    leads = client.get("/api/v1/leads", params={"limit": 100}, headers=headers[VIEWER])
    assert len(leads.json()["data"]["items"]) == 30

    again = client.post(f"/api/v1/apify/runs/{old.id}/import", headers=headers[EDITOR])
    assert again.status_code == 200 and again.json()["data"]["job_id"] is None

    client.post(f"/api/v1/apify/runs/{new.id}/import", headers=headers[EDITOR])
    synced(client, headers[VIEWER], new.id)
    first = client.get("/api/v1/apify/sync-states?limit=1", headers=headers[VIEWER]).json()
    assert [s["run_id"] for s in first["data"]["items"]] == [new.id]
    cursor = first["data"]["next_cursor"]
    rest = client.get(
        "/api/v1/apify/sync-states", params={"cursor": cursor}, headers=headers[VIEWER]
    ).json()["data"]
    assert [s["run_id"] for s in rest["items"]] == [old.id] and rest["next_cursor"] is None


def test_errors(api: Api, apify_emulator: ApifyEmulator) -> None:
    client, headers = api
    missing = client.post("/api/v1/apify/runs/nosuchrun00000000/import", headers=headers[EDITOR])
    assert missing.status_code == 404 and "not found" in missing.json()["message"]
    going = apify_emulator.add_run(apify_emulator.add_actor(ACTOR), status="RUNNING")
    running = client.post(f"/api/v1/apify/runs/{going.id}/import", headers=headers[EDITOR])
    assert running.status_code == 409 and "RUNNING" in running.json()["message"]
    unknown = client.get("/api/v1/apify/runs", params={"actor": "no/such"}, headers=headers[VIEWER])
    assert unknown.status_code == 404
    apify_emulator.tokens = {"another"}
    refused = client.get("/api/v1/apify/runs", params={"actor": ACTOR}, headers=headers[VIEWER])
    assert refused.status_code == 502 and "LEADBASE_APIFY_TOKEN" in refused.json()["message"]
    assert client.get("/api/v1/apify/sync-states").status_code == 401


def test_apify_not_set_up(sqlite_url: str) -> None:
    database = Database(sqlite_url, api_settings(sqlite_url))
    client, headers = signed_in(database, {EDITOR: "editor"})
    with client:
        runs = client.get("/api/v1/apify/runs", params={"actor": ACTOR}, headers=headers[EDITOR])
        assert runs.status_code == 409 and runs.json()["error"] == "apify_not_configured"
        assert "LEADBASE_APIFY_TOKEN" in runs.json()["message"]
        states = client.get("/api/v1/apify/sync-states", headers=headers[EDITOR])
        assert states.status_code == 200 and states.json()["data"]["items"] == []
    database.dispose()
