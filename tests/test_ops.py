"""Ops endpoints and request logs: /ready, /metrics, one JSON line per request."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from leadbase import logs, schema
from leadbase.auth import service as auth_service
from leadbase.auth.service import Principal
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http.app import create_app
from tests import dbs

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-of-some-length-0123456789"
LEAD_ROUTE = "/api/v1/leads/{lead_id}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _app(url: str, **settings: Any) -> tuple[FastAPI, TestClient]:
    config = Settings(database_url=url, secret_key=SECRET, **settings)
    app = create_app(config, Database(url, config))
    return app, TestClient(app, client=("192.0.2.10", 4000))


@pytest.fixture
def served(sqlite_url: str) -> Iterator[tuple[FastAPI, TestClient, dict[str, dict[str, str]]]]:
    """An app on a migrated SQLite file with an admin and a viewer logged in."""
    app, client = _app(sqlite_url, max_body_bytes=1024)
    with app.state.database.unit_of_work() as uow:
        for email, role in [("ad@example.com", "admin"), ("vi@example.com", "viewer")]:
            auth_service.create_user(uow.session, email, PASSWORD, role)
    headers = {}
    for role, email in [("admin", "ad@example.com"), ("viewer", "vi@example.com")]:
        token = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers[role] = {"Authorization": f"Bearer {token.json()['data']['access_token']}"}
    yield app, client, headers
    app.state.database.dispose()


# --- /ready ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_ready_when_database_answers_at_head(kind: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url")
    app, client = _app(url)
    response = client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "data": {"database": "ok", "migrations": "ok", "queue": "not_configured"},
    }
    assert client.get("/health").json()["data"]["status"] == "ok"
    app.state.database.dispose()


def test_ready_names_migrations_one_revision_behind(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    schema.downgrade(engine, "-1")
    behind = schema.current_revision(engine)
    engine.dispose()
    app, client = _app(sqlite_url)
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False and body["error"] == "not_ready"
    assert [d["check"] for d in body["details"]] == ["migrations"]
    assert f"schema at revision {behind}" in body["details"][0]["message"]
    assert schema.head_revision() in body["details"][0]["message"]
    app.state.database.dispose()


def test_ready_names_migrations_on_an_unmigrated_file(tmp_path: Any) -> None:
    app, client = _app(f"sqlite:///{tmp_path / 'empty.db'}")
    response = client.get("/ready")
    assert response.status_code == 503
    [detail] = response.json()["details"]
    assert detail["check"] == "migrations" and "revision none" in detail["message"]
    app.state.database.dispose()


def test_ready_names_database_when_unreachable_and_reveals_no_address() -> None:
    port = _closed_port()
    app, client = _app(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    started = time.monotonic()
    response = client.get("/ready")
    assert time.monotonic() - started < 3  # a load balancer polls this
    assert response.status_code == 503
    details = {d["check"]: d["message"] for d in response.json()["details"]}
    assert details["database"].startswith("unreachable")
    assert "migrations" in details  # cannot be known without the database
    assert "queue" not in details
    assert str(port) not in response.text and "127.0.0.1" not in response.text
    app.state.database.dispose()


def test_ready_pings_redis_when_configured(sqlite_url: str) -> None:
    with dbs.redis_namespace() as (redis_url, _prefix):
        app, client = _app(sqlite_url, redis_url=redis_url, queue="celery")
        response = client.get("/ready")
        assert response.status_code == 200, response.text
        assert response.json()["data"]["queue"] == "ok"
        app.state.database.dispose()


def test_ready_names_queue_when_redis_is_down_or_missing(sqlite_url: str) -> None:
    app, client = _app(sqlite_url, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    started = time.monotonic()
    response = client.get("/ready")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    [detail] = response.json()["details"]
    assert detail["check"] == "queue" and "redis did not answer" in detail["message"]
    app.state.database.dispose()

    app, client = _app(sqlite_url, queue="celery")  # celery, but no Redis to run on
    response = client.get("/ready")
    assert response.status_code == 503
    assert [d["check"] for d in response.json()["details"]] == ["queue"]
    app.state.database.dispose()


# --- /metrics ----------------------------------------------------------------


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and labels.items() <= lab.items())


def test_metrics_need_an_admin(
    served: tuple[FastAPI, TestClient, dict[str, dict[str, str]]],
) -> None:
    _, client, auth = served
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert client.get("/metrics", headers=auth["viewer"]).status_code == 403
    admin = client.get("/metrics", headers=auth["admin"])
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/plain")


def test_metrics_count_requests_by_route_template(
    served: tuple[FastAPI, TestClient, dict[str, dict[str, str]]],
) -> None:
    _, client, auth = served
    for lead_id in ("missing-1", "missing-2", "missing-3"):
        assert client.get(f"/api/v1/leads/{lead_id}", headers=auth["viewer"]).status_code == 404
    assert client.get("/no/such/path/42").status_code == 404
    too_big = client.post(
        "/api/v1/leads", content=b"x" * 2048, headers={**auth["admin"], "Content-Type": "text"}
    )
    assert too_big.status_code == 413

    text = client.get("/metrics", headers=auth["admin"]).text
    samples = _samples(text)
    requests = "leadbase_http_requests_total"
    assert _value(samples, requests, method="GET", route=LEAD_ROUTE, status="404") == 3
    assert _value(samples, requests, route="unmatched", status="404") == 1
    # answered by the body limit before routing, still under its template
    assert _value(samples, requests, method="POST", route="/api/v1/leads", status="413") == 1
    assert "missing-1" not in text and "/no/such" not in text  # templates, never paths

    buckets = [
        (labels["le"], value)
        for name, labels, value in samples
        if name == "leadbase_http_request_duration_seconds_bucket" and labels["route"] == LEAD_ROUTE
    ]
    assert len(buckets) > 5 and ("+Inf", 3.0) in buckets
    assert _value(samples, "leadbase_http_request_duration_seconds_count", route=LEAD_ROUTE) == 3
    assert _value(samples, "leadbase_http_requests_in_progress") == 1  # this scrape
    assert _value(samples, "leadbase_db_pool_info", pool="QueuePool", dialect="sqlite") == 1
    assert _value(samples, "leadbase_db_pool_size") == 10
    assert _value(samples, "leadbase_db_pool_checked_out") >= 0


def test_each_app_has_its_own_metrics(sqlite_url: str) -> None:
    first, first_client = _app(sqlite_url)
    second, _ = _app(sqlite_url)  # same metric names: no clash in one process
    first_client.get("/health")
    assert "/health" in first.state.metrics.render().decode()
    assert "/health" not in second.state.metrics.render().decode()
    first.state.database.dispose()
    second.state.database.dispose()


# --- request logs ------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """This process logging as `leadbase serve` does, into a buffer; restored after."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"]
    names.append("alembic.runtime.migration")
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    buffer = io.StringIO()
    logs.configure("INFO", "json", stream=buffer)
    yield buffer
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_one_json_line_per_request_with_its_request_id(
    served: tuple[FastAPI, TestClient, dict[str, dict[str, str]]], json_log: io.StringIO
) -> None:
    _, client, auth = served
    response = client.get(
        "/api/v1/leads/missing", headers={**auth["viewer"], "X-Request-ID": "ops-req-1"}
    )
    assert response.headers["X-Request-ID"] == "ops-req-1"
    [line] = [entry for entry in _lines(json_log) if entry.get("request_id") == "ops-req-1"]
    assert line["event"] == "request" and line["level"] == "info"
    assert line["method"] == "GET" and line["route"] == LEAD_ROUTE
    assert line["path"] == "/api/v1/leads/missing" and line["status"] == 404
    assert line["client_ip"] == "192.0.2.10" and line["duration_ms"] >= 0
    assert "timestamp" in line

    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    assert {"event": "Started server process [42]", "logger": "uvicorn.error"}.items() <= (
        _lines(json_log)[-1].items()
    )


def test_request_line_names_the_principal_auth_left_in_the_request_state(
    served: tuple[FastAPI, TestClient, dict[str, dict[str, str]]], json_log: io.StringIO
) -> None:
    app, client, _auth = served

    @app.get("/test/as-someone")
    def _as_someone(request: Request) -> dict[str, Any]:
        # What the auth dependency does once it has a principal.
        request.state.principal = Principal(user_id="u1", email="ada@example.com", role="viewer")
        return {"success": True, "data": None}

    client.get("/test/as-someone", headers={"X-Request-ID": "ops-actor-1"})
    [line] = [entry for entry in _lines(json_log) if entry.get("request_id") == "ops-actor-1"]
    assert line["actor"] == "user:ada@example.com"
    client.get("/health", headers={"X-Request-ID": "ops-anon-1"})
    [line] = [entry for entry in _lines(json_log) if entry.get("request_id") == "ops-anon-1"]
    assert "actor" not in line


def test_500_is_an_envelope_and_the_traceback_is_only_logged(
    served: tuple[FastAPI, TestClient, dict[str, dict[str, str]]], json_log: io.StringIO
) -> None:
    app, client, auth = served

    @app.get("/test/boom")
    def _boom() -> None:
        raise RuntimeError("secret internals")

    response = client.get("/test/boom", headers={"X-Request-ID": "ops-boom-1"})
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": "internal_error",
        "message": "internal error; see the server log",
        "details": [],
    }
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.headers["X-Request-ID"] == "ops-boom-1"

    lines = [entry for entry in _lines(json_log) if entry.get("request_id") == "ops-boom-1"]
    [error] = [entry for entry in lines if entry["event"] == "unhandled error"]
    assert error["level"] == "error" and error["path"] == "/test/boom"
    assert (
        "Traceback" in error["exception"]
        and "RuntimeError: secret internals" in (error["exception"])
    )
    [request_line] = [entry for entry in lines if entry["event"] == "request"]
    assert request_line["status"] == 500 and request_line["route"] == "/test/boom"

    samples = _samples(client.get("/metrics", headers=auth["admin"]).text)
    assert _value(samples, "leadbase_http_requests_total", route="/test/boom", status="500") == 1
