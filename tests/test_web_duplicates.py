"""The console's /duplicates: stored clusters side by side with the differing
fields marked, score and reasons, filters, empty and error states; merge with
picked values, dismiss, undo; the lead page's possible duplicates and merge
history, and a merged lead's page following it to the survivor. Server-side
checks run on SQLite, PostgreSQL and MariaDB; the whole flow in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from leadbase import context
from leadbase.dedupe import repository as dedupe_repository
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import DuplicateCluster, SalesLead
from leadbase.web import duplicates
from tests import dbs
from tests.browser import ConsoleServer

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


# --- the pieces -------------------------------------------------------------------------


def test_the_return_path_stays_on_the_duplicates_pages() -> None:
    assert duplicates.safe_return("/duplicates?status=merged") == "/duplicates?status=merged"
    assert duplicates.safe_return("/duplicates/abc") == "/duplicates/abc"
    for bad in ("https://evil.example/duplicates", "//evil.example", "/leads", None, "/x" * 2000):
        assert duplicates.safe_return(bad) == "/duplicates"
    location = duplicates.back_to("/duplicates?action=merge&done=x", done="dismissed")
    assert location.headers["location"] == "/duplicates?action=merge&done=dismissed"
