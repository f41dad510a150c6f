"""The console on PostgreSQL and MariaDB: the same pages, queries and writes
as on SQLite (the browser tests run on SQLite)."""

from __future__ import annotations

import re

import pytest

from leadbase import context
from leadbase.companies import service as companies_service
from tests import dbs
from tests.browser import ConsoleServer


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_list_search_edit_bulk_and_companies_on_a_server(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    console = ConsoleServer(url).start()
    try:
        with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
            company, _ = companies_service.create_or_merge(
                uow, {"name": "Acme Robotics", "domain": "acmerobotics.io"}
            )
        ada, grace = console.add_leads(
            [
                {
                    "full_name": "Ada Lovelace",
                    "email": "ada@acmerobotics.io",
                    "is_manual": True,
                    "company_id": company.id,
                    "city": "London",
                },
                {"full_name": "Grace Hopper", "email": "grace@navy.example", "country": "US"},
            ]
        )
        client = console.client("editor")
        manual = client.get("/leads", params={"is_manual": "true", "sort": "full_name"})
        assert manual.status_code == 200
        assert "Ada Lovelace" in manual.text and "Grace Hopper" not in manual.text
        found = client.get("/leads", params={"q": "hopper"})
        assert "Grace Hopper" in found.text and "Ada Lovelace" not in found.text
        form = {"version": "1", "seen_seq": "0", "was.city": "London", "city": "Paris"}
        assert client.post(f"/leads/{ada}", form).status_code == 303
        page = client.get(f"/leads/{ada}")
        assert ">Paris<" in page.text and "Updated city" in page.text
        tagged = client.post(
            "/leads/bulk-action",
            {"action": "tag", "tag": "vip", "ids": [ada, grace], "return_to": "/leads"},
        )
        assert tagged.status_code == 303
        assert "Grace Hopper" in client.get("/leads", params={"tag": "vip"}).text
        companies = client.get("/companies")
        assert re.search(r'acmerobotics\.io</td>.*?<td class="num">1</td>', companies.text, re.S)
        assert "Ada Lovelace" in client.get(f"/companies/{company.id}").text
        client.close()
    finally:
        console.stop()


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_list_totals_sort_columns_and_saved_views_on_a_server(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadbase.web import leads_list

    url: str = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    # "50+" without 10,000 leads; past 10, counted within the time budget.
    monkeypatch.setattr(leads_list, "TOTAL_CAP", 50)
    monkeypatch.setattr(leads_list, "QUICK_CAP", 10)
    console = ConsoleServer(url).start()
    try:
        console.add_leads(
            [
                {
                    "full_name": f"Person {i:03d}",
                    "email": f"p{i:03d}@example.com",
                    "country": "DE" if i % 2 else "FR",
                    "lead_score": i,
                }
                for i in range(60)
            ]
        )
        editor = console.client("editor")
        listed = editor.get("/leads").text
        assert 'data-testid="total" data-total="51">50+ leads' in listed
        assert ">30 leads <span" in editor.get("/leads", params={"country": "DE"}).text
        by_name = editor.get("/leads", params={"sort": "full_name"}).text
        assert re.search(r'data-col="full_name" aria-sort="ascending"', by_name)
        assert 'href="/leads?sort=-full_name"' in by_name  # a second click reverses
        names = re.findall(r'class="lead-link"[^>]*>(Person \d+)<', by_name)
        assert names[:3] == ["Person 000", "Person 001", "Person 002"]

        saved = editor.post("/leads/columns", {"columns": ["country", "lead_score"]})
        assert saved.status_code == 303
        heads = re.findall(r'<th scope="col"[^>]*data-col="(\w+)"', editor.get("/leads").text)
        assert heads == ["full_name", "country", "lead_score"]

        view = editor.post(
            "/leads/views",
            {
                "name": "Germany",
                "shared": "true",
                "query": "country=DE&sort=-lead_score",
                "columns": "country,lead_score",
            },
        )
        assert view.status_code == 303
        viewer = console.client("viewer")
        opened = viewer.get(view.headers["location"]).text
        assert "<h1>Germany</h1>" in opened and ">Germany</a>" in opened  # the nav lists it
        scores = re.findall(r'data-col="lead_score" data-label="Score" class="num">(\d+)<', opened)
        assert scores[:3] == ["59", "57", "55"]
        assert re.findall(r'<th scope="col"[^>]*data-col="(\w+)"', opened) == heads
        viewer.close()
        editor.close()
    finally:
        console.stop()
