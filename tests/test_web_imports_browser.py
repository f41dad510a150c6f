"""The console's /imports in Chromium: upload a small CSV with one bad row,
change one mapping select, start, watch it complete, download the rejected
rows, revert; and the same flow with script turned off (the run's page
refreshes itself)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from leadbase.models import SalesLead
from tests.browser import ConsoleServer
from tests.test_web_accessibility import UNLABELLED
from tests.test_web_imports import HEADERS, ROWS, csv_bytes


@pytest.fixture
def server(console_factory: Callable[..., ConsoleServer]) -> ConsoleServer:
    return console_factory(jobs_in_server=True)


def csv_file(folder: Path) -> Path:
    path = folder / "contacts.csv"
    path.write_bytes(csv_bytes())
    return path


def lead_by_email(server: ConsoleServer, email: str) -> SalesLead:
    with server.database.read_session() as session:
        lead = session.query(SalesLead).filter_by(email=email).one()
        session.expunge(lead)
        return lead


def test_upload_map_start_download_revert(
    server: ConsoleServer, page: Any, shot: Any, tmp_path: Path
) -> None:
    server.sign_in(page, "editor")
    page.get_by_role("link", name="Imports", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Imports")
    expect(page.get_by_test_id("no-imports")).to_be_visible()
    expect(page.get_by_role("heading", name="Apify")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
    shot(page, "empty")

    page.get_by_label("File", exact=True).set_input_files(str(csv_file(tmp_path)))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview of contacts.csv")
    expect(page.get_by_test_id("shape")).to_contain_text("Comma")
    mapping = page.get_by_test_id("mapping")
    expect(mapping.get_by_label("Email Address")).to_have_value("email")
    expect(mapping.get_by_label("Notes about them")).to_have_value("")
    preview = page.get_by_test_id("preview-leads")
    expect(preview).to_contain_text("ada@example.com")
    expect(preview).to_contain_text("Notes about them: met at a fair")
    assert page.evaluate(UNLABELLED) == []
    shot(page, "preview")

    # One select changed: the script says the preview is stale; Update shows it.
    mapping.get_by_label("Notes about them").select_option("notes")
    expect(page.get_by_role("status")).to_contain_text("Update preview to see this change")
    page.get_by_role("button", name="Update preview").click()
    expect(page.get_by_test_id("mapping").get_by_label("Notes about them")).to_have_value("notes")
    expect(page.get_by_test_id("preview-leads").locator("thead")).to_contain_text("Notes")

    page.get_by_role("button", name="Start import").click()
    expect(page).to_have_url(re.compile(r"/imports/[0-9a-f-]{36}\?done=started$"))
    # The page follows the job and shows the results when it ends.
    expect(page.get_by_test_id("status")).to_have_text("Completed", timeout=30_000)
    counts = page.get_by_test_id("counts")
    expect(counts.locator('[data-count="created"]')).to_have_text("2")
    expect(counts.locator('[data-count="rejected"]')).to_have_text("1")
    expect(page.get_by_test_id("rejects")).to_contain_text("email")
    expect(
        page.get_by_test_id("run-leads").get_by_role("link", name="Ada Lovelace")
    ).to_be_visible()
    assert lead_by_email(server, "ada@example.com").notes == "met at a fair"
    shot(page, "completed")

    with page.expect_download() as download_info:
        page.get_by_test_id("rejects-download").click()
    download = download_info.value
    assert download.suggested_filename.endswith("-rejects.csv")
    lines = list(csv.reader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert lines[0] == ["row", "reason", *HEADERS, "other columns"]
    assert lines[1][0] == "2" and lines[1][2:4] == ROWS[1][:2]

    # Revert asks first; a "no" changes nothing.
    answers = iter([False, True])
    page.on("dialog", lambda dialog: dialog.accept() if next(answers) else dialog.dismiss())
    revert = page.get_by_role("button", name="Revert this import")
    revert.click()
    expect(page.get_by_test_id("status")).to_have_text("Completed")
    assert not lead_by_email(server, "ada@example.com").is_deleted
    revert.click()
    expect(page.get_by_test_id("flash")).to_have_text("Import reverted.", timeout=30_000)
    expect(page.get_by_test_id("status")).to_have_text("Reverted")
    assert lead_by_email(server, "ada@example.com").is_deleted
    shot(page, "reverted")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Imports").click()
    runs = page.get_by_test_id("runs")
    expect(runs.locator("tbody tr")).to_have_count(1)
    expect(runs).to_contain_text("Reverted")
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "list-360px")


def test_the_flow_works_without_script(
    chromium: Any, server: ConsoleServer, tmp_path: Path
) -> None:
    browser_context = chromium.new_context(java_script_enabled=False)
    page = browser_context.new_page()
    try:
        server.sign_in(page, "editor")
        page.goto(f"{server.url}/imports")
        page.get_by_label("File", exact=True).set_input_files(str(csv_file(tmp_path)))
        page.get_by_role("button", name="Upload and preview").click()
        page.get_by_test_id("mapping").get_by_label("Organisation").select_option("")
        page.get_by_role("button", name="Start import").click()
        # No script: the <noscript> refresh brings the results.
        expect(page.get_by_test_id("status")).to_have_text("Completed", timeout=30_000)
        expect(page.get_by_test_id("counts").locator('[data-count="created"]')).to_have_text("2")
        assert lead_by_email(server, "ada@example.com").company_name is None
        page.get_by_role("button", name="Revert this import").click()
        expect(page.get_by_test_id("status")).to_have_text("Reverted", timeout=30_000)
    finally:
        browser_context.close()
