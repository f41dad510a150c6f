"""Push N leads to the Airtable emulator with its rate limit on, against the floor.

    .venv/bin/python bench/airtable.py --rows 1000     # ~20 s floor
    .venv/bin/python bench/airtable.py                 # 10,000 leads: ~200 s floor

Makes N leads in a throw-away SQLite database (the bulk create path), starts
the emulator with Airtable's limit (5 requests/s per base, 30 s of 429s
after one) and pushes them with the real client and pacing (settings'
rate, 5/s). The floor is what the limit allows at best: ceil(N/10) write
requests at 5 a second. Targets (issue 14): requests <= 1.05x the floor,
no 429s, elapsed <= 1.1x the floor.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.emulators

from tests.emulators.airtable import AirtableEmulator  # noqa: E402

from leadbase import schema  # noqa: E402
from leadbase.client import LeadDatabase  # noqa: E402
from leadbase.config import get_settings  # noqa: E402
from leadbase.db import create_db_engine  # noqa: E402
from leadbase.sync.airtable.mapping import default_mapping  # noqa: E402
from leadbase.sync.airtable.push import push  # noqa: E402
from leadbase.sync.airtable.settings import AirtableConfig  # noqa: E402

RATE = 5  # Airtable's limit per base
CHUNK = 2000  # leads per bulk create


def _leads(url: str, rows: int) -> None:
    engine = create_db_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    with LeadDatabase(url, actor="bench:airtable") as leads:
        for start in range(0, rows, CHUNK):
            leads.add_leads(
                [
                    {
                        "full_name": f"Bench Person {i:06d}",
                        "email": f"bench{i}@company{i % 997}.example",
                        "title": "Head of Sales",
                        "company_name": f"Company {i % 997}",
                        "city": "Lyon",
                        "country": "FR",
                        "tags": ["bench"],
                        "lead_score": i % 100,
                    }
                    for i in range(start, min(rows, start + CHUNK))
                ],
                on_duplicate="allow",
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        _leads(url, args.rows)
        print(f"{args.rows:,} leads made in {time.perf_counter() - started:.1f} s")
        with AirtableEmulator.running(rate_limit=RATE, penalty_seconds=30) as emu:
            config = AirtableConfig(
                token=emu.token,
                base_id=emu.base_id,
                table=emu.table_name,
                api_url=emu.url,
                rate=get_settings().airtable_rate,  # the default: 5
                max_attempts=5,
                timeout=30,
                mapping=default_mapping(),
                on_remote_delete="flag",
            )
            with LeadDatabase(url) as leads:
                started = time.perf_counter()
                result = push(leads.db, config)
                elapsed = time.perf_counter() - started
            records = len(emu.records())
            received = emu.count(status=429)
    _report(args.rows, result.requests, received, elapsed, records, result.failed)


def _report(
    rows: int, requests: int, received: int, elapsed: float, records: int, failed: int
) -> None:
    floor_requests = math.ceil(rows / 10)
    floor_seconds = floor_requests / RATE
    print(f"records in Airtable: {records:,} of {rows:,} ({failed} failed)")
    print(f"{'':<12} {'run':>10} {'floor':>10} {'ratio':>7} {'target':>8}")
    lines = [
        ("requests", f"{requests:,}", f"{floor_requests:,}", requests / floor_requests, "<= 1.05"),
        ("429s", f"{received:,}", "0", None, "0"),
        ("elapsed s", f"{elapsed:.1f}", f"{floor_seconds:.1f}", elapsed / floor_seconds, "<= 1.10"),
    ]
    for name, run, floor, ratio, target in lines:
        shown = f"{ratio:.3f}" if ratio is not None else "-"
        print(f"{name:<12} {run:>10} {floor:>10} {shown:>7} {target:>8}")
    ok = requests <= 1.05 * floor_requests and received == 0 and elapsed <= 1.1 * floor_seconds
    print("targets met" if ok and records == rows else "TARGETS MISSED")


if __name__ == "__main__":
    main()
