"""Activities through LeadDatabase on SQLite, PostgreSQL and MariaDB: stored,
listed on the timeline once, audited on a chain that verifies; bad input
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from leadbase import audit
from leadbase.activities import service
from leadbase.activities.schemas import MAX_DATA_BYTES
from leadbase.client import LeadDatabase
from leadbase.errors import ConflictError, LeadbaseError, NotFoundError, ValidationError
from leadbase.leads.endpoints import history_of
from leadbase.leads.repository import get
from leadbase.leads.schemas import LeadHistory
from leadbase.models import LeadEvent
from tests.helpers import counts

ADA = {"full_name": "Ada Lovelace", "email": "ada@example.com"}
BACK_THEN = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _history(leads: LeadDatabase, lead_id: str) -> LeadHistory:
    with leads.db.read_session() as session:
        lead = get(session, lead_id, include_deleted=True)
        assert lead is not None
        return history_of(session, lead)


def _events(leads: LeadDatabase, ids: list[int]) -> dict[int, LeadEvent]:
    with leads.db.read_session() as session:
        rows = session.scalars(select(LeadEvent).where(LeadEvent.id.in_(ids))).all()
        session.expunge_all()
        return {row.id: row for row in rows}


def _verified(leads: LeadDatabase) -> bool:
    with leads.db.read_session() as session:
        return audit.verify(session).ok


def test_an_activity_is_stored_on_the_timeline_once_and_audited(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    event_id = leads.add_event(
        lead_id,
        " web_visit ",
        occurred_at=BACK_THEN,
        outcome="inbound",
        data={"page": "/pricing", "page_views": 3, "duration_seconds": 95},
    )
    [event] = _events(leads, [event_id]).values()
    assert (event.lead_id, event.event_type, event.outcome) == (lead_id, "web_visit", "inbound")
    assert event.event_timestamp == BACK_THEN
    assert event.event_data == {"page": "/pricing", "page_views": 3, "duration_seconds": 95}
    assert (event.event_source, event.actor) == ("script", "test:alice")
    lead = leads.get_lead(lead_id)
    assert lead is not None and lead["version"] == 1  # an activity is not an edit

    history = _history(leads, lead_id)
    visits = [e for e in history.timeline if e.event_type == "web_visit"]
    assert len(visits) == 1 and visits[0].at == BACK_THEN
    [entry] = [e for e in history.audit if e.action == "activity"]
    assert entry.actor == "test:alice"
    assert entry.changes["event_id"] == [None, event_id]
    assert entry.changes["outcome"] == [None, "inbound"]
    assert entry.changes["occurred_at"] == [None, "2024-03-01T09:30:00.000000Z"]
    assert _verified(leads)


@pytest.mark.parametrize("size", [3, 120])  # per-row entries; batch entries
def test_bulk_activities_in_order_each_once_and_audited(leads: LeadDatabase, size: int) -> None:
    lead_ids = leads.add_leads([{"email": f"p{i}@example.com"} for i in range(3)])
    rows: list[dict[str, Any]] = [
        {
            "lead_id": lead_ids[i % 3],
            "event_type": ("call", "email", "web_visit")[i % 3],
            "occurred_at": (BACK_THEN + timedelta(hours=i)).isoformat(),
            "outcome": "connected" if i % 2 else None,
            "data": {"page": f"/p/{i}", "page_views": i} if i % 3 == 2 else None,
        }
        for i in range(size)
    ]
    ids = leads.add_events(rows)
    assert len(ids) == size and len(set(ids)) == size
    stored = _events(leads, ids)
    for event_id, row in zip(ids, rows, strict=True):
        event = stored[event_id]
        assert (event.lead_id, event.event_type) == (row["lead_id"], row["event_type"])
        assert event.event_timestamp == datetime.fromisoformat(row["occurred_at"])
        assert (event.outcome, event.event_data) == (row["outcome"], row["data"])

    history = _history(leads, lead_ids[2])
    mine = [i for i, row in zip(ids, rows, strict=True) if row["lead_id"] == lead_ids[2]]
    told = [e for e in history.timeline if e.event_type == "web_visit"]
    assert len(told) == len(mine)
    audited = [e.changes["event_id"][1] for e in history.audit if e.action == "activity"]
    assert sorted(audited) == sorted(mine)
    assert _verified(leads)


def _too_big() -> dict[str, str]:
    return {"note": "x" * MAX_DATA_BYTES}


BAD: list[tuple[str, Callable[[LeadDatabase, str, str], Any], type[LeadbaseError], str]] = [
    ("unknown lead", lambda db, lead, _: db.add_event("no-such-lead", "call"), NotFoundError, ""),
    ("merged lead", lambda db, _, merged: db.add_event(merged, "call"), ConflictError, ""),
    (
        "internal type",
        lambda db, lead, _: db.add_event(lead, "Status_Changed"),
        ValidationError,
        "event_type",
    ),
    ("empty type", lambda db, lead, _: db.add_event(lead, "  "), ValidationError, "event_type"),
    ("long type", lambda db, lead, _: db.add_event(lead, "x" * 51), ValidationError, "event_type"),
    (
        "future date",
        lambda db, lead, _: db.add_event(
            lead, "call", occurred_at=datetime.now(UTC) + timedelta(days=2)
        ),
        ValidationError,
        "occurred_at",
    ),
    (
        "not a date",
        lambda db, lead, _: db.add_event(lead, "call", occurred_at="yesterday"),
        ValidationError,
        "occurred_at",
    ),
    (
        "data too big",
        lambda db, lead, _: db.add_event(lead, "note", data=_too_big()),
        ValidationError,
        "data",
    ),
    (
        "data not an object",
        lambda db, lead, _: db.add_event(lead, "note", data=["a"]),  # type: ignore[arg-type]
        ValidationError,
        "data",
    ),
    (
        "page views not a number",
        lambda db, lead, _: db.add_event(lead, "web_visit", data={"page_views": "3"}),
        ValidationError,
        "data.page_views",
    ),
    (
        "bulk with one bad row",
        lambda db, lead, _: db.add_events(
            [
                {"lead_id": lead, "event_type": "call"},
                {"lead_id": lead, "event_type": "email"},
                {"lead_id": lead, "event_type": "created"},
            ]
        ),
        ValidationError,
        "rows[2].event_type",
    ),
    (
        "bulk with an unknown lead",
        lambda db, lead, _: db.add_events(
            [{"lead_id": lead, "event_type": "call"}, {"lead_id": "gone", "event_type": "call"}]
        ),
        NotFoundError,
        "",
    ),
    (
        "bulk with an unknown key",
        lambda db, lead, _: db.add_events(
            [{"lead_id": lead, "event_type": "call"}, {"lead_id": lead, "kind": "call"}]
        ),
        ValidationError,
        "rows[1].kind",
    ),
]


def test_bad_input_is_refused_and_changes_nothing(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    merged = leads.add_lead({"email": "ada.l@example.com"}, on_duplicate="allow")
    leads.merge_leads(lead_id, [merged])
    deleted = leads.add_lead({"email": "gone@example.com"})
    leads.delete_lead(deleted)
    before = counts(leads)
    for name, call, error, field in BAD:
        with pytest.raises(error) as caught:
            call(leads, lead_id, merged)
        if field:
            assert isinstance(caught.value, ValidationError)
            assert caught.value.field == field, name
        assert counts(leads) == before, name
    with pytest.raises(ConflictError) as conflict:
        leads.add_event(merged, "call")
    assert conflict.value.details == [{"field": "lead_id", "merged_into_id": lead_id}]
    with pytest.raises(NotFoundError):
        leads.add_event(deleted, "call")
    with pytest.raises(NotFoundError, match="row 1"):
        rows = [{"lead_id": lead_id, "event_type": "x"}, {"lead_id": deleted, "event_type": "y"}]
        leads.add_events(rows)
    assert counts(leads) == before
    assert _verified(leads)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"lead_id": 7, "event_type": "call"}, "lead_id"),
        ({"lead_id": "a", "event_type": ["call"]}, "event_type"),
        ({"lead_id": "a", "event_type": "ca\x00ll"}, "event_type"),
        ({"lead_id": "a", "event_type": "call", "outcome": "o" * 51}, "outcome"),
        ({"lead_id": "a", "event_type": "call", "occurred_at": 1700000000}, "occurred_at"),
        (
            {"lead_id": "a", "event_type": "call", "occurred_at": "1850-01-01T00:00:00"},
            "occurred_at",
        ),
        ({"lead_id": "a", "event_type": "note", "data": {"at": datetime.now(UTC)}}, "data"),
        ({"lead_id": "a", "event_type": "note", "data": {"x": float("nan")}}, "data"),
        ({"lead_id": "a", "event_type": "note", "data": {"note": "a\x00"}}, "data"),
        ({"lead_id": "a", "event_type": "web_visit", "data": {"page": 3}}, "data.page"),
        (
            {"lead_id": "a", "event_type": "web_visit", "data": {"page_views": 1.5}},
            "data.page_views",
        ),
        (
            {"lead_id": "a", "event_type": "web_visit", "data": {"page_views": True}},
            "data.page_views",
        ),
        (
            {"lead_id": "a", "event_type": "web_visit", "data": {"duration_seconds": -1}},
            "data.duration_seconds",
        ),
        ({"lead_id": "a", "event_type": "call", 3: "x"}, "3"),
        (["lead_id"], "row"),
    ],
)
def test_each_bad_value_is_named(row: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        service.check(row, datetime.now(UTC))
    assert caught.value.field == field


def test_a_checked_activity_is_kept_as_given_but_trimmed() -> None:
    now = datetime.now(UTC)
    row = {"lead_id": " a ", "event_type": " Trade show ", "outcome": "  ", "data": {}}
    checked = service.check(row, now)
    assert (checked.lead_id, checked.event_type, checked.outcome) == ("a", "Trade show", None)
    assert (checked.occurred_at, checked.data) == (now, None)
    naive = service.check(
        {"lead_id": "a", "event_type": "x", "occurred_at": "2025-01-02T03:04"}, now
    )
    assert naive.occurred_at == datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    soon = now + timedelta(hours=20)  # a clock a little ahead is forgiven
    assert (
        service.check({"lead_id": "a", "event_type": "x", "occurred_at": soon}, now).occurred_at
        == soon
    )
