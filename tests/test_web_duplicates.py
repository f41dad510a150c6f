"""The console's /duplicates: stored clusters side by side with the differing
fields marked, score and reasons, filters, empty and error states; merge with
picked values, dismiss, undo; the lead page's possible duplicates and merge
history, and a merged lead's page following it to the survivor. Server-side
checks run on SQLite, PostgreSQL and MariaDB; the whole flow in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from leadbase import context
from leadbase.dedupe import repository as dedupe_repository
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import DuplicateCluster, SalesLead
from leadbase.web import duplicates
from tests import dbs
from tests.browser import ConsoleServer
from tests.test_web_accessibility import UNLABELLED

ADA = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "company_name": "Analytical Engines",
    "city": "London",
    "title": "Countess",
    "tags": ["vip"],
}
# The same person, typed again elsewhere: another address, a phone, a
# slightly different company name.
ADA_AGAIN = {
    "full_name": "Ada Lovelace",
    "email": "countess@engines.example",
    "phone": "+44 20 7946 0958",
    "company_name": "Analytical Engines Ltd",
    "city": "London",
    "tags": ["math"],
}
REASONS = ["name 1.00", "company 0.88", "same city"]


@pytest.fixture(params=dbs.KINDS)
def any_console(
    request: pytest.FixtureRequest, console_factory: Callable[..., ConsoleServer]
) -> Iterator[ConsoleServer]:
    """A console on each database (the browser tests use SQLite's)."""
    if request.param == "sqlite":
        yield console_factory()
        return
    url: str = request.getfixturevalue("_server_urls")(request.param)
    dbs.empty_all_tables(url)
    server = ConsoleServer(url).start()
    yield server
    server.stop()


def store_cluster(
    console: ConsoleServer,
    lead_ids: list[str],
    score: float = 0.93,
    reasons: list[str] | None = None,
    action: str = "review",
) -> str:
    """A cluster as a scan stores it; its id."""
    cluster = {"lead_ids": lead_ids, "score": score, "reasons": reasons or REASONS}
    with console.database.unit_of_work() as uow:
        dedupe_repository.upsert_clusters(uow.session, [{**cluster, "action": action}], "scan")
    with console.database.read_session() as session:
        found = dedupe_repository.clusters_by_fingerprint(
            session, [dedupe_repository.fingerprint(lead_ids)]
        )
    return next(iter(found.values())).id


def cluster_row(console: ConsoleServer, cluster_id: str) -> DuplicateCluster:
    with console.database.read_session() as session:
        found = session.get(DuplicateCluster, cluster_id)
        assert found is not None
        return found


def lead_now(console: ConsoleServer, lead_id: str) -> SalesLead:
    with console.database.read_session() as session:
        lead = leads_repository.get(session, lead_id, include_deleted=True)
        assert lead is not None
        return lead


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def rows_marked(html: str) -> set[str]:
    return set(re.findall(r'data-field="(\w+)" data-differs="true"', html))


def checked(html: str, name: str) -> str | None:
    """The value of the checked radio called ``name``."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]+)" checked', html)
    return found.group(1) if found else None


# --- in the browser ---------------------------------------------------------------------


def test_compare_pick_merge_undo_and_dismiss_in_the_browser(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    ada, again, bob, bobby = console.add_leads(
        [
            ADA,
            ADA_AGAIN,
            {"full_name": "Bob Smith", "email": "bob@example.com", "city": "Leeds"},
            {"full_name": "Bobby Smith", "email": "bobby@example.com", "city": "Leeds"},
        ]
    )
    store_cluster(console, [ada, again], score=0.95)
    store_cluster(console, [bob, bobby], score=0.86, reasons=["name 0.90", "same city"])
    console.sign_in(page, "editor")
    expect(page.get_by_test_id("nav-count-duplicates")).to_have_text("2 open")
    page.get_by_role("link", name=re.compile("^Duplicates")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Possible duplicates")
    clusters = page.get_by_test_id("cluster")
    expect(clusters).to_have_count(2)
    adas = clusters.filter(has_text="name 1.00")
    expect(adas.get_by_test_id("why")).to_contain_text("Score 0.95")
    expect(adas.get_by_test_id("why")).to_contain_text("name 1.00, company 0.88, same city")

    # The differing field is marked, in colour and in words; a shared one is not.
    email_row = adas.locator('tr[data-field="email"]')
    expect(email_row.locator("th")).to_contain_text("differs")
    background = "cell => getComputedStyle(cell).backgroundColor"
    marked = email_row.locator("td").first.evaluate(background)
    assert marked == "rgb(255, 244, 214)"  # tokens.json warning-bg
    assert adas.locator('tr[data-field="city"] td').first.evaluate(background) != marked
    expect(adas.locator('tr[data-field="city"] th')).not_to_contain_text("differs")
    assert page.evaluate(UNLABELLED) == []
    shot(page, "clusters-desktop")

    # Pick the other lead's email, and merge.
    other_email = adas.locator(f'input[name="choice.email"][value="{again}"]')
    other_email.check()
    expect(other_email).to_be_checked()
    adas.get_by_role("button", name="Merge 2 leads").click()
    flash = page.get_by_test_id("flash")
    expect(flash).to_contain_text("Merged 1 lead into Ada Lovelace.")
    expect(page.get_by_test_id("cluster")).to_have_count(1)
    expect(page.get_by_test_id("nav-count-duplicates")).to_have_text("1 open")
    shot(page, "merged")

    # The survivor holds the picked value; the merged lead's page leads to it.
    page.goto(f"{console.url}/leads/{again}")
    expect(page).to_have_url(re.compile(f"/leads/{ada}\\?merged_from={again}$"))
    expect(page.get_by_test_id("merged-note")).to_contain_text("was merged into this lead")
    contact = page.locator("#section-contact")
    expect(contact.get_by_role("link", name="countess@engines.example")).to_be_visible()
    expect(page.get_by_test_id("merge-history")).to_contain_text("into this lead")
    assert lead_now(console, ada).email == "countess@engines.example"
    shot(page, "survivor")

    # Undo from the flash: both leads are back, and so is their cluster.
    page.go_back()
    page.get_by_test_id("flash").get_by_role("button", name="Undo").click()
    expect(page.get_by_test_id("flash")).to_contain_text(
        "Merge undone: Ada Lovelace and 1 other lead are apart again."
    )
    expect(page.get_by_test_id("cluster")).to_have_count(2)
    assert lead_now(console, again).merged_into_id is None
    assert lead_now(console, ada).email == "ada@example.com"
    page.get_by_role("link", name="Leads", exact=True).click()
    expect(page.locator("#lead-rows tr").filter(has_text="Ada Lovelace")).to_have_count(2)

    # Not duplicates: the cluster goes, and stays gone.
    page.goto(f"{console.url}/duplicates")
    bobs = page.get_by_test_id("cluster").filter(has_text="Bobby Smith")
    bobs.get_by_role("button", name="Not duplicates").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Marked as not duplicates")
    expect(page.get_by_test_id("cluster")).to_have_count(1)
    expect(page.get_by_test_id("cluster").filter(has_text="Bobby Smith")).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("cluster").filter(has_text="Bobby Smith")).to_have_count(0)

    # On a phone the table scrolls inside its card; the page does not.
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "clusters-360px")


def test_pick_merge_and_undo_work_without_script(chromium: Any, console: ConsoleServer) -> None:
    """The core flow is plain forms: it works with script turned off."""
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    store_cluster(console, [ada, again])
    browser_context = chromium.new_context(java_script_enabled=False)
    page = browser_context.new_page()
    try:
        console.sign_in(page, "editor")
        page.goto(f"{console.url}/duplicates")
        page.locator(f'input[name="survivor"][value="{again}"]').check()
        page.locator(f'input[name="choice.title"][value="{ada}"]').check()
        page.get_by_role("button", name="Merge 2 leads").click()
        expect(page.get_by_test_id("flash")).to_contain_text("Merged 1 lead into Ada Lovelace.")
        kept = lead_now(console, again)
        assert kept.title == "Countess" and lead_now(console, ada).merged_into_id == again
        page.get_by_role("button", name="Undo").click()
        expect(page.get_by_test_id("flash")).to_contain_text("Merge undone")
        assert lead_now(console, ada).merged_into_id is None
    finally:
        browser_context.close()


# --- over HTTP, on each database ------------------------------------------------------


def test_a_cluster_shows_side_by_side_with_its_differences_score_and_reasons(
    any_console: ConsoleServer,
) -> None:
    console = any_console
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    store_cluster(console, [ada, again])
    client = console.client("editor")
    html = client.get("/duplicates").text
    text = visible_text(html)
    assert text.count("Ada Lovelace") >= 2
    assert "Score 0.93" in text and "name 1.00, company 0.88, same city" in text
    assert "Review" in text
    # The rows whose values differ are marked, in words as well as colour;
    # a shared value is not.
    assert rows_marked(html) == {"email", "phone", "company_name", "title", "tags"}
    assert '<tr class="dup-row" data-field="city">' in html
    assert '<tr class="dup-row" data-field="full_name">' in html
    assert html.count('class="dup-flag">differs<') == 5
    # As complete as each other: the older lead is kept by default. Each
    # differing value starts at the kept lead's, unless only the other has one.
    assert checked(html, "survivor") == ada
    assert checked(html, "choice.email") == ada
    assert checked(html, "choice.phone") == again
    # Lists are combined, not picked.
    assert 'name="choice.tags"' not in html and "All kept" in text
    # The menu counts the open cluster.
    assert re.search(r'data-testid="nav-count-duplicates">1<', html)
    assert re.search(r'data-testid="nav-count-duplicates">1<', client.get("/leads").text)
    client.close()


def test_filters_narrow_by_status_and_suggested_action(any_console: ConsoleServer) -> None:
    console = any_console
    ada, again, bob, bobby = console.add_leads(
        [
            ADA,
            ADA_AGAIN,
            {"full_name": "Bob Smith", "email": "bob@example.com"},
            {"full_name": "Bobby Smith", "email": "bobby@example.com"},
        ]
    )
    store_cluster(console, [ada, again], score=0.97, reasons=["same phone"], action="merge")
    store_cluster(console, [bob, bobby], score=0.86, reasons=["name 0.90"])
    client = console.client("viewer")
    everything = client.get("/duplicates").text
    # Highest score first.
    assert everything.index("same phone") < everything.index("name 0.90")
    merge_only = client.get("/duplicates?action=merge").text
    assert "same phone" in merge_only and "name 0.90" not in merge_only
    review_only = client.get("/duplicates?action=review").text
    assert "name 0.90" in review_only and "same phone" not in review_only
    dismissed = client.get("/duplicates?status=dismissed").text
    assert 'data-testid="no-match"' in dismissed
    assert "No possible duplicates were marked as not duplicates." in visible_text(dismissed)
    nothing = visible_text(client.get("/duplicates?status=merged&action=review").text)
    assert "No possible duplicates were merged with “Review” suggested." in nothing
    assert client.get("/duplicates?status=bogus").status_code == 422
    # A viewer reads, and gets no control to change anything.
    assert 'type="radio"' not in everything and "Not duplicates</button>" not in everything
    client.close()


def test_pages_follow_each_other_by_score(
    any_console: ConsoleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = any_console
    monkeypatch.setattr(duplicates, "PAGE_SIZE", 2)
    ids = console.add_leads(
        [{"full_name": f"Person {i}", "email": f"p{i}@x.example"} for i in range(6)]
    )
    for i, score in enumerate((0.91, 0.97, 0.91)):
        store_cluster(console, ids[2 * i : 2 * i + 2], score=score, reasons=[f"reason {i}"])
    client = console.client("viewer")
    first = client.get("/duplicates").text
    # Highest score first; an equal score by id (the older cluster first).
    assert re.findall(r"reason \d", first) == ["reason 1", "reason 0"]
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).text
    assert re.findall(r"reason \d", second) == ["reason 2"]
    assert 'rel="next"' not in second and 'href="/duplicates">First page' in second
    client.close()


def test_the_empty_page_says_how_to_find_duplicates(console: ConsoleServer) -> None:
    client = console.client("editor")
    html = client.get("/duplicates").text
    assert 'data-testid="no-duplicates"' in html
    assert "No possible duplicates." in html and "<code>leadbase dedupe scan</code>" in html
    assert 'data-testid="nav-count-duplicates"' not in html
    assert '<a href="/duplicates" aria-current="page">Duplicates' in html
    # A page past the end says so and leads back.
    past = client.get("/duplicates?cursor=no-such-cluster").text
    assert 'data-testid="no-more"' in past and 'href="/duplicates"' in past
    client.close()


def test_a_cluster_has_its_own_page_and_an_unknown_one_is_a_404(console: ConsoleServer) -> None:
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    cluster_id = store_cluster(console, [ada, again])
    client = console.client("editor")
    html = client.get(f"/duplicates/{cluster_id}").text
    assert "<h1>Possible duplicate</h1>" in html and html.count('data-testid="cluster"') == 1
    assert f'action="/duplicates/{cluster_id}/merge"' in html
    missing = client.get("/duplicates/no-such-cluster")
    assert missing.status_code == 404
    assert "possible duplicate no-such-cluster not found" in missing.text
    assert client.get("/duplicates/" + "x" * 80).status_code == 404
    client.close()


def test_a_lead_deleted_since_the_scan_is_left_out(console: ConsoleServer) -> None:
    ada, again, third = console.add_leads(
        [ADA, ADA_AGAIN, {"full_name": "Ada King", "email": "king@example.com"}]
    )
    store_cluster(console, [ada, again, third])
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        leads_service.soft_delete(uow, third)
    client = console.client("editor")
    html = client.get("/duplicates").text
    assert "Ada King was deleted: it is left out." in visible_text(html)
    assert "Merge 2 leads" in html and f'name="lead" value="{third}"' not in html
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        leads_service.soft_delete(uow, again)
    html = client.get("/duplicates").text
    assert "Nothing is left to merge here." in html and "Merge 1 lead" not in html
    assert ">Dismiss</button>" in html  # it can still be cleared away
    client.close()


def test_hostile_values_in_a_cluster_render_as_text(console: ConsoleServer) -> None:
    script = "<script>alert(1)</script>"
    ada, again = console.add_leads(
        [{**ADA, "full_name": script}, {**ADA_AGAIN, "title": '"><img src=x onerror=alert(1)>'}]
    )
    store_cluster(console, [ada, again], reasons=[script])
    html = console.client("editor").get("/duplicates").text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def merge_form(html: str) -> dict[str, Any]:
    """What a browser would post from the first cluster's form, untouched."""
    form: dict[str, Any] = {"lead": re.findall(r'name="lead" value="([^"]+)"', html)}
    for name, value in re.findall(r'name="(version\.[^"]+)" value="(\d+)"', html):
        form[name] = value
    form["return_to"] = re.search(r'name="return_to" value="([^"]*)"', html).group(1)
    for name in set(re.findall(r'name="((?:survivor|choice\.\w+))"', html)):
        form[name] = checked(html, name)
    return form


def test_merge_keeps_the_picked_values_and_undo_puts_both_back(any_console: ConsoleServer) -> None:
    console = any_console
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    cluster_id = store_cluster(console, [ada, again])
    client = console.client("editor")
    form = merge_form(client.get("/duplicates?action=review").text)
    assert form["lead"] == [ada, again] and form["return_to"] == "/duplicates?action=review"
    form["choice.email"] = again  # the other lead's address, picked by hand
    answer = client.post(f"/duplicates/{cluster_id}/merge", form)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/duplicates?action=review&done=merged&merge=")
    kept, merged = lead_now(console, ada), lead_now(console, again)
    assert merged.merged_into_id == ada and kept.merged_into_id is None
    assert kept.email == "countess@engines.example"  # picked
    assert kept.phone == "+442079460958"  # only the other had one
    assert kept.title == "Countess" and kept.additional_emails == ["ada@example.com"]
    assert set(kept.tags or []) == {"vip", "math"}
    assert kept.updated_by == "user:editor@example.com"
    assert cluster_row(console, cluster_id).status == "merged"

    # The flash says so, links both leads, and carries the Undo.
    html = client.get(location).text
    flash = re.search(r'data-testid="flash">(.*?)</div>', html, re.S).group(1)
    assert "Merged 1 lead into Ada Lovelace." in visible_text(flash)
    assert f'<a href="/leads/{ada}">Open the kept lead</a>' in flash
    assert ">Undo</button>" in flash
    assert 'data-testid="cluster"' not in html  # no open cluster left
    assert 'data-testid="nav-count-duplicates"' not in html
    # Dismissing what was just merged is refused in words.
    late = client.post(f"/duplicates/{cluster_id}/dismiss", {"return_to": "/duplicates"})
    assert late.headers["location"] == "/duplicates?error=decided"
    merge_id = location.rsplit("=", 1)[1]
    undo = {"merge_id": merge_id, "return_to": "/duplicates?action=review"}
    answer = client.post("/duplicates/unmerge", undo)
    assert answer.headers["location"] == (
        f"/duplicates?action=review&done=unmerged&merge={merge_id}"
    )
    assert lead_now(console, again).merged_into_id is None
    back = lead_now(console, ada)
    assert (back.email, back.phone, back.additional_emails) == ("ada@example.com", None, None)
    html = client.get(answer.headers["location"]).text
    assert "Merge undone: Ada Lovelace and 1 other lead are apart again." in visible_text(html)
    assert f'href="/leads/{again}"' in html and f'href="/leads/{ada}"' in html
    assert ">Undo</button>" not in html
    # The cluster is open again, for a person to decide.
    assert cluster_row(console, cluster_id).status == "open"
    assert html.count('data-testid="cluster"') == 1
    # A second Undo of the same merge is refused in words.
    again_undo = client.post("/duplicates/unmerge", undo).headers["location"]
    assert again_undo.endswith("error=undone")
    assert "That merge was already undone." in client.get(again_undo).text
    client.close()


def test_dismiss_is_remembered_and_a_stale_merge_is_refused(any_console: ConsoleServer) -> None:
    console = any_console
    ada, again, bob, bobby = console.add_leads(
        [
            ADA,
            ADA_AGAIN,
            {"full_name": "Bob Smith", "email": "bob@example.com"},
            {"full_name": "Bobby Smith", "email": "bobby@example.com"},
        ]
    )
    bobs = store_cluster(console, [bob, bobby], reasons=["name 0.90"])
    adas = store_cluster(console, [ada, again])
    client = console.client("editor")
    answer = client.post(f"/duplicates/{bobs}/dismiss", {"return_to": "/duplicates"})
    assert answer.headers["location"] == "/duplicates?done=dismissed"
    html = client.get(answer.headers["location"]).text
    assert "Marked as not duplicates" in html and "name 0.90" not in html
    assert cluster_row(console, bobs).status == "dismissed"
    with console.database.read_session() as session:
        assert dedupe_repository.dismissed_pairs(session, [bob]) == {tuple(sorted([bob, bobby]))}
    assert "name 0.90" in client.get("/duplicates?status=dismissed").text

    # Someone edits a lead after the page was read: the merge is refused,
    # nothing changes, and the page says why.
    form = merge_form(client.get(f"/duplicates/{adas}").text)
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        leads_service.update(uow, again, {"title": "Analyst"})
    refused = client.post(f"/duplicates/{adas}/merge", form).headers["location"]
    assert refused == f"/duplicates/{adas}?error=conflict"
    assert "Someone changed these leads" in client.get(refused).text
    assert lead_now(console, again).merged_into_id is None
    # A survivor that is not one of the leads shown is no merge at all.
    bad = client.post(f"/duplicates/{adas}/merge", {**form, "survivor": bob})
    assert bad.headers["location"].endswith("error=invalid")
    bad = client.post(f"/duplicates/{adas}/merge", {**form, "lead": [ada, bob], "survivor": ada})
    assert bad.headers["location"].endswith("error=invalid")
    assert cluster_row(console, adas).status == "open"
    client.close()


def test_viewers_and_forged_posts_change_nothing(console: ConsoleServer) -> None:
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    cluster_id = store_cluster(console, [ada, again])
    form = {"lead": [ada, again], "survivor": ada, "return_to": "/duplicates"}
    viewer = console.client("viewer")
    assert viewer.post(f"/duplicates/{cluster_id}/merge", form).status_code == 403
    assert viewer.post(f"/duplicates/{cluster_id}/dismiss").status_code == 403
    viewer.close()
    editor = console.client("editor")
    assert editor.http.post(f"/duplicates/{cluster_id}/merge", data=form).status_code == 403
    assert editor.http.post(f"/duplicates/{cluster_id}/dismiss", data={}).status_code == 403
    assert editor.post("/duplicates/no-such-cluster/dismiss").status_code == 404
    assert editor.post("/duplicates/unmerge", {"merge_id": "../x"}).status_code == 422
    assert editor.post("/duplicates/unmerge", {"merge_id": "nope"}).status_code == 404
    editor.close()
    assert cluster_row(console, cluster_id).status == "open"
    assert lead_now(console, again).merged_into_id is None


def test_the_lead_page_shows_possible_duplicates_merge_history_and_follows_a_merge(
    any_console: ConsoleServer,
) -> None:
    console = any_console
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    cluster_id = store_cluster(console, [ada, again])
    client = console.client("editor")
    html = client.get(f"/leads/{ada}").text
    possible = re.search(r'data-testid="possible-duplicates"(.*?)</section>', html, re.S).group(1)
    assert f'href="/leads/{again}"' in possible and f'href="/duplicates/{cluster_id}"' in possible
    assert "Review · score 0.93 · name 1.00, company 0.88, same city" in visible_text(possible)
    assert 'data-testid="merge-history"' not in html

    form = merge_form(client.get(f"/duplicates/{cluster_id}").text)
    client.post(f"/duplicates/{cluster_id}/merge", form)
    # The merged lead's page goes on to the lead it went into, and says so.
    answer = client.get(f"/leads/{again}")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/leads/{ada}?merged_from={again}"
    html = client.get(answer.headers["location"]).text
    note = re.search(r'data-testid="merged-note">(.*?)</p>', html, re.S).group(1)
    assert "Ada Lovelace was merged into this lead" in visible_text(note)
    assert f'href="/leads/{again}?follow=no"' in note
    assert 'data-testid="possible-duplicates"' not in html
    history = re.search(r'data-testid="merge-history"(.*?)</section>', html, re.S).group(1)
    assert "Merged Ada Lovelace into this lead" in visible_text(history)
    assert "by editor@example.com" in visible_text(history)
    assert "Undo merge</button>" in history
    # A merged_from that was not merged here shows no note.
    assert 'data-testid="merged-note"' not in client.get(f"/leads/{ada}?merged_from={ada}").text
    own = client.get(f"/leads/{again}?follow=no").text
    assert "was merged into" in own and "Merged into" in own and "Undo merge" in own

    # Undo from the lead page: back on it, both leads apart again.
    merge_id = re.search(r'name="merge_id" value="([^"]+)"', history).group(1)
    answer = client.post("/duplicates/unmerge", {"merge_id": merge_id, "back": "lead"})
    assert answer.headers["location"] == f"/leads/{ada}?notice=unmerged"
    html = client.get(answer.headers["location"]).text
    assert "Merge undone: the merged leads are back on their own." in html
    assert client.get(f"/leads/{again}").status_code == 200
    history = re.search(r'data-testid="merge-history"(.*?)</section>', html, re.S).group(1)
    assert "Undone by editor@example.com" in visible_text(history)
    assert "Undo merge</button>" not in history
    # Undoing it again from the lead page is an error page saying why.
    twice = client.post("/duplicates/unmerge", {"merge_id": merge_id, "back": "lead"})
    assert twice.status_code == 409 and "undone already" in twice.text
    client.close()


def test_a_merge_changed_since_cannot_be_undone_from_the_lead_page(
    console: ConsoleServer,
) -> None:
    ada, again = console.add_leads([ADA, ADA_AGAIN])
    cluster_id = store_cluster(console, [ada, again])
    client = console.client("editor")
    form = merge_form(client.get("/duplicates").text)
    merged = client.post(f"/duplicates/{cluster_id}/merge", form).headers["location"]
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        leads_service.update(uow, ada, {"city": "Paris"})
    html = client.get(f"/leads/{ada}").text
    assert "Undo merge</button>" not in html
    assert "This lead changed after the merge" in html
    # The flash's Undo says it in words too.
    merge_id = merged.rsplit("=", 1)[1]
    refused = client.post("/duplicates/unmerge", {"merge_id": merge_id, "return_to": "/duplicates"})
    assert refused.headers["location"] == "/duplicates?error=undo-refused"
    assert "cannot be undone" in client.get(refused.headers["location"]).text
    assert lead_now(console, again).merged_into_id == ada
    client.close()


def test_only_the_latest_merge_of_a_lead_is_undone(console: ConsoleServer) -> None:
    ada, again, third = console.add_leads(
        [ADA, ADA_AGAIN, {"full_name": "Ada King", "email": "king@example.com"}]
    )
    first = store_cluster(console, [ada, again])
    second = store_cluster(console, [ada, third], reasons=["name 0.86"])
    client = console.client("editor")
    form = merge_form(client.get(f"/duplicates/{first}").text)
    first_merge = client.post(f"/duplicates/{first}/merge", {**form, "survivor": ada})
    form = merge_form(client.get(f"/duplicates/{second}").text)
    client.post(f"/duplicates/{second}/merge", {**form, "survivor": ada})
    undo = {"merge_id": first_merge.headers["location"].rsplit("=", 1)[1]}
    refused = client.post("/duplicates/unmerge", {**undo, "return_to": "/duplicates"})
    assert refused.headers["location"] == "/duplicates?error=not-latest"
    assert "a later merge of the same lead" in client.get(refused.headers["location"]).text
    # Nothing was undone: both merges stand.
    assert lead_now(console, again).merged_into_id == ada
    assert lead_now(console, third).merged_into_id == ada
    history = client.get(f"/leads/{ada}").text
    assert history.count('data-testid="merge-item"') == 2
    assert history.count("Undo merge</button>") == 1  # the latest one's
    client.close()


# --- the pieces -------------------------------------------------------------------------


def test_the_return_path_stays_on_the_duplicates_pages() -> None:
    assert duplicates.safe_return("/duplicates?status=merged") == "/duplicates?status=merged"
    assert duplicates.safe_return("/duplicates/abc") == "/duplicates/abc"
    for bad in ("https://evil.example/duplicates", "//evil.example", "/leads", None, "/x" * 2000):
        assert duplicates.safe_return(bad) == "/duplicates"
    location = duplicates.back_to("/duplicates?action=merge&done=x", done="dismissed")
    assert location.headers["location"] == "/duplicates?action=merge&done=dismissed"
