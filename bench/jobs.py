"""Jobs benchmark: no-op jobs through the local runner and through Celery;
offline enrichment; quick-add latency while enrichment runs.

    .venv/bin/python bench/jobs.py [--jobs 10000] [--database sqlite|postgresql]
                                   [--concurrency 2] [--skip-celery]
                                   [--enrich 10000] [--skip-enrichment]

Each path is timed from the enqueueing of ``--jobs`` ``noop`` jobs (one
unit of work, ``jobs.service.enqueue``) until every one is ``succeeded`` in
the jobs table:

(a) floor: the least database work a job needs, raw: one INSERT of all the
    rows (one executemany, one commit), then one UPDATE per row marking it
    done, each committed on its own (a job's end must be durable by itself).
(b) local: a ``LocalRunner`` in this process, ``--concurrency`` threads,
    woken by the commit; each job is a claim (lease) and an outcome, two
    transactions.
(c) celery: a real ``leadbase worker`` process in Celery mode on Redis
    (``--redis-url``), warmed up with one job first; this process sends one
    message per job after the commit.

Enrichment (``--enrich`` leads, the whole waterfall: email with MX lookups
against a local DNS server, person, phone, company, website fetches against a
local web server, webhook to the same server) through a ``LocalRunner``,
against the floor of the same number of page fetches alone on as many
threads. Then quick-add on ``leadbase serve`` for 10 s each, while
``--backlog`` leads queued for enrichment are worked through: with no job
runner (the baseline), on the server's own job threads, and in a
``leadbase worker`` process beside it, from 2 clients sending one quick-add
every 100 ms each (people typing leads in); and a stress case of 4 clients
back to back. Target: p99 < 100 ms.

All paths run on the same kind of database: a fresh SQLite file in a
temporary folder, or a fresh database on the PostgreSQL server at
``--postgres-url`` (dropped afterwards). The table gives jobs a second and
each path's rate as a fraction of the floor's rows a second, so runs on
different machines compare.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text, update

from leadbase import schema
from leadbase.config import Settings, get_settings
from leadbase.db import Database, create_db_engine, normalise_url
from leadbase.jobs import repository, service
from leadbase.jobs.local import LocalRunner
from leadbase.models import Job, new_id, utcnow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
console = Console()


@contextmanager
def fresh_database(kind: str, postgres_url: str, folder: Path, name: str) -> Iterator[str]:
    """A migrated, empty database."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'{name}.db'}"
    else:
        admin = create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
        database = f"leadbase_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {database}"))
        url = normalise_url(postgres_url).set(database=database).render_as_string(False)
    engine = create_db_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if kind != "sqlite":
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            admin.dispose()


def floor(url: str, jobs: int) -> float:
    """(a): INSERT all rows at once, then UPDATE each row in its own commit."""
    engine = create_db_engine(url)
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "kind": "noop",
            "payload": {},
            "status": "queued",
            "attempts": 0,
            "max_attempts": 5,
            "next_run_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(jobs)
    ]
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(insert(Job), rows)
    done = update(Job).where(Job.id == text(":job_id")).values(status="succeeded")
    for row in rows:
        with engine.begin() as connection:
            connection.execute(done, {"job_id": row["id"], "updated_at": utcnow()})
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def _enqueue(database: Database, jobs: int) -> None:
    with database.unit_of_work() as uow:
        for _ in range(jobs):
            service.enqueue(uow, "noop", {})


def _succeeded(database: Database) -> int:
    with database.read_session() as session:
        return repository.counts_by_status(session).get("succeeded", 0)


def _wait_all(database: Database, jobs: int, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while _succeeded(database) < jobs:
        if time.monotonic() > deadline or not alive():
            raise SystemExit(f"only {_succeeded(database)} of {jobs} jobs succeeded")
        time.sleep(0.05)


def local(url: str, jobs: int, concurrency: int) -> float:
    """(b): a LocalRunner in this process."""
    _use_settings(url, queue="local")
    database = Database(url)
    runner = LocalRunner(database, concurrency=concurrency)
    runner.start()
    try:
        started = time.perf_counter()
        _enqueue(database, jobs)
        _wait_all(database, jobs, timeout=3600, alive=lambda: True)
        return time.perf_counter() - started
    finally:
        runner.stop()
        database.dispose()


def celery(url: str, jobs: int, concurrency: int, redis_url: str, log: Path) -> float:
    """(c): a `leadbase worker` process in Celery mode."""
    prefix = f"leadbase-bench-{uuid.uuid4().hex[:10]}"
    env = _use_settings(url, queue="celery", redis_url=redis_url, rate_limit_key_prefix=prefix)
    env["LEADBASE_WORKER_CONCURRENCY"] = str(concurrency)
    database = Database(url)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "leadbase", "worker"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        _enqueue(database, 1)  # warm-up: the worker is up and consuming
        _wait_all(database, 1, timeout=60, alive=lambda: worker.poll() is None)
        started = time.perf_counter()
        _enqueue(database, jobs)
        _wait_all(database, jobs + 1, timeout=3600, alive=lambda: worker.poll() is None)
        return time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        database.dispose()
        _drop_redis_keys(redis_url, prefix)


def _use_settings(url: str, **values: str) -> dict[str, str]:
    """LEADBASE_* for this process (enqueue reads the process settings) and
    the environment of a worker process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBASE_")}
    env["LEADBASE_DATABASE_URL"] = url
    env["LEADBASE_LOG_LEVEL"] = "WARNING"
    for name, value in values.items():
        env[f"LEADBASE_{name.upper()}"] = value
    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()
    return env


def _drop_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


# --- enrichment --------------------------------------------------------------------------

DOMAINS = [f"bench-co-{n}.io" for n in range(200)]
FIRST = ("ada", "alan", "grace", "linus", "barbara", "ken", "margaret", "dennis")
LAST = ("king", "turing", "hopper", "torvalds", "liskov", "thompson", "hamilton", "ritchie")


def _pending_leads(url: str, count: int) -> None:
    from leadbase.client import LeadDatabase

    leads = LeadDatabase(url, actor="bench:jobs")
    try:
        rows = [
            {
                "email": f"{FIRST[n % 8]}.{LAST[n // 8 % 8]}{n}@{DOMAINS[n % len(DOMAINS)]}",
                "phone": f"+4930{1000000 + n}",
            }
            for n in range(count)
        ]
        for start in range(0, count, 5000):
            leads.add_leads(rows[start : start + 5000], on_duplicate="allow")
    finally:
        leads.close()


@contextmanager
def _internet() -> Iterator[tuple[Any, Any]]:
    """Local stand-ins: MX records for every bench domain, one homepage for all."""
    from tests.enrichment_servers import DnsServer, WebServer

    records = {domain: {"MX": [f"10 mx.{domain}."]} for domain in DOMAINS}
    with DnsServer(records) as dns, WebServer() as web:
        yield dns, web


def _enrichment_settings(url: str, dns: Any, web: Any, concurrency: int) -> dict[str, str]:
    return _use_settings(
        url,
        queue="local",
        worker_concurrency=str(concurrency),
        dns_nameservers='["127.0.0.1"]',
        dns_port=str(dns.port),
        allow_private_network_fetch="true",
        enrichment_webhook_url=web.answer_webhook("bench", {"title": "Engineer"}),
        enrichment_timeout_seconds="5",
    )


def page_floor(web: Any, count: int, concurrency: int) -> float:
    """The same number of homepage fetches, and nothing else, on as many threads."""
    import httpx

    url = f"{web.base}/sites/acmerobotics.io/"

    def fetch(n: int) -> None:
        with httpx.Client() as client:
            for _ in range(n):
                client.get(url).raise_for_status()

    share = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    threads = [threading.Thread(target=fetch, args=(n,)) for n in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def enrichment(url: str, count: int, concurrency: int) -> tuple[float, float, dict[str, int]]:
    """Seconds for the page floor and for enriching ``count`` pending leads."""
    from leadbase.enrichment import providers
    from leadbase.enrichment.providers.website import WebsiteProvider
    from leadbase.leads import repository as leads_repository
    from leadbase.leads import service as leads_service

    _pending_leads(url, count)
    with _internet() as (dns, web):
        _enrichment_settings(url, dns, web, concurrency)
        home = f"{web.base}/sites/acmerobotics.io/"
        providers.register("website", lambda: WebsiteProvider(urls_for=lambda _d: [home]))
        floor_seconds = page_floor(web, count, concurrency)
        database = Database(url)
        try:
            with database.read_session() as session:
                ids = leads_repository.ids_matching(
                    session, {"enrichment_status": "pending"}, limit=count
                )
            started = time.perf_counter()
            for start in range(0, len(ids), 500):
                with database.unit_of_work() as uow:
                    leads_service.start_enrichment(uow, ids[start : start + 500])
            LocalRunner(database, concurrency=concurrency).run_until_idle()
            seconds = time.perf_counter() - started
            with database.read_session() as session:
                statuses: dict[str, int] = {}
                for lead in leads_repository.get_many(session, ids).values():
                    status = lead.enrichment_status
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            database.dispose()
    return floor_seconds, seconds, statuses


def _queue_backlog(url: str, count: int) -> None:
    """``count`` leads waiting for enrichment, their jobs queued: whoever runs
    jobs on this database works through them while quick-add is measured."""
    from leadbase.leads import repository as leads_repository
    from leadbase.leads import service as leads_service

    _pending_leads(url, count)
    database = Database(url)
    try:
        with database.read_session() as session:
            ids = leads_repository.ids_matching(
                session, {"enrichment_status": "pending"}, limit=count
            )
        for start in range(0, len(ids), 500):
            with database.unit_of_work() as uow:
                leads_service.start_enrichment(uow, ids[start : start + 500])
    finally:
        database.dispose()


def _jobs_done(url: str) -> int:
    from sqlalchemy import func, select

    from leadbase.models import Job

    database = Database(url)
    try:
        with database.read_session() as session:
            done = select(func.count()).where(Job.status.in_(("succeeded", "failed", "dead")))
            return int(session.scalar(done) or 0)
    finally:
        database.dispose()


QUICK_ADD_CASES = {
    # name: (where enrichment runs, clients, pause between a client's requests)
    "baseline": ("nowhere (no job runner)", 2, 0.1),
    "server": ("the server's job threads", 2, 0.1),
    "worker": ("a `leadbase worker` beside it", 2, 0.1),
    "stress": ("the server's job threads", 4, 0.0),
}


def quick_add_latency(url: str, seconds: float, case: str, backlog: int) -> tuple[Any, int]:
    """p50/p99 of quick-add on `leadbase serve` while ``backlog`` leads are
    being enriched (on the server's job threads, or by a `leadbase worker`
    process beside it), and how many jobs finished meanwhile."""
    import api_load

    _, clients, pause = QUICK_ADD_CASES[case]
    with _internet() as (dns, web):
        env = _enrichment_settings(url, dns, web, 2)
        env["LEADBASE_ENRICHMENT_PROVIDERS"] = '["email", "person", "phone", "company", "webhook"]'
        settings = {k.removeprefix("LEADBASE_").lower(): v for k, v in env.items()}
        settings.pop("database_url", None)
        settings["jobs_in_server"] = "true" if case in ("server", "stress") else "false"
        api_load.bench_user(url)
        if case != "baseline":
            _queue_backlog(url, backlog)
        server = api_load.start_leadbase(url, **settings)
        worker = None
        if case == "worker":
            command = [sys.executable, "-m", "leadbase", "worker"]
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            data = {"run": uuid.uuid4().hex[:8], "domains": DOMAINS}
            data["token"] = api_load.login(server.port)
            # Warm up first (imports, caches, first connections): not counted.
            warm = {**data, "run": data["run"] + "w"}  # other emails than the measured run's
            api_load.run_route(server.port, "POST /leads/quick-add", warm, clients, 2.0, pause)
            before = _jobs_done(url)
            result = api_load.run_route(
                server.port, "POST /leads/quick-add", data, clients, seconds, pause
            )
            return result, _jobs_done(url) - before
        finally:
            server.stop()
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10_000, help="no-op jobs per path (10000)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--concurrency", type=int, default=Settings().worker_concurrency)
    parser.add_argument("--skip-celery", action="store_true", help="only (a) and (b)")
    parser.add_argument("--enrich", type=int, default=10_000, help="leads to enrich (10000)")
    parser.add_argument("--skip-enrichment", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0, help="quick-add per case (20)")
    parser.add_argument(
        "--backlog", type=int, default=3000, help="leads queued for enrichment under quick-add"
    )
    args = parser.parse_args()
    jobs = args.jobs

    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="leadbase-bench-") as tmp:
        folder = Path(tmp)
        paths: list[tuple[str, Callable[[str], float]]] = [
            ("(a) floor: raw INSERT + UPDATE a row", lambda url: floor(url, jobs)),
            (
                f"(b) local runner, {args.concurrency} threads",
                lambda url: local(url, jobs, args.concurrency),
            ),
        ]
        if not args.skip_celery:
            paths.append(
                (
                    f"(c) celery worker, {args.concurrency} threads",
                    lambda url: celery(
                        url, jobs, args.concurrency, args.redis_url, folder / "worker.log"
                    ),
                )
            )
        for index, (label, run) in enumerate(paths):
            with fresh_database(args.database, args.postgres_url, folder, f"db{index}") as url:
                console.print(f"{label} ...")
                results.append((label, run(url)))

    floor_rate = jobs / results[0][1]
    table = Table(title=f"{jobs:,} no-op jobs on {args.database}")
    table.add_column("path")
    table.add_column("seconds", justify="right")
    table.add_column("jobs/s", justify="right")
    table.add_column("of floor", justify="right")
    for label, seconds in results:
        rate = jobs / seconds
        table.add_row(label, f"{seconds:.2f}", f"{rate:,.0f}", f"{rate / floor_rate:.2f}")
    console.print(table)
    if not args.skip_enrichment:
        enrichment_report(args)


def enrichment_report(args: argparse.Namespace) -> None:
    count = args.enrich
    with tempfile.TemporaryDirectory(prefix="leadbase-bench-") as tmp:
        folder = Path(tmp)
        with fresh_database(args.database, args.postgres_url, folder, "enrich") as url:
            console.print(f"enriching {count:,} leads ...")
            floor_seconds, seconds, statuses = enrichment(url, count, args.concurrency)
        quick = {}
        for case in QUICK_ADD_CASES:
            with fresh_database(args.database, args.postgres_url, folder, case) as url:
                where = QUICK_ADD_CASES[case][0]
                console.print(f"quick-add for {args.seconds:.0f} s, enrichment on {where} ...")
                quick[case] = quick_add_latency(url, args.seconds, case, args.backlog)
    table = Table(title=f"enrichment of {count:,} leads on {args.database}")
    for column in ("path", "seconds", "leads/s", "of floor"):
        table.add_column(column, justify="left" if column == "path" else "right")
    floor_rate = count / floor_seconds
    table.add_row(
        "floor: homepage fetches alone", f"{floor_seconds:.2f}", f"{floor_rate:,.0f}", "1.00"
    )
    rate = count / seconds
    label = f"waterfall, local runner, {args.concurrency} threads"
    table.add_row(label, f"{seconds:.2f}", f"{rate:,.1f}", f"{rate / floor_rate:.2f}")
    console.print(table)
    console.print(f"lead states after the run: {statuses}")
    quick_table = Table(title=f"quick-add while {args.backlog:,} leads are being enriched")
    columns = ("enrichment on", "clients", "req/s", "p50 ms", "p99 ms", "jobs done", "p99 < 100")
    for column in columns:
        quick_table.add_column(column, justify="left" if column == "enrichment on" else "right")
    for case, (result, jobs_done) in quick.items():
        where, clients, pause = QUICK_ADD_CASES[case]
        pace = f"{clients}, {pause * 1000:.0f} ms apart" if pause else f"{clients}, back to back"
        ok = result.p99_ms < 100 and not result.errors
        quick_table.add_row(
            where + (" (stress)" if case == "stress" else ""),
            pace,
            f"{result.per_second:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            f"{jobs_done:,}",
            ("PASS" if ok else "FAIL") + (f" ({result.errors} errors)" if result.errors else ""),
        )
    console.print(quick_table)


if __name__ == "__main__":
    main()
