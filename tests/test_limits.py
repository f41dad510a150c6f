"""Rate limits (memory and Redis), the body size limit and login throttling, over HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadbase.auth import service as auth_service
from leadbase.auth import tokens
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http.app import create_app
from leadbase.models import SalesLead, User
from tests import dbs

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-of-some-length-0123456789"
IP = "192.0.2.10"


@dataclass
class Deployment:
    """Users in one database; apps over it are built with chosen settings."""

    url: str
    databases: list[Database]
    tokens: dict[str, dict[str, str]]

    def app(self, **settings: Any) -> FastAPI:
        config = Settings(database_url=self.url, secret_key=SECRET, **settings)
        database = Database(self.url, config)
        self.databases.append(database)
        return create_app(config, database)

    def client(self, ip: str = IP, **settings: Any) -> TestClient:
        return TestClient(self.app(**settings), client=(ip, 4000))

    def lead_count(self) -> int:
        with self.databases[0].read_session() as session:
            return int(session.scalar(select(func.count()).select_from(SalesLead)) or 0)


@pytest.fixture
def deployment(sqlite_url: str) -> Iterator[Deployment]:
    settings = Settings(database_url=sqlite_url, secret_key=SECRET)
    database = Database(sqlite_url, settings)
    headers: dict[str, dict[str, str]] = {}
    with database.unit_of_work() as uow:
        for name, role in [("ed", "editor"), ("eve", "editor"), ("vi", "viewer")]:
            user = auth_service.create_user(uow.session, f"{name}@example.com", PASSWORD, role)
            headers[name] = _bearer(user, settings)
    found = Deployment(sqlite_url, [database], headers)
    yield found
    for db in found.databases:
        db.dispose()


def _bearer(user: User, settings: Settings) -> dict[str, str]:
    # Minted directly: logging in would spend the client ip's mutation budget.
    token, _ = tokens.create_access_token(user.id, user.role, settings)
    return {"Authorization": f"Bearer {token}"}


def _post_lead(client: TestClient, headers: dict[str, str], n: int) -> Any:
    return client.post("/api/v1/leads", json={"full_name": f"Lead {n}"}, headers=headers)


def _assert_rate_limited(response: Any, window_seconds: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= window_seconds
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- mutations per principal ----------------------------------------------------


def test_mutations_over_the_limit_get_429_per_user(deployment: Deployment) -> None:
    client = deployment.client(mutation_rate_limit="3/minute")
    ed, eve = deployment.tokens["ed"], deployment.tokens["eve"]
    for n in range(3):
        assert _post_lead(client, ed, n).status_code == 201
    _assert_rate_limited(_post_lead(client, ed, 3), 60)

    for _ in range(5):  # reads are not limited
        assert client.get("/api/v1/leads", headers=ed).status_code == 200
    assert _post_lead(client, eve, 4).status_code == 201  # another principal, own budget
    assert deployment.lead_count() == 4


def test_a_users_api_key_and_token_share_one_budget(deployment: Deployment) -> None:
    client = deployment.client(mutation_rate_limit="2/minute")
    created = client.post(
        "/api/v1/auth/api-keys", json={"name": "script"}, headers=deployment.tokens["ed"]
    )
    assert created.status_code == 201  # the first of ed's two mutations
    api_key = {"Authorization": f"Bearer {created.json()['data']['key']}"}
    assert _post_lead(client, api_key, 1).status_code == 201
    _assert_rate_limited(_post_lead(client, api_key, 2), 60)
    _assert_rate_limited(_post_lead(client, deployment.tokens["ed"], 3), 60)


def test_unauthenticated_mutations_are_limited_per_client_ip(deployment: Deployment) -> None:
    client = deployment.client(mutation_rate_limit="3/minute")
    for n in range(3):
        assert _post_lead(client, {}, n).status_code == 401
    _assert_rate_limited(_post_lead(client, {"Authorization": "Bearer junk"}, 3), 60)
    other_ip = deployment.client(ip="198.51.100.7", mutation_rate_limit="3/minute")
    assert _post_lead(other_ip, {}, 4).status_code == 401
    # A signed-in user behind the same ip keeps their own budget.
    assert _post_lead(client, deployment.tokens["ed"], 5).status_code == 201


def test_redis_counts_mutations_across_apps(deployment: Deployment) -> None:
    with dbs.redis_namespace() as (redis_url, prefix):
        shared = {
            "mutation_rate_limit": "3/minute",
            "redis_url": redis_url,
            "rate_limit_key_prefix": prefix,
        }
        first, second = deployment.client(**shared), deployment.client(**shared)
        ed = deployment.tokens["ed"]
        assert _post_lead(first, ed, 1).status_code == 201
        assert _post_lead(second, ed, 2).status_code == 201
        assert _post_lead(first, ed, 3).status_code == 201
        _assert_rate_limited(_post_lead(second, ed, 4), 60)
        _assert_rate_limited(_post_lead(first, ed, 5), 60)
        # An app with its own (memory) limiter does not see Redis's counts.
        assert (
            _post_lead(deployment.client(mutation_rate_limit="3/minute"), ed, 6).status_code == 201
        )
    assert deployment.lead_count() == 4


def test_redis_down_limits_per_process_without_errors(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    # Port 1 refuses connections: a configured Redis that is down.
    client = deployment.client(mutation_rate_limit="3/minute", redis_url="redis://127.0.0.1:1/0")
    ed = deployment.tokens["ed"]
    with caplog.at_level(logging.WARNING, logger="leadbase.http.ratelimit"):
        for n in range(3):
            assert _post_lead(client, ed, n).status_code == 201
        _assert_rate_limited(_post_lead(client, ed, 3), 60)
    assert "Redis" in caplog.text and "unreachable" in caplog.text


# --- body size ----------------------------------------------------------------------


def _assert_too_large(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_body_over_the_limit_by_content_length(deployment: Deployment) -> None:
    client = deployment.client(max_body_bytes=1000)
    ed = deployment.tokens["ed"]
    big = {"full_name": "Big", "notes": "x" * 2000}
    _assert_too_large(client.post("/api/v1/leads", json=big, headers=ed))
    assert client.post("/api/v1/leads", json={"full_name": "Small"}, headers=ed).status_code == 201
    assert deployment.lead_count() == 1


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-key"])
def test_chunked_body_streaming_past_the_limit(deployment: Deployment, keyed: bool) -> None:
    client = deployment.client(max_body_bytes=1000)
    headers = {**deployment.tokens["ed"], "Content-Type": "application/json"}
    if keyed:  # the idempotency middleware reads the body before the route does
        headers["Idempotency-Key"] = "chunked-1"

    def chunks() -> Iterator[bytes]:
        yield b'{"full_name": "Big", "notes": "'
        for _ in range(10):
            yield b"x" * 300
        yield b'"}'

    response = client.post("/api/v1/leads", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    _assert_too_large(response)
    assert deployment.lead_count() == 0


# --- login throttle -------------------------------------------------------------------


def _login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_failed_logins_lock_the_account_from_every_ip(deployment: Deployment) -> None:
    app = deployment.app(login_rate_limit="3/minute")
    for n in range(3):  # one failure from each of three ips: no ip is over its limit
        client = TestClient(app, client=(f"198.51.100.{n + 1}", 4000))
        assert _login(client, "ED@example.com", "wrong password").status_code == 401
    fresh_ip = TestClient(app, client=("203.0.113.9", 4000))
    refused = _login(fresh_ip, "ed@example.com")  # right password, still refused
    _assert_rate_limited(refused, 60)
    assert "access_token" not in refused.text
    assert _login(fresh_ip, "vi@example.com").status_code == 200  # other accounts unaffected


def test_failed_logins_lock_the_client_ip_for_every_account(deployment: Deployment) -> None:
    app = deployment.app(login_rate_limit="3/minute")
    client = TestClient(app, client=(IP, 4000))
    for n in range(3):
        assert _login(client, f"nobody{n}@example.com", "guess").status_code == 401
    _assert_rate_limited(_login(client, "vi@example.com"), 60)
    other_ip = TestClient(app, client=("203.0.113.20", 4000))
    assert _login(other_ip, "vi@example.com").status_code == 200


def test_successful_logins_do_not_count_and_the_lock_lifts(deployment: Deployment) -> None:
    client = deployment.client(login_rate_limit="2/3second")
    for _ in range(3):
        assert _login(client, "ed@example.com").status_code == 200
    for _ in range(2):
        assert _login(client, "ed@example.com", "wrong password").status_code == 401
    refused = _login(client, "ed@example.com")
    _assert_rate_limited(refused, 3)
    time.sleep(int(refused.headers["Retry-After"]))
    assert _login(client, "ed@example.com").status_code == 200


def test_login_throttle_in_redis_is_shared_across_apps(deployment: Deployment) -> None:
    with dbs.redis_namespace() as (redis_url, prefix):
        shared = {"login_rate_limit": "2/minute", "redis_url": redis_url}
        first = deployment.client(rate_limit_key_prefix=prefix, **shared)
        second = deployment.client(ip="198.51.100.50", rate_limit_key_prefix=prefix, **shared)
        assert _login(first, "ed@example.com", "wrong").status_code == 401
        assert _login(second, "ed@example.com", "wrong").status_code == 401
        _assert_rate_limited(_login(first, "ed@example.com"), 60)
        _assert_rate_limited(_login(second, "ed@example.com"), 60)
