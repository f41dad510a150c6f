"""The console's /analytics in Chromium: reached from the menu, it loads
under the CSP with no script error, its charts are drawn and visible with
their tables, a filter applied from the bar changes the figures, and every
control is labelled."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser import ConsoleServer
from tests.test_web_accessibility import UNLABELLED
from tests.test_web_analytics import seed


def test_analytics_page_draws_its_charts_under_the_csp(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    seed(console)
    console.sign_in(page, "viewer")
    page.get_by_role("link", name="Analytics", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")
    for name in ("Leads created per week, by status", "Funnel", "Lead score distribution"):
        chart = page.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, name
    # The lines are drawn (stroked by analytics.css, not filled black).
    line = page.locator('[data-chart="chart-leads"] polyline').first
    assert page.evaluate("el => getComputedStyle(el).fill", line.element_handle()) == "none"
    expect(page.locator('table[data-table="funnel"]')).to_contain_text("contacted")
    assert page.evaluate(UNLABELLED) == []
    shot(page, "all")

    page.get_by_label("Source").fill("manual")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/analytics\?.*source=manual"))
    expect(page.locator('table[data-table="breakdown"]')).to_contain_text("contacted")
    expect(page.locator('table[data-table="breakdown"]')).not_to_contain_text("qualified")

    # The trend's own select belongs to the same form.
    page.get_by_label("Lines by").first.select_option("country")
    page.get_by_role("button", name="Show").first.click()
    expect(page).to_have_url(re.compile(r"by=country"))
    expect(page.get_by_role("img", name="Leads created per week, by country")).to_be_visible()
    shot(page, "filtered")
