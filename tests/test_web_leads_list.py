"""The /leads explorer: filters, search and pages in the URL, bulk actions."""

from __future__ import annotations

import html
import re
from typing import Any

from playwright.sync_api import expect

from leadbase.audit import repository as audit_repository
from leadbase.leads import repository
from tests.browser import ConsoleServer

ROWS = "#lead-rows tr"
NAMES = "#lead-rows tr td a[href^='/leads/']"


def people(count: int) -> list[dict[str, Any]]:
    """Leads "Person 000".. : every tenth manual, the first 70 scored (the
    rest without a score), alternating countries, some failed enrichments."""
    return [
        {
            "full_name": f"Person {i:03d}",
            "email": f"person{i:03d}@example.com",
            "company_name": f"Company {i % 7}",
            "is_manual": i % 10 == 0,
            "source": "apify" if i % 3 == 0 else "csv_import",
            "country": "DE" if i % 2 else "FR",
            "enrichment_status": "failed" if i % 4 == 0 else "completed",
            "lead_score": (i * 37) % 100 if i < 70 else None,
        }
        for i in range(count)
    ]


def expected_names(first: int, last: int) -> list[str]:
    return [f"Person {i:03d}" for i in range(first, last)]


def more_filters(page: Any) -> None:
    """Open "More filters" (manual, enrichment, country, tag, show deleted)."""
    more = page.locator("details.more-filters")
    if more.get_attribute("open") is None:
        more.locator("summary").click()


def lead_row(console: ConsoleServer, lead_id: str) -> Any:
    with console.database.read_session() as session:
        return repository.row_by_id(session, lead_id, include_deleted=True)


# --- in the browser -------------------------------------------------------------------


def test_an_editor_pages_filters_and_searches_with_urls_and_the_back_button(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    console.add_leads(people(120))
    console.sign_in(page, "editor")
    page.goto(f"{console.url}/leads?sort=full_name")
    expect(page.locator(ROWS)).to_have_count(50)
    assert page.locator(NAMES).all_inner_texts() == expected_names(0, 50)
    # Manual leads wear the badge; the others do not.
    manual = page.locator(ROWS, has_text="Person 010")
    expect(manual.locator(".badge-manual")).to_have_text("manual")
    expect(page.locator(ROWS, has_text="Person 011").locator(".badge-manual")).to_have_count(0)
    shot(page, "first-page")

    # Forward across three pages, then back with Previous.
    page.get_by_role("link", name="Next").click()
    page.wait_for_url(re.compile(r".*/leads\?sort=full_name&after=[0-9a-f-]+$"))
    assert page.locator(NAMES).all_inner_texts() == expected_names(50, 100)
    page.get_by_role("link", name="Next").click()
    expect(page.locator(ROWS)).to_have_count(20)
    assert page.locator(NAMES).all_inner_texts() == expected_names(100, 120)
    expect(page.get_by_role("link", name="Next")).to_have_count(0)
    shot(page, "last-page")
    page.get_by_role("link", name="Previous").click()
    page.wait_for_url(re.compile(r".*before=.*"))
    assert page.locator(NAMES).all_inner_texts() == expected_names(50, 100)
    page.get_by_role("link", name="Previous").click()
    page.wait_for_url(re.compile(r".*/leads\?sort=full_name$"))  # the first page's own URL
    assert page.locator(NAMES).all_inner_texts() == expected_names(0, 50)
    expect(page.get_by_role("link", name="Previous")).to_have_count(0)

    # Filter by the manual badge: the URL says so, and Back undoes it.
    more_filters(page)
    page.get_by_label("Manual", exact=True).select_option("true")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*/leads\?is_manual=true&sort=full_name$"))
    expect(page.locator(ROWS)).to_have_count(12)
    expect(page.locator(f"{ROWS} .badge-manual")).to_have_count(12)
    shot(page, "manual-only")
    page.go_back()
    page.wait_for_url(re.compile(r".*/leads\?sort=full_name$"))
    expect(page.locator(ROWS)).to_have_count(50)
    expect(page.get_by_label("Manual", exact=True)).to_have_value("")

    # Search, with a filter beside it.
    page.get_by_label("Search").fill("person 042")
    more_filters(page)
    page.locator("#lead-filters").get_by_label("Country").fill("FR")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*/leads\?q=person\+042&country=FR&sort=full_name$"))
    assert page.locator(NAMES).all_inner_texts() == ["Person 042"]
    shot(page, "search")

    # A phone's width: only the table scrolls sideways.
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{console.url}/leads")
    expect(page.locator(ROWS)).to_have_count(50)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "narrow")


def test_an_editor_deletes_restores_and_tags_leads_in_bulk(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    ids = console.add_leads(people(6))
    console.sign_in(page, "editor")
    page.goto(f"{console.url}/leads?sort=full_name")
    page.get_by_label("Select Person 001").check()
    page.get_by_label("Select Person 002").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    shot(page, "selected")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_test_id("flash")).to_have_text("Deleted 2 leads.")
    # Said once: the outcome leaves the URL, and a reload does not say it again.
    page.wait_for_url(re.compile(r".*/leads\?sort=full_name$"))
    page.reload()
    expect(page.locator(ROWS)).to_have_count(4)
    expect(page.get_by_test_id("flash")).to_have_count(0)
    assert page.locator(NAMES).all_inner_texts() == [
        "Person 000",
        "Person 003",
        "Person 004",
        "Person 005",
    ]
    assert lead_row(console, ids[1])["is_deleted"] and lead_row(console, ids[2])["is_deleted"]

    # Deleted leads show when asked for, and can be restored from the list.
    more_filters(page)
    page.get_by_label("Show deleted").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*include_deleted=true.*"))
    expect(page.locator(f"{ROWS} .badge-deleted")).to_have_count(2)
    shot(page, "show-deleted")
    page.get_by_label("Select all leads on this page").check()
    expect(page.get_by_text("6 selected")).to_be_visible()
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "Restored 2 leads. Skipped 4 leads: not deleted or not found."
    )
    expect(page.locator(f"{ROWS} .badge-deleted")).to_have_count(0)
    assert not lead_row(console, ids[1])["is_deleted"]

    # A tag for every lead on the page, added to the tags each already has.
    page.get_by_label("Select all leads on this page").check()
    page.get_by_label("Tag to add").fill("vip")
    page.get_by_label("Tag to add").press("Enter")  # Enter adds the tag, never deletes
    expect(page.get_by_test_id("flash")).to_have_text("Tagged 6 leads.")
    page.goto(f"{console.url}/leads?tag=vip")
    expect(page.locator(ROWS)).to_have_count(6)
    shot(page, "tagged")
    # Each change went through the write path as the signed-in editor.
    with console.database.read_session() as session:
        entries = audit_repository.entries_for(session, "lead", ids[1])
    assert [(e.action, e.actor) for e in entries[1:]] == [
        ("delete", "user:editor@example.com"),
        ("restore", "user:editor@example.com"),
        ("update", "user:editor@example.com"),
    ]


def test_a_viewer_sees_no_selection_and_cannot_post_bulk_actions(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    ids = console.add_leads(people(3))
    console.sign_in(page, "viewer")
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator("input[name=ids]")).to_have_count(0)
    expect(page.locator("#bulk-form")).to_have_count(0)
    expect(page.locator("#select-all")).to_have_count(0)
    shot(page, "viewer")
    client = console.client("viewer")
    refused = client.post(
        "/leads/bulk-action", {"action": "delete", "ids": ids, "return_to": "/leads"}
    )
    assert refused.status_code == 403 and "viewers cannot change leads" in refused.text
    assert not any(lead_row(console, lead_id)["is_deleted"] for lead_id in ids)
    client.close()


def test_a_bad_filter_value_shows_an_error_state(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    console.add_leads(people(3))
    console.sign_in(page, "editor")
    answer = page.goto(f"{console.url}/leads?enrichment_status=bogus&country=FR")
    assert answer is not None and answer.status == 422
    expect(page.get_by_test_id("list-error")).to_contain_text(
        "Enrichment: “bogus” is not one of pending, in_progress, completed, failed."
    )
    expect(page.locator("#lead-filters").get_by_label("Enrichment")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("#lead-filters").get_by_label("Country")).to_have_value("FR")
    expect(page.locator("#lead-rows")).to_have_count(0)
    shot(page, "bad-filter")
    page.get_by_role("link", name="Clear the filters").click()
    page.wait_for_url(re.compile(r".*/leads$"))
    expect(page.locator(ROWS)).to_have_count(3)


# --- over HTTP ------------------------------------------------------------------------


def ids_on(page_html: str) -> list[str]:
    return re.findall(r'data-lead-id="([^"]+)"', page_html)


def link(page_html: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page_html)
    return html.unescape(found.group(1)) if found else None


def test_pages_walk_forward_and_back_over_sorts_with_empty_values(
    console: ConsoleServer,
) -> None:
    """Leads without a score come last either way; Previous finds its way
    back across the boundary between scored and unscored leads."""
    ids = console.add_leads(people(120))
    rows = {lead_id: lead_row(console, lead_id) for lead_id in ids}
    scored = [i for i in ids if rows[i]["lead_score"] is not None]
    unscored = [i for i in ids if rows[i]["lead_score"] is None]
    newest_first = sorted(ids, key=lambda i: (rows[i]["created_at"], i), reverse=True)
    by_score = sorted(scored, key=lambda i: (rows[i]["lead_score"], i))
    orders = {
        "-lead_score": [*reversed(by_score), *sorted(unscored, reverse=True)],
        "lead_score": [*by_score, *sorted(unscored)],
        "-created_at": newest_first,
    }
    client = console.client("viewer")
    for sort, expected in orders.items():
        start = "/leads" if sort == "-created_at" else f"/leads?sort={sort}"  # the default
        pages, url = [], start
        while url:
            answer = client.get(url)
            assert answer.status_code == 200, answer.text
            pages.append(ids_on(answer.text))
            url = link(answer.text, "next") or ""
        assert [len(p) for p in pages] == [50, 50, 20]
        assert [i for p in pages for i in p] == expected
        # And back (by score, page 3 starts among the unscored, page 2 among the scored).
        last = client.get(f"/leads?sort={sort}&after={pages[1][-1]}").text
        previous = client.get(link(last, "prev") or "")
        assert ids_on(previous.text) == pages[1]
        first = client.get(link(previous.text, "prev") or "")
        assert first.status_code == 303 and first.headers["location"] == start
    # Filters narrow the same pages: failed, new, from apify = every twelfth lead.
    narrowed = client.get("/leads?enrichment_status=failed&lead_status=new&source=apify")
    assert ids_on(narrowed.text) == [i for i in newest_first if ids.index(i) % 12 == 0]
    client.close()


def test_bad_values_and_broken_page_links_are_explained_not_500s(
    console: ConsoleServer,
) -> None:
    client = console.client("editor")
    unknown = "00000000-0000-0000-0000-000000000000"
    cases = {
        "sort=-email": "Sort: “-email” is not a sort of this list.",
        "is_manual=maybe": "Manual: choose any, manual only (true) or not manual (false).",
        "lead_status=won": "Status: “won” is not one of new, contacted, qualified",
        "include_deleted=yes": "Show deleted: true, or leave it out.",
        "q=a+b+c+d+e+f+g+h+i": "Search: at most 8 words",
        f"country={'x' * 101}": "Country: at most 100 characters.",
        f"after={unknown}": "this page link is broken or out of date",
        f"after={'x' * 37}": "this page link is broken or out of date",
        f"after={unknown}&before={unknown}": "names after= or before=, not both",
    }
    for query, message in cases.items():
        answer = client.get(f"/leads?{query}")
        assert answer.status_code == 422, query
        assert message in html.unescape(answer.text), query
        assert 'id="lead-rows"' not in answer.text
    broken = client.get(f"/leads?tag=vip&after={unknown}").text
    assert 'href="/leads?tag=vip">Go to the first page' in broken
    client.close()


def test_first_run_no_match_and_past_the_end_states(console: ConsoleServer) -> None:
    client = console.client("editor")
    first_run = client.get("/leads")
    assert first_run.status_code == 200 and "No leads yet." in first_run.text
    assert 'id="lead-rows"' in first_run.text  # where quick-add puts the first lead
    [lead_id] = console.add_leads([{"full_name": "Only One", "email": "one@example.com"}])
    no_match = client.get("/leads?is_manual=true").text
    assert "No leads match these filters." in no_match and "No leads yet." not in no_match
    past_the_end = client.get(f"/leads?after={lead_id}").text
    assert (
        "No more leads here." in past_the_end and 'href="/leads">Back to the first' in past_the_end
    )
    listed = client.get("/leads")
    assert ids_on(listed.text) == [lead_id]
    assert re.fullmatch(
        r"db;dur=[\d.]+, count;dur=[\d.]+, render;dur=[\d.]+", listed.headers["server-timing"]
    )
    client.close()


def test_bulk_actions_refuse_bad_posts_and_skip_what_they_do_not_apply_to(
    console: ConsoleServer,
) -> None:
    ids = console.add_leads(people(3))
    client = console.client("editor")
    back = "/leads?sort=full_name&done=tagged-9"

    def post(**form: Any) -> Any:
        return client.post("/leads/bulk-action", {"return_to": back, **form})

    unsigned = client.http.post("/leads/bulk-action", data={"action": "delete", "ids": ids})
    assert unsigned.status_code == 403
    nothing = post(action="delete")
    assert nothing.headers["location"] == "/leads?sort=full_name&error=none-selected"
    assert "Select at least one lead first." in client.get(nothing.headers["location"]).text
    blank_tag = post(action="tag", ids=ids, tag="  ")
    assert blank_tag.headers["location"].endswith("error=bad-tag")
    assert post(action="explode", ids=ids).status_code == 422
    assert post(action="delete", ids=[f"id-{n}" for n in range(501)]).status_code == 422
    assert not any(lead_row(console, lead_id)["is_deleted"] for lead_id in ids)

    # Unknown ids and repeats are skipped; only this site's lists are returned to.
    deleted = client.post(
        "/leads/bulk-action",
        {"action": "delete", "ids": [ids[0], ids[0], "nope", ids[1]], "return_to": "//evil.com"},
    )
    assert deleted.headers["location"] == "/leads?done=deleted-2&skipped=1"
    too_long = post(action="delete", ids=[ids[0]], return_to="/leads?q=" + "x" * 4000)
    assert too_long.headers["location"] == "/leads?done=deleted-0&skipped=1"
    again = post(action="delete", ids=[ids[0]])
    assert again.headers["location"] == "/leads?sort=full_name&done=deleted-0&skipped=1"
    flash = html.unescape(client.get(again.headers["location"]).text)
    assert "Deleted 0 leads. Skipped 1 lead: already deleted or not found." in flash

    enriched = post(action="enrich", ids=[ids[1], ids[2]])
    assert enriched.headers["location"].endswith("done=enriched-1&skipped=1")
    assert "Started enriching 1 lead again." in client.get(enriched.headers["location"]).text
    again_enriched = lead_row(console, ids[2])
    assert again_enriched["enrichment_status"] == "in_progress"
    assert again_enriched["enrichment_task_id"]
    tagged = post(action="tag", ids=[ids[2]], tag="vip")
    retagged = post(action="tag", ids=[ids[2]], tag="vip")
    assert tagged.headers["location"].endswith("done=tagged-1")
    assert retagged.headers["location"].endswith("done=tagged-0&skipped=1")
    assert lead_row(console, ids[2])["tags"] == ["vip"]
    client.close()
