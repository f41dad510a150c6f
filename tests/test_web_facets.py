"""Filter suggestions on /leads (facets.js and GET /leads/facets/{field}) and
filters that ignore case: in Chromium on SQLite, over HTTP on PostgreSQL and
MariaDB."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import dbs
from tests.browser import ConsoleServer

NAMES = "#lead-rows tr td a[href^='/leads/']"


def seed(console: ConsoleServer) -> None:
    """12 French leads spelt three ways, 7 German, 4 British; sources and
    tags in several cases."""
    countries = ["France"] * 6 + ["FR"] * 4 + ["france"] * 2 + ["Germany"] * 7 + ["GB"] * 4
    console.add_leads(
        [
            {
                "full_name": f"Person {i:02d}",
                "email": f"person{i:02d}@example.com",
                "country": country,
                "source": ("Apify", "apify", "csv_import")[i % 3],
                "tags": ["VIP"] if i % 4 == 0 else ["vip"] if i % 4 == 1 else None,
            }
            for i, country in enumerate(countries)
        ]
    )


def french() -> list[str]:
    return [f"Person {i:02d}" for i in range(12)]


def test_the_country_filter_offers_its_values_and_lists_the_picked_one(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    seed(console)
    console.sign_in(page, "viewer")
    page.goto(f"{console.url}/leads")
    page.get_by_text("More filters").click()
    country = page.locator("#filter-country")
    expect(country).to_have_attribute("role", "combobox")
    expect(country).to_have_attribute("aria-controls", "filter-country-suggestions")
    country.focus()
    suggestions = page.locator("#filter-country-suggestions")
    expect(suggestions).to_be_visible()
    options = suggestions.get_by_role("option")
    expect(options).to_have_text(["France — 12", "Germany — 7", "United Kingdom — 4"])
    expect(country).to_have_attribute("aria-expanded", "true")
    shot(page, "country-suggestions")

    # Typing narrows them (case and accents aside); the mouse picks one.
    country.press_sequentially("fr")
    expect(options).to_have_text(["France — 12"])
    options.first.click()
    expect(country).to_have_value("France")
    expect(suggestions).to_be_hidden()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*/leads\?country=France$"))
    expect(page.locator(NAMES)).to_have_count(12)
    assert sorted(page.locator(NAMES).all_inner_texts()) == french()
    shot(page, "filtered-by-country")


def test_the_suggestions_work_from_the_keyboard(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    seed(console)
    console.sign_in(page, "editor")
    page.goto(f"{console.url}/leads")
    source = page.locator("#filter-source")
    source.focus()
    listbox = page.locator("#filter-source-suggestions")
    expect(listbox.get_by_role("option")).to_have_text(["Apify — 16", "csv_import — 7"])
    page.keyboard.press("ArrowDown")
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(source).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    page.keyboard.press("ArrowDown")  # opens again
    expect(listbox).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # picks, does not submit
    expect(source).to_have_value("Apify")
    assert "source=" not in page.url
    page.keyboard.press("Enter")  # now the form
    page.wait_for_url(re.compile(r".*/leads\?source=Apify$"))
    expect(page.locator(NAMES)).to_have_count(16)

    # A tag typed in another case finds every spelling.
    page.get_by_text("More filters").click()
    tag = page.locator("#filter-tag")
    tag.fill("Vi")
    tags = page.locator("#filter-tag-suggestions")
    expect(tags.get_by_role("option")).to_have_text(["VIP — 12"])
    tag.press("Tab")
    expect(tags).to_be_hidden()
    page.goto(f"{console.url}/leads?tag=vip&source=APIFY")
    vip = {f"Person {i:02d}" for i in range(23) if i % 4 in (0, 1) and i % 3 != 2}
    assert set(page.locator(NAMES).all_inner_texts()) == vip
    shot(page, "tag-and-source")


def test_the_console_route_answers_values_and_refuses_unknown_fields(
    console: ConsoleServer,
) -> None:
    seed(console)
    client = console.client("viewer")
    answer = client.get("/leads/facets/country", params={"prefix": "UNITED"})
    assert answer.status_code == 200 and answer.json()["success"] is True
    assert answer.json()["data"]["values"] == [
        {"value": "United Kingdom", "count": 4, "spellings": ["GB"]}
    ]
    unknown = client.get("/leads/facets/email", headers={"Accept": "application/json"})
    assert unknown.status_code == 422 and unknown.json()["error"] == "validation_error"
    signed_out = console.client(None).get(
        "/leads/facets/country", headers={"Accept": "application/json"}
    )
    assert signed_out.status_code == 401
    client.close()


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_suggestions_and_case_insensitive_filters_on_a_server(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    console = ConsoleServer(url).start()
    try:
        seed(console)
        client = console.client("viewer")
        values = client.get("/leads/facets/country", headers={"Accept": "application/json"})
        counts = {v["value"]: v["count"] for v in values.json()["data"]["values"]}
        assert counts == {"France": 12, "Germany": 7, "United Kingdom": 4}
        for spelling in ("fr", "France", "FRA"):
            listed = client.get("/leads", params={"country": spelling})
            assert listed.status_code == 200
            assert sorted(re.findall(r">(Person \d\d)</a>", listed.text)) == french()
        apify = client.get("/leads", params={"source": "APIFY", "tag": "vip"})
        found = set(re.findall(r">(Person \d\d)</a>", apify.text))
        assert found == {f"Person {i:02d}" for i in range(23) if i % 4 in (0, 1) and i % 3 != 2}
        client.close()
    finally:
        console.stop()
