"""/api/v1/leads over HTTP, on SQLite and PostgreSQL, with real users and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase.db import Database
from tests.api_clients import api_settings, signed_in


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    database = Database(url, api_settings(url))
    users = {"ed@example.com": "editor", "vi@example.com": "viewer"}
    client, by_email = signed_in(database, users, client=("192.0.2.10", 4000))
    headers = {role: by_email[email] for email, role in users.items()}
    yield client, headers
    database.dispose()


def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/leads", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_crud_round_trip_with_etags(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = api
    ed = auth["editor"]
    lead = _create(client, ed, full_name="Ada Lovelace", email="ADA@example.com", is_manual=True)
    assert lead["email"] == "ada@example.com" and lead["version"] == 1

    got = client.get(f"/api/v1/leads/{lead['id']}", headers=auth["viewer"])
    assert got.status_code == 200 and got.headers["ETag"] == '"v1"'

    patched = client.patch(
        f"/api/v1/leads/{lead['id']}",
        json={"title": "Countess"},
        headers={**ed, "If-Match": '"v1"'},
    )
    assert patched.status_code == 200 and patched.json()["data"]["title"] == "Countess"
    assert patched.headers["ETag"] == '"v2"'

    stale = client.patch(
        f"/api/v1/leads/{lead['id']}", json={"title": "Lost"}, headers={**ed, "If-Match": '"v1"'}
    )
    assert stale.status_code == 412 and stale.json()["error"] == "precondition_failed"
    body_stale = client.patch(
        f"/api/v1/leads/{lead['id']}", json={"title": "Lost", "version": 1}, headers=ed
    )
    assert body_stale.status_code == 409

    put = client.put(f"/api/v1/leads/{lead['id']}", json={"full_name": "Ada King"}, headers=ed)
    assert put.status_code == 200 and put.json()["data"]["email"] is None

    stale_delete = client.delete(f"/api/v1/leads/{lead['id']}", headers={**ed, "If-Match": '"v1"'})
    assert stale_delete.status_code == 412
    deleted = client.delete(f"/api/v1/leads/{lead['id']}", headers=ed)
    assert deleted.status_code == 200 and deleted.json()["data"]["is_deleted"] is True
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=ed).status_code == 404
    restored = client.post(f"/api/v1/leads/{lead['id']}/restore", headers=ed)
    assert restored.status_code == 200 and restored.json()["data"]["is_deleted"] is False


def test_duplicates_and_bad_input(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = api
    ed = auth["editor"]
    first = _create(client, ed, email="dup@example.com")
    duplicate = client.post("/api/v1/leads", json={"email": "DUP@example.com"}, headers=ed)
    assert duplicate.status_code == 409
    assert duplicate.json()["details"][0]["existing_id"] == first["id"]
    merged = client.post(
        "/api/v1/leads?on_duplicate=merge",
        json={"email": "dup@example.com", "city": "Oslo"},
        headers=ed,
    )
    assert merged.status_code == 200 and merged.json()["data"]["id"] == first["id"]
    bad = client.post("/api/v1/leads", json={"email": "nope", "colour": "red"}, headers=ed)
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["details"]} == {"colour"}
    assert client.get("/api/v1/leads/unknown", headers=ed).status_code == 404
    assert client.get("/api/v1/leads?limit=501", headers=ed).status_code == 422


def test_roles(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = api
    assert client.get("/api/v1/leads").status_code == 401
    assert client.get("/api/v1/leads", headers={"Authorization": "Bearer junk"}).status_code == 401
    assert client.get("/api/v1/leads", headers=auth["viewer"]).status_code == 200
    denied = client.post("/api/v1/leads", json={"email": "v@example.com"}, headers=auth["viewer"])
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"


def test_list_pages_and_filters(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = api
    ed = auth["editor"]
    response = client.post(
        "/api/v1/leads/bulk",
        json=[
            {"full_name": f"Lead {i}", "country": "FR" if i % 3 else "DE", "is_manual": i % 2 == 0}
            for i in range(12)
        ],
        headers=ed,
    )
    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["data"]]
    assert len(set(ids)) == 12

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 5, "country": "FR", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/leads", params=params, headers=ed).json()["data"]
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [lid for i, lid in enumerate(ids) if i % 3]
    assert seen == list(reversed(expected))  # newest first by default
    oldest = client.get(
        "/api/v1/leads", params={"sort": "created_at", "is_manual": True}, headers=ed
    ).json()["data"]["items"]
    assert [item["id"] for item in oldest] == [lid for i, lid in enumerate(ids) if i % 2 == 0]
    too_many = client.post("/api/v1/leads/bulk", json=[{"full_name": "x"}] * 1001, headers=ed)
    assert too_many.status_code == 422


def test_history_names_who_when_and_where(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, auth = api
    ed = {**auth["editor"], "User-Agent": "history-test/2", "X-Request-ID": "req-hist"}
    lead = _create(client, ed, email="hist@example.com")
    client.patch(f"/api/v1/leads/{lead['id']}", json={"lead_status": "qualified"}, headers=ed)
    history = client.get(f"/api/v1/leads/{lead['id']}/history", headers=auth["viewer"])
    assert history.status_code == 200
    audit = history.json()["data"]["audit"]
    assert [entry["action"] for entry in audit] == ["create", "update"]
    update = audit[1]
    assert update["actor"] == "user:ed@example.com"
    assert update["ip"] == "192.0.2.10"
    assert update["user_agent"] == "history-test/2"
    assert update["request_id"] == "req-hist"
    assert update["changes"] == {"lead_status": ["new", "qualified"]}
    timeline = history.json()["data"]["timeline"]
    assert [event["event_type"] for event in timeline] == ["created", "updated"]
