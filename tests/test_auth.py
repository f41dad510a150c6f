"""Auth: users, login, rotated refresh tokens with reuse detection, API keys, roles."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import typer
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from leadbase.auth import service, tokens
from leadbase.auth.cli import users_app
from leadbase.auth.endpoints import require_role
from leadbase.auth.endpoints import router as auth_router
from leadbase.auth.errors import AuthenticationError
from leadbase.config import Settings, get_settings
from leadbase.db import Database
from leadbase.errors import LeadbaseError, ValidationError
from leadbase.http.support import envelope_error
from leadbase.models import ApiKey, AuditLog, RefreshToken, User
from tests import dbs

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    value: str = request.getfixturevalue(name)
    return value


@pytest.fixture
def database(url: str) -> Iterator[Database]:
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def client(database: Database) -> TestClient:
    app = FastAPI()
    app.state.database = database

    @app.exception_handler(LeadbaseError)
    def _domain_error(_request: Request, exc: LeadbaseError) -> JSONResponse:
        return envelope_error(exc)

    guarded = APIRouter()

    @guarded.post("/test/editor-only")
    def _editor_only(
        principal: Any = Depends(require_role("admin", "editor")),  # noqa: B008
    ) -> dict[str, Any]:
        return {"success": True, "data": {"role": principal.role}}

    app.include_router(auth_router)
    app.include_router(guarded)
    return TestClient(app)


def make_user(database: Database, email: str, role: str = "editor") -> str:
    with database.unit_of_work() as uow:
        return service.create_user(uow.session, email, PASSWORD, role).id


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client: TestClient, token: str) -> Any:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"] == "unauthorized"


# --- login ------------------------------------------------------------------


def test_login_returns_tokens_and_me(client: TestClient, database: Database) -> None:
    user_id = make_user(database, "Ann@Example.com", "viewer")
    data = login(client, "ann@example.com")
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 15 * 60
    assert data["refresh_token"]
    me = client.get("/api/v1/auth/me", headers=bearer(data["access_token"]))
    assert me.status_code == 200
    assert me.json()["data"] == {
        "id": user_id,
        "email": "ann@example.com",
        "role": "viewer",
        "auth": "token",
    }
    with database.read_session() as session:
        user = session.get(User, user_id)
        assert user is not None and user.last_login_at is not None


@dbs.only("url", "sqlite")
def test_login_failures_all_look_the_same(client: TestClient, database: Database) -> None:
    make_user(database, "ann@example.com")
    make_user(database, "gone@example.com")
    with database.unit_of_work() as uow:
        service.disable_user(
            uow.session, service.get_user_by_email(uow.session, "gone@example.com")
        )
    attempts = [
        {"email": "ann@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "gone@example.com", "password": PASSWORD},
        {"email": "not an email", "password": PASSWORD},
    ]
    messages = set()
    for body in attempts:
        response = client.post("/api/v1/auth/login", json=body)
        assert_unauthorized(response)
        messages.add(response.json()["message"])
    assert len(messages) == 1


def test_me_needs_a_bearer_token(client: TestClient) -> None:
    assert_unauthorized(client.get("/api/v1/auth/me"))
    assert_unauthorized(client.get("/api/v1/auth/me", headers={"Authorization": "Basic x"}))
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer("not-a-token")))


# --- access tokens ---------------------------------------------------------------


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user_id,
        "role": "admin",
        "iat": now,
        "exp": now + timedelta(minutes=15),
        "jti": "j1",
        "type": "access",
    }
    return {**claims, **overrides}


def test_expired_access_token_is_rejected(client: TestClient, database: Database) -> None:
    user_id = make_user(database, "ann@example.com")
    key = tokens.signing_key(database.settings)
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = jwt.encode(_claims(user_id, exp=past), key, algorithm="HS256")
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(expired)))
    # The same claims with a live exp pass: only the expiry was wrong.
    live = jwt.encode(_claims(user_id), key, algorithm="HS256")
    assert client.get("/api/v1/auth/me", headers=bearer(live)).status_code == 200


@dbs.only("url", "sqlite")
def test_a_token_that_worked_stops_working_when_it_expires(
    client: TestClient, database: Database
) -> None:
    """Verified tokens are remembered for speed; their expiry is still checked each time."""
    user_id = make_user(database, "ann@example.com")
    key = tokens.signing_key(database.settings)
    soon = datetime.now(UTC) + timedelta(seconds=2)  # room for a slow first request
    token = jwt.encode(_claims(user_id, exp=soon), key, algorithm="HS256")
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(token)))


def test_tampered_or_foreign_tokens_are_rejected(client: TestClient, database: Database) -> None:
    user_id = make_user(database, "ann@example.com")
    token = login(client, "ann@example.com")["access_token"]
    head, payload, signature = token.split(".")
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    wrong_key = jwt.encode(_claims(user_id), "some-other-key-" * 4, algorithm="HS256")
    unsigned = jwt.encode(_claims(user_id), None, algorithm="none")
    key = tokens.signing_key(database.settings)
    not_access = jwt.encode(_claims(user_id, type="refresh"), key, algorithm="HS256")
    for bad in (f"{head}.{payload}.{flipped}", wrong_key, unsigned, not_access):
        assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(bad)))


def test_access_token_of_disabled_user_stops_working(
    client: TestClient, database: Database
) -> None:
    make_user(database, "ann@example.com")
    access = login(client, "ann@example.com")["access_token"]
    with database.unit_of_work() as uow:
        service.disable_user(uow.session, service.get_user_by_email(uow.session, "ann@example.com"))
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(access)))


# --- refresh tokens ----------------------------------------------------------------


def test_refresh_rotates(client: TestClient, database: Database) -> None:
    make_user(database, "ann@example.com")
    first = login(client, "ann@example.com")
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()["data"]
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200
    third = refresh(client, second["refresh_token"])
    assert third.status_code == 200
    with database.read_session() as session:
        rows = session.scalars(select(RefreshToken)).all()
    assert len(rows) == 3
    assert len({row.family_id for row in rows}) == 1
    assert sum(row.used_at is None for row in rows) == 1


def test_reused_refresh_token_revokes_the_family(client: TestClient, database: Database) -> None:
    make_user(database, "ann@example.com")
    other = login(client, "ann@example.com")  # another device: its own family
    first = login(client, "ann@example.com")
    newest = refresh(client, first["refresh_token"]).json()["data"]
    assert_unauthorized(refresh(client, first["refresh_token"]))  # the stolen copy
    assert_unauthorized(refresh(client, newest["refresh_token"]))  # the family is gone
    assert refresh(client, other["refresh_token"]).status_code == 200
    with database.read_session() as session:
        actions = session.scalars(select(AuditLog.action)).all()
    assert "refresh_token_reused" in actions


@dbs.only("url", "sqlite")
def test_unknown_or_expired_refresh_token(client: TestClient, database: Database) -> None:
    make_user(database, "ann@example.com")
    data = login(client, "ann@example.com")
    assert_unauthorized(refresh(client, "made-up"))
    with database.unit_of_work() as uow:
        row = uow.session.scalars(select(RefreshToken)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert_unauthorized(refresh(client, data["refresh_token"]))


def test_logout_revokes_the_family(client: TestClient, database: Database) -> None:
    make_user(database, "ann@example.com")
    first = login(client, "ann@example.com")
    second = refresh(client, first["refresh_token"]).json()["data"]
    response = client.post("/api/v1/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert response.status_code == 200
    assert_unauthorized(refresh(client, second["refresh_token"]))


def test_refresh_token_stored_hashed(client: TestClient, database: Database) -> None:
    make_user(database, "ann@example.com")
    data = login(client, "ann@example.com")
    with database.read_session() as session:
        row = session.scalars(select(RefreshToken)).one()
    assert row.token_hash == tokens.digest(data["refresh_token"])
    assert data["refresh_token"] not in _dump(database)


# --- API keys ---------------------------------------------------------------------


def _dump(database: Database) -> str:
    """Every row of every auth and audit table, as text."""
    with database.engine.connect() as connection:
        return " ".join(
            str(row)
            for table in ("users", "refresh_tokens", "api_keys", "audit_log")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )


def test_api_key_works_as_bearer_and_can_be_revoked(client: TestClient, database: Database) -> None:
    make_user(database, "bot@example.com", "editor")
    access = login(client, "bot@example.com")["access_token"]
    created = client.post("/api/v1/auth/api-keys", json={"name": "agent"}, headers=bearer(access))
    assert created.status_code == 201, created.text
    key = created.json()["data"]["key"]
    assert key.startswith("lb_")
    assert created.json()["data"]["prefix"] == key[:11]

    me = client.get("/api/v1/auth/me", headers=bearer(key))
    assert me.status_code == 200
    assert me.json()["data"]["auth"] == "api_key"
    assert client.post("/test/editor-only", headers=bearer(key)).status_code == 200

    listed = client.get("/api/v1/auth/api-keys", headers=bearer(key)).json()["data"]["items"]
    assert [item["name"] for item in listed] == ["agent"]
    assert "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    with database.read_session() as session:
        row = session.scalars(select(ApiKey)).one()
    assert row.key_hash == tokens.digest(key)
    assert key not in _dump(database)

    revoked = client.delete(f"/api/v1/auth/api-keys/{row.id}", headers=bearer(access))
    assert revoked.status_code == 200
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(key)))
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(key[:-1] + "x")))


def test_disable_user_revokes_keys_and_tokens(database: Database) -> None:
    make_user(database, "bot@example.com")
    with database.unit_of_work() as uow:
        user = service.get_user_by_email(uow.session, "bot@example.com")
        _key, plaintext = service.create_api_key(uow.session, user, "agent")
        pair = service.login(uow.session, "bot@example.com", PASSWORD, database.settings)
    with database.unit_of_work() as uow:
        service.disable_user(uow.session, service.get_user_by_email(uow.session, "bot@example.com"))
    with database.read_session() as session:
        keys = session.scalars(select(ApiKey)).all()
        refresh_rows = session.scalars(select(RefreshToken)).all()
        with pytest.raises(AuthenticationError):
            service.principal_from_bearer(session, plaintext, database.settings)
    assert all(k.revoked_at is not None for k in keys)
    assert all(r.revoked_at is not None for r in refresh_rows)
    with database.unit_of_work() as uow, pytest.raises(AuthenticationError):
        service.refresh(uow.session, pair.refresh_token, database.settings)


# --- roles ---------------------------------------------------------------------


@dbs.only("url", "sqlite")
@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("editor", 200), ("admin", 200)])
def test_require_role(client: TestClient, database: Database, role: str, status: int) -> None:
    make_user(database, f"{role}@example.com", role)
    access = login(client, f"{role}@example.com")["access_token"]
    response = client.post("/test/editor-only", headers=bearer(access))
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == "forbidden"
    assert_unauthorized(client.post("/test/editor-only"))


# --- users -----------------------------------------------------------------------


@dbs.only("url", "sqlite")
@pytest.mark.parametrize(
    ("email", "password", "role", "field"),
    [
        ("ann@example.com", "short", "editor", "password"),
        ("not-an-email", PASSWORD, "editor", "email"),
        ("ann@example.com", PASSWORD, "superuser", "role"),
    ],
)
def test_create_user_validation(
    database: Database, email: str, password: str, role: str, field: str
) -> None:
    with database.unit_of_work() as uow, pytest.raises(ValidationError) as caught:
        service.create_user(uow.session, email, password, role)
    assert caught.value.field == field
    assert caught.value.status_code == 422


def test_duplicate_email_conflicts(database: Database) -> None:
    make_user(database, "ann@example.com")
    with pytest.raises(LeadbaseError) as caught:
        make_user(database, "ANN@example.com")
    assert caught.value.status_code == 409


@dbs.only("url", "sqlite")
def test_user_audit_has_no_secrets(client: TestClient, database: Database) -> None:
    user_id = make_user(database, "ann@example.com")
    login(client, "ann@example.com")
    with database.read_session() as session:
        user = session.get(User, user_id)
        assert user is not None
        rows = session.scalars(select(AuditLog).where(AuditLog.entity_id == user_id)).all()
    assert [row.action for row in rows] == ["create", "login"]
    everything = " ".join(str(row.changes) for row in rows)
    assert user.password_hash not in everything
    assert PASSWORD not in everything
    assert "argon2" not in everything


def test_bootstrap_admin_from_env(monkeypatch: pytest.MonkeyPatch, database: Database) -> None:
    with database.unit_of_work() as uow:  # not configured: nothing happens
        assert service.bootstrap_admin(uow.session, get_settings()) is None
    monkeypatch.setenv("LEADBASE_ADMIN_EMAIL", "root@example.com")
    monkeypatch.setenv("LEADBASE_ADMIN_PASSWORD", PASSWORD)
    settings = Settings()
    for _ in range(2):
        with database.unit_of_work() as uow:
            service.bootstrap_admin(uow.session, settings)
    with database.read_session() as session:
        users = session.scalars(select(User)).all()
    assert [(u.email, u.role) for u in users] == [("root@example.com", "admin")]


def test_bootstrap_skipped_when_users_exist(database: Database) -> None:
    make_user(database, "ann@example.com")
    settings = Settings(admin_email="root@example.com", admin_password=PASSWORD)
    with database.unit_of_work() as uow:
        assert service.bootstrap_admin(uow.session, settings) is None
    with database.read_session() as session:
        assert [u.email for u in session.scalars(select(User))] == ["ann@example.com"]


# --- signing key -------------------------------------------------------------------


def test_secret_key_file_created_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh")
    first = tokens.signing_key(settings)
    path = tmp_path / "fresh" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 64
    assert tokens.signing_key(Settings(data_dir=tmp_path / "fresh")) == first
    token, _ = tokens.create_access_token("u1", "viewer", settings)
    assert tokens.decode_access_token(token, settings).user_id == "u1"


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 64)
    assert tokens.signing_key(settings) == "k" * 64
    assert not (tmp_path / "secret_key").exists()


# --- CLI -----------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, url: str) -> typer.Typer:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", url)
    get_settings.cache_clear()
    app = typer.Typer()
    app.add_typer(users_app, name="users")
    return app


def test_cli_create_list_disable(cli: typer.Typer, database: Database) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli,
        ["users", "create", "--email", "ann@example.com", "--role", "admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    assert "created admin ann@example.com" in created.output
    with database.read_session() as session:
        user = service.authenticate(session, "ann@example.com", PASSWORD)
        assert user.role == "admin"

    listed = runner.invoke(cli, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "ann@example.com" in listed.output and "admin" in listed.output

    disabled = runner.invoke(cli, ["users", "disable", "--email", "ann@example.com"])
    assert disabled.exit_code == 0, disabled.output
    with database.read_session() as session, pytest.raises(AuthenticationError):
        service.authenticate(session, "ann@example.com", PASSWORD)


def test_cli_prompts_for_password_and_reports_errors(cli: typer.Typer) -> None:
    runner = CliRunner()
    prompted = runner.invoke(
        cli,
        ["users", "create", "--email", "bob@example.com", "--role", "viewer"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # hidden input
    short = runner.invoke(
        cli,
        ["users", "create", "--email", "c@example.com", "--role", "viewer", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 1
    assert "password" in short.output
    missing = runner.invoke(cli, ["users", "disable", "--email", "nobody@example.com"])
    assert missing.exit_code == 1


@dbs.only("url", "sqlite")
def test_a_role_changed_elsewhere_is_seen_within_a_second(
    client: TestClient, database: Database
) -> None:
    """The caller's user is remembered briefly; a change this process did not
    make (another server, a direct SQL fix) shows within IDENTITY_TTL_SECONDS,
    while one it made (tested elsewhere: disable, role change) shows at once."""
    user_id = make_user(database, "ann@example.com", role="viewer")
    token = login(client, "ann@example.com")["access_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).json()["data"]["role"] == "viewer"
    with database.engine.begin() as connection:
        connection.execute(update(User).where(User.id == user_id).values(role="admin"))
    time.sleep(service.IDENTITY_TTL_SECONDS + 0.05)
    assert client.get("/api/v1/auth/me", headers=bearer(token)).json()["data"]["role"] == "admin"
    with database.engine.begin() as connection:
        connection.execute(update(User).where(User.id == user_id).values(is_active=False))
    time.sleep(service.IDENTITY_TTL_SECONDS + 0.05)
    assert_unauthorized(client.get("/api/v1/auth/me", headers=bearer(token)))
