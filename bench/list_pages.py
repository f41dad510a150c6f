"""List pages and counts per console filter, straight from the repository.

    LEADBASE_DATABASE_URL=sqlite:////tmp/x/big.db .venv/bin/python bench/list_pages.py

For each filter the console offers (alone and in pairs), newest first:
page 1, page 6 (five keyset pages on: the cursor sits inside an import
batch whose leads share one created_at) and the capped count the console
shows (count_capped to 10,000, no time budget). Prints the median of
``--repeat`` runs in ms. Compare two databases (before and after an index
change) by running it on each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from leadbase.config import Settings
from leadbase.db import Database
from leadbase.leads import listing, repository
from leadbase.leads.repository import Position, Sort

CASES: dict[str, dict[str, Any]] = {
    "no filter": {},
    "manual": {"is_manual": True},
    "not manual": {"is_manual": False},
    "enrichment failed": {"enrichment_status": "failed"},
    "qualified": {"lead_status": "qualified"},
    "source apify": {"source": "apify"},
    "country US": {"country": "US"},
    "industry": {"industry": "Software"},
    "qualified in US": {"lead_status": "qualified", "country": "US"},
    "manual, failed": {"is_manual": True, "enrichment_status": "failed"},
    "country US+USA": {"country": ["US", "USA"]},
}
NEWEST = Sort.parse("-created_at")
PAGE = 50


def _timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def _cursor(session: Any, filters: dict[str, Any], pages: int) -> Position | None:
    after = None
    for _ in range(pages):
        rows = repository.filtered_page(
            session, filters, include_deleted=False, sort=NEWEST, after=after, limit=PAGE
        )
        if len(rows) < PAGE:
            return after
        after = Position(rows[-1]["created_at"], rows[-1]["id"])
    return after


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    url = os.environ["LEADBASE_DATABASE_URL"]
    database = Database(url, Settings(database_url=url))
    print(f"{'case':<20} {'page 1':>8} {'page 6':>8} {'count':>8} {'total':>7}")
    with database.read_session() as session:
        for case, filters in CASES.items():
            view = listing.Listing(filters)

            def first(view: listing.Listing = view) -> Any:
                return listing.page(session, view, sort=NEWEST, after=None, limit=PAGE)

            after = _cursor(session, filters, 5)

            def sixth(view: listing.Listing = view, after: Position | None = after) -> Any:
                return listing.page(session, view, sort=NEWEST, after=after, limit=PAGE)

            def count(filters: dict[str, Any] = filters) -> int:
                return repository.count_capped(session, filters, cap=10_000)

            one, _ = _timed(first, args.repeat)
            six, _ = _timed(sixth, args.repeat)
            counted, total = _timed(count, args.repeat)
            print(f"{case:<20} {one:8.2f} {six:8.2f} {counted:8.2f} {total:>7}")


if __name__ == "__main__":
    main()
