"""The console's /sync: what a person sees of the Airtable sync before it is
set up, with leads waiting, after runs, and the menu's count; an editor's
Sync now / Push / Pull / Full pull and Keep ours / Keep Airtable's (over
HTTP, and once in Chromium)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.models import AirtableConflict, Job
from leadbase.sync.airtable import runs
from leadbase.sync.airtable.service import SYNC_JOB
from tests.browser import ConsoleServer
from tests.emulators.airtable import AirtableEmulator

CONFIGURED = {"airtable_token": "pat", "airtable_base_id": "appSales", "airtable_table": "Leads"}


def test_an_unconfigured_sync_says_what_to_set(console: ConsoleServer) -> None:
    page = console.client("viewer").get("/sync")
    assert page.status_code == 200, page.text
    assert 'data-testid="not-configured"' in page.text
    assert "LEADBASE_AIRTABLE_TOKEN" in page.text and "leadbase airtable check" in page.text
    assert 'data-testid="actions"' not in page.text  # nothing to press yet
    assert "No runs yet." in page.text and "No failed pushes." in page.text


def test_counts_runs_and_the_conflicts_in_the_menu(
    console_factory: Callable[..., ConsoleServer],
) -> None:
    console = console_factory(**CONFIGURED)
    with console.database.unit_of_work() as uow:
        made = leads_service.bulk_create(uow, [{"email": f"w{i}@example.com"} for i in range(4)])
        uow.session.add(
            AirtableConflict(
                lead_id=made[0].lead_id,
                record_id="recAAAAAAAAAAAAAA",
                fields={
                    "Title": {"local": "CTO", "remote": "CEO", "base": "VP"},
                    "Tags": {"local": ["vip", "emea"], "remote": None, "base": ["vip"]},
                },
                applied="remote",
            )
        )
    run_id = runs.start(console.database, "push", "user:editor@example.com")
    runs.finish(console.database, run_id, {"pushed": 4, "requests": 1, "rate_limited": 2})

    viewer = console.client("viewer").get("/sync").text
    assert 'data-count="pending">4<' in viewer
    assert 'data-count="conflicts">1<' in viewer
    assert 'data-testid="nav-count-sync">1' in viewer
    assert "Base <code>appSales</code>, table <strong>Leads</strong>" in viewer
    assert f'data-run="{run_id}"' in viewer and "(2 \u00d7 429)" in viewer
    assert '<td data-side="local">CTO</td>' in viewer
    assert '<td data-side="remote">CEO</td>' in viewer
    assert '<td data-side="base" class="muted">VP</td>' in viewer  # as last agreed
    assert '<td data-side="local">vip, emea</td>' in viewer  # a list, as a person reads it
    assert '<td data-side="remote">—</td>' in viewer  # cleared in Airtable
    assert 'data-testid="actions"' not in viewer  # viewers look, editors act
    assert "Keep ours" not in viewer

    editor = console.client("editor").get("/sync").text
    assert 'data-testid="actions"' in editor and "Keep ours" in editor


# --- actions: Sync now, Keep ours / Keep Airtable's ------------------------------------------


def _conflict(console: ConsoleServer, *, title: str, applied: str) -> tuple[str, str]:
    """A lead whose title is ``title`` and an open conflict on it (ours CTO,
    Airtable's CEO); the lead's id and the conflict's."""
    [lead_id] = console.add_leads([{"full_name": "Ada Lovelace", "title": title}])
    with console.database.unit_of_work() as uow:
        conflict = AirtableConflict(
            lead_id=lead_id,
            record_id="recAAAAAAAAAAAAAA",
            fields={"Title": {"local": "CTO", "remote": "CEO", "base": "VP"}},
            applied=applied,
        )
        uow.session.add(conflict)
        uow.session.flush()
        return lead_id, conflict.id


def _jobs(console: ConsoleServer) -> list[Job]:
    with console.database.read_session() as session:
        return list(session.scalars(select(Job)))


def _title(console: ConsoleServer, lead_id: str) -> str | None:
    with console.database.read_session() as session:
        lead = leads_repository.get(session, lead_id)
        assert lead is not None
        return lead.title


def test_an_editor_queues_runs_and_a_viewer_cannot(
    console_factory: Callable[..., ConsoleServer],
) -> None:
    console = console_factory(**CONFIGURED)  # the server's settings, not the environment's
    editor, viewer = console.client("editor"), console.client("viewer")
    pressed = editor.post("/sync/run", {"kind": "sync"})
    assert pressed.status_code == 303, pressed.text
    assert pressed.headers["location"] == "/sync?done=queued"
    page = editor.get(pressed.headers["location"]).text
    assert 'data-testid="flash"' in page and "Queued" in page
    [job] = _jobs(console)
    assert job.kind == SYNC_JOB and job.payload["kind"] == "sync"
    assert job.payload["actor"] == "user:editor@example.com"
    assert editor.post("/sync/run", {"kind": "sync"}).status_code == 303  # pressed twice
    assert [job.id for job in _jobs(console)] == [job.id]  # the queued one does it

    assert editor.post("/sync/run", {"kind": "full-pull"}).status_code == 303
    assert sorted(job.payload["kind"] for job in _jobs(console)) == ["full-pull", "sync"]
    assert editor.post("/sync/run", {"kind": "everything"}).status_code == 422
    assert viewer.post("/sync/run", {"kind": "sync"}).status_code == 403
    forged = editor.post("/sync/run", {"kind": "sync", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert len(_jobs(console)) == 2


def test_an_unconfigured_sync_queues_nothing(console: ConsoleServer) -> None:
    refused = console.client("editor").post("/sync/run", {"kind": "sync"})
    assert refused.status_code == 400 and "LEADBASE_AIRTABLE_TOKEN" in refused.text
    assert _jobs(console) == []


def test_keep_ours_and_keep_airtables_over_http(console: ConsoleServer) -> None:
    ours_lead, ours = _conflict(console, title="CEO", applied="remote")
    theirs_lead, theirs = _conflict(console, title="CTO", applied="local")
    editor, viewer = console.client("editor"), console.client("viewer")

    assert viewer.post(f"/sync/conflicts/{ours}/resolve", {"keep": "local"}).status_code == 403
    assert editor.post(f"/sync/conflicts/{ours}/resolve", {"keep": "both"}).status_code == 422
    assert editor.post("/sync/conflicts/nosuch/resolve", {"keep": "local"}).status_code == 404
    assert editor.post("/sync/conflicts/no$such/resolve", {"keep": "local"}).status_code == 404

    done = editor.post(f"/sync/conflicts/{ours}/resolve", {"keep": "local"})
    assert done.status_code == 303 and done.headers["location"] == "/sync?done=resolved"
    assert _title(console, ours_lead) == "CTO"
    again = editor.post(f"/sync/conflicts/{ours}/resolve", {"keep": "remote"})
    assert again.status_code == 409 and _title(console, ours_lead) == "CTO"

    assert editor.post(f"/sync/conflicts/{theirs}/resolve", {"keep": "remote"}).status_code == 303
    assert _title(console, theirs_lead) == "CEO"
    page = editor.get("/sync?done=resolved").text
    assert "Conflict resolved." in page and f'data-conflict="{theirs}"' not in page
    assert "No conflicts" in page and 'data-testid="nav-count-sync">' not in page


def test_sync_now_runs_in_the_server_and_the_page_shows_the_run(
    console_factory: Callable[..., ConsoleServer], airtable_emulator: AirtableEmulator
) -> None:
    console = console_factory(jobs_in_server=True, airtable_rate=1000.0)
    console.add_leads([{"full_name": f"P {i}", "email": f"p{i}@example.com"} for i in range(3)])
    editor = console.client("editor")
    assert editor.post("/sync/run", {"kind": "sync"}).status_code == 303
    deadline = time.monotonic() + 20
    while True:
        page = editor.get("/sync").text
        if 'data-count="linked">3<' in page and page.count('status-succeeded">Done<') == 2:
            break
        assert time.monotonic() < deadline, page
        time.sleep(0.1)
    assert 'data-count="pending">0<' in page
    assert "<td>Full pull</td>" in page and "<td>Push</td>" in page
    assert len(airtable_emulator.records()) == 3


def test_keep_airtables_in_the_browser(console: ConsoleServer, page: Any) -> None:
    lead_id, conflict_id = _conflict(console, title="CTO", applied="local")
    console.sign_in(page, "editor")
    page.goto(f"{console.url}/sync")
    row = page.locator(f'tr[data-conflict="{conflict_id}"]')
    expect(row).to_contain_text("CEO")
    row.get_by_role("button", name="Keep Airtable's").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Conflict resolved.")
    expect(page.locator(f'tr[data-conflict="{conflict_id}"]')).to_have_count(0)
    page.goto(f"{console.url}/leads/{lead_id}")
    expect(page.locator("main")).to_contain_text("CEO")
