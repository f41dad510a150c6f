"""Console benchmark: server time of /leads page renders on a big database.

    .venv/bin/python bench/console.py [--leads 1000000] [--requests 200]

1. Builds the database through the one write path (``LeadDatabase.add_leads``
   in chunks, with api_load's lead generator) unless it already holds
   ``--leads`` leads: an SQLite file under bench/results/ (kept between runs),
   or whatever ``LEADBASE_DATABASE_URL`` names. As they are added, about 2%
   of the leads are manual, 10% failed enrichment and lead statuses vary, so
   the list's filters match leads spread through the sort order, as real
   ones do (api_load's leads are all pending, new and not manual).
2. Creates the app in this process (with its lifespan, so the server's GC
   and thread tuning apply; request logs at INFO to /dev/null, as
   ``leadbase serve`` writes them) and signs an editor in through /login,
   over httpx's ASGI transport: no socket, no second process.
3. Requests each case's page ``--requests`` times, one at a time, after a few
   warm-ups. Server time is measured around the ASGI app: from the call to
   the last byte of the response (session lookup, middleware, queries,
   template). The page's own Server-Timing header splits out its queries.

Prints p50/p99 server time per case and whether the target holds: p99 <
100 ms on every case.

4. Export (unless ``--skip-export``): ``GET /leads/export?format=csv``, the
   whole list newest first, through the console route in this process,
   read until 10,000 and then 100,000 rows have come, then the client goes
   away. Each size runs twice: once timed (rows/s, rows per CPU second, and
   the peak growth of the process's anonymous RSS), once under tracemalloc
   (peak of Python memory while it runs). A flat export needs about the
   same memory for both sizes. The
   baseline in the same run: the same 100,000 rows and columns read with
   one raw SELECT through the driver and written with the csv module to an
   in-memory sink (no conversion, no escaping). Target: >= 20,000 rows/s,
   with the 100k peak under twice the 10k one.

    .venv/bin/python bench/console.py --leads 1000000 --skip-pages   # export only
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import html
import io
import os
import random
import re
import statistics
import sys
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_load
from leadbase import context, logs
from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database, create_db_engine, normalise_url
from leadbase.errors import NotFoundError
from leadbase.http.app import create_app
from leadbase.leads import export

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "console-bench-secret-key-0123456789abcdef"
EDITOR = ("bench-console@example.com", "bench password 123")
TARGET_P99_MS = 100.0
EXPORT_ROWS = (10_000, 100_000)
TARGET_EXPORT_ROWS_PER_S = 20_000
# "Flat": the bigger export's peak memory within this factor of the smaller's.
FLAT_FACTOR = 2.0
WARM_UPS = 5
# Piped to a file, rich would cut the table to 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=120)


# --- the database ------------------------------------------------------------------


def _spread(rng: random.Random, lead: dict[str, Any]) -> dict[str, Any]:
    """The columns the list filters on, varied as they are in a real database."""
    lead["is_manual"] = rng.random() < 0.02
    lead["enrichment_status"] = rng.choices(
        ("pending", "in_progress", "completed", "failed"), weights=(50, 2, 38, 10)
    )[0]
    lead["lead_status"] = rng.choices(
        ("new", "contacted", "qualified", "converted", "lost"), weights=(60, 20, 10, 5, 5)
    )[0]
    return lead


def common_values(url: str) -> dict[str, str]:
    """A common country among the newest leads, for the filter cases."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT country FROM sales_leads ORDER BY created_at DESC LIMIT 20000"
            ).all()
    finally:
        engine.dispose()
    countries = Counter(row[0] for row in rows if row[0])
    return {"country": countries.most_common(1)[0][0] if countries else "US"}


def ensure_editor(database: Database) -> None:
    with context.acting_as("bench:console"), database.unit_of_work() as uow:
        try:
            auth_service.get_user_by_email(uow.session, EDITOR[0])
        except NotFoundError:
            auth_service.create_user(uow.session, EDITOR[0], EDITOR[1], "editor")


# --- the app, in this process --------------------------------------------------------


class Timed:
    """ASGI wrapper: how long the app took over each request, call to last byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - started


async def sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit("no sign-in form at /login")
    answer = await client.post(
        "/login",
        data={"email": EDITOR[0], "password": EDITOR[1], "csrf_token": token.group(1)},
    )
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code}")


def _link(page: str, rel: str) -> str:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    if found is None:
        raise SystemExit(f"no {rel} link on the page")
    return html.unescape(found.group(1))


async def cases(client: httpx.AsyncClient, values: dict[str, str]) -> dict[str, str]:
    """Each case's URL; the page links come from the pages themselves."""
    first = (await client.get("/leads")).text
    second_url = _link(first, "next")
    third = (await client.get(_link((await client.get(second_url)).text, "next"))).text
    country = values["country"]
    return {
        "page 1, no filter": "/leads",
        "header sort: name A-Z": "/leads?sort=full_name",
        "header sort: name Z-A": "/leads?sort=-full_name",
        "page 2 (Next)": second_url,
        "page 2 (Previous)": _link(third, "prev"),
        "manual": "/leads?is_manual=true",
        "enrichment failed": "/leads?enrichment_status=failed",
        f"qualified in {country}": f"/leads?lead_status=qualified&country={country}",
        "manual, by name": "/leads?is_manual=true&sort=full_name",
        "failed, by score": "/leads?enrichment_status=failed&sort=-lead_score",
        "search: turing": "/leads?q=turing",
        "search: ada lovelace": "/leads?q=ada+lovelace",
        "tag: vip": "/leads?tag=vip",
    }


@dataclass
class Result:
    case: str
    rows: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    db_p50_ms: float
    db_p99_ms: float
    render_p50_ms: float
    count_p50_ms: float
    count_p99_ms: float
    total: str


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _timing(header: str, name: str) -> float:
    found = re.search(rf"{name};dur=([\d.]+)", header)
    return float(found.group(1)) if found else float("nan")


async def measure(
    client: httpx.AsyncClient, timed: Timed, case: str, url: str, requests: int
) -> Result:
    for _ in range(WARM_UPS):
        await client.get(url)
    total, db, render, count = [], [], [], []
    rows, shown_total = 0, ""
    for _ in range(requests):
        answer = await client.get(url)
        if answer.status_code != 200:
            raise SystemExit(f"{case}: {url} answered {answer.status_code}")
        total.append(timed.last * 1000)
        header = answer.headers.get("server-timing", "")
        db.append(_timing(header, "db"))
        render.append(_timing(header, "render"))
        count.append(_timing(header, "count"))
        rows = answer.text.count("data-lead-id=")
        shown_total = _shown_total(answer.text)
    return Result(
        case,
        rows,
        _percentile(total, 0.50),
        _percentile(total, 0.99),
        max(total),
        statistics.median(db),
        _percentile(db, 0.99),
        statistics.median(render),
        statistics.median(count),
        _percentile(count, 0.99),
        shown_total,
    )


def _shown_total(page: str) -> str:
    """The page's total as people read it: "1,204 leads", "10,000+ leads"."""
    found = re.search(r"([\d,]+\+? leads?)\b", page)
    return found.group(1) if found else "?"


async def run(
    url: str, requests: int, *, pages: bool = True, exports: bool = True
) -> tuple[list[Result], list[ExportResult]]:
    settings = Settings(
        database_url=url,
        secret_key=SECRET,
        jobs_in_server=False,
        login_rate_limit="1000/minute",
    )
    database = Database(url, settings)
    ensure_editor(database)
    app = create_app(settings, database)
    timed = Timed(app)
    transport = httpx.ASGITransport(app=timed)
    results: list[Result] = []
    export_results: list[ExportResult] = []
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport,
                base_url="http://console.bench",
                headers={"Accept": "text/html"},
            ) as client,
        ):
            await sign_in(client)
            if pages:
                for case, case_url in (await cases(client, common_values(url))).items():
                    console.print(f"{case}: {case_url} ...")
                    results.append(await measure(client, timed, case, case_url, requests))
            if exports:
                export_results = await run_exports(app, client)
    finally:
        database.dispose()
    return results, export_results


# --- export ---------------------------------------------------------------------------------


@dataclass
class ExportResult:
    case: str
    rows: int
    seconds: float
    cpu_seconds: float  # the process's CPU time (all threads): what a loaded machine hides
    peak_mib: float  # tracemalloc peak while it ran
    rss_growth_mib: float  # peak growth of the process's anonymous RSS while it ran

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def rows_per_cpu_s(self) -> float:
        return self.rows / self.cpu_seconds


def _anon_rss_kib() -> int:
    """The process's anonymous resident memory (heap, stacks): not the
    SQLite file's pages, which its mmap brings into RSS as they are read."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class AnonPeak:
    """The highest anonymous RSS while the block runs, above where it began,
    sampled every few milliseconds by a thread."""

    def __init__(self) -> None:
        self.start = self.peak = _anon_rss_kib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _anon_rss_kib())

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _anon_rss_kib())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 1024


async def _download_rows(app: ASGIApp, cookie: str, url: str, rows: int) -> tuple[int, float]:
    """GET ``url`` from the app as a client reading the body as it comes,
    until ``rows`` rows (lines after the header) came; then the client goes
    away, as a browser's cancelled download does. Rows seen, seconds."""
    path, _, query = url.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        # 2.3: Starlette watches receive() for the disconnect while streaming.
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"console.bench"),
            (b"accept", b"text/html"),
            (b"cookie", cookie.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("console.bench", 80),
    }
    enough = asyncio.Event()
    lines = 0
    requested = False
    status = 0
    finished = 0.0

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await enough.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal lines, status, finished
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not enough.is_set():
            lines += message.get("body", b"").count(b"\r\n")
            if lines - 1 >= rows or not message.get("more_body", False):
                finished = time.perf_counter()
                enough.set()

    started = time.perf_counter()
    await app(scope, receive, send)  # type: ignore[arg-type]
    # The abandoned download's generator is closed (and logs) when collected.
    gc.collect()
    if status != 200:
        raise SystemExit(f"{url} answered {status}")
    return lines - 1, (finished or time.perf_counter()) - started


async def measure_export(app: ASGIApp, cookie: str, url: str, rows: int) -> ExportResult:
    await _download_rows(app, cookie, url, 2000)  # warm-up: caches, first queries
    cpu_before = time.process_time()
    with AnonPeak() as rss:
        got, seconds = await _download_rows(app, cookie, url, rows)
    cpu_seconds = time.process_time() - cpu_before
    tracemalloc.start()
    try:
        await _download_rows(app, cookie, url, rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return ExportResult(
        f"export, {rows:,} rows", got, seconds, cpu_seconds, peak / 2**20, rss.growth_mib
    )


def baseline_export(url: str, rows: int) -> ExportResult:
    """The same rows and columns, one raw SELECT through the driver, written
    with the csv module to an in-memory sink."""
    columns = ", ".join(export.DEFAULT_COLUMNS)
    sql = (
        f"SELECT {columns} FROM sales_leads WHERE is_deleted IS NOT TRUE "
        f"ORDER BY created_at DESC, id DESC LIMIT {rows}"
    )
    engine = create_db_engine(url)
    try:
        connection = engine.raw_connection()
        try:

            def run() -> int:
                cursor = connection.cursor()
                sink = io.StringIO()
                writer = csv.writer(sink, lineterminator="\r\n")
                writer.writerow(export.DEFAULT_COLUMNS)
                cursor.execute(sql)
                count = 0
                while batch := cursor.fetchmany(1000):
                    writer.writerows(batch)
                    count += len(batch)
                cursor.close()
                return count

            run()  # warm-up: the same pages in the cache as the export had
            started, cpu_before = time.perf_counter(), time.process_time()
            with AnonPeak() as rss:
                count = run()
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_before
            tracemalloc.start()
            try:
                run()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        finally:
            connection.close()
    finally:
        engine.dispose()
    return ExportResult(
        f"baseline: raw SELECT + csv, {rows:,} rows",
        count,
        seconds,
        cpu_seconds,
        peak / 2**20,
        rss.growth_mib,
    )


async def run_exports(app: ASGIApp, client: httpx.AsyncClient) -> list[ExportResult]:
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    results = []
    for rows in EXPORT_ROWS:
        console.print(f"export of {rows:,} rows: /leads/export?format=csv ...")
        results.append(await measure_export(app, cookie, "/leads/export?format=csv", rows))
    return results


def report_exports(results: list[ExportResult], label: str) -> bool:
    table = Table(title=f"CSV export ({label})")
    columns = ("case", "rows", "seconds", "rows/s", "rows/CPU s", "peak MiB", "anon RSS +MiB")
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for r in results:
        table.add_row(
            r.case,
            f"{r.rows:,}",
            f"{r.seconds:.2f}",
            f"{r.rows_per_s:,.0f}",
            f"{r.rows_per_cpu_s:,.0f}",
            f"{r.peak_mib:.1f}",
            f"{r.rss_growth_mib:.1f}",
        )
    console.print(table)
    console.print(
        "rows/CPU s: rows per second of this process's CPU time (other work on the "
        "machine does not count); peak MiB: tracemalloc's peak of Python allocations "
        "during a second, identical run; anon RSS +MiB: peak growth of the process's "
        "anonymous resident memory during the timed run (sampled every 5 ms): not the "
        "SQLite file's pages, which its mmap brings into RSS, but SQLite's page cache "
        "(64 MiB a connection), which fills as more of the table is read, then stops"
    )
    small, big = (r for r in results if r.case.startswith("export"))
    fast = big.rows_per_s >= TARGET_EXPORT_ROWS_PER_S
    flat = big.peak_mib <= FLAT_FACTOR * max(small.peak_mib, 1.0)
    verdict = "met" if fast and flat else "NOT met"
    console.print(
        f"target >= {TARGET_EXPORT_ROWS_PER_S:,} rows/s with flat memory: {verdict} "
        f"({big.rows_per_s:,.0f} rows/s; peak {small.peak_mib:.1f} MiB at "
        f"{small.rows:,} rows, {big.peak_mib:.1f} MiB at {big.rows:,})"
    )
    return fast and flat


def report(results: list[Result], label: str) -> bool:
    table = Table(title=f"GET /leads server time ({label})")
    columns = (
        "case",
        "rows",
        "total shown",
        "p50 ms",
        "p99 ms",
        "max ms",
        "db p50",
        "db p99",
        "count p50",
        "count p99",
        "render p50",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for r in results:
        table.add_row(
            r.case,
            str(r.rows),
            r.total,
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
            f"{r.db_p50_ms:.1f}",
            f"{r.db_p99_ms:.1f}",
            f"{r.count_p50_ms:.1f}",
            f"{r.count_p99_ms:.1f}",
            f"{r.render_p50_ms:.1f}",
        )
    console.print(table)
    console.print(
        "server time: around the ASGI app, call to last byte; db and render: the page's "
        "Server-Timing header (its queries; its template); count: the total's share of db"
    )
    worst = max(results, key=lambda r: r.p99_ms)
    ok = worst.p99_ms < TARGET_P99_MS
    verdict = "met" if ok else "NOT met"
    console.print(
        f"target p99 < {TARGET_P99_MS:.0f} ms on every case: {verdict} "
        f"(worst: {worst.case}, p99 {worst.p99_ms:.1f} ms)"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="per case")
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--skip-pages", action="store_true", help="only the export cases")
    parser.add_argument("--skip-export", action="store_true", help="only the page cases")
    args = parser.parse_args()

    RESULTS.mkdir(exist_ok=True)
    url = os.environ.get("LEADBASE_DATABASE_URL") or (
        f"sqlite:///{RESULTS / f'console_{args.leads}.db'}"
    )
    api_load.build(url, args.leads, args.chunk, actor="bench:console", shape=_spread)
    # Request logs as the server writes them, to nowhere: their cost counts.
    with open(os.devnull, "w") as nowhere:
        logs.configure("INFO", "json", stream=nowhere)
        results, export_results = asyncio.run(
            run(url, args.requests, pages=not args.skip_pages, exports=not args.skip_export)
        )
    label = f"{normalise_url(url).get_backend_name()}, {args.leads:,} leads, in-process"
    ok = True
    if results:
        ok = report(results, label) and ok
    if export_results:
        export_results.append(baseline_export(url, EXPORT_ROWS[-1]))
        ok = report_exports(export_results, label) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
