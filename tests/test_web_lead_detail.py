"""The console's lead page, /leads/{id}: edit with validation, stale edits
(reload or overwrite), the audit trail, delete and restore, viewers, and
narrow screens; plus cheaper checks over plain HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from leadbase import context
from leadbase.leads import repository
from leadbase.leads import service as leads_service
from leadbase.leads.schemas import LEAD_FIELDS
from leadbase.models import SalesLead
from leadbase.web import lead_detail
from tests.browser import ConsoleServer

IDENTITY = ("full_name", "first_name", "last_name", "email")
ADA = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "company_name": "Analytical Engines",
    "city": "London",
    "tags": ["vip", "math"],
}


def lead_now(console: ConsoleServer, lead_id: str) -> SalesLead:
    with console.database.read_session() as session:
        lead = repository.get(session, lead_id, include_deleted=True)
        assert lead is not None
        return lead


def change_behind_its_back(console: ConsoleServer, lead_id: str, changes: dict[str, Any]) -> None:
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        leads_service.update(uow, lead_id, changes)


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":")


def open_lead(page: Any, console: ConsoleServer, lead_id: str) -> None:
    page.goto(f"{console.url}/leads/{lead_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


# --- in the browser ---------------------------------------------------------------


def test_an_invalid_edit_is_refused_next_to_its_field_then_saved_and_audited(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads([ADA])
    console.sign_in(page, "editor")
    open_lead(page, console, lead_id)
    email = page.get_by_label("Email", exact=True)
    expect(email).to_have_value("ada@example.com")
    email.fill("ada at example")
    page.get_by_label("Job title").fill("Countess")
    page.get_by_role("button", name="Save changes").click()

    # Refused: the message sits next to the field, what was typed stays.
    error = page.locator("#f-email-error")
    expect(error).to_contain_text("not a valid email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", "f-email-error")
    expect(email).to_have_value("ada at example")
    expect(page.get_by_label("Job title")).to_have_value("Countess")
    shot(page, "invalid-email")
    lead = lead_now(console, lead_id)
    assert (lead.email, lead.title, lead.version) == ("ada@example.com", None, 1)

    email.fill("ada@lovelace.example")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    expect(page.get_by_label("Email", exact=True)).to_have_value("ada@lovelace.example")
    lead = lead_now(console, lead_id)
    assert (lead.email, lead.title, lead.version) == ("ada@lovelace.example", "Countess", 2)
    assert lead.updated_by == "user:editor@example.com"

    # The newest audit entry comes first and opens to show who, where, and what.
    newest = page.get_by_test_id("audit-entry").first
    expect(newest).to_contain_text("update by user:editor@example.com")
    newest.locator("summary").click()
    expect(newest).to_contain_text("127.0.0.1")
    changes = newest.locator(".diff-list li")
    expect(changes).to_have_count(2)  # only the fields the user changed
    expect(changes.filter(has_text="email")).to_contain_text(
        "ada@example.com → ada@lovelace.example"
    )
    expect(changes.filter(has_text="title")).to_contain_text("(empty) → Countess")
    expect(page.get_by_test_id("timeline").locator("li").first).to_contain_text("updated")
    shot(page, "saved-with-history")


def test_a_stale_edit_shows_the_other_change_and_can_overwrite_or_reload(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads([ADA])
    console.sign_in(page, "editor")
    open_lead(page, console, lead_id)
    page.get_by_label("City").fill("Paris")
    change_behind_its_back(console, lead_id, {"title": "CTO", "city": "Berlin"})
    page.get_by_role("button", name="Save changes").click()

    warning = page.get_by_test_id("conflict")
    expect(warning).to_contain_text("Changed by user:admin@example.com at")
    expect(warning).to_contain_text("reload or overwrite")
    theirs = page.get_by_test_id("their-changes")
    expect(theirs).to_contain_text("title: (empty) → CTO")
    expect(theirs).to_contain_text("city: London → Berlin")
    # What the user typed is kept; the field they left alone shows the new value.
    expect(page.get_by_label("City")).to_have_value("Paris")
    expect(page.get_by_label("Job title")).to_have_value("CTO")
    expect(warning.get_by_role("link", name="Reload")).to_be_visible()
    shot(page, "conflict")
    assert lead_now(console, lead_id).city == "Berlin"

    warning.get_by_role("button", name="Overwrite").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    lead = lead_now(console, lead_id)
    # Neither change is lost: their title stays, the user's city wins.
    assert (lead.city, lead.title, lead.version) == ("Paris", "CTO", 3)

    # Again, and this time reload: the typed value is dropped, nothing written.
    page.get_by_label("Company name").fill("Babbage & Co")
    change_behind_its_back(console, lead_id, {"industry": "Computing"})
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("their-changes")).to_contain_text("industry: (empty) → Computing")
    page.get_by_test_id("conflict").get_by_role("link", name="Reload").click()
    expect(page.get_by_test_id("conflict")).to_have_count(0)
    expect(page.get_by_label("Company name")).to_have_value("Analytical Engines")
    expect(page.get_by_label("Industry")).to_have_value("Computing")
    assert lead_now(console, lead_id).company_name == "Analytical Engines"


def test_delete_and_restore_from_the_page_and_it_fits_360px(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    long_word = "x" * 300
    [lead_id] = console.add_leads(
        [{**ADA, "notes": f"{long_word}\nsecond line", "company_name": "Very" + long_word[:200]}]
    )
    console.sign_in(page, "editor")
    page.set_viewport_size({"width": 360, "height": 800})
    open_lead(page, console, lead_id)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "editor-360px")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete lead").click()
    banner = page.get_by_test_id("deleted-banner")
    expect(banner).to_contain_text("deleted by user:editor@example.com")
    expect(page.get_by_test_id("notice")).to_contain_text("Lead deleted.")
    # A deleted lead is shown, not edited: restore it first.
    expect(page.locator("#lead-form")).to_have_count(0)
    assert lead_now(console, lead_id).is_deleted
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "deleted-360px")

    banner.get_by_role("button", name="Restore").click()
    expect(page.get_by_test_id("notice")).to_have_text("Lead restored.")
    expect(page.get_by_test_id("deleted-banner")).to_have_count(0)
    assert not lead_now(console, lead_id).is_deleted
    expect(page.get_by_test_id("audit-entry").first).to_contain_text("restore by user:editor")


def test_a_viewer_reads_everything_and_changes_nothing(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads([{**ADA, "notes": "met at the Royal Society"}])
    console.sign_in(page, "viewer")
    open_lead(page, console, lead_id)
    fields = page.locator("dl.fields").first
    expect(fields).to_contain_text("Ada Lovelace")
    expect(page.locator("main")).to_contain_text("met at the Royal Society")
    expect(page.locator("main").locator("input, select, textarea, button")).to_have_count(0)
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "viewer-360px")

    viewer = console.client("viewer")
    edit = {"version": "1", "seen_seq": "0", "was.city": "London", "city": "Paris"}
    assert viewer.post(f"/leads/{lead_id}", edit).status_code == 403
    assert viewer.post(f"/leads/{lead_id}/delete").status_code == 403
    viewer.close()
    lead = lead_now(console, lead_id)
    assert (lead.city, lead.is_deleted, lead.version) == ("London", False, 1)


# --- over plain HTTP --------------------------------------------------------------


def test_an_unknown_lead_is_a_404_page(console: ConsoleServer) -> None:
    client = console.client("editor")
    answer = client.get("/leads/no-such-lead")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "lead no-such-lead not found" in answer.text
    assert client.post("/leads/no-such-lead/restore").status_code == 404
    client.close()


def test_a_post_without_the_csrf_token_is_refused(console: ConsoleServer) -> None:
    [lead_id] = console.add_leads([ADA])
    client = console.client("editor")
    form = {"version": "1", "seen_seq": "0", "was.city": "London", "city": "Paris"}
    assert client.http.post(f"/leads/{lead_id}", data=form).status_code == 403
    assert client.http.post(f"/leads/{lead_id}/delete", data={}).status_code == 403
    lead = lead_now(console, lead_id)
    assert (lead.city, lead.is_deleted) == ("London", False)
    # With it, the same post saves.
    assert client.post(f"/leads/{lead_id}", form).headers["location"].endswith("notice=saved")
    assert lead_now(console, lead_id).city == "Paris"
    client.close()


def test_hostile_values_render_as_text(console: ConsoleServer) -> None:
    script, breakout = "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'
    [lead_id] = console.add_leads(
        [
            {
                "full_name": script,
                "company_name": breakout,
                "notes": script + breakout,
                "tags": [breakout],
                "raw_data": {"x": script},
            }
        ]
    )
    for role in ("editor", "viewer"):
        client = console.client(role)
        html = client.get(f"/leads/{lead_id}").text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        client.close()


def test_every_lead_field_is_on_the_page() -> None:
    shown_as_json = {name for name, _ in lead_detail.JSON_FIELDS}
    assert set(lead_detail.FORM_FIELDS) | shown_as_json == set(LEAD_FIELDS)
    assert not set(lead_detail.FORM_FIELDS) & shown_as_json


def test_the_form_shows_each_field_with_its_own_input(console: ConsoleServer) -> None:
    [lead_id] = console.add_leads(
        [{**ADA, "email_verified": True, "lead_score": 42, "lead_status": "qualified"}]
    )
    client = console.client("editor")
    html = client.get(f"/leads/{lead_id}").text
    for name in lead_detail.FORM_FIELDS:
        assert f'name="{name}"' in html and f'name="was.{name}"' in html, name
    assert re.search(r'<textarea rows="6" id="f-notes" name="notes"', html)
    assert '<option value="qualified" selected>' in html
    assert re.search(r'type="checkbox" value="true" id="f-email_verified"[^>]*checked', html)
    assert 'type="number" min="0" max="100"' in html and 'value="42"' in html
    assert 'value="vip, math"' in html
    client.close()


def test_lists_checkboxes_and_numbers_are_saved_and_untouched_fields_are_not_sent(
    console: ConsoleServer,
) -> None:
    [lead_id] = console.add_leads([ADA])
    client = console.client("editor")
    form = {
        "version": "1",
        "seen_seq": "0",
        "was.tags": "vip, math",
        "tags": "vip, logic ,, ",
        "was.verified": "",
        "verified": "true",
        "was.lead_score": "",
        "lead_score": "77",
        "was.notes": "",
        "notes": "line one\r\nline two",
        "was.city": "London",
        "city": "London",
    }
    assert client.post(f"/leads/{lead_id}", form).status_code == 303
    lead = lead_now(console, lead_id)
    assert lead.tags == ["vip", "logic"] and lead.verified and lead.lead_score == 77
    assert lead.notes == "line one\nline two"
    with console.database.read_session() as session:
        events = repository.events_for(session, lead_id)
    assert events[-1].changed_fields == ["lead_score", "notes", "tags", "verified"]
    # Nothing changed: nothing written.
    same = {"version": "2", "seen_seq": "0", "was.city": "London", "city": "London"}
    assert client.post(f"/leads/{lead_id}", same).headers["location"].endswith("unchanged")
    assert lead_now(console, lead_id).version == 2
    client.close()


@pytest.mark.parametrize(
    ("form", "where", "message"),
    [
        ({"was.lead_score": "", "lead_score": "lots"}, "f-lead_score-error", "whole number"),
        ({"was.lead_score": "", "lead_score": "101"}, "f-lead_score-error", "less than or equal"),
        ({"was.email": "ada@example.com", "email": "bob@example.com"}, "f-email-error", "another"),
        (
            {"was.additional_emails": "", "additional_emails": "ok@example.com, nope"},
            "f-additional_emails-error",
            "not a valid email",
        ),
        ({**{f"was.{name}": "x" for name in IDENTITY}, **dict.fromkeys(IDENTITY, "")}, "", ""),
    ],
)
def test_refused_edits_come_back_422_with_the_reason(
    console: ConsoleServer, form: dict[str, str], where: str, message: str
) -> None:
    ada, bob = console.add_leads([ADA, {"full_name": "Bob", "email": "bob@example.com"}])
    client = console.client("editor")
    answer = client.post(f"/leads/{ada}", {"version": "1", "seen_seq": "0", **form})
    assert answer.status_code == 422
    if where:
        error = re.search(rf'<p class="field-error" id="{where}">([^<]*)</p>', answer.text)
        assert error is not None and message in error.group(1)
    else:  # a lead needs a name or a way to reach it: said above the form
        assert "a lead needs at least one of" in answer.text
    if message == "another":  # a duplicate links to the lead that holds the value
        assert f'<a href="/leads/{bob}">Open the other lead</a>' in answer.text
    assert lead_now(console, ada).version == 1
    client.close()


def test_a_form_without_its_version_is_refused(console: ConsoleServer) -> None:
    [lead_id] = console.add_leads([ADA])
    client = console.client("editor")
    answer = client.post(f"/leads/{lead_id}", {"was.city": "London", "city": "Paris"})
    assert answer.status_code == 422 and "reload the page" in answer.text
    assert lead_now(console, lead_id).city == "London"
    client.close()


def test_sources_enrichment_provenance_and_a_merge_are_shown(console: ConsoleServer) -> None:
    enrichment = {
        "fields": {
            "title": {
                "value": "Analyst",
                "provider": "person",
                "at": "2026-12-01T16:10:00+00:00",
                "confidence": 0.9,
            },
            "junk": "not a record",
        },
        "steps": [
            {"provider": "email", "status": "ok", "error": None, "ms": 12, "attempts": 1},
            {"provider": "phone", "status": "error", "error": "timed out", "ms": 3000},
        ],
        "error": "no provider succeeded: phone error (timed out)",
        "conflicts": [{"field": "phone", "value": "+441", "existing_id": "other-lead"}],
        "company_error": "domain: not a domain",
    }
    target, merged = console.add_leads(
        [
            {"full_name": "Target", "email": "t@example.com"},
            {
                **ADA,
                "linkedin_url": "linkedin.com/in/ada-lovelace",
                "source": "apify",
                "provider_name": "google_maps",
                "external_id": "place-123",
                "enrichment_status": "failed",
                "enrichment_data": enrichment,
            },
        ]
    )
    # No merge service for leads exists yet: mark the merge as it would.
    with console.database.unit_of_work() as uow:
        uow.session.execute(
            update(SalesLead).where(SalesLead.id == merged).values(merged_into_id=target)
        )
    client = console.client("viewer")
    html = client.get(f"/leads/{merged}").text
    assert f'href="/leads/{target}"' in html and "was merged into" in html
    source = re.search(r'data-testid="source">(.*?)</dl>', html, re.S)
    assert source is not None
    assert all(part in source.group(1) for part in ("apify", "google_maps", "place-123"))
    text = visible_text(html)
    assert "title: Analyst — person, 2026-12-01 16:10, confidence 0.9" in text
    provenance = re.search(r'data-testid="provenance">(.*?)</ul>', html, re.S)
    assert provenance is not None and "junk" not in provenance.group(1)  # not a record
    assert "Failure reason: no provider succeeded: phone error (timed out)" in text
    assert "email: ok (12 ms, 1 attempt)" in text and "phone: error — timed out (3000 ms)" in text
    assert "phone +441 not stored: another lead holds it: other-lead" in text
    assert "company not linked: domain: not a domain" in text
    assert '<a href="https://www.linkedin.com/in/ada-lovelace" rel="noopener' in html
    client.close()


def test_history_values_are_shortened_and_steps_may_be_a_mapping() -> None:
    assert lead_detail.display("y" * 600) == "y" * 500 + "…"
    assert lead_detail.display({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    assert lead_detail.display([True, None, 3]) == "yes, , 3"
    assert lead_detail.safe_link("javascript:alert(1)") is None
    enrichment = lead_detail.enrichment_of(
        {"enrichment_status": "completed", "enrichment_data": {"steps": {"email": "ok"}}}
    )
    assert enrichment.steps == [{"provider": "email", "status": "ok"}]
    assert lead_detail.enrichment_of({"enrichment_data": ["odd"]}).fields == []


def test_a_lead_deleted_while_being_edited_keeps_what_was_typed_in_view(
    console: ConsoleServer,
) -> None:
    [lead_id] = console.add_leads([ADA])
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        leads_service.soft_delete(uow, lead_id)
    client = console.client("editor")
    form = {"version": "1", "seen_seq": "0", "was.city": "London", "city": "Paris"}
    answer = client.post(f"/leads/{lead_id}", form)
    assert answer.status_code == 409
    text = visible_text(answer.text)
    assert "user:admin@example.com deleted this lead" in text
    assert "(city: Paris)" in text and "Restore it to edit it again." in text
    assert lead_now(console, lead_id).city == "London"
    client.close()
