"""/api/v1/companies over HTTP, on SQLite and PostgreSQL, with real users and tokens."""

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
    database: Database

    def create(self, role: str = "editor", **fields: Any) -> dict[str, Any]:
        response = self.client.post("/api/v1/companies", json=fields, headers=self.auth[role])
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def ids(self, path: str, role: str = "viewer", **params: Any) -> list[str]:
        response = self.client.get(path, params=params, headers=self.auth[role])
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]["items"]]

    def all_pages(self, path: str, **params: Any) -> tuple[list[str], int]:
        """Every id, following next_cursor; and how many pages it took."""
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            page = self.client.get(path, params=query, headers=self.auth["viewer"])
            assert page.status_code == 200, page.text
            data = page.json()["data"]
            seen.extend(item["id"] for item in data["items"])
            pages += 1
            cursor = data["next_cursor"]
            if cursor is None:
                return seen, pages

    def audit(self, entity_id: str) -> list[AuditLog]:
        with self.database.read_session() as session:
            query = select(AuditLog).where(AuditLog.entity_id == entity_id)
            return list(session.scalars(query.order_by(AuditLog.seq)))


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    settings = Settings(
        database_url=url,
        secret_key="test-secret-key-of-some-length-0123456789",
        mutation_rate_limit="10000/second",  # these tests are about companies, not limits
        login_rate_limit="10000/minute",
    )
    database = Database(url, settings)
    with database.unit_of_work() as uow:
        for role, email in USERS.items():
            auth_service.create_user(uow.session, email, PASSWORD, role)
    client = TestClient(create_app(settings, database), client=("192.0.2.10", 4000))
    headers = {}
    for role, email in USERS.items():
        token = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers[role] = {"Authorization": f"Bearer {token.json()['data']['access_token']}"}
    yield Api(client, headers, database)
    database.dispose()


@dbs.only("api", "sqlite")
def test_crud_round_trip_with_etags_and_audit(api: Api) -> None:
    client, ed = api.client, {**api.auth["editor"], "User-Agent": "companies-test/1"}
    created = client.post(
        "/api/v1/companies",
        json={"name": " Acme  Corp ", "domain": "https://www.ACME.com/", "tags": ["b2b"]},
        headers=ed,
    )
    assert created.status_code == 201, created.text
    company = created.json()["data"]
    url = f"/api/v1/companies/{company['id']}"
    assert created.headers["Location"] == url and created.headers["ETag"] == '"v1"'
    assert (company["name"], company["domain"], company["version"]) == ("Acme Corp", "acme.com", 1)
    assert company["created_by"] == "user:ed@example.com"

    got = client.get(url, headers=api.auth["viewer"])
    assert got.status_code == 200 and got.headers["ETag"] == '"v1"'
    assert got.json()["data"] == company

    patched = client.patch(url, json={"industry": "Rockets"}, headers={**ed, "If-Match": '"v1"'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["industry"] == "Rockets" and patched.headers["ETag"] == '"v2"'
    assert patched.json()["data"]["tags"] == ["b2b"]  # PATCH leaves other fields alone

    stale = client.patch(url, json={"industry": "Anvils"}, headers={**ed, "If-Match": '"v1"'})
    assert stale.status_code == 412 and stale.json()["error"] == "precondition_failed"
    stale_body = client.patch(url, json={"industry": "Anvils", "version": 1}, headers=ed)
    assert stale_body.status_code == 409 and stale_body.json()["error"] == "conflict"
    weak = client.patch(url, json={"city": "Reno"}, headers={**ed, "If-Match": 'W/"v2"'})
    assert weak.status_code == 200 and weak.json()["data"]["version"] == 3
    bad_tag = client.patch(url, json={"city": "x"}, headers={**ed, "If-Match": "yesterday"})
    assert bad_tag.status_code == 422

    put = client.put(url, json={"name": "Acme", "version": 3}, headers=ed)
    assert put.status_code == 200, put.text
    replaced = put.json()["data"]
    assert (replaced["name"], replaced["domain"], replaced["industry"]) == ("Acme", None, None)
    assert client.put(url, json={"domain": "acme.com"}, headers=ed).status_code == 422

    assert client.delete(url, headers={**ed, "If-Match": '"v1"'}).status_code == 412
    deleted = client.delete(url, headers={**ed, "If-Match": '"v4"'})
    assert deleted.status_code == 200 and deleted.json()["data"]["is_deleted"] is True
    assert client.get(url, headers=ed).status_code == 404
    assert client.patch(url, json={"city": "Oslo"}, headers=ed).status_code == 404
    assert client.get(url, params={"include_deleted": True}, headers=ed).status_code == 200
    assert company["id"] not in api.ids("/api/v1/companies")
    assert company["id"] in api.ids("/api/v1/companies", include_deleted=True)

    restored = client.post(f"{url}/restore", headers=ed)
    assert restored.status_code == 200 and restored.json()["data"]["is_deleted"] is False
    assert client.get(url, headers=ed).status_code == 200

    entries = api.audit(company["id"])
    actions = [e.action for e in entries]
    assert actions == ["create", "update", "update", "update", "delete", "restore"]
    assert {(e.actor, e.ip, e.user_agent) for e in entries} == {
        ("user:ed@example.com", "192.0.2.10", "companies-test/1")
    }
    assert json.loads(entries[1].changes) == {"industry": [None, "Rockets"]}


def test_duplicates_by_domain(api: Api) -> None:
    client, ed = api.client, api.auth["editor"]
    first = api.create(name="Globex", domain="globex.com")
    duplicate = client.post(
        "/api/v1/companies", json={"name": "Globex Inc", "domain": "WWW.Globex.com"}, headers=ed
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "duplicate"
    assert duplicate.json()["details"] == [{"field": "domain", "existing_id": first["id"]}]

    merged = client.post(
        "/api/v1/companies?on_duplicate=merge",
        json={"name": "Globex Inc", "domain": "globex.com", "country": "US"},
        headers=ed,
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["data"]["id"] == first["id"]
    assert merged.headers["Location"] == f"/api/v1/companies/{first['id']}"
    assert (merged.json()["data"]["name"], merged.json()["data"]["country"]) == ("Globex", "US")

    allowed = client.post(
        "/api/v1/companies?on_duplicate=allow", json={"domain": "globex.com"}, headers=ed
    )
    assert allowed.status_code == 201 and allowed.json()["data"]["id"] != first["id"]

    other = api.create(name="Initech", domain="initech.com")
    taken = client.patch(
        f"/api/v1/companies/{other['id']}", json={"domain": "globex.com"}, headers=ed
    )
    assert taken.status_code == 409
    assert taken.json()["details"][0]["existing_id"] == first["id"]


@dbs.only("api", "sqlite")
def test_bad_input_is_a_4xx_envelope(api: Api) -> None:
    client, ed = api.client, api.auth["editor"]
    company = api.create(name="Hooli", domain="hooli.com")
    url = f"/api/v1/companies/{company['id']}"
    for body, field in [
        ({"name": "X", "founded": 1999}, "founded"),
        ({"name": "X", "employee_count": -1}, "employee_count"),
        ({"domain": "not a domain"}, "domain"),
        ({}, "name"),
        ({"name": "Nul\x00Corp"}, "name"),
        ({"name": "X", "tags": ["ok", "\x00"]}, "tags"),
    ]:
        response = client.post("/api/v1/companies", json=body, headers=ed)
        assert response.status_code == 422, (body, response.text)
        error = response.json()
        assert error["success"] is False and error["error"] == "validation_error"
        assert field in {d["field"].split(".")[0] for d in error["details"]}, error
    assert client.post("/api/v1/companies", json=["x"], headers=ed).status_code == 422
    json_headers = {**ed, "Content-Type": "application/json"}
    for raw in ['{"name": "\\ud800"}', '{"name": ', "\xff"]:  # lone surrogate, broken JSON
        response = client.post("/api/v1/companies", content=raw, headers=json_headers)
        assert response.status_code == 422, (raw, response.text)
    assert client.patch(url, json={"version": "two"}, headers=ed).status_code == 422
    assert client.patch(url, json={"name": None}, headers=ed).status_code == 422
    on_duplicate = client.post(
        "/api/v1/companies?on_duplicate=maybe", json={"name": "Y"}, headers=ed
    )
    assert on_duplicate.status_code == 422
    for params in [
        {"limit": 501},
        {"limit": 0},
        {"sort": "domain"},
        {"q": "\x00"},
        {"cursor": "'"},
    ]:
        assert client.get("/api/v1/companies", params=params, headers=ed).status_code == 422
    assert client.get("/api/v1/companies", params={"domain": "a b"}, headers=ed).status_code == 422
    assert client.get("/api/v1/companies/%00", headers=ed).status_code == 422

    for method, path in [
        ("GET", "/api/v1/companies/unknown"),
        ("PATCH", "/api/v1/companies/unknown"),
        ("PUT", "/api/v1/companies/unknown"),
        ("DELETE", "/api/v1/companies/unknown"),
        ("POST", "/api/v1/companies/unknown/restore"),
        ("GET", "/api/v1/companies/unknown/leads"),
    ]:
        body = {"name": "Z"} if method in ("PATCH", "PUT") else None
        response = client.request(method, path, json=body, headers=ed)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "not_found"


@dbs.only("api", "sqlite")
def test_roles(api: Api) -> None:
    client = api.client
    company = api.create("admin", name="Admin Made")
    url = f"/api/v1/companies/{company['id']}"
    assert client.get("/api/v1/companies").status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer junk"}).status_code == 401
    for role in ("admin", "editor", "viewer"):
        headers = api.auth[role]
        assert client.get("/api/v1/companies", headers=headers).status_code == 200
        assert client.get(url, headers=headers).status_code == 200
        assert client.get(f"{url}/leads", headers=headers).status_code == 200
    viewer = api.auth["viewer"]
    for method, path, body in [
        ("POST", "/api/v1/companies", {"name": "Nope"}),
        ("PATCH", url, {"city": "Nope"}),
        ("PUT", url, {"name": "Nope"}),
        ("DELETE", url, None),
        ("POST", f"{url}/restore", None),
    ]:
        denied = client.request(method, path, json=body, headers=viewer)
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden", (method, path)
    assert client.patch(url, json={"city": "Oslo"}, headers=api.auth["admin"]).status_code == 200
    assert client.get(url, headers=viewer).json()["data"]["city"] == "Oslo"  # no viewer write


def test_list_pages_filters_and_domain_search(api: Api) -> None:
    rows = [
        ("Acme", "acme.com", "Rockets", "US", "Reno"),
        ("Acme Labs", "acme-labs.io", "Rockets", "DE", "Berlin"),
        ("Not Acme", "notacme.com", "Anvils", "US", "Reno"),
        ("Acmeco", "acme.co.uk", "Anvils", "GB", "Leeds"),
        ("Globex", "globex.com", "Rockets", "US", "Austin"),
        ("Nameless", None, "Rockets", "US", "Reno"),
    ]
    ids = [
        api.create(name=name, domain=domain, industry=industry, country=country, city=city)["id"]
        for name, domain, industry, country, city in rows
    ]
    newest_first, pages = api.all_pages("/api/v1/companies", limit=2)
    assert newest_first == list(reversed(ids)) and pages == 3
    oldest_first, _ = api.all_pages("/api/v1/companies", limit=4, sort="created_at")
    assert oldest_first == ids

    rockets, pages = api.all_pages("/api/v1/companies", limit=2, industry="Rockets", country="US")
    assert rockets == [ids[5], ids[4], ids[0]] and pages == 2
    assert api.ids("/api/v1/companies", country="US", city="Reno") == [ids[5], ids[2], ids[0]]
    assert api.ids("/api/v1/companies", domain="https://www.Acme-Labs.io/") == [ids[1]]
    assert api.ids("/api/v1/companies", domain=" ", industry="") == newest_first  # no filter

    acme = [ids[3], ids[1], ids[0]]  # a prefix of the domain: "notacme.com" is not one
    assert api.ids("/api/v1/companies", q="acme") == acme
    assert api.ids("/api/v1/companies", q=" ACME") == acme
    assert api.ids("/api/v1/companies", q="https://www.acme.co") == [ids[3], ids[0]]
    assert api.ids("/api/v1/companies", q="acme-") == [ids[1]]
    assert api.ids("/api/v1/companies", q="acme_") == []  # "_" is not a LIKE wildcard here
    assert api.ids("/api/v1/companies", q="acme", sort="created_at", limit=2) == acme[::-1][:2]
    assert api.ids("/api/v1/companies", q="zzz") == []

    api.client.delete(f"/api/v1/companies/{ids[0]}", headers=api.auth["editor"])
    assert api.ids("/api/v1/companies", q="acme") == [ids[3], ids[1]]
    assert api.ids("/api/v1/companies", q="acme", include_deleted=True) == acme


def test_company_leads(api: Api) -> None:
    client, ed = api.client, api.auth["editor"]
    company = api.create(name="Initech", domain="initech.com")
    other = api.create(name="Umbrella", domain="umbrella.com")
    leads_url = f"/api/v1/companies/{company['id']}/leads"

    def lead(company_id: str, **fields: Any) -> str:
        response = client.post(
            "/api/v1/leads", json={"company_id": company_id, **fields}, headers=ed
        )
        assert response.status_code == 201, response.text
        lead_id: str = response.json()["data"]["id"]
        return lead_id

    mine = [
        lead(company["id"], full_name=f"Peter {i}", email=f"p{i}@initech.com") for i in range(5)
    ]
    lead(other["id"], full_name="Alice", email="alice@umbrella.com")
    client.patch(f"/api/v1/leads/{mine[1]}", json={"lead_status": "qualified"}, headers=ed)
    client.delete(f"/api/v1/leads/{mine[4]}", headers=ed)

    seen, pages = api.all_pages(leads_url, limit=2)
    assert seen == [mine[3], mine[2], mine[1], mine[0]] and pages == 2
    oldest, _ = api.all_pages(leads_url, limit=3, sort="created_at", include_deleted=True)
    assert oldest == mine

    page = client.get(leads_url, params={"limit": 1}, headers=api.auth["viewer"]).json()["data"]
    [item] = page["items"]
    assert (item["email"], item["company_id"], item["version"]) == (
        "p3@initech.com",
        company["id"],
        1,
    )
    assert page["next_cursor"] == item["id"]
    assert api.ids(leads_url, lead_status="qualified") == [mine[1]]
    assert client.get(leads_url, params={"lead_status": "hot"}, headers=ed).status_code == 422
    assert client.get(leads_url, params={"limit": 501}, headers=ed).status_code == 422

    client.delete(f"/api/v1/companies/{company['id']}", headers=ed)
    assert client.get(leads_url, headers=ed).status_code == 404
    assert len(api.ids(leads_url, include_deleted=True)) == 5
