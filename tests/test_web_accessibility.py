"""Axe-style basics on every console page: each control has a label, the
keyboard reaches the content first, and the pages fit a 360 px screen."""

from __future__ import annotations

from typing import Any

from leadbase import context
from leadbase.companies import service as companies_service
from tests.browser import ConsoleServer

# Every visible form control without a name a screen reader can read.
UNLABELLED = """
() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => {
    const named = (el.labels && el.labels.length)
      || (el.getAttribute('aria-label') || '').trim()
      || el.getAttribute('aria-labelledby')
      || (el.tagName === 'BUTTON' && el.innerText.trim());
    return !named;
  })
  .map(el => el.outerHTML.slice(0, 120))
"""


def _pages(console: ConsoleServer) -> list[str]:
    with context.acting_as("test:seed"), console.database.unit_of_work() as uow:
        company, _ = companies_service.create_or_merge(
            uow, {"name": "Acme Robotics", "domain": "acmerobotics.io"}
        )
    (lead_id,) = console.add_leads(
        [{"email": "ada@acmerobotics.io", "full_name": "Ada Lovelace", "company_id": company.id}]
    )
    return [
        "/leads",
        f"/leads/{lead_id}",
        "/companies",
        f"/companies/{company.id}",
        "/sync",
        "/analytics",
    ]


def test_every_control_is_labelled_and_pages_fit_360px(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    paths = _pages(console)
    page.goto(f"{console.url}/login")
    assert page.evaluate(UNLABELLED) == []
    console.sign_in(page, "editor")
    for path in paths:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{console.url}{path}")
        assert page.evaluate(UNLABELLED) == [], path
        page.set_viewport_size({"width": 360, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    shot(page, "company-360px")
    # The check itself finds a control nobody labelled.
    page.set_content('<label for="a">A</label><input id="a"><input id="b"><button></button>')
    assert len(page.evaluate(UNLABELLED)) == 2


def test_the_keyboard_reaches_the_content_first(console: ConsoleServer, page: Any) -> None:
    console.sign_in(page, "editor")
    # On the lead list the skip link goes straight to the leads
    # (test_web_leads_layout.py); elsewhere to the page's content.
    page.goto(f"{console.url}/companies")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Then Tab walks into the page's own controls, not back to the menu.
    page.keyboard.press("Tab")
    inside = page.evaluate("document.getElementById('main').contains(document.activeElement)")
    assert inside
