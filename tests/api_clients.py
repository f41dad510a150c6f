"""An API test client with users signed in: the set-up the API tests share."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http.app import create_app

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
    client = TestClient(create_app(database.settings, database), **client_args)
    headers = {}
    for email in users:
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        headers[email] = {"Authorization": f"Bearer {answer.json()['data']['access_token']}"}
    return client, headers
