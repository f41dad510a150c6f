"""The console's lead page, /leads/{id}: a record to read first; one section
open at a time to edit, every bad field reported at once in plain words;
stale edits (reload or overwrite); the timeline with its audit entries;
enrichment in words; details for admins only; delete and restore with one
banner; viewers; phones. Plus cheaper checks over plain HTTP."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from leadbase import context
from leadbase.audit import repository as audit_repository
from leadbase.companies import service as companies_service
from leadbase.leads import repository
from leadbase.leads import service as leads_service
from leadbase.leads.schemas import IDENTITY_FIELDS, LEAD_FIELDS
from leadbase.models import LeadEvent, SalesLead
from leadbase.web import forms, lead_detail, lead_enrichment, lead_timeline
from tests.browser import ConsoleServer
from tests.test_web_accessibility import UNLABELLED

ADA = {
    "full_name": "Ada Lovelace",
    "title": "Countess",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0958",
    "linkedin_url": "https://www.linkedin.com/in/ada-lovelace",
    "company_name": "Analytical Engines",
    "city": "London",
    "tags": ["vip", "math"],
    "lead_status": "qualified",
    "lead_score": 72,
    "notes": "Met at the Royal Society.\nWants the engine notes.",
}
# The fields of a form, visible to the person using it.
VISIBLE_INPUTS = "main input:not([type=hidden]), main select, main textarea"
# What enrichment records for a work address with a mobile number and a
# website that timed out (enrichment/service.py apply_outcome's shape).
ENRICHED = {
    "fields": {
        "company_domain": {
            "value": "acme.io",
            "provider": "company",
            "at": "2026-12-01T16:10:00+00:00",
            "confidence": 0.9,
        },
    },
    "steps": [
        {"provider": "email", "status": "ok", "error": None, "ms": 12, "attempts": 1},
        {"provider": "phone", "status": "ok", "error": None, "ms": 1, "attempts": 1},
        {"provider": "company", "status": "ok", "error": None, "ms": 2, "attempts": 1},
        {"provider": "website", "status": "timeout", "error": "no answer within 5s", "ms": 5000},
    ],
    "flags": {
        "email_valid": True,
        "free_mail": False,
        "disposable": False,
        "role_account": False,
        "mx_ok": True,
        "mx_hosts": ["mx.acme.io"],
        "phone_valid": True,
        "phone_country": "GB",
        "phone_line_type": "mobile",
    },
    "company": {"domain": "acme.io", "name": "Acme"},
    "job_id": "job-123",
    "finished_at": "2026-12-01T16:10:05+00:00",
}


def lead_now(console: ConsoleServer, lead_id: str) -> SalesLead:
    with console.database.read_session() as session:
        lead = repository.get(session, lead_id, include_deleted=True)
        assert lead is not None
        return lead


def change_behind_its_back(console: ConsoleServer, lead_id: str, changes: dict[str, Any]) -> None:
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        leads_service.update(uow, lead_id, changes)


def enrich(console: ConsoleServer, lead_id: str, data: dict[str, Any], **fields: Any) -> None:
    """Write an enrichment outcome as enrichment does: through leads.service, as its actor."""
    with context.acting_as("system:enrichment"), console.database.unit_of_work() as uow:
        leads_service.update(
            uow, lead_id, {**fields, "enrichment_status": "completed", "enrichment_data": data}
        )


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":").replace(" ,", ",")


def open_lead(page: Any, console: ConsoleServer, lead_id: str, query: str = "") -> None:
    page.goto(f"{console.url}/leads/{lead_id}{query}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def fits(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


# --- in the browser ---------------------------------------------------------------


def test_the_page_reads_as_a_record_and_a_section_opens_to_edit_and_save(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        company, _ = companies_service.create_or_merge(
            uow, {"name": "Analytical Engines", "domain": "engines.example"}
        )
    [lead_id] = console.add_leads([{**ADA, "company_id": company.id}])
    console.sign_in(page, "editor")
    open_lead(page, console, lead_id)

    # Read first: no field to type in until Edit.
    expect(page.locator(VISIBLE_INPUTS)).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    expect(page.get_by_test_id("subtitle")).to_have_text("Countess at Analytical Engines")
    company_link = page.get_by_test_id("subtitle").get_by_role("link")
    expect(company_link).to_have_attribute("href", f"/companies/{company.id}")
    expect(page.get_by_test_id("status-pill").first).to_have_text("Qualified")
    expect(page.locator(".record-badges .chip")).to_have_text(["vip", "math"])
    contact = page.locator("#section-contact")
    expect(contact.get_by_role("link", name="ada@example.com")).to_have_attribute(
        "href", "mailto:ada@example.com"
    )
    expect(contact.get_by_role("link", name="+44 20 7946 0958")).to_have_attribute(
        "href", "tel:+442079460958"
    )
    expect(contact.get_by_role("link", name=re.compile("linkedin"))).to_have_attribute(
        "href", "https://www.linkedin.com/in/ada-lovelace"
    )
    expect(page.get_by_test_id("notes")).to_have_text(ADA["notes"])
    created = page.get_by_test_id("timeline-item").first
    expect(created).to_contain_text("Created by test:seed")
    when = created.locator("time[data-local]")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", when.get_attribute("datetime"))
    shot(page, "read-desktop")

    # Edit one section: its fields open in place, the others stay read-only.
    page.get_by_role("link", name="Edit contact").click()
    phone = page.get_by_label("Phone", exact=True)
    expect(phone).to_have_value("+442079460958")
    expect(page.locator(VISIBLE_INPUTS)).to_have_count(7)
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    shot(page, "edit-desktop")
    phone.fill("+44 7911 123456")
    page.get_by_label("Other emails").fill("ada@engines.example, countess@engines.example")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    expect(page.locator(VISIBLE_INPUTS)).to_have_count(0)
    expect(contact.get_by_role("link", name="+44 7911 123456")).to_be_visible()
    lead = lead_now(console, lead_id)
    assert lead.phone == "+447911123456" and lead.version == 2
    assert lead.additional_emails == ["ada@engines.example", "countess@engines.example"]
    assert lead.updated_by == "user:editor@example.com"

    # The timeline tells it first, and opens to the audit entry.
    newest = page.get_by_test_id("audit-entry").first
    expect(newest.locator("summary")).to_contain_text(
        "Updated phone and other emails by editor@example.com"
    )
    newest.locator("summary").click()
    expect(newest).to_contain_text("127.0.0.1")
    changes = newest.locator(".diff-list li")
    expect(changes).to_have_count(2)  # only the fields the user changed
    expect(changes.filter(has_text="Phone")).to_contain_text("+442079460958 → +447911123456")

    # Cancel closes a section without writing; Escape does too.
    page.get_by_role("link", name="Edit person").click()
    page.get_by_label("Job title").fill("Enchantress of numbers")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator(VISIBLE_INPUTS)).to_have_count(0)
    page.get_by_role("link", name="Edit notes").click()
    page.get_by_role("textbox", name="Notes").press("Escape")
    expect(page.locator(VISIBLE_INPUTS)).to_have_count(0)
    assert lead_now(console, lead_id).version == 2


def test_three_bad_fields_are_reported_at_once_in_plain_words(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads([ADA])
    console.sign_in(page, "editor")
    open_lead(page, console, lead_id, "?edit=contact")
    page.get_by_label("Email", exact=True).fill("ada at example")
    page.get_by_label("Phone", exact=True).fill("12")
    page.get_by_label("LinkedIn").fill("https://example.com/ada")
    page.get_by_role("button", name="Save").click()

    expected = {
        "email": "Enter an email address like name@example.com",
        "phone": "Enter a phone number with its country code, like +44 20 7946 0958",
        "linkedin_url": "Enter a LinkedIn profile address like https://www.linkedin.com/in/name",
    }
    for name, message in expected.items():
        expect(page.locator(f"#f-{name}-error")).to_have_text(message)
        field = page.locator(f"#f-{name}")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_attribute("aria-describedby", f"f-{name}-error")
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("3 fields need a change")
    expect(summary.get_by_role("link")).to_have_count(3)
    # What was typed stays, to correct.
    expect(page.get_by_label("Email", exact=True)).to_have_value("ada at example")
    shot(page, "three-errors-desktop")
    summary.get_by_role("link", name=re.compile("^Phone:")).click()
    expect(page.get_by_label("Phone", exact=True)).to_be_focused()
    page.set_viewport_size({"width": 390, "height": 844})
    fits(page, 390)
    shot(page, "three-errors-mobile")
    lead = lead_now(console, lead_id)
    assert (lead.email, lead.phone, lead.version) == ("ada@example.com", "+442079460958", 1)

    # Corrected, it saves.
    page.get_by_label("Email", exact=True).fill("ada@lovelace.example")
    page.get_by_label("Phone", exact=True).fill("+44 20 7946 0959")
    page.get_by_label("LinkedIn").fill("linkedin.com/in/ada")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    lead = lead_now(console, lead_id)
    assert lead.linkedin_url == "https://www.linkedin.com/in/ada" and lead.version == 2


def test_a_stale_edit_shows_the_other_change_and_can_overwrite_or_reload(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads([ADA])
    console.sign_in(page, "editor")
    open_lead(page, console, lead_id)
    page.get_by_role("link", name="Edit address").click()
    page.get_by_label("City").fill("Paris")
    change_behind_its_back(console, lead_id, {"title": "CTO", "city": "Berlin"})
    page.get_by_role("button", name="Save").click()

    warning = page.get_by_test_id("conflict")
    expect(warning).to_contain_text("Changed by admin@example.com at")
    expect(warning).to_contain_text("reload or overwrite")
    theirs = page.get_by_test_id("their-changes")
    expect(theirs).to_contain_text("Job title: Countess → CTO")
    expect(theirs).to_contain_text("City: London → Berlin")
    # What the user typed is kept, in the section they were editing.
    expect(page.get_by_label("City")).to_have_value("Paris")
    expect(warning.get_by_role("link", name="Reload")).to_be_visible()
    shot(page, "conflict")
    assert lead_now(console, lead_id).city == "Berlin"

    warning.get_by_role("button", name="Overwrite").click()
    expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    lead = lead_now(console, lead_id)
    # Neither change is lost: their title stays, the user's city wins.
    assert (lead.city, lead.title, lead.version) == ("Paris", "CTO", 3)

    # Again, and this time reload: the typed value is dropped, nothing written.
    page.get_by_role("link", name="Edit company").click()
    page.get_by_role("textbox", name="Company", exact=True).fill("Babbage & Co")
    change_behind_its_back(console, lead_id, {"industry": "Computing"})
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("their-changes")).to_contain_text("Industry: (empty) → Computing")
    page.get_by_test_id("conflict").get_by_role("link", name="Reload").click()
    expect(page.get_by_test_id("conflict")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Company", exact=True)).to_have_value(
        "Analytical Engines"
    )
    expect(page.get_by_label("Industry")).to_have_value("Computing")
    assert lead_now(console, lead_id).company_name == "Analytical Engines"


def test_enrichment_reads_as_sentences_and_its_internals_are_for_admins(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads(
        [
            {
                **ADA,
                "email": "ada@acme.io",
                "phone": "+44 7911 123456",
                "source": "apify",
                "provider_name": "google_maps",
                "external_id": "place-123",
                "actor_id": "apify~google-maps",
                "run_id": "run-987",
            }
        ]
    )
    enrich(console, lead_id, ENRICHED, company_domain="acme.io")
    console.sign_in(page, "admin")
    open_lead(page, console, lead_id)
    findings = page.get_by_test_id("findings")
    expect(findings).to_contain_text(
        "Mail server found · work address · not disposable · not a role account"
    )
    expect(findings).to_contain_text("Valid mobile number (GB)")
    expect(findings).to_contain_text("Acme (acme.io)")
    website = findings.locator(".finding-warn")
    expect(website.locator(".finding-topic")).to_have_text("Website")
    expect(website.locator(".finding-text")).to_have_text(
        "Did not answer in time (no answer within 5s)"
    )
    expect(page.get_by_test_id("enrichment-status")).to_have_text("Enriched")
    expect(page.get_by_test_id("provenance")).to_contain_text("Company website acme.io")
    expect(page.get_by_test_id("timeline-item").first).to_contain_text(
        "Enriched: filled company website by enrichment (automatic)"
    )
    # The raw record and the ids: behind a disclosure, read-only, for admins.
    admin = page.get_by_test_id("admin-details")
    expect(admin).not_to_have_attribute("open", "")
    expect(admin.get_by_text("run-987").first).not_to_be_visible()
    admin.locator("summary").click()
    expect(admin).to_contain_text("run-987")
    expect(admin).to_contain_text("apify~google-maps")
    expect(admin).to_contain_text('"mx_ok": true')
    expect(admin.locator("input, select, textarea")).to_have_count(0)
    shot(page, "admin-details")

    for role in ("editor", "viewer"):
        client = console.client(role)
        html = client.get(f"/leads/{lead_id}").text
        assert "Details for admins" not in html and "run-987" not in html, role
        assert "apify~google-maps" not in html and "job-123" not in html, role
        assert "Mail server found" in html, role
        client.close()


def test_a_deleted_lead_shows_one_banner_and_is_restored_at_390px(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    long_word = "x" * 300
    [lead_id] = console.add_leads(
        [{**ADA, "notes": f"{long_word}\nsecond line", "company_name": "Very" + long_word[:200]}]
    )
    console.sign_in(page, "editor")
    page.set_viewport_size({"width": 390, "height": 844})
    open_lead(page, console, lead_id)
    fits(page, 390)
    shot(page, "read-mobile")
    page.get_by_role("link", name="Edit status & tags").click()
    expect(page.get_by_role("textbox", name="Tags")).to_have_value("vip, math")
    fits(page, 390)
    shot(page, "edit-mobile")
    # Every section's form fits and labels each control.
    for section in lead_detail.SECTIONS:
        open_lead(page, console, lead_id, f"?edit={section.key}")
        expect(page.locator("#section-form")).to_be_visible()
        assert page.evaluate(UNLABELLED) == [], section.key
        fits(page, 390)
    page.get_by_role("link", name="Cancel").click()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete lead").click()
    banner = page.get_by_test_id("deleted-banner")
    expect(banner).to_contain_text("Deleted by editor@example.com")
    # One banner says it: no notice repeating it.
    expect(page.locator(".alert")).to_have_count(1)
    expect(page.get_by_test_id("notice")).to_have_count(0)
    # A deleted lead is read, not edited: restore it first.
    expect(page.get_by_role("link", name=re.compile("^Edit"))).to_have_count(0)
    assert lead_now(console, lead_id).is_deleted
    fits(page, 390)
    shot(page, "deleted-mobile")

    banner.get_by_role("button", name="Restore").click()
    expect(page.get_by_test_id("notice")).to_have_text("Lead restored.")
    expect(page.get_by_test_id("deleted-banner")).to_have_count(0)
    assert not lead_now(console, lead_id).is_deleted
    items = page.get_by_test_id("timeline-item")
    expect(items.nth(0)).to_contain_text("Restored by editor@example.com")
    expect(items.nth(1)).to_contain_text("Deleted by editor@example.com")


def test_a_viewer_reads_everything_and_changes_nothing(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    [lead_id] = console.add_leads([ADA])
    console.sign_in(page, "viewer")
    open_lead(page, console, lead_id, "?edit=contact")  # asking is not enough
    expect(page.locator("#section-person")).to_contain_text("Ada Lovelace")
    expect(page.get_by_test_id("notes")).to_contain_text("Met at the Royal Society.")
    expect(page.locator("main").locator("input, select, textarea, button")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Edit"))).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    fits(page, 390)
    shot(page, "viewer-mobile")

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
    # With it, the same post saves, and the page goes back to the section.
    location = client.post(f"/leads/{lead_id}", form).headers["location"]
    assert location.endswith("notice=saved#section-address")
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
                "enrichment_data": {"flags": {"email_valid": False, "email_error": script}},
            }
        ]
    )
    for role in ("admin", "editor", "viewer"):
        client = console.client(role)
        for query in ("", "?edit=company", "?edit=status"):
            html = client.get(f"/leads/{lead_id}{query}").text
            assert "<script>alert" not in html and "<img src=x" not in html
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
            assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        client.close()


def test_every_lead_field_is_edited_here_or_shown_to_admins() -> None:
    internal = {name for name, _ in lead_detail.INTERNAL_FIELDS}
    as_json = {name for name, _ in lead_detail.JSON_FIELDS}
    scored = {name for name, _ in lead_detail.SCORED_FIELDS}
    editable = set(lead_detail.FORM_FIELDS)
    assert editable | internal | as_json | scored == set(LEAD_FIELDS)
    groups = (editable, internal, as_json, scored)
    assert sum(map(len, groups)) == len(set().union(*groups))  # no field in two
    # The score is derived (the scoring jobs set it): a typed one would not last.
    assert "lead_score" not in editable
    # None of the bookkeeping is editable.
    assert not {"enrichment_status", "enrichment_task_id", "company_id", "run_id"} & editable


def test_an_open_section_shows_each_of_its_fields_with_its_own_input(
    console: ConsoleServer,
) -> None:
    [lead_id] = console.add_leads([{**ADA, "email_verified": True, "is_manual": True}])
    client = console.client("editor")
    for section in lead_detail.SECTIONS:
        html = client.get(f"/leads/{lead_id}?edit={section.key}").text
        for name in lead_detail.FORM_FIELDS:
            inside = name in section.names
            assert (f'name="{name}"' in html) is inside, (section.key, name)
            assert (f'name="was.{name}"' in html) is inside, (section.key, name)
        assert f'name="section" value="{section.key}"' in html
    html = client.get(f"/leads/{lead_id}?edit=status").text
    assert '<option value="qualified" selected>Qualified</option>' in html
    assert re.search(r'type="checkbox" value="true" id="f-is_manual"[^>]*checked', html)
    assert 'value="vip, math"' in html and 'name="lead_score"' not in html
    notes = client.get(f"/leads/{lead_id}?edit=notes").text
    assert re.search(r'<textarea rows="8" id="f-notes" name="notes"', notes)
    # An unknown section opens nothing.
    assert 'id="section-form"' not in client.get(f"/leads/{lead_id}?edit=nope").text
    client.close()


def test_lists_and_checkboxes_are_saved_and_untouched_fields_are_not_sent(
    console: ConsoleServer,
) -> None:
    [lead_id] = console.add_leads([ADA])
    client = console.client("editor")
    form = {
        "version": "1",
        "seen_seq": "0",
        "section": "status",
        "was.tags": "vip, math",
        "tags": "vip, logic ,, ",
        "was.verified": "",
        "verified": "true",
        "was.source": "",
        "source": "",
    }
    assert client.post(f"/leads/{lead_id}", form).status_code == 303
    notes = {"version": "2", "seen_seq": "0", "was.notes": "", "notes": "line one\r\nline two"}
    assert client.post(f"/leads/{lead_id}", notes).headers["location"].endswith("section-notes")
    lead = lead_now(console, lead_id)
    assert lead.tags == ["vip", "logic"] and lead.verified
    assert lead.notes == "line one\nline two"
    with console.database.read_session() as session:
        entries = audit_repository.entries_for(session, "lead", lead_id)
    assert sorted(json.loads(entries[-2].changes)) == ["tags", "verified"]
    # Nothing changed: nothing written.
    same = {"version": "3", "seen_seq": "0", "was.city": "London", "city": "London"}
    assert "notice=unchanged" in client.post(f"/leads/{lead_id}", same).headers["location"]
    assert lead_now(console, lead_id).version == 3
    client.close()


def field_error(html: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="f-{name}-error">([^<]*)</p>', html)
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"was.tags": "", "tags": "x" * 51}, {"tags": "at most 50 characters"}),
        (
            {"was.additional_emails": "", "additional_emails": "ok@example.com, nope"},
            {"additional_emails": "“nope”: Enter an email address like name@example.com"},
        ),
        ({"was.company_domain": "", "company_domain": "not a domain"}, {"company_domain": "like"}),
        ({"was.city": "", "city": "c" * 101}, {"city": "City can be at most 100 characters"}),
        ({"was.email": "ada@example.com", "email": "bob@example.com"}, {"email": "Another lead"}),
        (
            {
                **{f"was.{name}": "x" for name in IDENTITY_FIELDS},
                **dict.fromkeys(IDENTITY_FIELDS, ""),
            },
            {"full_name": "a lead needs one of them"},
        ),
    ],
)
def test_refused_edits_come_back_422_with_every_reason_in_words(
    console: ConsoleServer, form: dict[str, str], errors: dict[str, str]
) -> None:
    ada, bob = console.add_leads(
        [{**ADA, "lead_score": None}, {"full_name": "Bob", "email": "bob@example.com"}]
    )
    client = console.client("editor")
    answer = client.post(f"/leads/{ada}", {"version": "1", "seen_seq": "0", **form})
    assert answer.status_code == 422
    for name, message in errors.items():
        shown = field_error(answer.text, name)
        assert shown is not None and message in shown, (name, shown)
        assert f'href="#f-{name}"' in answer.text  # the summary links to it
    assert "Input should" not in answer.text and "did not seem" not in answer.text
    if "Another lead" in str(errors):  # a duplicate links to the lead that holds the value
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


def test_failed_enrichment_conflicts_sources_and_a_merge_are_told(
    console: ConsoleServer,
) -> None:
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
        "flags": {"email_valid": True, "free_mail": True, "mx_ok": False, "mx_reason": "no MX"},
        "error": "no provider succeeded: phone error (timed out)",
        "conflicts": [{"field": "phone", "value": "+441", "existing_id": "other-lead"}],
        "company_error": "domain: not a domain",
    }
    target, merged = console.add_leads(
        [
            {"full_name": "Target", "email": "t@example.com"},
            {
                **ADA,
                "source": "apify",
                "provider_name": "google_maps",
                "external_id": "place-123",
                "enrichment_status": "failed",
                "enrichment_data": enrichment,
            },
        ]
    )
    # Marked merged as a merge leaves it (the merge itself: test_web_duplicates.py).
    with console.database.unit_of_work() as uow:
        uow.session.execute(
            update(SalesLead).where(SalesLead.id == merged).values(merged_into_id=target)
        )
    viewer = console.client("viewer")
    # Its page goes on to the lead it went into; follow=no shows its own record.
    assert viewer.get(f"/leads/{merged}").headers["location"] == (
        f"/leads/{target}?merged_from={merged}"
    )
    html = viewer.get(f"/leads/{merged}?follow=no").text
    assert f'href="/leads/{target}"' in html and "was merged into" in html
    text = visible_text(html)
    assert "Enrichment failed" in text
    assert "Why it failed: no provider succeeded: phone error (timed out)" in text
    assert "Email No mail server (no MX) · free-mail address Email check" in text
    assert "Phone Could not be reached (timed out) Phone check" in text
    assert "Job title Analyst — Name from email, 2026-12-01 16:10 UTC, 90 % sure" in text
    assert "Phone “+441” was not kept: another lead already has it." in text
    assert "The company could not be linked: domain: not a domain." in text
    provenance = re.search(r'data-testid="provenance">(.*?)</ul>', html, re.S)
    assert provenance is not None and "junk" not in provenance.group(1)  # not a record
    viewer.close()
    admin = console.client("admin")
    html = admin.get(f"/leads/{merged}?follow=no").text
    source = re.search(r'data-testid="source">(.*?)</dl>', html, re.S)
    assert source is not None
    assert all(part in source.group(1) for part in ("apify", "google_maps", "place-123"))
    assert "email: ok (12 ms, 1 attempt)" in visible_text(html)
    admin.close()


def test_a_lead_deleted_while_being_edited_keeps_what_was_typed_in_its_one_banner(
    console: ConsoleServer,
) -> None:
    [lead_id] = console.add_leads([ADA])
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        leads_service.soft_delete(uow, lead_id)
    client = console.client("editor")
    form = {"version": "1", "seen_seq": "0", "was.city": "London", "city": "Paris"}
    answer = client.post(f"/leads/{lead_id}", form)
    assert answer.status_code == 409
    assert answer.text.count('class="alert') == 1
    text = visible_text(answer.text)
    assert "Deleted by admin@example.com" in text
    assert "(City: Paris)" in text and "Restore it to edit it again." in text
    assert lead_now(console, lead_id).city == "London"
    client.close()


def test_a_long_timeline_shows_the_newest_hundred(console: ConsoleServer) -> None:
    [lead_id] = console.add_leads([{"full_name": "Busy"}])
    with context.acting_as("user:admin@example.com"), console.database.unit_of_work() as uow:
        for i in range(lead_detail.TIMELINE_SHOWN):
            leads_service.update(uow, lead_id, {"title": f"Title {i}"})
    client = console.client("viewer")
    html = client.get(f"/leads/{lead_id}").text
    assert html.count('data-testid="timeline-item"') == lead_detail.TIMELINE_SHOWN
    assert "And 1 older entry, not shown here" in html and "Created" not in html
    client.close()


# --- the pieces, on their own -----------------------------------------------------


def test_values_in_the_history_are_shortened_and_actors_named() -> None:
    assert lead_timeline.display("y" * 600) == "y" * 500 + "…"
    assert lead_timeline.display({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    assert lead_timeline.display([True, None, 3]) == "yes, , 3"
    assert lead_timeline.who("user:ada@example.com") == "ada@example.com"
    assert lead_timeline.who("system:enrichment") == "enrichment (automatic)"
    assert lead_timeline.who(None) == "someone"
    assert lead_detail.safe_link("javascript:alert(1)") is None
    assert lead_detail.iso("2026-12-01T16:10:00+01:00") == "2026-12-01T15:10:00Z"
    assert lead_detail.phone_text("+442079460958") == "+44 20 7946 0958"
    assert lead_detail.phone_text("not a number") == "not a number"
    assert lead_detail.initials("Ada King Lovelace") == "AL" and lead_detail.initials("") == "?"
    assert lead_detail.steps_of({"steps": {"email": "ok"}}) == [
        {"provider": "email", "status": "ok"}
    ]


def test_enrichment_in_words_reads_any_json_defensively() -> None:
    labels = lead_detail.LABELS
    assert lead_enrichment.story({"enrichment_data": ["odd"]}, labels).empty
    odd = {"flags": "x", "steps": [1, {"provider": "website", "status": "no_data"}], "fields": []}
    story = lead_enrichment.story({"enrichment_data": odd, "enrichment_status": "x"}, labels)
    assert [(f.topic, f.text) for f in story.findings] == [("Website", "Nothing found")]
    flags = {"phone_valid": True, "phone_line_type": "voip", "phone_country": "001"}
    phone = lead_enrichment.phone_finding(flags)
    assert phone is not None and phone.text == "Valid internet (VoIP) number"
    bad = lead_enrichment.email_finding({"email_valid": False, "email_error": "no @"})
    assert bad is not None and (bad.text, bad.ok) == ("Not a valid address (no @)", False)
    site = lead_enrichment.website_finding(
        {"website_status": 404, "website_url": "https://a.io"}, {}
    )
    assert site is not None and not site.ok and "404" in site.text
    up = {"website_status": 200, "website_url": "https://a.io"}
    site = lead_enrichment.website_finding(up, {"description": "Robots"})
    assert site is not None and site.text == "Reachable at https://a.io, “Robots”"


def test_the_form_errors_module_speaks_plainly() -> None:
    assert forms.plain_message("bool_parsing", "Verified") == "Verified is yes or no"
    assert forms.plain_message("literal_error", "Status", {"expected": "'a' or 'b'"}) == (
        "Choose one of: 'a' or 'b'"
    )
    assert forms.plain_message("extra_forbidden", "Colour") == "Colour is not a field of this form"
    assert forms.plain_message("missing", "Email") == "Email cannot be empty"
    assert forms.plain_message("greater_than_equal", "Age", {"ge": 0}) == "Age must be at least 0"
    assert forms.plain_message("something_new", "Age") == "Age is not valid"
    errors = forms.FormErrors({"b": "B is wrong", "a": "A is wrong"}).ordered(["a", "b"])
    assert errors.summary({"a": "Alpha"}) == [
        ("f-a", "Alpha", "A is wrong"),
        ("f-b", "b", "B is wrong"),
    ]
    assert errors.described_by("a", hint=True) == "f-a-error f-a-hint"
    assert not forms.FormErrors() and forms.FormErrors(general="no")
    # Without a format message, a refusal keeps the checker's reason, with the label.
    found = forms.check_each({"x": 1}, _refuse, {"x": forms.FieldRule("Ex")})
    assert found == {"x": "Ex: too odd"}


def _refuse(name: str, value: Any) -> None:
    raise lead_detail.ValidationError(name, "too odd")


def test_a_phone_without_its_country_code_is_read_in_the_country_typed_beside_it(
    console: ConsoleServer,
) -> None:
    [lead_id] = console.add_leads([{"full_name": "Ada"}])
    client = console.client("editor")
    form = {"version": "1", "seen_seq": "0", "was.phone": "", "was.country": ""}
    answer = client.post(f"/leads/{lead_id}", {**form, "phone": "020 7946 0958", "country": "GB"})
    assert answer.status_code == 303
    assert lead_now(console, lead_id).phone == "+442079460958"
    client.close()


def test_the_timeline_tells_enrichment_and_activities_newest_first() -> None:
    labels = lead_detail.LABELS

    def entry(seq: int, action: str, changes: dict[str, list[Any]]) -> Any:
        at = datetime(2026, 12, 1, 16, seq, tzinfo=UTC)
        return lead_timeline.HistoryItem(
            seq=seq,
            action=action,
            actor="system:enrichment",
            ip=None,
            user_agent=None,
            request_id=None,
            at=at,
            changes=changes,
            shown=[],
        )

    history = [
        entry(1, "create", {"email": [None, "a@b.io"]}),
        entry(2, "update", {"enrichment_status": ["pending", "in_progress"]}),
        entry(3, "update", {"enrichment_status": ["in_progress", "failed"]}),
        entry(4, "update", {"enrichment_data": [None, {}]}),
        entry(5, "merge", {}),
    ]
    call = LeadEvent(
        event_type="phone_call",
        event_description="Left a voicemail",
        event_data={"outcome": "no answer"},
        actor="user:ada@example.com",
        event_timestamp=datetime(2026, 12, 1, 16, 6),  # naive, as SQLite returns it: read as UTC
    )
    noise = LeadEvent(event_type="updated", event_timestamp=datetime(2026, 12, 1, 16, 7))
    told = lead_timeline.timeline(history, [call, noise], labels)
    assert [(h.title, h.actor) for h in told] == [
        ("Phone call", "ada@example.com"),
        ("Merge", "enrichment (automatic)"),
        ("Updated enrichment details", "enrichment (automatic)"),
        ("Enrichment failed", "enrichment (automatic)"),
        ("Enrichment started", "enrichment (automatic)"),
        ("Created", "enrichment (automatic)"),
    ]
    assert told[0].detail == "Left a voicemail · no answer" and told[0].kind == "activity"
    linked = entry(8, "update", {"company_id": [None, "c1"]})
    assert lead_timeline.told(linked, labels) == ("updated", "Linked to its company")
    both = entry(9, "update", {"company_id": [None, "c1"], "company_name": [None, "Acme"]})
    assert lead_timeline.told(both, labels)[1] == "Updated company; linked to its company"
