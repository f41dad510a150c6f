"""The console's /sync over HTTP: what a person sees of the Airtable sync
before it is set up, with leads waiting, after runs, and the menu's count."""

from __future__ import annotations

from collections.abc import Callable

from leadbase.leads import service as leads_service
from leadbase.models import AirtableConflict
from leadbase.sync.airtable import runs
from tests.browser import ConsoleServer

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
                fields={"Title": {"local": "CTO", "remote": "CEO", "base": "VP"}},
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
    assert "CTO" in viewer and "CEO" in viewer
    assert 'data-testid="actions"' not in viewer  # viewers look, editors act
    assert "Keep ours" not in viewer

    editor = console.client("editor").get("/sync").text
    assert 'data-testid="actions"' in editor and "Keep ours" in editor
