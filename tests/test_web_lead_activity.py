"""The lead page's Log activity form: an editor records a call, an email, a
meeting...; it shows on the timeline once with its outcome and data; bad
input comes back 422 in words and stores nothing; CSRF as every form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from leadbase import context
from leadbase.activities import service as activities_service
from leadbase.models import LeadEvent
from leadbase.web import lead_timeline
from tests.browser import ConsoleServer

ADA = {"full_name": "Ada Lovelace", "email": "ada@example.com"}


def _activities(console: ConsoleServer, lead_id: str) -> list[LeadEvent]:
    with console.database.read_session() as session:
        rows = session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


def _error(html: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="f-{name}-error">([^<]*)</p>', html)
    return found.group(1) if found else None


def test_the_form_logs_an_activity_shown_once_on_the_timeline(console: ConsoleServer) -> None:
    [lead_id] = console.add_leads([ADA])
    client = console.client("editor")
    page = client.get(f"/leads/{lead_id}").text
    assert 'data-testid="log-activity"' in page and 'data-testid="activity-form"' not in page
    opened = client.get(f"/leads/{lead_id}?edit=activity").text
    assert 'data-testid="activity-form"' in opened and 'name="csrf_token"' in opened

    form = {
        "activity_type": "call",
        "activity_at": "2025-05-01T10:30",
        "activity_outcome": "meeting_set",
        "activity_note": "Talked pricing",
    }
    assert client.http.post(f"/leads/{lead_id}/activity", data=form).status_code == 403
    answer = client.post(f"/leads/{lead_id}/activity", form)
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("notice=activity#timeline-heading")
    [event] = _activities(console, lead_id)
    assert (event.event_type, event.outcome) == ("call", "meeting_set")
    assert event.event_timestamp == datetime(2025, 5, 1, 10, 30, tzinfo=UTC)
    assert event.event_data == {"note": "Talked pricing"}
    assert (event.event_source, event.actor) == ("console", "user:editor@example.com")

    html = client.get(f"/leads/{lead_id}?notice=activity").text
    assert "Activity logged." in html
    assert html.count("Talked pricing") == 1  # once on the timeline
    assert "meeting set · Talked pricing" in html
    client.close()


def test_other_kinds_and_refusals(console: ConsoleServer) -> None:
    [lead_id] = console.add_leads([ADA])
    client = console.client("editor")
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    refused: list[tuple[dict[str, str], str, str]] = [
        ({"activity_type": "other"}, "activity_other", "Say what kind"),
        ({"activity_type": "other", "activity_other": "merged"}, "activity_other", "leadbase"),
        ({"activity_type": "call", "activity_at": later}, "activity_at", "in the future"),
        ({"activity_type": "call", "activity_at": "soon"}, "activity_at", "like 2026-03-01"),
        ({"activity_type": "call", "activity_note": "x" * 5000}, "activity_note", "4,000"),
    ]
    for form, name, message in refused:
        answer = client.post(f"/leads/{lead_id}/activity", form)
        assert answer.status_code == 422, form
        shown = _error(answer.text, name)
        assert shown is not None and message in shown, (form, shown)
        assert f'href="#f-{name}"' in answer.text
        assert 'data-testid="activity-form"' in answer.text  # open, as typed
    assert _activities(console, lead_id) == []

    form = {"activity_type": "other", "activity_other": "Trade show", "activity_outcome": ""}
    assert client.post(f"/leads/{lead_id}/activity", form).status_code == 303
    [event] = _activities(console, lead_id)
    assert (event.event_type, event.outcome, event.event_data) == ("Trade show", None, None)
    viewer = console.client("viewer")
    assert 'id="log-activity"' not in viewer.get(f"/leads/{lead_id}").text
    assert viewer.post(f"/leads/{lead_id}/activity", form).status_code == 403
    client.close()
    viewer.close()


def test_a_web_visit_reads_with_its_page_views_and_duration(
    console: ConsoleServer, page: Any
) -> None:
    [lead_id] = console.add_leads([ADA])
    with context.acting_as("test:script"), console.database.unit_of_work() as uow:
        activities_service.add_event(
            uow,
            lead_id,
            "web_visit",
            outcome="inbound",
            data={"page": "/pricing", "page_views": 3, "duration_seconds": 125},
            source="script",
        )
    console.sign_in(page, "editor")
    page.goto(f"{console.url}/leads/{lead_id}")
    visit = page.get_by_test_id("timeline-item").filter(has_text="Web visit")
    expect(visit).to_have_count(1)
    expect(visit).to_contain_text("inbound · /pricing · 3 page views · 2 min 5 s")

    page.get_by_test_id("log-activity").click()
    page.get_by_label("Activity", exact=True).select_option("meeting")
    page.get_by_label("Outcome").fill("connected")
    page.get_by_label("Activity note").fill("Demo booked")
    page.get_by_role("button", name="Log activity").click()
    expect(page.get_by_test_id("notice")).to_have_text("Activity logged.")
    meeting = page.get_by_test_id("timeline-item").filter(has_text="Meeting")
    expect(meeting).to_contain_text("connected · Demo booked")
    expect(meeting).to_contain_text("by editor@example.com")


def test_durations_read_as_people_say_them() -> None:
    said = [lead_timeline.duration(s) for s in (45, 59.6, 120, 125, 3600, 3720, -1, "long")]
    assert said == ["45 s", "1 min", "2 min", "2 min 5 s", "1 h", "1 h 2 min", "-1", "long"]
