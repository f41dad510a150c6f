"""The app shell: envelope for every error, request context, security headers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from leadbase import context
from leadbase.client import LeadDatabase
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.errors import DuplicateLeadError, ValidationError
from leadbase.http.app import client_ip, create_app, envelope_error
from leadbase.leads import service
from tests.helpers import audit_entries


class _Body(BaseModel):
    email: str
    count: int


@pytest.fixture
def app(sqlite_url: str) -> Iterator[FastAPI]:
    settings = Settings(database_url=sqlite_url, trusted_proxies=["10.0.0.0/8"])
    application = create_app(settings, Database(sqlite_url, settings))

    @application.post("/test/leads", status_code=201)
    def _create(payload: dict[str, Any]) -> dict[str, Any]:
        with application.state.database.unit_of_work() as uow:
            result = service.create(uow, payload)
        return {"success": True, "data": {"id": result.lead_id}}

    @application.post("/test/typed")
    def _typed(body: _Body) -> dict[str, Any]:
        return {"success": True, "data": body.model_dump()}

    @application.get("/test/boom")
    def _boom() -> None:
        raise RuntimeError("secret internals")

    yield application
    application.state.database.dispose()


def test_health_needs_nothing(app: FastAPI) -> None:
    client = TestClient(app)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"status": "ok", "version": "0.1.0"}}
    assert client.get("/openapi.json").status_code == 200


def test_mutation_audit_names_ip_agent_and_request_id(app: FastAPI, sqlite_url: str) -> None:
    client = TestClient(app, client=("10.1.2.3", 5000))
    response = client.post(
        "/test/leads",
        json={"email": "ada@example.com"},
        headers={
            "User-Agent": "leadbase-test/1.0",
            "X-Request-ID": "req-42",
            "X-Forwarded-For": "203.0.113.9, 10.0.0.7",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == "req-42"
    with LeadDatabase(sqlite_url) as db:
        [entry] = audit_entries(db, response.json()["data"]["id"])
    assert entry["ip"] == "203.0.113.9"  # 10.1.2.3 and 10.0.0.7 are trusted proxies
    assert entry["user_agent"] == "leadbase-test/1.0"
    assert entry["request_id"] == "req-42"
    assert context.current() == context.ActorContext()  # nothing leaks past the request


def test_forwarded_for_ignored_from_untrusted_peer() -> None:
    assert client_ip("198.51.100.1", "1.2.3.4", ["10.0.0.0/8"]) == "198.51.100.1"
    assert client_ip("10.0.0.1", "1.2.3.4, 10.0.0.2", ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_ip("10.0.0.1", "garbage", ["10.0.0.0/8"]) == "10.0.0.1"
    assert client_ip(None, "1.2.3.4", ["10.0.0.0/8"]) is None


def test_request_id_generated_when_absent_or_unsafe(app: FastAPI) -> None:
    client = TestClient(app)
    generated = client.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32
    unsafe = client.get("/health", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert unsafe != "<script>" and len(unsafe) == 32


def test_errors_are_envelopes(app: FastAPI) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    domain = client.post("/test/leads", json={"email": "not-an-email"})
    assert domain.status_code == 422
    assert domain.json()["error"] == "validation_error"
    assert domain.json()["details"][0]["field"] == "email"

    client.post("/test/leads", json={"email": "dup@example.com"})
    duplicate = client.post("/test/leads", json={"email": "dup@example.com"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "duplicate"

    typed = client.post("/test/typed", json={"email": "x", "count": "many"})
    assert typed.status_code == 422
    assert typed.json()["details"][0]["field"] == "count"

    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "error": "not_found",
        "message": "Not Found",
        "details": [],
    }
    wrong_method = client.delete("/health")
    assert wrong_method.status_code == 405 and wrong_method.json()["success"] is False

    boom = client.get("/test/boom")
    assert boom.status_code == 500
    assert boom.json()["error"] == "internal_error"
    assert "secret internals" not in boom.text and "Traceback" not in boom.text


def test_security_headers(app: FastAPI) -> None:
    response = TestClient(app).get("/health")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http
    https = TestClient(app, base_url="https://testserver").get("/health")
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")


def test_domain_error_body_is_exact() -> None:
    response = envelope_error(ValidationError("email", "not a valid email address"))
    assert response.status_code == 422
    assert response.body == (
        b'{"success":false,"error":"validation_error","message":"email: not a valid email'
        b' address","details":[{"field":"email","message":"not a valid email address"}]}'
    )
    assert envelope_error(DuplicateLeadError("abc", "email")).status_code == 409


def test_wrong_method_lists_every_method_of_the_resource(app: FastAPI) -> None:
    response = TestClient(app).request("TRACE", "/api/v1/leads/some-id")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed == {"GET", "HEAD", "PUT", "PATCH", "DELETE"}


def test_nul_in_a_url_is_refused_before_any_database(app: FastAPI) -> None:
    client = TestClient(app)
    for url in ("/api/v1/leads/%00", "/api/v1/leads?country=a%00b"):
        response = client.get(url)
        assert response.status_code == 422, url
        assert response.json()["error"] == "validation_error"
        assert response.headers["X-Request-ID"]


def test_openapi_documents_the_error_envelope(app: FastAPI) -> None:
    operation = TestClient(app).get("/openapi.json").json()["paths"]["/api/v1/leads/{lead_id}"]
    responses = operation["patch"]["responses"]
    for status in ("401", "403", "404", "409", "412", "422", "429"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, status
