"""Idempotency-Key on POST, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from leadbase.auth import service as auth_service
from leadbase.auth import tokens
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http.app import create_app
from leadbase.models import IdempotencyKey, SalesLead, utcnow
from tests import dbs

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-of-some-length-0123456789"
LEADS = "/api/v1/leads"


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    database: Database
    settings: Settings
    ed: dict[str, str]
    eve: dict[str, str]

    def count(self, model: type[SalesLead] | type[IdempotencyKey]) -> int:
        with self.database.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    settings = Settings(database_url=url, secret_key=SECRET, mutation_rate_limit="1000/second")
    database = Database(url, settings)
    headers = {}
    with database.unit_of_work() as uow:
        for name in ("ed", "eve"):
            user = auth_service.create_user(uow.session, f"{name}@example.com", PASSWORD, "editor")
            token, _ = tokens.create_access_token(user.id, user.role, settings)
            headers[name] = {"Authorization": f"Bearer {token}"}
    app = create_app(settings, database)
    yield Api(TestClient(app), app, database, settings, headers["ed"], headers["eve"])
    database.dispose()


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def test_a_replay_returns_the_first_response_and_creates_nothing(api: Api) -> None:
    body = {"full_name": "Ada Lovelace", "email": "ada@example.com"}
    first = api.client.post(LEADS, json=body, headers=_keyed(api.ed, "create-ada-1"))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers

    again = api.client.post(LEADS, json=body, headers=_keyed(api.ed, "create-ada-1"))
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    for name in ("Location", "ETag", "Content-Type"):
        assert again.headers[name] == first.headers[name]
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]  # a new request
    assert api.count(SalesLead) == 1


@dbs.only("api", "sqlite")
def test_the_same_key_with_another_body_or_route_is_refused(api: Api) -> None:
    key = _keyed(api.ed, "order-42")
    assert api.client.post(LEADS, json={"full_name": "One"}, headers=key).status_code == 201

    other_body = api.client.post(LEADS, json={"full_name": "Two"}, headers=key)
    assert other_body.status_code == 422
    assert other_body.json()["error"] == "idempotency_key_reused"
    other_query = api.client.post(
        f"{LEADS}?on_duplicate=allow", json={"full_name": "One"}, headers=key
    )
    assert other_query.status_code == 422
    other_route = api.client.post("/api/v1/leads/bulk", json=[{"full_name": "One"}], headers=key)
    assert other_route.status_code == 422
    assert other_route.json()["error"] == "idempotency_key_reused"
    assert api.count(SalesLead) == 1


@dbs.only("api", "sqlite")
def test_keys_are_per_user(api: Api) -> None:
    body = {"full_name": "Shared Name"}
    mine = api.client.post(LEADS, json=body, headers=_keyed(api.ed, "same-key"))
    theirs = api.client.post(LEADS, json=body, headers=_keyed(api.eve, "same-key"))
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]
    assert api.count(SalesLead) == 2


def test_a_refused_request_releases_its_key(api: Api) -> None:
    """Only 2xx answers are stored: a 4xx changed nothing, so the retry runs."""
    key = _keyed(api.ed, "fix-and-retry")
    bad = api.client.post(LEADS, json={"full_name": "Ada", "colour": "red"}, headers=key)
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    same_again = api.client.post(LEADS, json={"full_name": "Ada", "colour": "red"}, headers=key)
    assert same_again.status_code == 422 and "Idempotent-Replayed" not in same_again.headers

    fixed = api.client.post(LEADS, json={"full_name": "Ada"}, headers=key)
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
    replay = api.client.post(LEADS, json={"full_name": "Ada"}, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["data"]["id"] == fixed.json()["data"]["id"]
    assert api.count(SalesLead) == 1


def test_a_server_error_releases_the_key(api: Api) -> None:
    calls: list[int] = []

    @api.app.post("/api/v1/test/flaky", status_code=201)
    def flaky() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return {"success": True, "data": {"calls": len(calls)}}

    client = TestClient(api.app, raise_server_exceptions=False)
    key = _keyed(api.ed, "flaky-1")
    assert client.post("/api/v1/test/flaky", json={}, headers=key).status_code == 500
    retried = client.post("/api/v1/test/flaky", json={}, headers=key)
    assert retried.status_code == 201 and retried.json()["data"]["calls"] == 2
    assert client.post("/api/v1/test/flaky", json={}, headers=key).json()["data"]["calls"] == 2
    assert len(calls) == 2


def test_concurrent_requests_with_one_key_create_one_lead(api: Api) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    responses: list[Any] = []
    lock = threading.Lock()

    def send() -> None:
        client = TestClient(api.app)
        barrier.wait()
        response = client.post(LEADS, json={"full_name": "Race"}, headers=_keyed(api.ed, "race"))
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(responses) == workers
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    in_progress = [r for r in responses if r.status_code == 409]
    assert all(r.json()["error"] == "idempotency_in_progress" for r in in_progress)
    assert all(r.headers["Retry-After"] == "1" for r in in_progress)
    created = {r.json()["data"]["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert api.count(SalesLead) == 1


@dbs.only("api", "sqlite")
def test_invalid_keys_are_refused(api: Api) -> None:
    for key in ("", "k" * 256, " padded "):
        response = api.client.post(LEADS, json={"full_name": "X"}, headers=_keyed(api.ed, key))
        assert response.status_code == 422, repr(key)
        assert response.json()["details"][0]["field"] == "Idempotency-Key"
    longest = api.client.post(LEADS, json={"full_name": "X"}, headers=_keyed(api.ed, "k" * 255))
    assert longest.status_code == 201
    assert api.count(SalesLead) == 1


@dbs.only("api", "sqlite")
def test_without_a_user_the_key_changes_nothing(api: Api) -> None:
    response = api.client.post(LEADS, json={"full_name": "X"}, headers={"Idempotency-Key": "anon"})
    assert response.status_code == 401
    assert api.count(IdempotencyKey) == 0


def test_expired_keys_run_again_and_are_purged(api: Api) -> None:
    key = _keyed(api.ed, "old-key")
    first = api.client.post(LEADS, json={"full_name": "Old"}, headers=key)
    assert first.status_code == 201
    with api.database.unit_of_work() as uow:  # a day and a bit later
        aged = utcnow() - timedelta(hours=api.settings.idempotency_ttl_hours, minutes=1)
        uow.session.execute(update(IdempotencyKey).values(created_at=aged))

    again = api.client.post(LEADS, json={"full_name": "Old"}, headers=key)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json()["data"]["id"] != first.json()["data"]["id"]

    with api.database.unit_of_work() as uow:
        uow.session.execute(update(IdempotencyKey).values(created_at=aged))
    # A newly started app purges expired keys on its first keyed request.
    fresh = TestClient(create_app(api.settings, api.database))
    other = fresh.post(LEADS, json={"full_name": "New"}, headers=_keyed(api.ed, "new-key"))
    assert other.status_code == 201
    assert api.count(IdempotencyKey) == 1


@dbs.only("api", "sqlite")
def test_auth_routes_do_not_store_secrets(api: Api) -> None:
    key = _keyed(api.ed, "api-key-1")
    first = api.client.post("/api/v1/auth/api-keys", json={"name": "one"}, headers=key)
    second = api.client.post("/api/v1/auth/api-keys", json={"name": "one"}, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["key"] != second.json()["data"]["key"]
    assert api.count(IdempotencyKey) == 0
