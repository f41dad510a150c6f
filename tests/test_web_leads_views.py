"""The lead list's totals, header sort, columns kept per user, and saved
views (personal and shared) reopened from the nav."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from leadbase.web import leads_list
from tests.browser import ConsoleServer
from tests.test_web_leads_list import NAMES, ROWS, people


def header_keys(page: Any) -> list[str]:
    return page.locator(".leads-table thead th[data-col]").evaluate_all(
        "cells => cells.map(c => c.dataset.col)"
    )


def test_totals_count_what_matches_and_stop_at_the_cap(
    console: ConsoleServer, page: Any, monkeypatch: Any
) -> None:
    console.add_leads(people(120))
    console.sign_in(page, "viewer")
    expect(page.get_by_test_id("total")).to_have_text("120 leads")
    page.goto(f"{console.url}/leads?source=apify")
    expect(page.get_by_test_id("total")).to_have_text("40 leads match")
    page.goto(f"{console.url}/leads?q=person+042")
    expect(page.get_by_test_id("total")).to_have_text("1 lead match")
    page.goto(f"{console.url}/leads?tag=none-such")
    expect(page.get_by_test_id("total")).to_have_text("0 leads match")

    # Past the cap, an estimate: the count stops at cap + 1.
    console.add_leads(
        [{"email": f"bulk{i:05d}@example.com", "source": "bulk"} for i in range(10_000)]
    )
    page.goto(f"{console.url}/leads")
    expect(page.get_by_test_id("total")).to_have_text("10,000+ leads")
    page.goto(f"{console.url}/leads?source=bulk")
    expect(page.get_by_test_id("total")).to_have_text("10,000 leads match")
    assert leads_list.total_text(leads_list.TOTAL_CAP + 1) == "10,000+ leads"
    # A count that runs out of time (dear filters on a big table) is stopped
    # by the database: the page says what the quick count found.
    monkeypatch.setattr(leads_list, "COUNT_BUDGET_SECONDS", 0.000_001)
    page.goto(f"{console.url}/leads")
    expect(page.get_by_test_id("total")).to_have_text("1,000+ leads")
    page.goto(f"{console.url}/leads?source=apify")
    expect(page.get_by_test_id("total")).to_have_text("40 leads match")


def test_a_header_click_sorts_again_reverses_and_the_url_keeps_it(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    console.add_leads(people(60))
    console.sign_in(page, "editor")
    name_header = page.locator("th[data-col=full_name]")
    expect(name_header).not_to_have_attribute("aria-sort", re.compile(".*"))
    expect(page.locator("th[data-col=created_at]")).to_have_attribute("aria-sort", "descending")

    name_header.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/leads\?sort=full_name$"))
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    assert page.locator(NAMES).all_inner_texts()[:3] == ["Person 000", "Person 001", "Person 002"]
    shot(page, "by-name")

    name_header.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/leads\?sort=-full_name$"))
    expect(name_header).to_have_attribute("aria-sort", "descending")
    assert page.locator(NAMES).all_inner_texts()[:2] == ["Person 059", "Person 058"]

    # Score sorts highest first; a filter keeps the sort, and back undoes it.
    page.locator("th[data-col=lead_score]").get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/leads\?sort=-lead_score$"))
    scores = page.locator("#lead-rows td[data-col=lead_score]").all_inner_texts()
    valued = [int(score) for score in scores if score]
    assert valued == sorted(valued, reverse=True) and valued[0] == 99
    page.get_by_label("Search").fill("person")
    page.get_by_label("Search").press("Enter")
    page.wait_for_url(re.compile(r".*/leads\?q=person&sort=-lead_score$"))
    page.go_back()
    page.go_back()
    page.wait_for_url(re.compile(r".*/leads\?sort=-full_name$"))
    expect(name_header).to_have_attribute("aria-sort", "descending")


def _choose_columns(page: Any, tick: list[str], untick: list[str]) -> Any:
    page.get_by_role("button", name="Columns").click()
    dialog = page.locator("#columns-dialog")
    expect(dialog).to_be_visible()
    for label in tick:
        dialog.get_by_label(label, exact=True).check()
    for label in untick:
        dialog.get_by_label(label, exact=True).uncheck()
    return dialog


def test_columns_are_chosen_ordered_and_kept_per_user(
    console: ConsoleServer, page: Any, chromium: Any, shot: Any
) -> None:
    console.add_leads(
        [
            {**lead, "title": "CTO", "phone": f"+33 1 23 45 67 8{n}"}
            for n, lead in enumerate(people(3))
        ]
    )
    console.sign_in(page, "editor")
    default = header_keys(page)
    assert default[:3] == ["full_name", "email", "company_name"]
    dialog = _choose_columns(page, tick=["Title", "Country"], untick=["Source", "Enrichment"])
    # With the keyboard: Country up, above Title (the list shows the ticked in order).
    country_up = dialog.get_by_role("button", name="Move Country up")
    country_up.focus()
    for _ in range(12):
        page.keyboard.press("Enter")
    expect(country_up).to_be_focused()
    shot(page, "column-chooser")
    dialog.get_by_role("button", name="Save columns").click()
    page.wait_for_url(re.compile(r".*/leads$"))
    chosen = header_keys(page)
    assert chosen[:2] == ["full_name", "country"]
    assert "title" in chosen and "source" not in chosen and "enrichment_status" not in chosen
    assert page.locator("#lead-rows tr").first.locator("td[data-col=title]").inner_text() == "CTO"
    # Quick-added rows follow the chosen columns too.
    page.get_by_role("button", name="+ Add lead").click()
    page.locator("#quick-add-form").get_by_label("Email").fill("fresh@example.com")
    page.keyboard.press("Enter")
    expect(page.locator(ROWS).first).to_contain_text("fresh@example.com")
    fresh = (
        page.locator(ROWS)
        .first.locator("td[data-col]")
        .evaluate_all("cells => cells.map(c => c.dataset.col)")
    )
    assert fresh == chosen
    page.reload()
    assert header_keys(page) == chosen

    # A new sign-in (another browser) finds them; another user has their own.
    other = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        again = other.new_page()
        console.sign_in(again, "editor")
        assert header_keys(again) == chosen
        again.context.clear_cookies()
        console.sign_in(again, "viewer")
        assert header_keys(again) == default
    finally:
        other.close()


def test_a_saved_view_is_reopened_from_the_nav_and_shared_views_reach_everyone(
    console: ConsoleServer, page: Any, chromium: Any, shot: Any
) -> None:
    console.add_leads(people(30))
    console.sign_in(page, "editor")
    page.goto(f"{console.url}/leads?country=DE&sort=full_name")
    _choose_columns(page, tick=["Country"], untick=[]).get_by_role(
        "button", name="Save columns"
    ).click()
    page.wait_for_url(re.compile(r".*/leads\?country=DE&sort=full_name$"))
    page.get_by_role("button", name="Save view").click()
    save = page.locator("#save-view-dialog")
    expect(save.get_by_label("Name")).to_be_focused()
    save.get_by_label("Name").fill("German leads")
    save.get_by_label("Share with everyone").check()
    save.get_by_role("button", name="Save view").click()
    page.wait_for_url(re.compile(r".*/leads\?view=[0-9a-f-]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("German leads")
    expect(page.locator(ROWS)).to_have_count(15)
    assert page.locator(NAMES).all_inner_texts()[:2] == ["Person 001", "Person 003"]
    view_url = page.url

    # A personal one beside it.
    page.goto(f"{console.url}/leads?is_manual=true")
    page.get_by_role("button", name="Save view").click()
    save.get_by_label("Name").fill("My manual leads")
    save.get_by_role("button", name="Save view").click()
    page.wait_for_url(re.compile(r".*/leads\?view=.*"))
    expect(page.locator(ROWS)).to_have_count(3)

    # The nav lists both on every page (a phone's too); the shared one reopens from there.
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".nav-views summary").click()
    expect(page.locator(".nav-views").get_by_role("link", name="German leads")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "nav-views-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{console.url}/companies")
    page.locator(".nav-views summary").click()
    shot(page, "nav-views")
    page.locator(".nav-views").get_by_role("link", name="German leads").click()
    page.wait_for_url(view_url)
    expect(page.locator(ROWS)).to_have_count(15)
    assert "country" in header_keys(page)
    # Sorting the view by a header stays in the view.
    page.locator("th[data-col=full_name]").get_by_role("link").click()
    page.wait_for_url(re.compile(r".*sort=-full_name.*view=.*"))
    expect(page.get_by_role("heading", level=1)).to_have_text("German leads")
    assert page.locator(NAMES).all_inner_texts()[0] == "Person 029"

    # Another user sees the shared view only, and cannot delete it.
    other = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        viewer = other.new_page()
        console.sign_in(viewer, "viewer")
        nav = viewer.locator(".nav-views")
        nav.locator("summary").click()
        expect(nav.get_by_role("link")).to_have_text(["German leads"])
        nav.get_by_role("link", name="German leads").click()
        expect(viewer.locator(ROWS)).to_have_count(15)
        expect(viewer.get_by_role("button", name="Delete view")).to_have_count(0)
        view_id = view_url.rsplit("=", 1)[1]
        client = console.client("viewer")
        refused = client.post(f"/leads/views/{view_id}/delete")
        assert refused.status_code == 403
        client.close()
    finally:
        other.close()

    # The owner deletes it; it leaves every nav.
    page.goto(view_url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete view").click()
    page.wait_for_url(re.compile(r".*/leads$"))
    page.locator(".nav-views summary").click()
    expect(page.locator(".nav-views").get_by_role("link")).to_have_text(["My manual leads"])


def test_bad_column_and_view_posts_are_refused(console: ConsoleServer) -> None:
    client = console.client("editor")
    unknown = client.post("/leads/columns", {"columns": ["email", "password_hash"]})
    assert unknown.status_code == 422 and "unknown column" in unknown.text
    unnamed = client.post("/leads/views", {"name": "   ", "query": ""})
    assert unnamed.status_code == 422
    bad_query = client.post("/leads/views", {"name": "Bad", "query": "lead_status=won"})
    assert bad_query.status_code == 422
    unsigned = client.http.post("/leads/views", data={"name": "No token"})
    assert unsigned.status_code == 403
    missing = client.post("/leads/views/00000000-0000-0000-0000-000000000000/delete")
    assert missing.status_code == 404
    # Saved twice under one name: replaced, not listed twice.
    for query in ("country=DE", "country=FR"):
        saved = client.post("/leads/views", {"name": "Market", "query": query})
        assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert page.count(">Market</a>") == 1 and 'value="FR"' in page
    # An unknown or foreign view id opens the plain list.
    assert "<h1>Leads</h1>" in client.get("/leads?view=nope").text
    client.close()


def test_a_views_owner_sets_its_columns_and_an_admin_may_delete_it(
    console: ConsoleServer,
) -> None:
    console.add_leads(people(4))
    editor = console.client("editor")
    made = editor.post(
        "/leads/views", {"name": "Scored", "query": "sort=-lead_score", "columns": "lead_score"}
    )
    view_id = made.headers["location"].rsplit("=", 1)[1]
    opened = editor.get(made.headers["location"]).text
    assert 'name="view" value="' + view_id in opened  # the chooser saves into the view
    # Its owner changes its columns from the view's page; their own stay as they were.
    changed = editor.post(
        "/leads/columns",
        {
            "columns": ["country", "lead_score"],
            "view": view_id,
            "return_to": f"/leads?view={view_id}",
        },
    )
    assert changed.headers["location"] == f"/leads?view={view_id}"
    heads = re.findall(
        r'<th scope="col"[^>]*data-col="(\w+)"', editor.get(changed.headers["location"]).text
    )
    assert heads == ["full_name", "country", "lead_score"]
    own = re.findall(r'<th scope="col"[^>]*data-col="(\w+)"', editor.get("/leads").text)
    assert own[1] == "email"
    # A personal view is nobody else's: another user neither opens nor changes it.
    viewer = console.client("viewer")
    assert "<h1>Leads</h1>" in viewer.get(f"/leads?view={view_id}").text
    assert viewer.post("/leads/columns", {"columns": ["email"], "view": view_id}).status_code == 404
    viewer.close()
    # Shared, an admin may delete it (its owner's or not).
    editor.post("/leads/views", {"name": "Scored", "shared": "true", "query": "sort=-lead_score"})
    admin = console.client("admin")
    assert admin.post(f"/leads/views/{view_id}/delete").status_code == 303
    assert "Scored" not in admin.get("/leads").text
    admin.close()
    editor.close()
