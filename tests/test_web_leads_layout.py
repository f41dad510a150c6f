"""The lead list as a new user meets it: leads on the first screen at desktop
and phone sizes, quick-add in a dialog, the bulk bar on selection only, the
keyboard path, local times, the small things (flash once, favicon)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from leadbase.leads import repository
from leadbase.web import leads_list
from tests.browser import ConsoleServer, output_dir
from tests.test_web_leads_list import ROWS, people

FIRST_ROW = "#lead-rows tr >> nth=0"


def in_first_viewport(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def screen(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    """What the user sees first (not the whole page)."""
    page.screenshot(path=str(output_dir(request) / f"{name}.png"))


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    browser_context = chromium.new_context(
        viewport={"width": 390, "height": 844}, locale="en-US", has_touch=True
    )
    browser_context.set_default_timeout(10_000)
    yield browser_context.new_page()
    browser_context.close()


def test_the_first_lead_is_on_the_first_screen_at_desktop_and_phone_sizes(
    console: ConsoleServer, page: Any, phone: Any, shot: Any, request: pytest.FixtureRequest
) -> None:
    console.add_leads(people(60))
    for browser_page, (width, height) in ((page, (1280, 800)), (phone, (390, 844))):
        browser_page.set_viewport_size({"width": width, "height": height})
        console.sign_in(browser_page, "editor")
        expect(browser_page.locator(ROWS)).to_have_count(50)
        assert in_first_viewport(browser_page, FIRST_ROW), (width, height)
        # Nothing but the table scrolls sideways, and on a phone not even that.
        assert browser_page.evaluate("document.documentElement.scrollWidth") <= width
        # The bulk bar waits for a selection; quick-add for its button.
        expect(browser_page.locator("#bulk-form")).to_be_hidden()
        expect(browser_page.locator("#quick-add-dialog")).to_be_hidden()
        screen(browser_page, request, f"list-{width}x{height}")
    shot(page, "list-1280")
    # A phone row is a card: the name and its fields, each one readable.
    card = phone.locator(FIRST_ROW)
    card_box = card.bounding_box()
    assert card_box is not None and card_box["width"] <= 390
    email = card.locator("td[data-col=email]")
    expect(email).to_be_visible()
    assert email.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # not cut short
    shot(phone, "phone-list")


def test_quick_add_opens_in_a_dialog_by_button_and_keyboard(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    console.add_leads(people(60))
    console.sign_in(page, "editor")
    dialog = page.locator("#quick-add-dialog")
    page.get_by_role("button", name="+ Add lead").click()
    expect(dialog).to_be_visible()
    expect(page.locator("#quick-add-form").get_by_label("Email")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="+ Add lead")).to_be_focused()

    # The n key opens it too (not while typing in a field); Enter submits.
    page.locator("body").press("n")
    expect(dialog).to_be_visible()
    page.keyboard.type("new.person@example.com")
    shot(page, "quick-add-dialog")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    row = page.locator(ROWS).first
    expect(row).to_contain_text("new.person@example.com")
    assert in_first_viewport(page, FIRST_ROW)
    expect(row.get_by_role("link").first).to_be_focused()
    expect(page.locator('[data-role="status-announcer"]')).to_contain_text(
        "Added new.person@example.com"
    )
    # Scrolled down the list, a new lead is still brought into view.
    page.mouse.wheel(0, 3000)
    page.get_by_role("button", name="+ Add lead").click()
    page.locator("#quick-add-form").get_by_label("Email").fill("later@example.com")
    page.get_by_role("button", name="Add lead", exact=True).click()
    expect(page.locator(ROWS).first).to_contain_text("later@example.com")
    assert in_first_viewport(page, FIRST_ROW)
    page.get_by_label("Search").fill("typing n here")
    expect(dialog).to_be_hidden()


def test_slash_focuses_search_and_a_skip_link_leads_to_the_table(
    console: ConsoleServer, page: Any
) -> None:
    console.add_leads(people(3))
    console.sign_in(page, "editor")
    page.locator("body").press("/")
    search = page.get_by_label("Search")
    expect(search).to_be_focused()
    page.keyboard.type("abc/def")  # "/" while typing is just a character
    expect(search).to_have_value("abc/def")

    page.goto(f"{console.url}/leads")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to the leads"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "lead-rows"
    # The next tab is the first lead's box, the one after its page.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused and focused.startswith("Select Person")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')").startswith("/leads/")


def test_the_bulk_bar_shows_on_selection_stays_on_screen_and_selects_all_matching(
    console: ConsoleServer, page: Any, shot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = console.add_leads(people(120))
    console.sign_in(page, "editor")
    bar = page.locator("#bulk-form")
    expect(bar).to_be_hidden()
    page.get_by_label("Select Person 119").check()
    expect(bar).to_be_visible()
    expect(bar.get_by_text("1 selected")).to_be_visible()
    page.mouse.wheel(0, 5000)
    page.wait_for_function("window.scrollY > 500")
    assert in_first_viewport(page, "#bulk-form")
    page.get_by_label("Select Person 119").uncheck()
    expect(bar).to_be_hidden()

    # The page's 50, then every one of the 120 matching.
    page.get_by_label("Select all leads on this page").check()
    expect(bar.get_by_text("50 selected")).to_be_visible()
    bar.get_by_role("button", name="Select all 120 matching").click()
    expect(bar.get_by_text("All 120 matching leads selected")).to_be_visible()
    shot(page, "all-matching")
    bar.get_by_label("Tag to add").fill("campaign")
    bar.get_by_role("button", name="Add tag").click()
    expect(page.get_by_test_id("flash")).to_have_text("Tagged 120 leads.")
    with console.database.read_session() as session:
        tagged = [repository.row_by_id(session, lead_id) for lead_id in ids]
    assert all(row is not None and row["tags"] == ["campaign"] for row in tagged)

    # Past the cap, nothing changes and the page says why.
    monkeypatch.setattr(leads_list, "SELECT_ALL_CAP", 100)
    page.goto(f"{console.url}/leads")
    page.get_by_label("Select all leads on this page").check()
    page.get_by_role("button", name="Select all 120 matching").click()
    bar.get_by_role("button", name="Delete").click()
    expect(bar.locator('[data-role="bulk-message"]')).to_contain_text("at most 100 leads")
    # The server holds the cap too, and says why.
    client = console.client("editor")
    refused = client.post(
        "/leads/bulk-action",
        {"action": "delete", "matching": "", "return_to": "/leads"},
    )
    assert refused.headers["location"] == "/leads?error=too-many"
    assert "acts on at most 100 leads" in client.get(refused.headers["location"]).text
    narrowed = client.post(
        "/leads/bulk-action",
        {"action": "delete", "matching": "source=apify", "return_to": "/leads"},
    )
    assert narrowed.headers["location"] == "/leads?done=deleted-40"
    client.close()
    with console.database.read_session() as session:
        assert repository.count(session) == 80


def test_times_show_in_the_browsers_zone_relative_with_the_exact_time_on_hover(
    console: ConsoleServer, chromium: Any
) -> None:
    [lead_id] = console.add_leads([{"full_name": "Ada Lovelace", "email": "ada@example.com"}])
    with console.database.read_session() as session:
        row = repository.row_by_id(session, lead_id)
    assert row is not None
    local = row["created_at"].astimezone(ZoneInfo("America/Los_Angeles"))
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id="America/Los_Angeles"
    )
    try:
        page = context.new_page()
        console.sign_in(page, "viewer")
        created = page.locator("#lead-rows td[data-col=created_at] time")
        expect(created).to_have_text("just now")
        title = created.get_attribute("title") or ""
        hour = local.strftime("%I").lstrip("0")
        assert f"{hour}:{local:%M} {local:%p}" in title and re.search(r"P[SD]T", title), title
        assert f"{local:%b} {local.day}, {local.year}" in title
        assert created.get_attribute("datetime") == f"{row['created_at']:%Y-%m-%dT%H:%M:%SZ}"
        # Older times: hours ago, days ago, then the date.
        page.evaluate(
            """() => {
              const t = (iso) => { const e = document.createElement('time');
                e.setAttribute('datetime', iso); e.setAttribute('data-local', '');
                e.className = 'probe'; document.body.appendChild(e); };
              t(new Date(Date.now() - 2 * 3600e3).toISOString());
              t(new Date(Date.now() - 3 * 86400e3).toISOString());
              t('2024-01-15T18:00:00Z');
              t('2025-03-04 16:10:05.123456+00:00');  // as Python's str() writes it
            }"""
        )
        expect(page.locator("time.probe")).to_have_text(
            ["2 h ago", "3 d ago", "Jan 15, 2024", "Mar 4, 2025"]
        )
    finally:
        context.close()


def test_a_row_stuck_in_progress_stops_polling_with_a_hint(
    console: ConsoleServer, page: Any
) -> None:
    console.add_leads([{"email": "stuck@example.com", "enrichment_status": "in_progress"}])
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/leads/status" in r.url else None)
    page.add_init_script(
        "window.leadbaseStatusPolling = {firstDelay: 100, maxDelay: 200, giveUpAfter: 1500}"
    )
    console.sign_in(page, "editor")
    hint = page.locator('[data-role="polling-hint"]')
    expect(hint).to_have_text("still working — reload later", timeout=5000)
    polls = len(asked)
    assert polls >= 2
    page.wait_for_timeout(800)
    assert len(asked) == polls  # stopped


def test_favicon_logo_empty_state_and_the_broken_link_message(console: ConsoleServer) -> None:
    client = console.client("editor")
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    first_run = client.get("/leads").text
    assert 'rel="icon" type="image/svg+xml"' in first_run and 'class="brand-mark"' in first_run
    assert "leadbase import" not in first_run and "Add your first lead" in first_run
    # The contracts other parts build on: filter suggestions (facets.js) and export.
    for facet in ("source", "country", "tag"):
        assert f'name="{facet}" ' in first_run and f'data-facet="{facet}"' in first_run
    filtered = html.unescape(client.get("/leads?country=FR&sort=full_name").text)
    columns = "full_name%2Cemail%2Ccompany_name%2Clead_status%2Clead_score%2Cenrichment_status"
    assert f'href="/leads/export?country=FR&sort=full_name&format=csv&columns={columns}' in filtered
    assert "format=xlsx" in filtered and 'formaction="/leads/export"' in filtered
    broken = client.get("/leads?after=00000000-0000-0000-0000-000000000000").text
    assert "Page: this page link is broken" in broken and "Page: Page:" not in broken
    client.close()
    viewer = console.client("viewer").get("/leads").text
    assert "Add your first lead" not in viewer and "Leads added by your team" in viewer


def test_filters_behind_more_show_as_chips_that_remove_them(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    console.add_leads(people(40))
    console.sign_in(page, "viewer")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{console.url}/leads?is_manual=true&country=FR")
    chips = page.get_by_role("list", name="Also filtered by").get_by_role("link")
    expect(chips).to_have_text(
        [re.compile("^Manual: Manual only.*remove this filter"), re.compile("^Country: FR")]
    )
    expect(page.locator("summary", has_text="More filters")).to_contain_text("2")
    assert in_first_viewport(page, FIRST_ROW)  # the panel stays closed over the rows
    shot(page, "chips")
    chips.nth(1).click()
    page.wait_for_url(re.compile(r".*/leads\?is_manual=true$"))
    expect(page.locator(ROWS)).to_have_count(4)
