"""An API test client with users signed in: the set-up the API tests share."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from tests.app_pool import AppPool

PASSWORD = "correct horse battery"
SECRET_KEY = "test-secret-key-of-some-length-0123456789"


def api_settings(url: str, **values: Any) -> Settings:
    return Settings(database_url=url, secret_key=SECRET_KEY, **values)


def signed_in(
    database: Database, users: dict[str, str], **client_args: Any
) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """A client of the app on ``database``, and an Authorization header for
    each of ``users`` ({email: role}; created here), keyed by email."""
    with database.unit_of_work() as uow:
        for email, role in users.items():
            auth_service.create_user(uow.session, email, PASSWORD, role)
    client = TestClient(app_for(database), **client_args)
    headers = {}
    for email in users:
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        headers[email] = {"Authorization": f"Bearer {answer.json()['data']['access_token']}"}
    return client, headers


# Clients borrow their apps (tests/app_pool.py), one client an app at a time;
# they come back when the test ends (conftest).
_POOL = AppPool()


def app_for(database: Database) -> FastAPI:
    """An app on ``database``: one no client of this test holds, made if need be."""
    return _POOL.lend(database.settings, database)


def return_apps() -> None:
    """The test has ended: its clients' apps may be lent again."""
    _POOL.give_back_all()
