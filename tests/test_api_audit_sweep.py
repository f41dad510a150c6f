"""Every mutation made through the API is on the audit chain, naming the request.

The sweep drives each mutating route of the OpenAPI document once, as a
real client would, each time with its own user agent and X-Request-ID, and
checks that the audit rows the request wrote name the right actor, client
ip, user agent and request id. A mutating route the sweep does not know
fails the test: a new route must join the sweep (seed 001: 100% of
mutations audited).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadbase import audit
from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.dedupe import repository as dedupe_repository
from leadbase.http.app import create_app
from leadbase.models import AirtableConflict, AuditLog
from tests.emulators.apify import ApifyEmulator

PASSWORD = "correct horse battery"
CLIENT_IP = "198.51.100.7"
ADMIN, EDITOR = "ad@example.com", "ed@example.com"
MUTATING = {"post", "put", "patch", "delete"}


@dataclass
class Sweep:
    client: TestClient
    database: Database
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    covered: set[tuple[str, str]] = field(default_factory=set)
    count: int = 0
    apify: Any = None

    def bearer(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]['access_token']}"}

    def last_seq(self) -> int:
        with self.database.read_session() as session:
            return int(session.scalar(select(func.max(AuditLog.seq))) or 0)

    def entries_after(self, seq: int) -> list[AuditLog]:
        with self.database.read_session() as session:
            query = select(AuditLog).where(AuditLog.seq > seq).order_by(AuditLog.seq)
            return list(session.scalars(query))

    def call(
        self,
        method: str,
        template: str,
        actor_email: str,
        *,
        path: str | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One request with its own user agent and request id; its audit rows checked."""
        self.count += 1
        agent, request_id = f"sweep-agent/{self.count}", f"sweep-{self.count}"
        headers = {"User-Agent": agent, "X-Request-ID": request_id}
        if auth:
            headers.update(self.bearer(actor_email))
        headers.update(kwargs.pop("headers", {}))
        before = self.last_seq()
        response = self.client.request(method, path or template, headers=headers, **kwargs)
        assert response.status_code in (200, 201, 202), f"{method} {template}: {response.text}"
        entries = self.entries_after(before)
        assert entries, f"{method} {template} changed data but wrote no audit entry"
        for entry in entries:
            where = f"{method} {template} -> audit {entry.action} #{entry.seq}"
            assert entry.actor == f"user:{actor_email}", where
            assert entry.ip == CLIENT_IP, where
            assert entry.user_agent == agent, where
            assert entry.request_id == request_id, where
        self.covered.add((method.lower(), template))
        data: dict[str, Any] = response.json()["data"]
        return data


@pytest.fixture(params=["sqlite", "postgresql"])
def sweep(request: pytest.FixtureRequest, apify_emulator: ApifyEmulator) -> Iterator[Sweep]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    settings = Settings(
        database_url=url,
        secret_key="sweep-secret-key-of-some-length-0123456789",
        mutation_rate_limit="1000/second",
        airtable_token="pat_sweep",
        airtable_base_id="appSWEEP",
        airtable_table="Leads",
    )
    database = Database(url, settings)
    with database.unit_of_work() as uow:
        auth_service.create_user(uow.session, ADMIN, PASSWORD, "admin")
        auth_service.create_user(uow.session, EDITOR, PASSWORD, "editor")
    client = TestClient(create_app(settings, database), client=(CLIENT_IP, 5000))
    sweep = Sweep(client, database)
    sweep.apify = apify_emulator
    yield sweep
    database.dispose()


def _auth_routes(s: Sweep) -> None:
    for email in (ADMIN, EDITOR):
        body = {"email": email, "password": PASSWORD}
        s.tokens[email] = s.call("POST", "/api/v1/auth/login", email, auth=False, json=body)
    spare = s.call(
        "POST",
        "/api/v1/auth/login",
        EDITOR,
        auth=False,
        json={"email": EDITOR, "password": PASSWORD},
    )
    rotated = s.call(
        "POST",
        "/api/v1/auth/refresh",
        EDITOR,
        auth=False,
        json={"refresh_token": spare["refresh_token"]},
    )
    s.call(
        "POST",
        "/api/v1/auth/logout",
        EDITOR,
        auth=False,
        json={"refresh_token": rotated["refresh_token"]},
    )
    key = s.call("POST", "/api/v1/auth/api-keys", EDITOR, json={"name": "sweep script"})
    s.call(
        "DELETE",
        "/api/v1/auth/api-keys/{key_id}",
        EDITOR,
        path=f"/api/v1/auth/api-keys/{key['id']}",
    )


def _user_routes(s: Sweep) -> None:
    body = {"email": "new@example.com", "password": PASSWORD, "role": "viewer"}
    user = s.call("POST", "/api/v1/users", ADMIN, json=body)
    path = f"/api/v1/users/{user['id']}"
    s.call("PATCH", "/api/v1/users/{user_id}", ADMIN, path=path, json={"role": "editor"})
    s.call("DELETE", "/api/v1/users/{user_id}", ADMIN, path=path)


def _company_routes(s: Sweep) -> None:
    company = s.call(
        "POST", "/api/v1/companies", EDITOR, json={"name": "Acme", "domain": "acme.example"}
    )
    s.ids["company"] = company["id"]
    path, template = f"/api/v1/companies/{company['id']}", "/api/v1/companies/{company_id}"
    s.call("PUT", template, EDITOR, path=path, json={"name": "Acme Ltd", "domain": "acme.example"})
    s.call("PATCH", template, EDITOR, path=path, json={"industry": "Software"})
    s.call("DELETE", template, EDITOR, path=path)
    s.call("POST", template + "/restore", EDITOR, path=path + "/restore")


def _lead_routes(s: Sweep) -> None:
    body = {"full_name": "Ada Lovelace", "email": "ada@example.com"}
    lead = s.call("POST", "/api/v1/leads", EDITOR, json=body)
    path, template = f"/api/v1/leads/{lead['id']}", "/api/v1/leads/{lead_id}"
    s.call("PUT", template, EDITOR, path=path, json={**body, "title": "Countess"})
    s.call("PATCH", template, EDITOR, path=path, json={"company_id": s.ids["company"]})
    s.call("DELETE", template, EDITOR, path=path)
    s.call("POST", template + "/restore", EDITOR, path=path + "/restore")
    rows = [{"email": "grace@example.com"}, {"email": "ADA@example.com", "title": "Analyst"}]
    s.call("POST", "/api/v1/leads/bulk", ADMIN, json=rows)


def _activity_routes(s: Sweep) -> None:
    lead = s.call("POST", "/api/v1/leads", EDITOR, json={"email": "act@example.com"})
    path = f"/api/v1/leads/{lead['id']}/events"
    s.call("POST", "/api/v1/leads/{lead_id}/events", EDITOR, path=path, json={"event_type": "call"})
    rows = [{"lead_id": lead["id"], "event_type": "web_visit"} for _ in range(60)]  # a batch entry
    s.call("POST", "/api/v1/events/bulk", ADMIN, json=rows[:2])
    s.call("POST", "/api/v1/events/bulk", ADMIN, json=rows)


def _enrichment_routes(s: Sweep) -> None:
    s.call("POST", "/api/v1/leads/quick-add", EDITOR, json={"email": "quick@example.com"})
    s.call("POST", "/api/v1/enrichment/run", EDITOR, json={"limit": 5})


def _duplicate_routes(s: Sweep) -> None:
    a = s.call("POST", "/api/v1/leads", EDITOR, json={"full_name": "Ann Dup"})
    b = s.call("POST", "/api/v1/leads", EDITOR, json={"full_name": "Anne Dup"})
    found = {"lead_ids": [a["id"], b["id"]], "score": 0.9, "reasons": [], "action": "review"}
    with s.database.unit_of_work() as uow:
        dedupe_repository.upsert_clusters(uow.session, [found], origin="scan")
    [cluster] = s.client.get("/api/v1/duplicates", headers=s.bearer(EDITOR)).json()["data"]["items"]
    template = "/api/v1/duplicates/{cluster_id}/dismiss"
    s.call("POST", template, EDITOR, path=f"/api/v1/duplicates/{cluster['id']}/dismiss")
    body = {"survivor_id": a["id"], "merged_ids": [b["id"]]}
    s.call("POST", "/api/v1/leads/merge", EDITOR, json=body)
    path = f"/api/v1/leads/{b['id']}/unmerge"
    s.call("POST", "/api/v1/leads/{lead_id}/unmerge", EDITOR, path=path)
    other = s.call("POST", "/api/v1/companies", EDITOR, json={"name": "Acme Two"})
    body = {"survivor_id": s.ids["company"], "merged_ids": [other["id"]]}
    s.call("POST", "/api/v1/companies/merge", EDITOR, json=body)
    path = f"/api/v1/companies/{other['id']}/unmerge"
    s.call("POST", "/api/v1/companies/{company_id}/unmerge", EDITOR, path=path)


def _import_routes(s: Sweep) -> None:
    csv = b"Full Name,E-mail\nAda Import,ada.import@example.com\n"
    files = {"file": ("people.csv", csv, "text/csv")}
    run = s.call("POST", "/api/v1/imports", EDITOR, files=files)
    path = f"/api/v1/imports/{run['id']}/revert"
    s.call("POST", "/api/v1/imports/{run_id}/revert", EDITOR, path=path)
    actor = s.apify.add_actor("compass/crawler-google-places")
    apify_run = s.apify.add_run(actor, items=[{"title": "Bakery", "placeId": "p-1"}])
    path = f"/api/v1/apify/runs/{apify_run.id}/import"
    s.call("POST", "/api/v1/apify/runs/{run_id}/import", EDITOR, path=path)


def _airtable_routes(s: Sweep) -> None:
    for path in ("/sync", "/push", "/pull"):
        s.call("POST", f"/api/v1/sync/airtable{path}", EDITOR)
    lead = s.call("POST", "/api/v1/leads", EDITOR, json={"full_name": "Air Table", "title": "CEO"})
    with s.database.unit_of_work() as uow:
        conflict = AirtableConflict(
            lead_id=lead["id"],
            record_id="recSWEEPSWEEPSWEE",
            fields={"Title": {"local": "CTO", "remote": "CEO", "base": "VP"}},
            applied="remote",
        )
        uow.session.add(conflict)
        uow.session.flush()
        conflict_id = conflict.id
    template = "/api/v1/sync/airtable/conflicts/{conflict_id}/resolve"
    path = f"/api/v1/sync/airtable/conflicts/{conflict_id}/resolve"
    s.call("POST", template, EDITOR, path=path, json={"keep": "local"})


SWEEPS: list[Callable[[Sweep], None]] = [
    _auth_routes,
    _user_routes,
    _company_routes,
    _lead_routes,
    _activity_routes,
    _enrichment_routes,
    _duplicate_routes,
    _import_routes,
    _airtable_routes,
]


def test_every_mutation_is_audited_with_the_requests_facts(sweep: Sweep) -> None:
    for step in SWEEPS:
        step(sweep)
    schema = sweep.client.get("/openapi.json").json()
    mutating = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in MUTATING
    }
    assert mutating - sweep.covered == set(), "mutating routes missing from the sweep"
    with sweep.database.read_session() as session:
        assert audit.verify(session).ok


def test_a_refused_mutation_writes_no_audit_entry(sweep: Sweep) -> None:
    body = {"email": ADMIN, "password": PASSWORD}
    sweep.tokens[ADMIN] = sweep.client.post("/api/v1/auth/login", json=body).json()["data"]
    before = sweep.last_seq()
    headers = sweep.bearer(ADMIN)
    missing = sweep.client.patch("/api/v1/leads/nope", json={"title": "x"}, headers=headers)
    invalid = sweep.client.post("/api/v1/leads", json={"email": "not an email"}, headers=headers)
    unauthenticated = sweep.client.post("/api/v1/companies", json={"name": "X"})
    assert (missing.status_code, invalid.status_code, unauthenticated.status_code) == (
        404,
        422,
        401,
    )
    assert sweep.entries_after(before) == []


def test_forwarded_client_ip_is_audited_only_behind_a_trusted_proxy(
    sqlite_url: str,
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        secret_key="sweep-secret-key-of-some-length-0123456789",
        trusted_proxies=["10.0.0.0/8"],
    )
    database = Database(sqlite_url, settings)
    with database.unit_of_work() as uow:
        auth_service.create_user(uow.session, EDITOR, PASSWORD, "editor")
    login = {"email": EDITOR, "password": PASSWORD}
    try:
        for peer, expected in [("10.1.2.3", "203.0.113.9"), ("192.0.2.50", "192.0.2.50")]:
            client = TestClient(create_app(settings, database), client=(peer, 5000))
            token = client.post("/api/v1/auth/login", json=login).json()["data"]["access_token"]
            headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}
            response = client.post("/api/v1/leads", json={"full_name": peer}, headers=headers)
            assert response.status_code == 201, response.text
            with database.read_session() as session:
                row = session.scalars(
                    select(AuditLog).where(AuditLog.entity_id == response.json()["data"]["id"])
                ).one()
            assert row.ip == expected
    finally:
        database.dispose()


assert httpx  # the TestClient's transport: imported so a missing dev install fails loudly
