"""The analytics figures (issue 15) against hand-counted values, on SQLite,
PostgreSQL and MariaDB: leads per period and value, the funnel, activity
volume, enrichment, scores, duplicates and runs, with the list's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from leadbase.analytics import service
from leadbase.analytics.schemas import LeadFilters
from leadbase.client import LeadDatabase
from leadbase.models import (
    AirtableRun,
    ApifySyncState,
    DuplicateCluster,
    ImportRun,
    LeadEvent,
    SalesLead,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Lead:
    created: str  # UTC
    country: str
    source: str
    # Each status it moves to, with the days it spent in the one before.
    path: list[tuple[str, float]]
    score: int | None
    # (enrichment_status, [(provider, step status)])
    enriched: tuple[str, list[tuple[str, str]]] | None


# 2026-03-01 is a Sunday, 03-02 a Monday.
LEADS = {
    "a": Lead(
        "2026-03-01 23:30:00",
        "FR",
        "apify",
        [],
        5,
        ("completed", [("email", "ok"), ("person", "no_data")]),
    ),
    "b": Lead(
        "2026-03-02 00:10:00",
        "France",
        "apify",
        [("contacted", 1)],
        9,
        ("completed", [("email", "ok"), ("person", "error")]),
    ),
    "c": Lead(
        "2026-03-08 12:00:00",
        "fr",
        "csv",
        [("contacted", 2), ("qualified", 4)],
        10,
        ("failed", [("email", "timeout"), ("person", "circuit_open")]),
    ),
    "d": Lead(
        "2026-03-31 23:59:59.500000",
        "DE",
        "csv",
        [("contacted", 3), ("qualified", 6), ("converted", 10)],
        95,
        None,
    ),
    "e": Lead(
        "2026-04-01 00:00:00",
        "Germany",
        "csv",
        [("contacted", 5), ("qualified", 7), ("lost", 8)],
        None,
        None,
    ),
    # Deleted: counted only with include_deleted.
    "f": Lead("2026-04-15 08:00:00", "DE", "csv", [("contacted", 100)], 100, None),
}

# (lead, event_type, when, outcome); the deleted lead's activity never counts.
ACTIVITIES = [
    ("a", "call", "2026-03-02 10:00:00", "connected"),
    ("a", "email", "2026-03-03 09:00:00", None),
    ("b", "call", "2026-03-09 15:00:00", "no_answer"),
    ("d", "meeting", "2026-04-02 11:00:00", "connected"),
    ("f", "call", "2026-03-02 10:00:00", "connected"),
]


def build(db: LeadDatabase) -> dict[str, str]:
    """The fixture's leads through the write path; what it cannot set (when
    a lead was created or entered its status) is written into the rows."""
    ids = {}
    for name, lead in LEADS.items():
        ids[name] = db.add_lead(
            {"email": f"{name}@example.org", "country": lead.country, "source": lead.source}
        )
    with db.db.unit_of_work() as uow:
        for name, lead in LEADS.items():
            # Chosen creation times: the write path stamps "now".
            uow.session.execute(
                update(SalesLead)
                .where(SalesLead.id == ids[name])
                .values(created_at=at(lead.created))
            )
    for name, lead in LEADS.items():
        for status, days in lead.path:
            # The status began `days` ago: the write path's status_changed
            # event then records that many days in it (stage_seconds).
            with db.db.unit_of_work() as uow:
                uow.session.execute(
                    update(SalesLead)
                    .where(SalesLead.id == ids[name])
                    .values(status_changed_at=datetime.now(UTC) - timedelta(days=days))
                )
            db.update_lead(ids[name], {"lead_status": status})
        changes: dict[str, Any] = {"lead_score": lead.score} if lead.score is not None else {}
        if lead.enriched is not None:
            status, steps = lead.enriched
            changes["enrichment_status"] = status
            changes["enrichment_data"] = {
                "steps": [{"provider": p, "status": s, "ms": 3, "attempts": 1} for p, s in steps]
            }
        if changes:
            db.update_lead(ids[name], changes)
    with db.db.unit_of_work() as uow:
        uow.session.add_all(
            LeadEvent(lead_id=ids[name], event_type=kind, event_timestamp=at(when), outcome=outcome)
            for name, kind, when, outcome in ACTIVITIES
        )
    db.delete_lead(ids["f"])
    return ids


def counted(
    db: LeadDatabase, name: str, interval: str, by: str | None = None, **filters: Any
) -> dict[Any, int]:
    """(period, value) -> count, or period -> count without ``by``."""
    wanted = LeadFilters(**filters)
    with db.db.read_session() as session:
        if name == "lead_counts":
            result = service.lead_counts(session, wanted, interval=interval, by=by)  # type: ignore[arg-type]
        else:
            result = service.activity_volume(session, wanted, interval=interval, by=by or "type")  # type: ignore[arg-type]
    assert result.total == sum(row.count for row in result.rows)
    periods = [row.period for row in result.rows]
    assert periods == sorted(periods)
    if by is None:
        return {row.period: row.count for row in result.rows}
    return {(row.period, row.value): row.count for row in result.rows}


@pytest.fixture
def fixture(leads: LeadDatabase) -> LeadDatabase:
    build(leads)
    return leads


def test_leads_per_period_and_value(fixture: LeadDatabase) -> None:
    # Weeks start on Monday: Sunday 03-01 23:30 is the week of 02-23.
    assert counted(fixture, "lead_counts", "week") == {
        "2026-02-23": 1,
        "2026-03-02": 2,
        "2026-03-30": 2,
    }
    # 03-31 23:59:59.5 is still March.
    assert counted(fixture, "lead_counts", "month", "status") == {
        ("2026-03-01", "new"): 1,
        ("2026-03-01", "contacted"): 1,
        ("2026-03-01", "qualified"): 1,
        ("2026-03-01", "converted"): 1,
        ("2026-04-01", "lost"): 1,
    }
    assert counted(fixture, "lead_counts", "day", "source") == {
        ("2026-03-01", "apify"): 1,
        ("2026-03-02", "apify"): 1,
        ("2026-03-08", "csv"): 1,
        ("2026-03-31", "csv"): 1,
        ("2026-04-01", "csv"): 1,
    }
    # Filters as GET /leads takes them: "DE" finds "Germany" too.
    assert counted(fixture, "lead_counts", "month", country="de") == {
        "2026-03-01": 1,
        "2026-04-01": 1,
    }
    assert counted(fixture, "lead_counts", "month", "country", source="APIFY") == {
        ("2026-03-01", "FR"): 1,
        ("2026-03-01", "France"): 1,
    }
    assert counted(
        fixture, "lead_counts", "week", since=date(2026, 3, 2), until=date(2026, 3, 31)
    ) == {
        "2026-03-02": 2,
        "2026-03-30": 1,
    }
    assert counted(fixture, "lead_counts", "week", include_deleted=True)["2026-04-13"] == 1
    assert counted(fixture, "lead_counts", "week", lead_status="Qualified") == {"2026-03-02": 1}
    assert counted(fixture, "lead_counts", "week", q="example", tag="nothing") == {}
    assert counted(
        fixture, "lead_counts", "week", enrichment_status="completed", is_manual=False
    ) == {
        "2026-02-23": 1,
        "2026-03-02": 1,
    }


def test_funnel(fixture: LeadDatabase) -> None:
    with fixture.db.read_session() as session:
        result = service.funnel(session, LeadFilters())
    stages = {stage.stage: stage for stage in result.stages}
    assert (result.leads, result.lost) == (5, 1)
    # e went new -> contacted -> qualified -> lost: it counts for all three.
    assert [stages[s].reached for s in ("new", "contacted", "qualified", "converted")] == [
        5,
        4,
        3,
        1,
    ]
    assert [stages[s].conversion for s in ("new", "contacted", "qualified", "converted")] == [
        0.8,
        0.75,
        0.3333,
        None,
    ]
    # new left after 1, 2, 3 and 5 days; contacted after 4, 6, 7; qualified after 10, 8.
    assert [stages[s].median_days for s in ("new", "contacted", "qualified", "converted")] == [
        2.5,
        6.0,
        9.0,
        None,
    ]
    assert [stages[s].left for s in ("new", "contacted", "qualified", "converted")] == [4, 3, 2, 0]

    with fixture.db.read_session() as session:
        german = service.funnel(session, LeadFilters(country="DE"))
        early = service.funnel(session, LeadFilters(until=date(2026, 3, 8)))
        everyone = service.funnel(session, LeadFilters(include_deleted=True))
    assert [s.reached for s in german.stages] == [2, 2, 2, 1] and german.lost == 1
    assert [s.median_days for s in german.stages] == [4.0, 6.5, 9.0, None]
    assert [s.reached for s in early.stages] == [3, 2, 1, 0] and early.lost == 0
    assert [s.reached for s in everyone.stages] == [6, 5, 3, 1]
    assert everyone.stages[0].median_days == 3.0  # 1, 2, 3, 5 and 100 days


def test_funnel_counts_the_furthest_stage_a_lead_moved_back_from(leads: LeadDatabase) -> None:
    lead = leads.add_lead({"email": "back@example.org"})

    def reached() -> list[int]:
        with leads.db.read_session() as session:
            return [stage.reached for stage in service.funnel(session, LeadFilters()).stages]

    leads.update_lead(lead, {"lead_status": "qualified"})
    leads.update_lead(lead, {"lead_status": "contacted"})  # moved back: still reached qualified
    assert reached() == [1, 1, 1, 0]
    leads.update_lead(lead, {"lead_status": "lost"})
    assert reached() == [1, 1, 1, 0]
    leads.update_lead(lead, {"lead_status": "converted"})
    assert reached() == [1, 1, 1, 1]
    with leads.db.read_session() as session:
        # As far as it went: nothing kept past its status.
        assert session.get(SalesLead, lead).stage_reached is None  # type: ignore[union-attr]


def test_activities(fixture: LeadDatabase) -> None:
    # Status changes are events but not activities; the deleted lead's call is left out.
    assert counted(fixture, "activity_volume", "week", "type") == {
        ("2026-03-02", "call"): 1,
        ("2026-03-02", "email"): 1,
        ("2026-03-09", "call"): 1,
        ("2026-03-30", "meeting"): 1,
    }
    assert counted(fixture, "activity_volume", "month", "outcome") == {
        ("2026-03-01", "connected"): 1,
        ("2026-03-01", "no_answer"): 1,
        ("2026-03-01", None): 1,
        ("2026-04-01", "connected"): 1,
    }
    assert counted(fixture, "activity_volume", "day", "type", country="France") == {
        ("2026-03-02", "call"): 1,
        ("2026-03-03", "email"): 1,
        ("2026-03-09", "call"): 1,
    }
    # since/until bound when the activity happened.
    assert counted(
        fixture, "activity_volume", "week", "type", since=date(2026, 3, 3), until=date(2026, 3, 31)
    ) == {
        ("2026-03-02", "email"): 1,
        ("2026-03-09", "call"): 1,
    }
    assert (
        counted(fixture, "activity_volume", "week", "type", include_deleted=True)[
            ("2026-03-02", "call")
        ]
        == 2
    )


def test_provider_success_counts_steps_created_with_a_lead_and_odd_or_long_ones(
    leads: LeadDatabase,
) -> None:
    def steps(*pairs: tuple[str, str]) -> dict[str, Any]:
        return {"steps": [{"provider": p, "status": s} for p, s in pairs]}

    many = [(f"provider_number_{i:02}", "ok") for i in range(20)]  # past the column's length
    leads.add_leads(
        [
            {
                "email": "one@example.org",
                "enrichment_status": "completed",
                "enrichment_data": steps(("email", "ok"), ("odd,name", "error")),
            },
            {
                "email": "two@example.org",
                "enrichment_status": "failed",
                "enrichment_data": steps(("email", "timeout")),
            },
            {
                "email": "three@example.org",
                "enrichment_status": "completed",
                "enrichment_data": steps(("email", "ok"), *many),
            },
            {"email": "four@example.org", "enrichment_data": steps(("email", "ok"))},  # pending
        ]
    )
    with leads.db.read_session() as session:
        result = service.enrichment(session, LeadFilters())
    providers = {p.provider: (p.runs, p.ok, p.failed) for p in result.providers}
    assert providers["email"] == (3, 2, 1)
    assert providers["odd,name"] == (1, 0, 1)
    assert providers["provider_number_19"] == (1, 1, 0) and len(providers) == 22


def test_enrichment_and_scores(fixture: LeadDatabase) -> None:
    with fixture.db.read_session() as session:
        result = service.enrichment(session, LeadFilters())
        french = service.enrichment(session, LeadFilters(country="FR", source="apify"))
        scores = service.scores(session, LeadFilters())
        everyone = service.scores(session, LeadFilters(include_deleted=True))
        german = service.scores(session, LeadFilters(country="DE"))
    assert result.leads == 5
    assert {row.value: row.count for row in result.by_status} == {
        "completed": 2,
        "failed": 1,
        "pending": 2,
    }
    assert result.coverage == 0.6667
    providers = {p.provider: p for p in result.providers}
    assert (providers["email"].runs, providers["email"].ok, providers["email"].failed) == (3, 2, 1)
    assert providers["email"].success_rate == 0.6667
    person = providers["person"]
    assert (person.runs, person.ok, person.no_data, person.failed, person.skipped) == (
        2,
        0,
        1,
        1,
        1,
    )
    assert person.success_rate == 0.0
    assert french.coverage == 1.0 and {p.provider: p.ok for p in french.providers} == {
        "email": 2,
        "person": 0,
    }

    assert (scores.leads, scores.scored, scores.unscored) == (5, 4, 1)
    assert [b.count for b in scores.buckets] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert (
        scores.buckets[0].low,
        scores.buckets[0].high,
        scores.buckets[9].low,
        scores.buckets[9].high,
    ) == (0, 9, 90, 100)
    assert (scores.mean, scores.median) == (29.75, 9.5)
    assert (everyone.scored, everyone.median, everyone.buckets[9].count) == (5, 10.0, 2)
    assert (german.scored, german.unscored, german.mean, german.median) == (1, 1, 95.0, 95.0)


def test_duplicates_and_runs(leads: LeadDatabase) -> None:
    ids = [
        leads.add_lead({"email": f"p{i}@example.org", "country": "FR" if i < 3 else "DE"})
        for i in range(5)
    ]
    leads.merge_leads(ids[0], [ids[1], ids[2]])
    merge = leads.merge_leads(ids[3], [ids[4]])
    leads.unmerge_lead(ids[4])
    now = datetime.now(UTC)
    with leads.db.unit_of_work() as uow:
        session = uow.session
        for i, (status, action) in enumerate(
            [("open", "review"), ("open", "review"), ("dismissed", "merge"), ("merged", "merge")]
        ):
            session.add(
                DuplicateCluster(
                    fingerprint=f"f{i}",
                    lead_ids=[],
                    score=0.9,
                    reasons=[],
                    action=action,
                    status=status,
                )
            )
        session.add(
            DuplicateCluster(
                fingerprint="old",
                lead_ids=[],
                score=0.9,
                reasons=[],
                action="merge",
                created_at=now - timedelta(days=40),
            )
        )
        for status, counts, done in [
            ("completed", {"created": 10, "merged": 2}, 12),
            ("completed", {"created": 5}, 5),
            ("failed", {"rejected": 3}, 3),
        ]:
            session.add(
                ImportRun(
                    file_name="f.csv",
                    file_sha256="0" * 64,
                    file_format="csv",
                    mapping={},
                    options={},
                    fingerprint="x",
                    status=status,
                    rows_done=done,
                    counts=counts,
                    actor="test",
                )
            )
        session.add(
            ApifySyncState(
                actor_id="a",
                run_id="r1",
                sync_status="completed",
                total_records=7,
                synced_records=6,
                failed_records=1,
                duplicate_records=2,
            )
        )
        session.add(
            ApifySyncState(
                actor_id="a",
                run_id="r2",
                sync_status="completed",
                total_records=3,
                synced_records=3,
            )
        )
        session.add(
            AirtableRun(kind="push", status="completed", actor="test", counts={"pushed": 4})
        )
        session.add(
            AirtableRun(
                kind="pull", status="failed", actor="test", counts={"pulled": 1, "conflicts": 1}
            )
        )
    assert merge
    with leads.db.read_session() as session:
        recent = LeadFilters(since=(now - timedelta(days=1)).date())
        dupes = service.duplicates(session, recent)
        everything = service.duplicates(session, LeadFilters())
        french = service.duplicates(session, LeadFilters(country="FR"))
        runs = service.imports(session, recent)
        none = service.imports(session, LeadFilters(until=date(2020, 1, 1)))
    assert {(c.status, c.action): c.count for c in dupes.clusters} == {
        ("open", "review"): 2,
        ("dismissed", "merge"): 1,
        ("merged", "merge"): 1,
    }
    assert (dupes.clusters_total, dupes.merges, dupes.leads_merged, dupes.unmerges) == (4, 2, 3, 1)
    assert everything.clusters_total == 5
    # Narrowed to French leads: the merge into p0 (p3 is German); no cluster holds them.
    assert (french.merges, french.leads_merged, french.unmerges, french.clusters_total) == (
        1,
        2,
        0,
        0,
    )

    assert [(r.kind, r.status, r.runs, r.rows) for r in runs.imports] == [
        ("file", "completed", 2, {"created": 15, "merged": 2, "rows_done": 17}),
        ("file", "failed", 1, {"rejected": 3, "rows_done": 3}),
    ]
    assert [
        (r.status, r.runs, r.rows["total_records"], r.rows["duplicate_records"]) for r in runs.apify
    ] == [("completed", 2, 10, 2)]
    assert [(r.kind, r.status, r.runs, r.rows) for r in runs.airtable] == [
        ("pull", "failed", 1, {"conflicts": 1, "pulled": 1}),
        ("push", "completed", 1, {"pushed": 4}),
    ]
    assert none.imports == none.apify == none.airtable == []
