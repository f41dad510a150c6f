"""Analytics benchmark: each figure's time on a large SQLite database.

    .venv/bin/python bench/analytics.py [--leads 200000] [--path FILE] [--runs 20]

Builds ``--path`` once (kept for the next run): ``--leads`` generated leads
stored through the write path (``LeadDatabase.add_leads``, as
bench/write_path.py generates them), then, straight in SQL for speed, spread
over two years of created_at, given statuses (30% of leads with one to
three status_changed events, lost leads among them), scores (70% scored),
finished enrichments with provider steps (40%), 1% deleted, and about one
activity a lead. Then times every analytics service function, unfiltered,
with a country filter and with a since/until range, each ``--runs`` times,
and prints p50 / p99 / max in milliseconds.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import write_path
from leadbase.analytics import service
from leadbase.analytics.schemas import LeadFilters
from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.leads import service as leads_service
from leadbase.models.lead import enrichment_steps_key

START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 730
STATUSES = ("new", "contacted", "qualified", "converted", "lost")
KINDS = ("call", "email", "meeting", "web_visit", "note")
OUTCOMES = ("connected", "no_answer", "replied", None)
PROVIDERS = ("email", "person", "company", "phone")
STEP_STATUSES = ("ok", "ok", "no_data", "error", "timeout", "circuit_open")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, leads: int, seed: int = 15) -> None:
    url = write_path.migrated(path)
    rows = write_path.generate(leads, seed)
    started = time.perf_counter()
    with LeadDatabase(url, actor="bench:analytics") as db:
        for at in range(0, len(rows), 5000):
            db.add_leads(rows[at : at + 5000], on_duplicate="merge")
    print(f"write path: {len(rows)} rows in {time.perf_counter() - started:.0f}s")
    _spread(path, seed)


def _spread(path: Path, seed: int) -> None:
    """Times, statuses, scores, enrichments, deletes, events: in SQL, fast."""
    rng = random.Random(seed)
    connection = sqlite3.connect(path)
    ids = [row[0] for row in connection.execute("SELECT id FROM sales_leads ORDER BY id")]
    updates, events = [], []
    for lead_id in ids:
        created = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        path_length = rng.choices((0, 1, 2, 3), (70, 15, 10, 5))[0]
        status, at, reached = "new", created, None
        for step in range(path_length):
            following = STATUSES[step + 1] if rng.random() > 0.25 else "lost"
            seconds = int(rng.expovariate(1 / (5 * 86400)))
            at += timedelta(seconds=seconds)
            events.append((lead_id, "status_changed", _stamp(at), status, following, None, seconds))
            reached = leads_service.stage_reached(reached, status, following)
            status = following
            if status == "lost":
                break
        for _ in range(rng.choices((0, 1, 2, 3), (40, 30, 20, 10))[0]):
            happened = created + timedelta(seconds=rng.uniform(0, 120 * 86400))
            kind, outcome = rng.choice(KINDS), rng.choice(OUTCOMES)
            events.append((lead_id, kind, _stamp(happened), None, None, outcome, None))
        enriched = rng.random() < 0.4
        steps = [
            {"provider": p, "status": rng.choice(STEP_STATUSES), "ms": 5, "attempts": 1}
            for p in PROVIDERS
        ]
        data = {"steps": steps} if enriched else None
        updates.append(
            (
                _stamp(created),
                status,
                rng.randint(0, 100) if rng.random() < 0.7 else None,
                ("completed" if rng.random() < 0.8 else "failed") if enriched else "pending",
                json.dumps(data) if data else None,
                enrichment_steps_key(data),  # what the write path derives
                reached,
                1 if rng.random() < 0.01 else 0,
                lead_id,
            )
        )
    with connection:
        connection.executemany(
            "UPDATE sales_leads SET created_at = ?, lead_status = ?, lead_score = ?, "
            "enrichment_status = ?, enrichment_data = ?, enrichment_steps = ?, stage_reached = ?, "
            "is_deleted = ? WHERE id = ?",
            updates,
        )
        connection.executemany(
            "INSERT INTO lead_events (lead_id, event_type, event_timestamp, old_status, "
            "new_status, outcome, stage_seconds, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*event, event[2], event[2]) for event in events],
        )
    connection.execute("VACUUM")
    connection.close()
    print(f"spread: {len(updates)} leads, {len(events)} events")


def _timed(call: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    times = []
    call()  # warm: page cache, statement cache, facets' distinct values
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return statistics.median(times), p99, times[-1]


FIGURES: dict[str, Callable[..., Any]] = {
    "leads week": lambda s, f: service.lead_counts(s, f, interval="week"),
    "leads month by status": lambda s, f: service.lead_counts(s, f, interval="month", by="status"),
    "leads day by country": lambda s, f: service.lead_counts(s, f, interval="day", by="country"),
    "funnel": service.funnel,
    "activities week by type": lambda s, f: service.activity_volume(s, f, interval="week"),
    "activities month by outcome": lambda s, f: service.activity_volume(
        s, f, interval="month", by="outcome"
    ),
    "enrichment": service.enrichment,
    "duplicates": service.duplicates,
    "imports": service.imports,
    "scores": service.scores,
}
FILTERS = {
    "all": LeadFilters(),
    "country=US": LeadFilters(country="US"),
    "2026-Q1": LeadFilters(since=date(2026, 1, 1), until=date(2026, 3, 31)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--path", type=Path, default=Path("/tmp/leadbase-analytics-bench.sqlite"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", help="time only the figures whose name contains this")
    args = parser.parse_args(argv)
    if not args.path.exists():
        build(args.path, args.leads)
    db = Database(f"sqlite:///{args.path}")
    print(f"{'figure':30} {'filters':12} {'p50':>8} {'p99':>8} {'max':>8}  (ms)")
    for name, figure in FIGURES.items():
        if args.only and args.only not in name:
            continue
        for label, filters in FILTERS.items():
            with db.read_session() as session:
                p50, p99, worst = _timed(functools.partial(figure, session, filters), args.runs)
            print(f"{name:30} {label:12} {p50:8.1f} {p99:8.1f} {worst:8.1f}")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
