"""Names sort as people read them, accents and case aside, on every database:
Émile, Łukasz, Ömer, Zoë (not Zoë before Émile), "ada" next to "Ada"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase.client import LeadDatabase
from leadbase.db import Database
from tests import dbs
from tests.api_clients import api_settings, signed_in
from tests.browser import ConsoleServer

PEOPLE = [
    {"full_name": "Zo\u00eb Zimmer", "company_name": "Zeta Logistics GmbH"},
    {"full_name": "\u00d6mer \u00d6zt\u00fcrk", "company_name": "\u00d8rsted A/S"},
    {"full_name": "ada lovelace", "email": "ada.l@example.org"},
    {"full_name": "\u0141ukasz Lis", "company_name": "ACME Corp"},
    {"full_name": "\u00c9mile Zola", "company_name": "\u00c9ditions Fasquelle"},
    {"email": "nameless@example.org", "company_domain": "acme.io"},
    {"full_name": "Ada Lovelace", "email": "ada@example.org"},
]
ORDER = ["ada lovelace", "Ada Lovelace", "\u00c9mile Zola", "\u0141ukasz Lis"]
ORDER += ["\u00d6mer \u00d6zt\u00fcrk", "Zo\u00eb Zimmer"]


@pytest.fixture
def api(db_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with LeadDatabase(db_url, actor="test:seed") as seed:
        seed.add_leads(PEOPLE)
    database = Database(db_url, api_settings(db_url))
    client, headers = signed_in(database, {"viewer@example.com": "viewer"})
    yield client, headers["viewer@example.com"]
    client.close()
    database.dispose()


def _all(client: TestClient, headers: dict[str, str], path: str, **params: Any) -> list[Any]:
    """Every item, a page of two at a time (the cursor carries the sort key)."""
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        items += data["items"]
        if not (cursor := data["next_cursor"]):
            return items


def test_the_api_sorts_names_accents_and_case_aside(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    names = [lead["full_name"] for lead in _all(client, headers, "/api/v1/leads", sort="full_name")]
    # ada next to Ada: the same key, the older first (the id breaks the tie).
    assert names == [*ORDER, None]
    backwards = _all(client, headers, "/api/v1/leads", sort="-full_name")
    assert [lead["full_name"] for lead in backwards] == [*reversed(ORDER), None]
    assert "sort_name" not in backwards[0]  # derived, not a lead field

    companies = _all(client, headers, "/api/v1/companies", sort="name")
    assert [c["name"] for c in companies] == [
        "Acme",  # named after acme.io
        "ACME Corp",
        "\u00c9ditions Fasquelle",
        "\u00d8rsted A/S",
        "Zeta Logistics GmbH",
    ]
    backwards = _all(client, headers, "/api/v1/companies", sort="-name")
    assert [c["name"] for c in backwards] == [c["name"] for c in reversed(companies)]
    found = _all(client, headers, "/api/v1/companies", q="acme")
    assert sorted(c["name"] for c in found) == ["ACME Corp", "Acme"]
    assert [c["name"] for c in _all(client, headers, "/api/v1/companies", q="orsted")] == [
        "\u00d8rsted A/S"
    ]
    assert [c["name"] for c in _all(client, headers, "/api/v1/companies", q="\u00c9DITIONS")] == [
        "\u00c9ditions Fasquelle"
    ]


def _order_in(html: str, names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: html.index(f">{name}<"))


def test_the_console_sorts_names_in_the_browser(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    console.add_leads(PEOPLE)
    console.sign_in(page, "viewer")
    page.goto(f"{console.url}/leads?sort=full_name")
    links = page.locator("table a[href^='/leads/']").all_inner_texts()
    shown = [text.strip() for text in links if text.strip() in ORDER]
    assert shown == ORDER
    shot(page, "by-name")


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_the_console_sorts_names_on_a_server(kind: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    console = ConsoleServer(url).start()
    try:
        console.add_leads(PEOPLE)
        client = console.client("viewer")
        html = client.get("/leads", params={"sort": "full_name"}).text
        assert _order_in(html, ORDER) == ORDER
        backwards = client.get("/leads", params={"sort": "-full_name"}).text
        assert _order_in(backwards, ORDER) == list(reversed(ORDER))
        client.close()
    finally:
        console.stop()
