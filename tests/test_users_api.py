"""/api/v1/users over HTTP, on SQLite and PostgreSQL: admins manage users;
nobody else may, the last admin stays, and a disabled user is locked out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http.app import create_app
from leadbase.models import AuditLog
from tests import dbs

PASSWORD = "correct horse battery"
USERS = {"admin": "ad@example.com", "editor": "ed@example.com", "viewer": "vi@example.com"}


@dataclass
class Api:
    client: TestClient
    auth: dict[str, dict[str, str]]
    ids: dict[str, str]
    database: Database

    def login(self, email: str, password: str = PASSWORD) -> Any:
        return self.client.post("/api/v1/auth/login", json={"email": email, "password": password})

    def as_admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.client.request(method, path, json=body, headers=self.auth["admin"])

    def audit(self, entity_id: str) -> list[AuditLog]:
        with self.database.read_session() as session:
            query = select(AuditLog).where(AuditLog.entity_id == entity_id)
            return list(session.scalars(query.order_by(AuditLog.seq)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    settings = Settings(
        database_url=url,
        secret_key="test-secret-key-of-some-length-0123456789",
        mutation_rate_limit="10000/second",  # these tests are about users, not limits
        login_rate_limit="10000/minute",
    )
    database = Database(url, settings)
    ids = {}
    with database.unit_of_work() as uow:
        for role, email in USERS.items():
            ids[role] = auth_service.create_user(uow.session, email, PASSWORD, role).id
    client = TestClient(create_app(settings, database), client=("192.0.2.20", 4000))
    api = Api(client, {}, ids, database)
    for role, email in USERS.items():
        token = api.login(email)
        assert token.status_code == 200, token.text
        api.auth[role] = bearer(token.json()["data"]["access_token"])
    yield api
    database.dispose()


@dbs.only("api", "sqlite")
def test_admin_creates_reads_and_lists_users(api: Api) -> None:
    created = api.as_admin(
        "POST",
        "/api/v1/users",
        {"email": " New@Example.com", "password": "s3cret-pass", "role": "editor"},
    )
    assert created.status_code == 201, created.text
    user = created.json()["data"]
    assert (user["email"], user["role"], user["is_active"]) == ("new@example.com", "editor", True)
    assert created.headers["Location"] == f"/api/v1/users/{user['id']}"
    assert "hash" not in created.text and "s3cret-pass" not in created.text
    assert api.login("new@example.com", "s3cret-pass").status_code == 200

    got = api.as_admin("GET", f"/api/v1/users/{user['id']}")
    assert got.status_code == 200 and got.json()["data"]["email"] == "new@example.com"
    listed = api.as_admin("GET", "/api/v1/users")
    assert listed.status_code == 200 and "hash" not in listed.text
    emails = [u["email"] for u in listed.json()["data"]["items"]]
    assert emails == [*USERS.values(), "new@example.com"]  # creation order

    duplicate = api.as_admin(
        "POST",
        "/api/v1/users",
        {"email": "NEW@example.com", "password": "another-pass", "role": "viewer"},
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"

    [entry] = [e for e in api.audit(user["id"]) if e.action != "login"]
    assert (entry.action, entry.actor, entry.ip) == ("create", "user:ad@example.com", "192.0.2.20")
    assert "s3cret" not in entry.changes and "hash" not in entry.changes


@dbs.only("api", "sqlite")
def test_bad_input_and_unknown_users(api: Api) -> None:
    for body, field in [
        ({"email": "x@example.com", "password": "short", "role": "viewer"}, "password"),
        ({"email": "x@example.com", "password": "long enough", "role": "owner"}, "role"),
        ({"email": "not-an-email", "password": "long enough", "role": "viewer"}, "email"),
        ({"email": "x@example.com", "password": "long enough"}, "role"),
        ({"email": "x@example.com", "password": "long enough", "role": "viewer", "x": 1}, "x"),
        (
            {"email": "x@example.com", "password": "\ud800 long enough", "role": "viewer"},
            "password",
        ),
    ]:
        # Sent as ASCII JSON: "\ud800" escaped, as a client could.
        headers = {**api.auth["admin"], "Content-Type": "application/json"}
        response = api.client.post("/api/v1/users", content=json.dumps(body), headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert field in {d["field"] for d in response.json()["details"]}, response.text
    editor = f"/api/v1/users/{api.ids['editor']}"
    assert api.as_admin("PATCH", editor, {"password": "short"}).status_code == 422
    assert api.as_admin("PATCH", editor, {"role": "root"}).status_code == 422
    assert api.as_admin("PATCH", editor, {"email": "new@example.com"}).status_code == 422
    assert api.as_admin("GET", "/api/v1/users?limit=0").status_code == 422
    assert api.as_admin("GET", "/api/v1/users/%00").status_code == 422
    for method, body in [("GET", None), ("PATCH", {"role": "viewer"}), ("DELETE", None)]:
        response = api.as_admin(method, "/api/v1/users/unknown", body)
        assert response.status_code == 404 and response.json()["error"] == "not_found", method


@dbs.only("api", "sqlite")
def test_only_admins_manage_users(api: Api) -> None:
    client, editor = api.client, f"/api/v1/users/{api.ids['editor']}"
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/users", None),
        (
            "POST",
            "/api/v1/users",
            {"email": "z@example.com", "password": "long enough", "role": "admin"},
        ),
        ("GET", editor, None),
        ("PATCH", editor, {"role": "admin"}),
        ("DELETE", editor, None),
    ]
    for method, path, body in routes:
        assert client.request(method, path, json=body).status_code == 401
        for role in ("editor", "viewer"):
            denied = client.request(method, path, json=body, headers=api.auth[role])
            assert denied.status_code == 403, (role, method, path)
            assert denied.json()["error"] == "forbidden"
    got = api.as_admin("GET", editor).json()["data"]
    assert (got["role"], got["is_active"]) == ("editor", True)  # the editor did not promote itself
    assert api.login("z@example.com", "long enough").status_code == 401  # nor create anyone


@dbs.only("api", "sqlite")
def test_role_change_and_password_reset(api: Api) -> None:
    client, viewer_id = api.client, api.ids["viewer"]
    url = f"/api/v1/users/{viewer_id}"
    new_company = {"name": "Promoted Inc"}
    assert (
        client.post("/api/v1/companies", json=new_company, headers=api.auth["viewer"]).status_code
        == 403
    )
    promoted = api.as_admin("PATCH", url, {"role": "editor"})
    assert promoted.status_code == 200 and promoted.json()["data"]["role"] == "editor"
    # The role is read on every request: the token issued to a viewer now edits.
    assert (
        client.post("/api/v1/companies", json=new_company, headers=api.auth["viewer"]).status_code
        == 201
    )

    refresh = api.login(USERS["viewer"]).json()["data"]["refresh_token"]
    reset = api.as_admin("PATCH", url, {"password": "brand new password"})
    assert reset.status_code == 200 and "brand new" not in reset.text
    assert api.login(USERS["viewer"]).status_code == 401
    assert api.login(USERS["viewer"], "brand new password").status_code == 200
    stale = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert stale.status_code == 401  # a reset ends the sessions of the old password

    by_admin = [e for e in api.audit(viewer_id) if e.actor == "user:ad@example.com"]
    assert [e.action for e in by_admin] == ["role_change", "password_reset"]
    assert [json.loads(e.changes) for e in by_admin] == [{"role": ["viewer", "editor"]}, {}]


@dbs.only("api", "sqlite")
def test_disabled_user_is_locked_out_until_enabled(api: Api) -> None:
    client, editor_id = api.client, api.ids["editor"]
    url = f"/api/v1/users/{editor_id}"
    key = client.post("/api/v1/auth/api-keys", json={"name": "script"}, headers=api.auth["editor"])
    assert key.status_code == 201, key.text
    key_auth = bearer(key.json()["data"]["key"])
    refresh = api.login(USERS["editor"]).json()["data"]["refresh_token"]
    assert client.get("/api/v1/companies", headers=key_auth).status_code == 200

    disabled = client.delete(url, headers=api.auth["admin"])
    assert disabled.status_code == 200 and disabled.json()["data"]["is_active"] is False
    assert client.get("/api/v1/companies", headers=api.auth["editor"]).status_code == 401
    assert client.get("/api/v1/companies", headers=key_auth).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    assert api.login(USERS["editor"]).status_code == 401
    inactive = api.as_admin("GET", "/api/v1/users?is_active=false").json()["data"]["items"]
    assert [u["id"] for u in inactive] == [editor_id]
    assert api.as_admin("GET", url).json()["data"]["is_active"] is False  # disabled, not deleted

    enabled = api.as_admin("PATCH", url, {"is_active": True})
    assert enabled.status_code == 200 and enabled.json()["data"]["is_active"] is True
    fresh = api.login(USERS["editor"])
    assert fresh.status_code == 200
    assert (
        client.get(
            "/api/v1/companies", headers=bearer(fresh.json()["data"]["access_token"])
        ).status_code
        == 200
    )
    assert client.get("/api/v1/companies", headers=key_auth).status_code == 401  # revoked for good

    assert api.as_admin("PATCH", url, {"is_active": False}).json()["data"]["is_active"] is False
    actions = [e.action for e in api.audit(editor_id) if e.action.endswith("able")]
    assert actions == ["disable", "enable", "disable"]


def test_the_last_active_admin_stays(api: Api) -> None:
    admin_url = f"/api/v1/users/{api.ids['admin']}"
    for method, body in [
        ("PATCH", {"role": "editor"}),
        ("PATCH", {"is_active": False}),
        ("PATCH", {"role": "viewer", "password": "whatever works"}),
        ("DELETE", None),
    ]:
        refused = api.as_admin(method, admin_url, body)
        assert refused.status_code == 409, (method, body, refused.text)
        assert (
            refused.json()["error"] == "conflict"
            and "last active admin" in refused.json()["message"]
        )
    assert (
        api.login(USERS["admin"]).status_code == 200
    )  # the refused password change did not happen

    # A disabled admin does not count: it cannot manage anything.
    second = api.as_admin(
        "POST", "/api/v1/users", {"email": "ad2@example.com", "password": PASSWORD, "role": "admin"}
    ).json()["data"]
    assert api.as_admin("DELETE", f"/api/v1/users/{second['id']}").status_code == 200
    assert api.as_admin("PATCH", admin_url, {"role": "editor"}).status_code == 409

    assert (
        api.as_admin("PATCH", f"/api/v1/users/{second['id']}", {"is_active": True}).status_code
        == 200
    )
    demoted = api.as_admin("PATCH", admin_url, {"role": "editor"})
    assert demoted.status_code == 200 and demoted.json()["data"]["role"] == "editor"
    assert api.as_admin("GET", "/api/v1/users").status_code == 403  # demoted at once

    second_auth = bearer(api.login("ad2@example.com").json()["data"]["access_token"])
    last = api.client.delete(f"/api/v1/users/{second['id']}", headers=second_auth)
    assert last.status_code == 409
    admins = api.client.get("/api/v1/users?role=admin", headers=second_auth).json()["data"]["items"]
    assert [(u["email"], u["is_active"]) for u in admins] == [("ad2@example.com", True)]


def test_user_list_pages(api: Api) -> None:
    for i in range(4):
        body = {"email": f"user{i}@example.com", "password": PASSWORD, "role": "viewer"}
        assert api.as_admin("POST", "/api/v1/users", body).status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = f"?limit=3&role=viewer{f'&cursor={cursor}' if cursor else ''}"
        data = api.as_admin("GET", f"/api/v1/users{query}").json()["data"]
        seen.extend(u["email"] for u in data["items"])
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == ["vi@example.com"] + [f"user{i}@example.com" for i in range(4)]
    assert pages == 2
