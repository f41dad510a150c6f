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
