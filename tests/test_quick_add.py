"""Quick-add and following a lead's enrichment over server-sent events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadbase import context
from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.enrichment.breaker import BREAKERS
from leadbase.http.app import create_app
from leadbase.leads import service as leads_service
from leadbase.models import Job, SalesLead
from tests.api_clients import PASSWORD, api_settings, signed_in
from tests.enrichment_servers import DnsServer, WebServer
from tests.workers import celery_mode, wait_for, worker, worker_env

Api = tuple[TestClient, dict[str, str], Database]


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    # No job threads in the server: these tests watch the queued state.
    database = Database(url, api_settings(url, jobs_in_server=False))
    client, headers = signed_in(database, {"ed@example.com": "editor"})
    yield client, headers["ed@example.com"], database
    database.dispose()


def _events(client: TestClient, path: str, headers: dict[str, str]) -> list[tuple[str, Any]]:
    """Every (event, data) of a server-sent event stream, until it ends."""
    found: list[tuple[str, Any]] = []
    name = None
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                found.append((str(name), json.loads(line.removeprefix("data: "))))
    return found


def test_a_stream_follows_enrichment_until_it_finishes(api: Api) -> None:
    client, auth, database = api
    created = client.post(
        "/api/v1/leads",
        json={"email": "grace@example.com", "enrichment_status": "in_progress"},
        headers=auth,
    ).json()["data"]

    def finish_later() -> None:
        time.sleep(0.8)
        with context.acting_as("system:enrichment"), database.unit_of_work() as uow:
            leads_service.update(
                uow, created["id"], {"enrichment_status": "completed", "title": "Rear Admiral"}
            )

    worker = threading.Thread(target=finish_later)
    worker.start()
    events = _events(client, f"/api/v1/leads/{created['id']}/stream", auth)
    worker.join()
    names = [name for name, _ in events]
    assert names[0] == "lead" and names[-1] == "end"
    assert events[0][1]["enrichment_status"] == "in_progress"
    assert events[-1][1]["enrichment_status"] == "completed"
    assert events[-1][1]["title"] == "Rear Admiral"


def test_a_stream_of_a_finished_lead_ends_at_once(api: Api) -> None:
    client, auth, _ = api
    created = client.post("/api/v1/leads", json={"email": "ada@example.com"}, headers=auth)
    lead_id = created.json()["data"]["id"]
    events = _events(client, f"/api/v1/leads/{lead_id}/stream", auth)
    assert [name for name, _ in events] == ["lead", "end"]
    missing = client.get("/api/v1/leads/no-such-lead/stream", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get(f"/api/v1/leads/{lead_id}/stream").status_code == 401


# --- quick-add, enriched by a runner ------------------------------------------------------

WEBHOOK_ANSWER = {"title": "Head of Robotics", "company": {"name": "Acme Robotics"}}
PROVIDERS = ["email", "person", "company", "webhook"]


@pytest.fixture
def internet() -> Iterator[tuple[DnsServer, WebServer]]:
    """The DNS and the enrichment webhook this test's world has."""
    BREAKERS.clear()
    records = {"acmerobotics.io": {"MX": ["10 mx.acmerobotics.io."]}}
    with DnsServer(records) as dns, WebServer() as web:
        yield dns, web
    BREAKERS.clear()


def _enrichment_settings(dns: DnsServer, web: WebServer) -> dict[str, Any]:
    return {
        "enrichment_providers": PROVIDERS,
        "dns_nameservers": ["127.0.0.1"],
        "dns_port": dns.port,
        "enrichment_timeout_seconds": 3,
        "enrichment_webhook_url": web.answer_webhook("clay", WEBHOOK_ANSWER),
    }


def _assert_enriched(lead: dict[str, Any]) -> None:
    assert lead["enrichment_status"] == "completed", lead.get("enrichment_data")
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")
    assert lead["title"] == "Head of Robotics"
    assert lead["company_id"] is not None
    provenance = lead["enrichment_data"]["fields"]
    assert provenance["title"]["provider"] == "webhook"
    assert provenance["first_name"]["provider"] == "person"
    steps = {step["provider"]: step["status"] for step in lead["enrichment_data"]["steps"]}
    assert steps == {"email": "ok", "person": "ok", "company": "ok", "webhook": "ok"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_quick_add_answers_at_once_and_the_server_enriches_behind_it(
    kind: str, request: pytest.FixtureRequest, internet: tuple[DnsServer, WebServer]
) -> None:
    url = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url")
    settings = Settings(
        database_url=url,
        secret_key="test-secret-key-of-some-length-0123456789",
        job_poll_seconds=0.1,
        **_enrichment_settings(*internet),
    )
    database = Database(url, settings)
    with database.unit_of_work() as uow:
        auth_service.create_user(uow.session, "ed@example.com", PASSWORD, "editor")
    try:
        with TestClient(create_app(settings, database)) as client:
            login = {"email": "ed@example.com", "password": PASSWORD}
            token = client.post("/api/v1/auth/login", json=login).json()["data"]["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            answer = client.post(
                "/api/v1/leads/quick-add",
                json={"email": "Jane.Doe@AcmeRobotics.io", "notes": "met at the fair"},
                headers=auth,
            )
            assert answer.status_code == 201, answer.text
            added = answer.json()["data"]
            assert added["is_manual"] is True and added["email"] == "jane.doe@acmerobotics.io"
            assert added["notes"] == "met at the fair"
            job_id = added["enrichment_task_id"]
            assert job_id and added["enrichment_status"] == "in_progress"

            events = _events(client, f"/api/v1/leads/{added['id']}/stream", auth)
            assert events[-1][0] == "end"
            _assert_enriched(events[-1][1])
            job = client.get(f"/api/v1/jobs/{job_id}", headers=auth).json()["data"]
            assert job["status"] == "succeeded" and job["kind"] == "enrich_lead"

            history = client.get(f"/api/v1/leads/{added['id']}/history", headers=auth)
            actors = [entry["actor"] for entry in history.json()["data"]["audit"]]
            assert actors[0].startswith("user:") and "system:enrichment" in actors[1:]
    finally:
        database.dispose()


def test_quick_add_refuses_bad_input_and_duplicates_and_writes_nothing(api: Api) -> None:
    client, auth, database = api
    no_email = client.post("/api/v1/leads/quick-add", json={"name": "Nobody"}, headers=auth)
    assert no_email.status_code == 422
    assert no_email.json()["details"][0]["field"] == "email"
    bad = client.post("/api/v1/leads/quick-add", json={"email": "not an email"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "email"
    first = client.post("/api/v1/leads/quick-add", json={"email": "a@b.example"}, headers=auth)
    again = client.post("/api/v1/leads/quick-add", json={"email": "A@b.example"}, headers=auth)
    assert first.status_code == 201 and again.status_code == 409
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(SalesLead)) == 1
        # The first lead's enrichment and scoring jobs; the refused ones queued none.
        kinds = session.scalars(select(Job.kind).order_by(Job.kind)).all()
        assert kinds == ["enrich_lead", "score_leads"]
    merged = client.post(
        "/api/v1/leads/quick-add?on_duplicate=merge",
        json={"email": "a@b.example", "name": "Ann Bee"},
        headers=auth,
    )
    assert merged.status_code == 200 and merged.json()["data"]["id"] == first.json()["data"]["id"]
    assert merged.json()["data"]["enrichment_task_id"] != first.json()["data"]["enrichment_task_id"]


def test_a_celery_worker_enriches_quick_adds_made_through_the_api(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    internet: tuple[DnsServer, WebServer],
) -> None:
    """A real `leadbase worker` in Celery mode, on the real Redis and PostgreSQL."""
    enrichment = _enrichment_settings(*internet)
    with celery_mode(monkeypatch) as queue:
        redis_url, prefix = queue["LEADBASE_REDIS_URL"], queue["LEADBASE_RATE_LIMIT_KEY_PREFIX"]
        env = worker_env(
            postgres_url,
            tmp_path,
            **queue,
            **{
                f"LEADBASE_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
                for name, value in enrichment.items()
            },
        )
        settings = Settings(
            database_url=postgres_url,
            secret_key="test-secret-key-of-some-length-0123456789",
            queue="celery",
            redis_url=redis_url,
            rate_limit_key_prefix=prefix,
        )
        database = Database(postgres_url, settings)
        with database.unit_of_work() as uow:
            auth_service.create_user(uow.session, "ed@example.com", PASSWORD, "editor")
        log = tmp_path / "worker.log"
        try:
            with TestClient(create_app(settings, database)) as client, worker(env, log):
                login = {"email": "ed@example.com", "password": PASSWORD}
                token = client.post("/api/v1/auth/login", json=login).json()["data"]
                auth = {"Authorization": f"Bearer {token['access_token']}"}
                ids = []
                for name in ("jane.doe", "john.roe", "ann.lee"):
                    added = client.post(
                        "/api/v1/leads/quick-add",
                        json={"email": f"{name}@acmerobotics.io"},
                        headers=auth,
                    )
                    assert added.status_code == 201, added.text
                    ids.append(added.json()["data"]["id"])

                def finished() -> bool:
                    statuses = {
                        client.get(f"/api/v1/leads/{i}", headers=auth).json()["data"][
                            "enrichment_status"
                        ]
                        for i in ids
                    }
                    return statuses <= {"completed", "failed"}

                wait_for(finished, "the quick-adds to be enriched", log)
                first = client.get(f"/api/v1/leads/{ids[0]}", headers=auth).json()["data"]
                _assert_enriched(first)
        finally:
            database.dispose()
