"""Imported data is text, never markup: lead and company fields holding
script payloads show as text on every console page, no dialog ever opens,
and every page's Content-Security-Policy forbids inline script."""

from __future__ import annotations

import html
from typing import Any

from playwright.sync_api import expect

from leadbase import context
from leadbase.companies import service as companies_service
from leadbase.web.session import CSRF_HEADER
from tests.browser import ConsoleServer

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT, ATTRIBUTE)


def _seed(console: ConsoleServer) -> tuple[str, str]:
    """A company and a lead whose text fields are all payloads."""
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        company, _ = companies_service.create_or_merge(
            uow,
            {
                "name": SCRIPT,
                "domain": "evil.example",
                "industry": ATTRIBUTE,
                "country": SCRIPT,
                "city": ATTRIBUTE,
                "description": SCRIPT + ATTRIBUTE,
                "website": "javascript:alert(1)",
                "tags": [SCRIPT[:50], ATTRIBUTE],
            },
        )
        company_id = company.id
    (lead_id,) = console.add_leads(
        [
            {
                "full_name": SCRIPT,
                "email": "mallory@evil.example",
                "title": ATTRIBUTE,
                "company_name": ATTRIBUTE,
                "company_id": company_id,
                "city": SCRIPT,
                "industry": ATTRIBUTE,
                "source": SCRIPT[:50],
                "notes": SCRIPT + "\n" + ATTRIBUTE,
                "tags": [ATTRIBUTE],
            }
        ]
    )
    return lead_id, company_id


def _assert_inert(body: str, where: str) -> None:
    for payload in PAYLOADS:
        assert payload not in body, f"{where} holds {payload!r} unescaped"
    assert "<img src=x" not in body and "<script>alert" not in body, where
    assert html.escape(SCRIPT, quote=False) in body, f"{where} does not show the payload"


def _assert_strict_csp(headers: Any, where: str) -> None:
    policy = headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"], (where, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (where, policy)


def test_payloads_render_as_text_and_every_page_forbids_inline_script(
    console: ConsoleServer,
) -> None:
    lead_id, company_id = _seed(console)
    pages = ["/leads", f"/leads/{lead_id}", "/companies", f"/companies/{company_id}"]
    for role in ("editor", "viewer"):
        client = console.client(role)
        for path in pages:
            answer = client.get(path)
            assert answer.status_code == 200, (role, path, answer.status_code)
            _assert_inert(answer.text, f"{path} as {role}")
            _assert_strict_csp(answer.headers, path)
        detail = client.get(f"/companies/{company_id}").text
        assert 'href="javascript:' not in detail  # a stored javascript: URL is no link
        client.close()
    # The JSON that quick_add.js puts into the page is escaped HTML as well.
    editor = console.client("editor")
    status = editor.get(f"/leads/status?ids={lead_id}").json()["data"][lead_id]
    _assert_inert(status["row_html"], "/leads/status")
    added = editor.http.post(
        "/leads/quick-add",
        json={"email": "eve@evil.example", "name": SCRIPT},
        headers={CSRF_HEADER: editor.csrf_token, "Accept": "application/json"},
    )
    assert added.status_code == 201
    _assert_inert(added.json()["data"]["row_html"], "the quick-add answer")
    # Pages without a user and error pages carry the same policy.
    for path in ("/login", "/companies/no-such-company", f"/leads/{lead_id}/nothing-here"):
        answer = editor.get(path)
        _assert_strict_csp(answer.headers, path)
    editor.close()
    _assert_strict_csp(console.client(None).get("/login").headers, "/login signed out")


def test_no_payload_runs_in_the_browser(console: ConsoleServer, page: Any, shot: Any) -> None:
    lead_id, company_id = _seed(console)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console.sign_in(page, "editor")

    lead_link = page.locator(f'tr[data-lead-id="{lead_id}"] a.lead-link')
    expect(lead_link).to_have_text(SCRIPT)
    # A quick-added row goes into the page through script: still text.
    page.get_by_role("button", name="+ Add lead").click()
    form = page.locator("#quick-add-form")
    form.get_by_label("Email").fill("eve@evil.example")
    form.get_by_label("Name").fill(ATTRIBUTE)
    form.get_by_role("button", name="Add lead").click()
    expect(page.locator("#lead-rows tr").first.locator("a.lead-link")).to_have_text(ATTRIBUTE)
    assert page.locator("main img").count() == 0
    shot(page, "leads")

    page.goto(f"{console.url}/leads/{lead_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(SCRIPT)
    shot(page, "lead")
    page.goto(f"{console.url}/companies")
    expect(page.get_by_role("link", name=SCRIPT)).to_be_visible()
    page.goto(f"{console.url}/companies/{company_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT)
    expect(page.get_by_text(ATTRIBUTE).first).to_be_visible()
    shot(page, "company")
    assert page.locator("main img").count() == 0  # no injected element made it into any page
    page.wait_for_timeout(300)
    assert dialogs == []
