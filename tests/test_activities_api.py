"""/api/v1/leads/{id}/events and /api/v1/events/bulk over HTTP, on SQLite,
PostgreSQL and MariaDB, with real users and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase import audit
from leadbase.activities.schemas import MAX_BULK
from leadbase.db import Database
from tests import dbs
from tests.api_clients import api_settings, signed_in

Api = tuple[TestClient, dict[str, dict[str, str]]]


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    database = Database(
        db_url, api_settings(db_url, mutation_rate_limit="1000/second")
    )  # not about limits
    users = {"ed@example.com": "editor", "vi@example.com": "viewer"}
    client, by_email = signed_in(database, users, client=("192.0.2.10", 4000))
    yield client, {role: by_email[email] for email, role in users.items()}
    database.dispose()


def _chain_intact(client: TestClient) -> bool:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    with database.read_session() as session:
        return audit.verify(session).ok


def _lead(client: TestClient, headers: dict[str, str], email: str) -> str:
    answer = client.post("/api/v1/leads", json={"email": email}, headers=headers)
    assert answer.status_code == 201, answer.text
    lead_id: str = answer.json()["data"]["id"]
    return lead_id


def _events(client: TestClient, headers: dict[str, str], lead_id: str, **query: Any) -> Any:
    answer = client.get(f"/api/v1/leads/{lead_id}/events", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


@dbs.only("db_url", "sqlite", "postgresql")
def test_record_list_and_page_activities(api: Api) -> None:
    client, auth = api
    ed, vi = auth["editor"], auth["viewer"]
    lead_id = _lead(client, ed, "ada@example.com")
    first = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
    for i, kind in enumerate(["call", "email", "call", "web_visit"]):
        body = {"event_type": kind, "occurred_at": (first + timedelta(days=i)).isoformat()}
        if kind == "web_visit":
            body["data"] = {"page": "/pricing", "page_views": 2, "duration_seconds": 61}
        if kind == "call":
            body["outcome"] = "connected" if i == 0 else "no_answer"
        answer = client.post(f"/api/v1/leads/{lead_id}/events", json=body, headers=ed)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["success"] is True and created["data"]["event_type"] == kind
        assert created["data"]["source"] == "api"
        assert created["data"]["actor"] == "user:ed@example.com"

    page = _events(client, vi, lead_id, limit=3)
    kinds = [event["event_type"] for event in page["items"]]
    assert kinds == ["web_visit", "call", "email"]  # newest first
    assert page["items"][0]["data"]["page_views"] == 2
    rest = _events(client, vi, lead_id, limit=3, cursor=page["next_cursor"])
    assert [e["outcome"] for e in rest["items"]] == ["connected"] and rest["next_cursor"] is None
    calls = _events(client, vi, lead_id, event_type="call")["items"]
    assert [e["outcome"] for e in calls] == ["no_answer", "connected"]

    history = client.get(f"/api/v1/leads/{lead_id}/history", headers=vi).json()["data"]
    shown = [e["event_type"] for e in history["timeline"] if e["event_type"] != "created"]
    assert shown == ["call", "email", "call", "web_visit"]  # each once, oldest first
    assert [e["action"] for e in history["audit"]].count("activity") == 4
    lead = client.get(f"/api/v1/leads/{lead_id}", headers=vi).json()["data"]
    assert lead["version"] == 1
    assert _chain_intact(client)


@dbs.only("db_url", "sqlite")
def test_bad_requests_get_clear_errors_and_change_nothing(api: Api) -> None:
    client, auth = api
    ed, vi = auth["editor"], auth["viewer"]
    lead_id = _lead(client, ed, "ada@example.com")
    other = client.post(
        "/api/v1/leads?on_duplicate=allow", json={"email": "ada.l@example.com"}, headers=ed
    ).json()["data"]["id"]
    merged = client.post(
        "/api/v1/leads/merge", json={"survivor_id": lead_id, "merged_ids": [other]}, headers=ed
    )
    assert merged.status_code in (200, 201), merged.text
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("no-such-lead", {"event_type": "call"}, 404, "not_found"),
        (other, {"event_type": "call"}, 409, "conflict"),
        (lead_id, {"event_type": "merged"}, 422, "validation_error"),
        (lead_id, {"event_type": "call", "occurred_at": later}, 422, "validation_error"),
        (lead_id, {"event_type": "note", "data": {"note": "x" * 17_000}}, 422, "validation_error"),
        (lead_id, {"event_type": "call", "colour": "red"}, 422, "validation_error"),
        (lead_id, {"outcome": "connected"}, 422, "validation_error"),
    ]
    for target, body, status, code in cases:
        answer = client.post(f"/api/v1/leads/{target}/events", json=body, headers=ed)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["success"] is False and answer.json()["error"] == code
    conflict = client.post(f"/api/v1/leads/{other}/events", json={"event_type": "x"}, headers=ed)
    assert conflict.json()["details"] == [{"field": "lead_id", "merged_into_id": lead_id}], (
        conflict.text
    )
    refused = client.post(f"/api/v1/leads/{lead_id}/events", json={"event_type": "x"}, headers=vi)
    assert refused.status_code == 403
    bad_cursor = client.get(f"/api/v1/leads/{lead_id}/events?cursor=abc", headers=vi)
    assert bad_cursor.status_code == 422
    assert client.get("/api/v1/leads/nope/events", headers=vi).status_code == 404
    assert _events(client, vi, lead_id)["items"] == []


@dbs.only("db_url", "sqlite", "postgresql")
def test_bulk_stores_the_good_rows_and_names_each_bad_one(api: Api) -> None:
    client, auth = api
    ed, vi = auth["editor"], auth["viewer"]
    ada, bob = _lead(client, ed, "ada@example.com"), _lead(client, ed, "bob@example.com")
    rows = [
        {"lead_id": ada, "event_type": "call", "outcome": "connected"},
        {"lead_id": bob, "event_type": "status_changed"},
        {"lead_id": "gone", "event_type": "email"},
        {"lead_id": bob, "event_type": "web_visit", "data": {"page": "/", "page_views": 1}},
        {"lead_id": ada, "event_type": "email", "occurred_at": "2025-02-30T10:00:00"},
    ]
    answer = client.post("/api/v1/events/bulk", json=rows, headers=ed)
    assert answer.status_code == 200, answer.text
    results = answer.json()["data"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["error"] for r in results] == [
        None,
        "validation_error",
        "not_found",
        None,
        "validation_error",
    ]
    assert [r["field"] for r in results[1:3]] == ["event_type", "lead_id"]
    assert results[4]["field"] == "occurred_at" and results[4]["message"]
    assert [e["id"] for e in _events(client, vi, ada)["items"]] == [results[0]["id"]]
    assert [e["id"] for e in _events(client, vi, bob)["items"]] == [results[3]["id"]]

    many = [{"lead_id": bob, "event_type": "web_visit"} for _ in range(60)]
    stored = client.post("/api/v1/events/bulk", json=many, headers=ed).json()["data"]
    assert all(r["id"] is not None for r in stored)
    history = client.get(f"/api/v1/leads/{bob}/history", headers=vi).json()["data"]
    visits = [e for e in history["timeline"] if e["event_type"] == "web_visit"]
    assert len(visits) == 61
    assert [e["action"] for e in history["audit"]].count("activity") == 61
    assert _chain_intact(client)

    too_many = client.post("/api/v1/events/bulk", json=[{}] * (MAX_BULK + 1), headers=ed)
    assert too_many.status_code == 422
    assert client.post("/api/v1/events/bulk", json=rows, headers=vi).status_code == 403


@dbs.only("db_url", "sqlite")
def test_openapi_describes_the_activity_routes(api: Api) -> None:
    client, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    events = paths["/api/v1/leads/{lead_id}/events"]
    assert {"get", "post"} <= set(events)
    assert "activity" in events["post"]["description"].lower()
    assert "post" in paths["/api/v1/events/bulk"]
