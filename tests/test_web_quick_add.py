"""Quick-add on /leads and the live enrichment status of the list's rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from leadbase import context
from leadbase.enrichment.breaker import BREAKERS
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import Job, SalesLead
from leadbase.web import quick_add
from tests.browser import USERS, ConsoleServer, SignedInClient
from tests.enrichment_servers import DnsServer, WebServer

Internet = tuple[DnsServer, WebServer]


@pytest.fixture
def internet() -> Iterator[Internet]:
    """This test's DNS (acmerobotics.io has mail) and a webhook server: the
    enrichment providers never reach the real network."""
    BREAKERS.clear()
    records = {"acmerobotics.io": {"MX": ["10 mx.acmerobotics.io."]}}
    with DnsServer(records) as dns, WebServer() as web:
        yield dns, web
    BREAKERS.clear()


def _enriching(dns: DnsServer, **more: Any) -> dict[str, Any]:
    """Settings of a server that runs enrichment jobs on its own threads."""
    return {
        "jobs_in_server": True,
        "enrichment_providers": ["email", "person", "company"],
        "dns_nameservers": ["127.0.0.1"],
        "dns_port": dns.port,
        "enrichment_timeout_seconds": 3,
        **more,
    }


def _post_json(client: SignedInClient, body: Any, *, csrf: bool = True) -> httpx.Response:
    """What quick_add.js sends: JSON, with the CSRF token in a header."""
    headers = {"Accept": "application/json"}
    if csrf:
        headers["X-CSRF-Token"] = client.csrf_token
    return client.http.post("/leads/quick-add", json=body, headers=headers)


def _count(console: ConsoleServer, table: type[Any]) -> int:
    with console.database.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _lead(console: ConsoleServer, lead_id: str) -> SalesLead:
    with console.database.read_session() as session:
        lead = leads_repository.get(session, lead_id)
    assert lead is not None
    return lead


# --- the endpoints, over HTTP ------------------------------------------------------------


def test_quick_add_answers_with_the_new_row_and_queues_enrichment(
    console: ConsoleServer,
) -> None:
    client = console.client("editor")
    answer = _post_json(
        client, {"email": " Jane.Doe@AcmeRobotics.io ", "domain": "acmerobotics.io", "name": ""}
    )
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    assert answer.json()["success"] is True
    row = data["row_html"]
    assert row.startswith(f'<tr data-lead-id="{data["id"]}" data-enrichment-status="in_progress"')
    assert '<span class="badge badge-in_progress">in progress</span>' in row
    assert "jane.doe@acmerobotics.io" in row and 'name="ids"' in row  # the editor's checkbox
    lead = _lead(console, data["id"])
    assert (lead.email, lead.company_domain, lead.full_name) == (
        "jane.doe@acmerobotics.io",
        "acmerobotics.io",
        None,
    )
    assert (
        lead.is_manual and lead.source == "manual" and lead.created_by == f"user:{USERS['editor']}"
    )
    # This server runs no jobs: the enrichment job waits in the queue, committed with the lead.
    with console.database.read_session() as session:
        job = session.get(Job, lead.enrichment_task_id)
    assert job is not None and job.status == "queued"
    client.close()


def test_quick_add_refuses_bad_input_by_field_and_writes_nothing(console: ConsoleServer) -> None:
    client = console.client("editor")
    first = _post_json(client, {"email": "ann@example.com"})
    assert first.status_code == 201
    leads, jobs = _count(console, SalesLead), _count(console, Job)

    cases = {
        "no email": ({"name": "Nobody"}, 422, "email", "Enter the lead's email address."),
        "bad email": ({"email": "not an email"}, 422, "email", None),
        "bad domain": ({"email": "bo@example.com", "domain": "not a domain"}, 422, "domain", None),
        "duplicate": (
            {"email": "ANN@example.com"},
            409,
            "email",
            "A lead with this email already exists.",
        ),
    }
    for case, (body, status, field, message) in cases.items():
        answer = _post_json(client, body)
        assert answer.status_code == status, (case, answer.text)
        detail = answer.json()["details"][0]
        assert answer.json()["success"] is False and detail["field"] == field, (case, detail)
        if message is not None:
            assert detail["message"] == message
    duplicate = _post_json(client, {"email": "ann@example.com"}).json()["details"][0]
    assert duplicate["existing_id"] == first.json()["data"]["id"]
    for body in (b"[1, 2]", b"{not json"):
        not_json = client.http.post(
            "/leads/quick-add",
            content=body,
            headers={"X-CSRF-Token": client.csrf_token, "Accept": "application/json"},
        )
        assert not_json.status_code == 422 and not_json.json()["details"][0]["field"] is None

    # Without the CSRF token, or as a viewer, nothing is added either.
    assert _post_json(client, {"email": "eve@example.com"}, csrf=False).status_code == 403
    viewer = console.client("viewer")
    refused = _post_json(viewer, {"email": "eve@example.com"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert (_count(console, SalesLead), _count(console, Job)) == (leads, jobs)
    viewer.close()
    client.close()


def test_quick_add_names_a_likely_duplicate_and_why(console: ConsoleServer) -> None:
    """A lead typed in before without an email, the same person added by
    email now: refused with the existing lead and the evidence."""
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        existing = leads_service.create(
            uow,
            {
                "full_name": "Jane Whitfield",
                "company_domain": "acme-robotics.com",
                "company_name": "Acme Robotics",
            },
        )
    client = console.client("editor")
    answer = _post_json(
        client,
        {"email": "jane@acme-robotics.com", "name": "Jane Whitfeld", "domain": "acme-robotics.com"},
    )
    assert answer.status_code == 409, answer.text
    detail = answer.json()["details"][0]
    assert detail["existing_id"] == existing.lead_id and detail["field"] is None
    assert detail["message"].startswith("This looks like a lead you already have (name 0.")
    client.close()


def test_the_form_works_without_script(console: ConsoleServer) -> None:
    client = console.client("editor")
    added = client.post("/leads/quick-add", {"email": "plain@example.com", "name": "Plain Form"})
    assert added.status_code == 303 and added.headers["location"] == "/leads"
    with console.database.read_session() as session:
        ids = leads_repository.ids_by_email(session, ["plain@example.com"])
    assert _lead(console, ids["plain@example.com"]).full_name == "Plain Form"
    again = client.post("/leads/quick-add", {"email": "plain@example.com"})
    assert again.status_code == 409 and "text/html" in again.headers["content-type"]
    assert "already exists" in again.text and _count(console, SalesLead) == 1
    client.close()


def test_the_form_on_leads_is_for_editors_only(console: ConsoleServer) -> None:
    for role in ("editor", "viewer"):
        client = console.client(role)
        page = client.get("/leads").text
        client.close()
        assert ('id="quick-add-form"' in page) is (role == "editor"), role
        assert 'aria-live="polite" data-role="status-announcer"' in page  # everyone hears changes
        if role == "editor":
            for field, label in (
                ("email", "Email"),
                ("domain", "Company domain"),
                ("name", "Name"),
            ):
                assert f'<label for="quick-add-{field}">{label}' in page


def test_status_answers_each_leads_status_and_row(console: ConsoleServer) -> None:
    waiting, done = console.add_leads(
        [
            {"email": "wait@example.com", "enrichment_status": "in_progress"},
            {"email": "done@example.com", "enrichment_status": "completed"},
        ]
    )
    viewer = console.client("viewer")
    answer = viewer.get(f"/leads/status?ids={waiting},{done},{waiting},no-such-lead,")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    statuses = answer.json()["data"]
    assert set(statuses) == {waiting, done}
    assert statuses[waiting]["enrichment_status"] == "in_progress"
    assert statuses[done]["enrichment_status"] == "completed"
    assert 'data-enrichment-status="completed"' in statuses[done]["row_html"]
    assert 'name="ids"' not in statuses[done]["row_html"]  # no checkbox for a viewer
    assert viewer.get("/leads/status").json()["data"] == {}

    too_many = ",".join(f"id{n}" for n in range(quick_add.MAX_STATUS_IDS + 1))
    refused = viewer.get(f"/leads/status?ids={too_many}", headers={"Accept": "application/json"})
    assert refused.status_code == 422 and "at most 200" in refused.json()["message"]
    bad = viewer.get("/leads/status?ids=a'b", headers={"Accept": "application/json"})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "ids"
    viewer.close()
    stranger = console.client(None).get(
        f"/leads/status?ids={waiting}", headers={"Accept": "application/json"}
    )
    assert stranger.status_code == 401


# --- in the browser -----------------------------------------------------------------------


def _row(page: Any, email: str) -> Any:
    return page.locator("#lead-rows tr", has_text=email)


# The list asks about rows in progress every 100-300 ms here, not after 1 s growing
# to 30 s: a test waits for a change only as long as the change takes.
FAST_POLLING = "window.leadbaseStatusPolling = {firstDelay: 100, maxDelay: 300}"


def _add(page: Any, email: str, **fields: str) -> None:
    """Quick-add in its dialog, opened from the list's "+ Add lead" button."""
    if not page.locator("#quick-add-dialog").is_visible():
        page.get_by_role("button", name="+ Add lead").click()
    form = page.locator("#quick-add-form")
    form.get_by_label("Email").fill(email)
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    form.get_by_role("button", name="Add lead").click()


def test_quick_add_shows_the_row_at_once_and_it_turns_completed_without_a_reload(
    console_factory: Callable[..., ConsoleServer], internet: Internet, page: Any, shot: Any
) -> None:
    dns, _ = internet
    console = console_factory(**_enriching(dns))
    console.add_leads([{"email": "older@example.com", "enrichment_status": "completed"}])
    page.add_init_script(FAST_POLLING)
    console.sign_in(page, "editor")
    page.evaluate("window.__marker = 1")

    _add(page, "Jane.Doe@AcmeRobotics.io", **{"Company domain": "acmerobotics.io"})
    row = _row(page, "jane.doe@acmerobotics.io")
    expect(row).to_have_count(1)
    expect(page.locator("#lead-rows tr").first).to_contain_text("jane.doe@acmerobotics.io")
    email = page.locator("#quick-add-form").get_by_label("Email")
    expect(email).to_have_value("")  # the form is cleared
    expect(page.locator("#quick-add-dialog")).to_be_hidden()  # the new row shows
    shot(page, "added")
    expect(row).to_have_attribute("data-enrichment-status", "completed", timeout=15_000)
    expect(row.locator(".badge-completed")).to_have_text("completed")
    expect(row).to_contain_text("Jane Doe")  # the person provider's name, in the new row
    expect(page.locator('[data-role="status-announcer"]')).to_contain_text("Jane Doe: enriched.")
    shot(page, "enriched")

    # A duplicate is refused next to the email field and adds no row.
    _add(page, "jane.doe@acmerobotics.io")
    error = page.locator("#quick-add-email-error")
    expect(error).to_contain_text("A lead with this email already exists.")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#lead-rows tr")).to_have_count(2)
    shot(page, "duplicate")
    assert page.evaluate("window.__marker") == 1  # the page never navigated


def test_a_failed_enrichment_turns_the_row_failed(
    console_factory: Callable[..., ConsoleServer], internet: Internet, page: Any
) -> None:
    dns, web = internet
    # The only provider answers 500 and is not retried: nothing succeeds, the lead fails.
    broken = web.answer_webhook("broken", {"error": "down"}, status=500)
    console = console_factory(
        **_enriching(
            dns,
            enrichment_providers=["webhook"],
            enrichment_webhook_url=broken,
            enrichment_retries=0,
        )
    )
    page.add_init_script(FAST_POLLING)
    console.sign_in(page, "editor")
    page.evaluate("window.__marker = 1")
    _add(page, "bob@example.com")
    row = _row(page, "bob@example.com")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-enrichment-status", "failed", timeout=15_000)
    expect(row.locator(".badge-failed")).to_have_text("failed")
    assert page.evaluate("window.__marker") == 1


def test_any_row_in_progress_follows_its_lead_and_keeps_its_checkbox(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    """Not only quick-added rows: a lead being enriched elsewhere (here by a
    write from the test) changes on the page when it finishes."""
    lead_id, done_id = console.add_leads(
        [
            {"email": "slow@example.com", "enrichment_status": "in_progress"},
            {"email": "done@example.com", "enrichment_status": "completed"},
        ]
    )
    page.add_init_script(FAST_POLLING)
    console.sign_in(page, "editor")
    page.evaluate("window.__marker = 1")
    row = page.locator(f'tr[data-lead-id="{lead_id}"]')
    row.get_by_role("checkbox").check()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/leads/status" in r.url else None)

    def finish() -> None:
        time.sleep(0.6)  # a few polls find the lead still in progress
        with context.acting_as("system:enrichment"), console.database.unit_of_work() as uow:
            changes = {"enrichment_status": "completed", "full_name": "Sally Slow"}
            leads_service.update(uow, lead_id, changes)

    worker = threading.Thread(target=finish)
    worker.start()
    expect(row).to_have_attribute("data-enrichment-status", "completed", timeout=10_000)
    worker.join()
    expect(row.locator("a.lead-link")).to_have_text("Sally Slow")
    expect(row.get_by_role("checkbox")).to_be_checked()
    expect(page.locator('[data-role="status-announcer"]')).to_have_text("Sally Slow: enriched.")
    shot(page, "finished")
    # Only the row in progress was asked about, and asking stops once none is left.
    assert requests and all(lead_id in url and done_id not in url for url in requests)
    asked = len(requests)
    page.wait_for_timeout(1200)  # four times the longest gap between polls
    assert len(requests) == asked
    assert page.evaluate("window.__marker") == 1
