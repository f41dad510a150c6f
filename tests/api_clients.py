"""An API test client with users signed in: the set-up the API tests share."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http import ratelimit
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
    client = TestClient(app_for(database), **client_args)
    headers = {}
    for email in users:
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        headers[email] = {"Authorization": f"Bearer {answer.json()['data']['access_token']}"}
    return client, headers


# Apps by their settings (all but the database's URL and the data folder): a
# new app builds its routes on its first request (~0.5 s, several times that
# under coverage), which every API test paid. An app is lent to one client at
# a time and comes back when the test ends (conftest); lent again, it gets
# the new database, settings and fresh rate limits, which every request (and
# a TestClient's lifespan) reads from app.state.
_APPS: dict[str, list[FastAPI]] = {}
_LENT: set[int] = set()


def app_for(database: Database) -> FastAPI:
    """An app on ``database``: one no client of this test holds, made if need be."""
    settings = database.settings
    if settings.admin_email is not None:  # create_app bootstraps the admin
        return create_app(settings, database)
    key = settings.model_dump_json(exclude={"database_url", "data_dir"})
    free = [app for app in _APPS.get(key, []) if id(app) not in _LENT]
    if free:
        app = free[0]
        app.state.settings = settings
        app.state.database = database
        app.state.limits = ratelimit.AppLimits.from_settings(settings)
    else:
        app = create_app(settings, database)
        _APPS.setdefault(key, []).append(app)
    _LENT.add(id(app))
    return app


def return_apps() -> None:
    """The test has ended: its clients' apps may be lent again."""
    _LENT.clear()
