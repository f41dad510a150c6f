"""HTTP load benchmark: `leadbase serve` on a 1M-lead database, against a bare ceiling.

    .venv/bin/python bench/api_load.py [--leads 1000000] [--clients 16] [--seconds 10]

1. Builds the database through the one write path (``LeadDatabase.add_leads``
   in chunks, the bulk path) unless it already holds ``--leads`` leads: an
   SQLite file under bench/results/ (kept between runs, it takes minutes to
   build), or whatever ``LEADBASE_DATABASE_URL`` names (e.g. PostgreSQL).
2. Starts ``leadbase serve`` on a free loopback port (one process, as a user
   would run it) and drives it with ``--clients`` concurrent keep-alive
   connections for ``--seconds`` per route: GET by id, list with two filters,
   list with ``q``, POST, PATCH. The load generator runs in its own process so
   it does not share the server's interpreter.
3. In the same run, the ceiling: a bare FastAPI app (same uvicorn, same
   database file) that looks a lead up by id with the raw driver
   (``sqlite3``, or psycopg on PostgreSQL), no ORM, no auth, no middleware;
   GET by id and the ceiling run at the start and again at the end (A B ...
   B A), so drift in the machine's speed moves both alike. The same app's
   second route is the floor for writes: one lead INSERTed and committed
   with the raw driver, nothing else.

Prints req/s, p50 and p99 per route, the GET-by-id ratio to the ceiling, and
whether the targets hold (p99 < 50 ms on every route; GET by id >= 0.5x the
ceiling's req/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import write_path
from leadbase import schema
from leadbase.auth import service as auth_service
from leadbase.client import LeadDatabase
from leadbase.config import Settings
from leadbase.db import Database, create_db_engine, normalise_url

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "api-load-bench-secret-key-0123456789abcdef"
EDITOR = ("bench-editor@example.com", "bench password 123")
console = Console()


# --- the database ---------------------------------------------------------------


def _generated(
    count: int, offset: int, rng: random.Random, phones: set[str]
) -> list[dict[str, Any]]:
    """``count`` distinct leads numbered from ``offset`` (emails, LinkedIn slugs and
    external ids carry the number, so chunks never merge into each other)."""
    companies = write_path._companies(rng, max(50, count // 40))
    return [write_path._lead(rng, offset + i, companies, phones) for i in range(count)]


def build(
    url: str,
    leads: int,
    chunk: int,
    *,
    actor: str = "bench:api_load",
    shape: Callable[[random.Random, dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Grow the database to ``leads`` generated leads (reusing what it holds);
    ``shape`` may change each generated row first."""
    engine = create_db_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    db = LeadDatabase(url, actor=actor)
    try:
        have = db.count_leads()
        if have >= leads:
            console.print(f"database holds {have:,} leads: reusing it")
            return
        rng = random.Random(have)
        phones: set[str] = set()
        columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with Progress("building", *columns, console=console) as progress:
            task = progress.add_task("leads", total=leads, completed=have)
            while have < leads:
                rows = _generated(min(chunk, leads - have), have, rng, phones)
                if shape is not None:
                    rows = [shape(rng, row) for row in rows]
                db.add_leads(rows, on_duplicate="merge")
                analyze(url)  # as autovacuum would: duplicate lookups need the statistics
                have = db.count_leads()
                progress.update(task, completed=have)
    finally:
        db.close()


def analyze(url: str) -> None:
    """Fresh statistics on a server database, as autovacuum leaves them some
    time after a bulk load: the bench measures serving, not a planner that
    still thinks the table is empty. (SQLite plans without them.)"""
    if url.startswith("sqlite"):
        return
    engine = create_db_engine(url)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()


def bench_user(url: str) -> None:
    """An editor for the load (admin-less: the bench needs mutations, not users)."""
    settings = Settings(database_url=url, secret_key=SECRET)
    database = Database(url, settings)
    try:
        with database.unit_of_work() as uow:
            try:
                auth_service.get_user_by_email(uow.session, EDITOR[0])
            except Exception:
                auth_service.create_user(uow.session, EDITOR[0], EDITOR[1], "editor")
    finally:
        database.dispose()


def sample(url: str, size: int = 2000) -> dict[str, Any]:
    """Lead ids, filter values and words to search for, from what the database holds."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT id, country, source FROM sales_leads WHERE is_deleted = false"
            ).all()
    finally:
        engine.dispose()
    rng = random.Random(1)
    picked = rng.sample(rows, min(size, len(rows)))
    return {
        "ids": [row[0] for row in picked],
        "filters": sorted({(row[1], row[2]) for row in picked if row[1] and row[2]}),
        "words": [w.lower() for w in write_path.LAST_NAMES if w.isascii() and w.isalpha()],
    }


# --- the servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CEILING_APP = textwrap.dedent(
    """
    \"\"\"A bare FastAPI app on the raw driver: the most any route could do here.

    GET /lead/{id}: one lead by id. POST /lead: one lead INSERTed and
    committed (a copy of a stored lead under a new id and email), the least
    a write can cost: the lead table's indexes and search triggers, no
    validation, duplicate check, audit, timeline or outbox rows.
    \"\"\"
    import itertools, os, threading, uuid
    from fastapi import FastAPI, HTTPException

    URL = os.environ["CEILING_URL"]
    app = FastAPI()
    local = threading.local()
    write_lock = threading.Lock()
    numbers = itertools.count()

    if URL.startswith("sqlite"):
        import sqlite3

        PATH = URL.split("///", 1)[1]

        def connection():
            if not hasattr(local, "db"):
                local.db = sqlite3.connect(PATH, check_same_thread=False, isolation_level=None)
                local.db.row_factory = sqlite3.Row
            return local.db

        QUERY = "SELECT * FROM sales_leads WHERE id = ?"
        MARK = "?"
        BEGIN = "BEGIN IMMEDIATE"
    else:
        import psycopg
        from psycopg.rows import dict_row

        def connection():
            if not hasattr(local, "db"):
                local.db = psycopg.connect(URL, autocommit=True, row_factory=dict_row)
            return local.db

        QUERY = "SELECT * FROM sales_leads WHERE id = %s"
        MARK = "%s"
        BEGIN = "BEGIN"

    template = dict(connection().execute("SELECT * FROM sales_leads LIMIT 1").fetchone())
    template.pop("lead_search_vector", None)  # PostgreSQL's generated column
    INSERT = (
        f"INSERT INTO sales_leads ({', '.join(template)}) "
        f"VALUES ({', '.join(MARK for _ in template)})"
    )
    RUN = uuid.uuid4().hex[:8]

    @app.get("/lead/{lead_id}")
    def lead(lead_id: str):
        row = connection().execute(QUERY, (lead_id,)).fetchone()
        if row is None:
            raise HTTPException(404)
        return {"success": True, "data": dict(row)}

    @app.post("/lead", status_code=201)
    def create():
        n = next(numbers)
        row = {**template, "id": str(uuid.uuid4()), "email": f"floor.{RUN}.{n}@example.com"}
        row.update(phone=None, linkedin_url=None, external_id=f"floor-{RUN}-{n}")
        db = connection()
        with write_lock:
            db.execute(BEGIN)
            try:
                db.execute(INSERT, tuple(row.values()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return {"success": True, "data": {"id": row["id"]}}
    """
)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_ready(port: int, path: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if sock.recv(12).endswith(b"200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server on port {port} not ready after 60 s")


def start_leadbase(url: str, **settings: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "LEADBASE_DATABASE_URL": url,
        "LEADBASE_SECRET_KEY": SECRET,
        "LEADBASE_MUTATION_RATE_LIMIT": "1000000/second",  # measuring speed, not the limit
        "LEADBASE_ACCESS_TOKEN_MINUTES": "240",
        "LEADBASE_LOG_LEVEL": "WARNING",
        **{f"LEADBASE_{name.upper()}": value for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "leadbase", "serve", "--host", "127.0.0.1", "--port"]
    process = subprocess.Popen([*command, str(port)], env=env, stdout=subprocess.DEVNULL)
    _wait_ready(port, "/health", process)
    return Server(process, port)


def start_ceiling(url: str, folder: Path) -> Server:
    port = free_port()
    (folder / "ceiling_app.py").write_text(CEILING_APP)
    raw_url = str(normalise_url(url)).replace("postgresql+psycopg://", "postgresql://")
    env = {**os.environ, "CEILING_URL": raw_url, "PYTHONPATH": str(folder)}
    command = [sys.executable, "-m", "uvicorn", "ceiling_app:app", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _wait_ready(port, "/docs", process)
    return Server(process, port)


def login(port: int) -> str:
    body = json.dumps({"email": EDITOR[0], "password": EDITOR[1]}).encode()
    status, payload = asyncio.run(_one_request(port, "POST", "/api/v1/auth/login", body, {}))
    if status != 200:
        raise SystemExit(f"login failed: {status} {payload[:200]!r}")
    return str(json.loads(payload)["data"]["access_token"])


# --- the load generator -------------------------------------------------------------

Request = tuple[str, str, bytes | None]  # method, path, JSON body
RequestMaker = Callable[[random.Random, int], Request]


async def _send(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: Request,
    headers: dict[str, str],
) -> tuple[int, bytes]:
    method, path, body = request
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def _one_request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _send(reader, writer, (method, path, body), headers)
    finally:
        writer.close()


async def _client(
    port: int,
    make: RequestMaker,
    headers: dict[str, str],
    seed: int,
    until: float,
    latencies: list[float],
    statuses: dict[int, int],
    pause: float = 0.0,
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while time.perf_counter() < until:
            request = make(rng, seed * 10_000_000 + n)
            n += 1
            started = time.perf_counter()
            status, _ = await _send(reader, writer, request, headers)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if pause:
                await asyncio.sleep(pause)  # a person's pace, not a flood
    finally:
        writer.close()


def _drive(
    port: int,
    route: str,
    data: dict[str, Any],
    clients: int,
    seconds: float,
    out: Any,
    pause: float = 0.0,
) -> None:
    """In a child process: ``clients`` connections for ``seconds``; results to ``out``."""
    make = {**REQUESTS, **BARE, **OTHER}[route](data)
    headers = {"Authorization": f"Bearer {data['token']}"} if data.get("token") else {}
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main() -> float:
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(
                _client(port, make, headers, seed, until, latencies, statuses, pause)
                for seed in range(1, clients + 1)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    out.put((latencies, statuses, elapsed))


def _get_by_id(data: dict[str, Any]) -> RequestMaker:
    ids = data["ids"]
    return lambda rng, _n: ("GET", f"/api/v1/leads/{rng.choice(ids)}", None)


def _ceiling_get(data: dict[str, Any]) -> RequestMaker:
    ids = data["ids"]
    return lambda rng, _n: ("GET", f"/lead/{rng.choice(ids)}", None)


def _ceiling_post(_data: dict[str, Any]) -> RequestMaker:
    return lambda _rng, _n: ("POST", "/lead", b"{}")


def _list_filtered(data: dict[str, Any]) -> RequestMaker:
    pairs = data["filters"]

    def make(rng: random.Random, _n: int) -> Request:
        country, source = rng.choice(pairs)
        query = urlencode({"country": country, "source": source, "limit": 50})
        return ("GET", f"/api/v1/leads?{query}", None)

    return make


def _list_q(data: dict[str, Any]) -> RequestMaker:
    words = data["words"]
    return lambda rng, _n: ("GET", f"/api/v1/leads?q={rng.choice(words)}&limit=50", None)


def _post(data: dict[str, Any]) -> RequestMaker:
    run = data["run"]  # new emails on every run: earlier runs' POSTs are in the database

    def make(rng: random.Random, n: int) -> Request:
        first, last = rng.choice(write_path.FIRST_NAMES), rng.choice(write_path.LAST_NAMES)
        lead = {
            "full_name": f"{first} {last}",
            "email": f"load.{run}.{n}@bench-post.example.com",
            "title": rng.choice(write_path.TITLES),
            "source": "manual",
            "is_manual": True,
        }
        return ("POST", "/api/v1/leads", json.dumps(lead).encode())

    return make


def _patch(data: dict[str, Any]) -> RequestMaker:
    ids = data["ids"]

    def make(rng: random.Random, n: int) -> Request:
        body = json.dumps({"title": f"{rng.choice(write_path.TITLES)} #{n}"}).encode()
        return ("PATCH", f"/api/v1/leads/{rng.choice(ids)}", body)

    return make


REQUESTS: dict[str, Callable[[dict[str, Any]], RequestMaker]] = {
    "GET /leads/{id}": _get_by_id,
    "GET /leads?country&source": _list_filtered,
    "GET /leads?q": _list_q,
    "POST /leads": _post,
    "PATCH /leads/{id}": _patch,
}


def _quick_add(data: dict[str, Any]) -> RequestMaker:
    run = data["run"]
    domains = data.get("domains", ["acmerobotics.io"])

    def make(rng: random.Random, n: int) -> Request:
        body = {"email": f"qa.{run}.{n}@{rng.choice(domains)}", "notes": "bench"}
        return ("POST", "/api/v1/leads/quick-add", json.dumps(body).encode())

    return make


# Routes other benches drive (bench/jobs.py), not part of this one's table.
OTHER: dict[str, Callable[[dict[str, Any]], RequestMaker]] = {
    "POST /leads/quick-add": _quick_add,
}
CEILING = "ceiling: GET by id, raw driver"
FLOOR = "floor: INSERT a lead, raw driver"
BARE: dict[str, Callable[[dict[str, Any]], RequestMaker]] = {
    CEILING: _ceiling_get,
    FLOOR: _ceiling_post,
}


@dataclass
class Result:
    route: str
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    statuses: dict[int, int]


def run_route(
    port: int,
    route: str,
    data: dict[str, Any],
    clients: int,
    seconds: float,
    pause: float = 0.0,
) -> Result:
    """``clients`` connections sending ``route`` for ``seconds``, each waiting
    ``pause`` seconds between its requests (0: back to back)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_drive, args=(port, route, data, clients, seconds, out, pause))
    child.start()
    latencies, statuses, elapsed = out.get(timeout=seconds + 120)
    child.join()
    latencies.sort()
    count = len(latencies)

    def percentile(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else float("nan")

    errors = sum(n for status, n in statuses.items() if status >= 400)
    return Result(
        route, count, count / elapsed, percentile(0.50), percentile(0.99), errors, statuses
    )


# --- the report ----------------------------------------------------------------------


def report(results: list[Result], label: str) -> bool:
    table = Table(title=f"leadbase serve under load ({label})")
    for column in ("route", "requests", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for r in results:
        table.add_row(
            r.route,
            f"{r.requests:,}",
            f"{r.per_second:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.errors}" + (f" {r.statuses}" if r.errors else ""),
        )
    console.print(table)
    # GET by id and the ceiling ran twice, in the order A B ... B A: a
    # machine that slows down or speeds up during the run moves both alike.
    gets = [r.per_second for r in results if r.route == "GET /leads/{id}"]
    ceilings = [r.per_second for r in results if r.route == CEILING]
    ratio = sum(gets) / sum(ceilings)
    served = [r for r in results if r.route in REQUESTS]
    worst = max(served, key=lambda r: r.p99_ms)
    checks = [
        (
            f"p99 < 50 ms on every route (worst: {worst.route} {worst.p99_ms:.1f} ms)",
            worst.p99_ms < 50,
        ),
        (f"GET by id >= 0.5x the ceiling (ratio {ratio:.2f})", ratio >= 0.5),
        ("no errors", all(r.errors == 0 for r in results)),
    ]
    for text, ok in checks:
        console.print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return all(ok for _, ok in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    RESULTS.mkdir(exist_ok=True)
    url = os.environ.get("LEADBASE_DATABASE_URL") or (
        f"sqlite:///{RESULTS / f'api_load_{args.leads}.db'}"
    )
    label = f"{normalise_url(url).get_backend_name()}, {args.leads:,} leads, {args.clients} clients"
    build(url, args.leads, args.chunk)
    analyze(url)
    bench_user(url)
    data = sample(url)
    data["run"] = f"{time.time_ns():x}"

    results: list[Result] = []
    server = start_leadbase(url)
    bare = start_ceiling(url, RESULTS)
    try:
        data["token"] = login(server.port)
        bare_data = {**data, "token": None}
        plan = [(server.port, "GET /leads/{id}", data), (bare.port, CEILING, bare_data)]
        plan += [(server.port, route, data) for route in list(REQUESTS)[1:]]
        plan += [(bare.port, FLOOR, bare_data)]
        plan += [(bare.port, CEILING, bare_data), (server.port, "GET /leads/{id}", data)]
        for port, route, route_data in plan:
            console.print(f"driving {route} for {args.seconds:.0f} s ...")
            results.append(run_route(port, route, route_data, args.clients, args.seconds))
    finally:
        server.stop()
        bare.stop()
    ok = report(results, label)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
