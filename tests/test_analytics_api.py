"""GET /api/v1/analytics/* (issue 15): the figures in the envelope, the list's
filters as query parameters, a reader may look, bad parameters are 422s."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase.client import LeadDatabase
from leadbase.db import Database
from tests import dbs
from tests.api_clients import api_settings, signed_in
from tests.test_analytics import build


@pytest.fixture
def api(db_url: str) -> tuple[TestClient, dict[str, str]]:
    database = Database(settings=api_settings(db_url))
    with LeadDatabase(db_url, actor="test:alice") as leads:
        build(leads)
    client, headers = signed_in(database, {"viewer@example.org": "viewer"})
    return client, headers["viewer@example.org"]


def get(api: tuple[TestClient, dict[str, str]], path: str, **params: Any) -> Any:
    client, headers = api
    answer = client.get(f"/api/v1/analytics/{path}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True
    return body["data"]


@dbs.only("db_url", "sqlite", "postgresql")
def test_figures_with_filters(api: tuple[TestClient, dict[str, str]]) -> None:
    weekly = get(api, "leads", interval="week", country="DE", since="2026-03-02")
    assert weekly == {
        "interval": "week",
        "by": None,
        "total": 2,
        "rows": [{"period": "2026-03-30", "value": None, "count": 2}],
    }
    monthly = get(api, "leads", interval="month", by="source", lead_status="NEW")
    assert monthly["rows"] == [{"period": "2026-03-01", "value": "apify", "count": 1}]

    funnel = get(api, "funnel", source="csv")
    assert [(s["stage"], s["reached"]) for s in funnel["stages"]] == [
        ("new", 3),
        ("contacted", 3),
        ("qualified", 3),
        ("converted", 1),
    ]
    assert funnel["lost"] == 1

    activities = get(api, "activities", interval="month", by="outcome", until="2026-03-31")
    assert activities["total"] == 3
    assert get(api, "enrichment", enrichment_status="failed")["by_status"] == [
        {"value": "failed", "count": 1}
    ]
    assert get(api, "scores", include_deleted="true")["scored"] == 5
    assert get(api, "duplicates")["merges"] == 0
    assert get(api, "imports") == {"imports": [], "apify": [], "airtable": []}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("leads", {"interval": "year"}, "interval"),
        ("leads", {"by": "title"}, "by"),
        ("leads", {"since": "2026-13-01"}, "since"),
        ("funnel", {"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ("activities", {"by": "status"}, "by"),
        ("scores", {"lead_status": "won"}, "lead_status"),
        ("enrichment", {"enrichment_status": "done"}, "enrichment_status"),
        ("duplicates", {"q": "x" * 201}, "q"),
    ],
)
def test_bad_parameters_are_422(
    sqlite_url: str, path: str, params: dict[str, str], field: str
) -> None:
    database = Database(settings=api_settings(sqlite_url))
    client, headers = signed_in(database, {"viewer@example.org": "viewer"})
    answer = client.get(
        f"/api/v1/analytics/{path}", params=params, headers=headers["viewer@example.org"]
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["success"] is False and body["error"] == "validation_error"
    assert field in [detail["field"].split(".")[-1] for detail in body["details"]]


def test_signed_in_only(sqlite_url: str) -> None:
    database = Database(settings=api_settings(sqlite_url))
    client = TestClient(signed_in(database, {})[0].app)
    answer = client.get("/api/v1/analytics/leads")
    assert answer.status_code == 401 and answer.json()["success"] is False
