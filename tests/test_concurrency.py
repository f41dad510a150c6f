"""Many writers at once: threads sharing one client, and separate processes.

Every write must land, none may fail, and the audit log must come out as one
gap-free chain with exactly one entry per write.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from leadbase import audit
from leadbase.client import LeadDatabase
from leadbase.models import AuditChainHead, AuditLog, SalesLead
from tests import dbs


def _verify(db: LeadDatabase) -> audit.VerifyResult:
    with db.db.read_session() as session:
        return audit.verify(session)


def _audit_seqs(db: LeadDatabase) -> list[int]:
    with db.db.read_session() as session:
        return list(session.scalars(select(AuditLog.seq).order_by(AuditLog.seq)))


def _lead_count(db: LeadDatabase) -> int:
    with db.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(SalesLead)) or 0)


def _head_seq(db: LeadDatabase) -> int:
    with db.db.read_session() as session:
        return int(session.scalar(select(AuditChainHead.seq)) or 0)


def _assert_one_chain(db: LeadDatabase, entries: int) -> None:
    result = _verify(db)
    assert result.ok, result.describe()
    assert result.checked == entries
    assert _audit_seqs(db) == list(range(1, entries + 1))
    assert _head_seq(db) == entries


# -- threads sharing one LeadDatabase ------------------------------------------------------


def run_threads(db: LeadDatabase, threads: int, writes: int) -> dict[str, Any]:
    """Each thread adds leads and, every fifth write, retitles one it added before.

    Returns the ids and titles each thread wrote and every exception raised.
    """
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    created: dict[str, str] = {}  # id -> email
    titles: dict[str, str] = {}  # id -> last title written
    lock = threading.Lock()

    def work(t: int) -> None:
        mine: list[str] = []
        try:
            barrier.wait()
            for i in range(writes):
                if i % 5 == 4:
                    target = mine[i % len(mine)]
                    title = f"title {t}-{i}"
                    changed = db.update_lead(target, {"title": title})
                    assert changed, f"update of {target} changed nothing"
                    with lock:
                        titles[target] = title
                else:
                    email = f"t{t}-w{i}@example.com"
                    lead_id = db.add_lead(
                        {"full_name": f"Thread {t} Lead {i}", "email": email},
                        on_duplicate="reject",
                    )
                    mine.append(lead_id)
                    with lock:
                        created[lead_id] = email
        except BaseException as exc:
            with lock:
                errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,), name=f"writer-{t}") for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"errors": errors, "created": created, "titles": titles}


def check_thread_run(db: LeadDatabase, threads: int, writes: int, outcome: dict[str, Any]) -> None:
    assert outcome["errors"] == [], [repr(e) for e in outcome["errors"][:5]]
    updates_per_thread = writes // 5
    creates = threads * (writes - updates_per_thread)
    assert len(outcome["created"]) == creates
    assert _lead_count(db) == creates
    stored = {lead["id"]: lead for lead in db.search_leads({"id": list(outcome["created"])})}
    assert {i: lead["email"] for i, lead in stored.items()} == outcome["created"]
    for lead_id, title in outcome["titles"].items():
        assert stored[lead_id]["title"] == title
    _assert_one_chain(db, threads * writes)


def test_threads_share_one_client_on_sqlite(sqlite_url: str) -> None:
    threads, writes = 8, 100
    db = LeadDatabase(sqlite_url, actor="test:threads")
    try:
        started = time.perf_counter()
        outcome = run_threads(db, threads, writes)
        elapsed = time.perf_counter() - started
        print(f"\nsqlite: {threads}x{writes} writes in {elapsed:.1f}s")
        check_thread_run(db, threads, writes, outcome)
        assert elapsed < 60, f"{threads * writes} writes took {elapsed:.1f}s"
    finally:
        db.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest, _server_urls: Callable[[str], str]) -> str:
    """A migrated, emptied database on each server."""
    url = _server_urls(request.param)
    dbs.empty_all_tables(url)
    return url


def test_threads_share_one_client_on_servers(server_url: str) -> None:
    kind = dbs.backend(server_url)
    threads, writes = 8, 50
    db = LeadDatabase(server_url, actor="test:threads")
    try:
        started = time.perf_counter()
        outcome = run_threads(db, threads, writes)
        elapsed = time.perf_counter() - started
        print(f"\n{kind}: {threads}x{writes} writes in {elapsed:.1f}s")
        check_thread_run(db, threads, writes, outcome)
    finally:
        db.close()


def test_verify_while_writers_are_busy(db_url: str) -> None:
    """A live system can be verified: a chain that is only growing is never reported broken."""
    db = LeadDatabase(db_url, actor="test:busy")
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def write() -> None:
        try:
            outcome.update(run_threads(db, 4, 50))
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    results: list[audit.VerifyResult] = []
    try:
        while not done.is_set():
            results.append(_verify(db))
    finally:
        writer.join()
    try:
        assert outcome["errors"] == []
        bad = [r.describe() for r in results if not r.ok]
        assert bad == [], f"{len(bad)} of {len(results)} runs: {bad[:3]}"
        checked = [r.checked for r in results]
        assert checked == sorted(checked)
        assert len(results) > 1
        _assert_one_chain(db, 200)
    finally:
        db.close()


# -- separate processes -----------------------------------------------------------------


def _process_writer(url: str, n: int, writes: int, barrier: Any, results: Any) -> None:
    """One process, its own client: add ``writes`` leads, report back."""
    try:
        with LeadDatabase(url, actor=f"proc:{n}") as db:
            barrier.wait(timeout=60)
            ids = [
                db.add_lead(
                    {"full_name": f"Process {n} Lead {i}", "email": f"p{n}-{i}@example.com"},
                    on_duplicate="reject",
                )
                for i in range(writes)
            ]
        results.put((n, "ok", ids))
    except BaseException as exc:
        results.put((n, "error", repr(exc)))
        raise


def run_processes(url: str, processes: int, writes: int) -> tuple[dict[int, list[str]], float]:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes)
    results = spawn.Queue()
    workers = [
        spawn.Process(target=_process_writer, args=(url, n, writes, barrier, results))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    reports = [results.get(timeout=240) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=60)
    errors = [f"process {n}: {detail}" for n, status, detail in reports if status != "ok"]
    assert errors == []
    assert [worker.exitcode for worker in workers] == [0] * processes
    return {n: ids for n, _, ids in reports}, elapsed


def check_process_run(
    db: LeadDatabase, processes: int, writes: int, ids: dict[int, list[str]]
) -> None:
    all_ids = [lead_id for n in sorted(ids) for lead_id in ids[n]]
    assert len(set(all_ids)) == processes * writes
    assert _lead_count(db) == processes * writes
    stored = {lead["id"]: lead["email"] for lead in db.search_leads({"id": all_ids})}
    for n, mine in ids.items():
        assert [stored[i] for i in mine] == [f"p{n}-{i}@example.com" for i in range(writes)]
    _assert_one_chain(db, processes * writes)
    with db.db.read_session() as session:
        per_actor = dict(
            session.execute(select(AuditLog.actor, func.count()).group_by(AuditLog.actor)).all()
        )
    assert per_actor == {f"proc:{n}": writes for n in range(processes)}


def test_processes_write_one_chain_on_postgresql(postgres_url: str) -> None:
    processes, writes = 4, 50
    ids, elapsed = run_processes(postgres_url, processes, writes)
    print(f"\npostgresql: {processes} processes x {writes} writes in {elapsed:.1f}s")
    with LeadDatabase(postgres_url) as db:
        check_process_run(db, processes, writes, ids)


def test_processes_wait_their_turn_on_sqlite(sqlite_url: str) -> None:
    processes, writes = 2, 75
    ids, elapsed = run_processes(sqlite_url, processes, writes)
    print(f"\nsqlite: {processes} processes x {writes} writes in {elapsed:.1f}s")
    with LeadDatabase(sqlite_url) as db:
        check_process_run(db, processes, writes, ids)
