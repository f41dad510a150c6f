"""The analytics rollups (migrations 0017 and 0018) stay equal to a count of the rows
after every kind of write: the bulk path, edits, deletes and restores,
merges and unmerges, activities, score writes, and raw SQL (a writer that
knows nothing of them), on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import importlib
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, text, update

from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.models import LeadEvent, SalesLead
from leadbase.models.analytics import (
    ALL_DAYS,
    LEAD_DIMENSIONS,
    PAIRS,
    STAGE_BUCKET_SECONDS,
    TOTALLED,
)
from leadbase.models.lead import NOT_ACTIVITIES
from leadbase.scoring import service as scoring

MIGRATION = importlib.import_module(
    "leadbase.migrations.versions.2026_12_03_0017_analytics_rollups"
)
PER_STATEMENT = importlib.import_module(
    "leadbase.migrations.versions.2026_12_04_0018_rollups_per_statement"
)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _expected(connection: Connection) -> dict[str, Counter[tuple[str, ...]]]:
    """The rollups as a count of the stored rows would give them."""
    leads = connection.execute(select(SalesLead.__table__).where(SalesLead.is_deleted.is_(False)))
    counts: dict[str, Counter[tuple[str, ...]]] = {"activity": Counter(), "stage": Counter()}
    values = {
        "status": lambda r: _text(r.lead_status),
        "source": lambda r: _text(r.source),
        "country": lambda r: _text(r.country),
        "industry": lambda r: _text(r.industry),
        "stage": lambda r: f"{_text(r.lead_status)}|{_text(r.stage_reached)}",
        "enrichment": lambda r: f"{_text(r.enrichment_status)}|{_text(r.enrichment_steps)}",
        "score": lambda r: _text(r.lead_score),
    }
    for pair in PAIRS:
        first, second = (values[name] for name in pair.split("+"))
        values[pair] = lambda r, first=first, second=second: f"{first(r)}|{second(r)}"
    alive = set()
    for row in leads:
        alive.add(row.id)
        for dimension, value in values.items():
            counts.setdefault(dimension, Counter())[(str(row.created_at.date()), value(row))] += 1
            if dimension in TOTALLED:
                counts.setdefault(f"{dimension}:all", Counter())[(str(ALL_DAYS), value(row))] += 1
    for event in connection.execute(select(LeadEvent.__table__)):
        if event.lead_id not in alive:
            continue
        if event.event_type not in NOT_ACTIVITIES:
            key = (str(event.event_timestamp.date()), event.event_type, _text(event.outcome))
            counts["activity"][key] += 1
        if event.stage_seconds is not None:
            hour = str(event.stage_seconds // STAGE_BUCKET_SECONDS)
            counts["stage"][(_text(event.old_status), hour)] += 1
    return counts


def _stored(connection: Connection) -> dict[str, Counter[tuple[str, ...]]]:
    counts: dict[str, Counter[tuple[str, ...]]] = {"activity": Counter(), "stage": Counter()}
    for dimension, day, value, n in connection.execute(
        text("SELECT dimension, day, value, leads FROM lead_rollups WHERE leads <> 0")
    ):
        counts.setdefault(dimension, Counter())[(str(day), value)] += n
    for day, kind, outcome, n in connection.execute(
        text("SELECT day, event_type, outcome, activities FROM activity_rollups")
    ):
        if n:
            counts["activity"][(str(day), kind, outcome)] += n
    for status, hour, n in connection.execute(
        text("SELECT old_status, hour, changes FROM stage_rollups")
    ):
        if n:
            counts["stage"][(status, str(hour))] += n
    return counts


def assert_rollups_exact(url: str) -> None:
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            stored, expected = _stored(connection), _expected(connection)
    finally:
        database.dispose()
    for name in sorted(set(stored) | set(expected)):
        assert +stored.get(name, Counter()) == +expected.get(name, Counter()), name


def test_rollups_follow_every_kind_of_write(db_url: str) -> None:
    with LeadDatabase(db_url, actor="test:rollups") as db:
        ids = db.add_leads(
            [
                {
                    "full_name": f"Lead {i}",
                    "email": f"lead{i}@example{i % 3}.com",
                    "country": ("US", "DE", None)[i % 3],
                    "source": ("web", "apify")[i % 2],
                    "industry": "Software" if i % 4 else None,
                }
                for i in range(24)
            ],
            on_duplicate="allow",
        )
        assert_rollups_exact(db_url)
        db.update_lead(ids[0], {"lead_status": "contacted", "country": "FR"})
        db.update_lead(ids[0], {"lead_status": "qualified"})
        db.update_lead(ids[0], {"lead_status": "lost", "industry": "Retail"})
        db.update_lead(ids[1], {"lead_status": "contacted", "source": "import"})
        db.add_event(ids[1], "call", outcome="connected")
        db.add_events(
            [
                {"lead_id": ids[2], "event_type": "email"},
                {"lead_id": ids[3], "event_type": "meeting", "outcome": "held"},
                {"lead_id": ids[4], "event_type": "web_visit", "data": {"page": "/pricing"}},
            ]
        )
        assert_rollups_exact(db_url)
        db.delete_lead(ids[1])  # its activity and status change go with it
        db.delete_lead(ids[5])
        db.restore_lead(ids[5])
        assert_rollups_exact(db_url)
        db.merge_leads(ids[2], [ids[3], ids[4]])  # activities move to the survivor
        assert_rollups_exact(db_url)
        db.unmerge_lead(ids[2])
        assert_rollups_exact(db_url)
        db.restore_lead(ids[1])
        database = db.db
        scoring.score_all(database, scoring.rules_in_effect())
        assert_rollups_exact(db_url)
        # Writers that know nothing of the rollups: raw SQL, as a bench or a
        # fix by hand would write.
        with database.engine.begin() as connection:
            connection.execute(
                update(SalesLead)
                .where(SalesLead.id.in_(ids[6:10]))
                .values(
                    created_at=datetime(2025, 3, 4, 5, 6, tzinfo=UTC),
                    enrichment_status="completed",
                    enrichment_steps="email=ok,person=no_data",
                )
            )
            connection.execute(
                update(LeadEvent)
                .where(LeadEvent.lead_id == ids[2], LeadEvent.event_type == "email")
                .values(event_timestamp=datetime(2025, 1, 2, tzinfo=UTC), outcome="replied")
            )
            connection.execute(delete(LeadEvent).where(LeadEvent.lead_id == ids[4]))
            # A lead removed for good takes its activities (by cascade) along.
            connection.execute(delete(LeadEvent).where(LeadEvent.lead_id == ids[0]))
            connection.execute(delete(SalesLead).where(SalesLead.id == ids[0]))
            connection.execute(delete(SalesLead).where(SalesLead.id == ids[1]))
        assert_rollups_exact(db_url)


def test_the_migrations_list_of_non_activities_is_the_models() -> None:
    # The triggers spell the list out in SQL; a kind added to the model needs a migration.
    assert tuple(MIGRATION.NOT_ACTIVITIES) == NOT_ACTIVITIES
    totals = {f"{name}:all" for name in TOTALLED}
    assert set(MIGRATION.DIMENSIONS) == set(LEAD_DIMENSIONS) | set(PAIRS) | totals
    # 0018 (PostgreSQL's per-statement triggers) spells them out again.
    assert tuple(PER_STATEMENT.NOT_ACTIVITIES) == NOT_ACTIVITIES
    assert set(PER_STATEMENT.VALUES) == set(LEAD_DIMENSIONS) | set(PAIRS)
    assert {f"{name}:all" for name in PER_STATEMENT.TOTALLED} == totals


def test_one_filter_counts_from_the_pairs_equal_the_rows(db_url: str) -> None:
    """Leads by period with one filter (any of a value's spellings) come
    from the pair rollups; the rows, counted directly, say the same."""
    from leadbase.analytics import repository, rollups
    from leadbase.analytics import service as analytics
    from leadbase.analytics.schemas import LeadFilters

    countries = ("US", "USA", "DE", "Deutschland", None)
    with LeadDatabase(db_url, actor="test:rollups") as db:
        ids = db.add_leads(
            [
                {
                    "full_name": f"Lead {i}",
                    "email": f"pair{i}@example.com",
                    "country": countries[i % 5],
                    "source": ("web", "apify", None)[i % 3],
                    "industry": ("Software", "Retail")[i % 2],
                }
                for i in range(30)
            ],
            on_duplicate="allow",
        )
        for lead_id in ids[:6]:
            db.update_lead(lead_id, {"lead_status": "contacted"})
        db.delete_lead(ids[7])
        with db.db.engine.begin() as connection:  # spread over two months
            connection.execute(
                update(SalesLead)
                .where(SalesLead.id.in_(ids[::2]))
                .values(created_at=datetime(2026, 1, 5, 9, tzinfo=UTC))
            )
        filters = [
            LeadFilters(country="US"),
            LeadFilters(country="DE"),
            LeadFilters(source="web"),
            LeadFilters(lead_status="contacted"),
            LeadFilters(industry="Retail"),
        ]
        with db.db.read_session() as session:
            # Every filter with every breakdown, the interval alternating: each
            # filter and each breakdown meets both intervals (pairwise; the full
            # product ran each period query twice over, on every database).
            for f, wanted in enumerate(filters):
                listing = analytics._listing(session, wanted)
                assert rollups.one_filter(listing) is not None
                for b, by in enumerate((None, "status", "source", "country", "industry")):
                    column = analytics.BY_COLUMNS[by] if by else None
                    interval = ("week", "month")[(f + b) % 2]
                    rows = repository.leads_by_period(
                        session, listing, interval, column, since=None, until=None
                    )
                    figure = analytics.lead_counts(session, wanted, interval=interval, by=by)
                    assert figure.total == sum(rows.values())
                    assert {
                        (r.period, r.value) if by else (r.period,): r.count for r in figure.rows
                    } == dict(rows), (wanted, by, interval)


def test_filters_the_pairs_do_not_hold_are_counted_from_the_rows(sqlite_url: str) -> None:
    """is_manual, a company, several filters: not one of the four, so not a
    pair rollup's; the figure still answers (the fuzzer found a 500 here)."""
    from leadbase.analytics import service as analytics
    from leadbase.analytics.schemas import LeadFilters

    with LeadDatabase(sqlite_url, actor="test:rollups") as db:
        db.add_leads(
            [
                {"full_name": "Typed In", "email": "typed@example.com", "country": "US"},
                {"full_name": "Other", "email": "other@example.com", "country": "DE"},
            ],
            on_duplicate="allow",
        )
        with db.db.read_session() as session:
            for filters, total in (
                (LeadFilters(is_manual=True), 0),
                (LeadFilters(is_manual=False), 2),
                (LeadFilters(country="US", source="web"), 0),
                (LeadFilters(country="DE"), 1),
            ):
                figure = analytics.lead_counts(session, filters, interval="week", by="source")
                assert figure.total == total, filters
