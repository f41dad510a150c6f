"""Database plumbing: the bulk insert path stores what SQLAlchemy Core stores."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, make_url

from leadbase.db import Database, bulk_insert, normalise_url
from leadbase.models import LeadEvent, SalesLead, new_id


def _lead(lead_id: str, now: datetime | None = None) -> dict[str, object]:
    now = now or datetime(2026, 1, 2, 3, 4, 5, 600_007, tzinfo=UTC)
    return {
        "id": lead_id,
        "full_name": 'Zoë "Quote" O\'Neil',
        "email": "z@example.com",
        "tags": ["a", "ü"],
        "raw_data": {"nested": {"x": [1, 2.5, None]}},
        "enrichment_data": None,
        "is_manual": True,
        "verified": False,
        "lead_score": 42,
        "enrichment_status": "pending",
        "lead_status": "new",
        "email_verified": False,
        "phone_verified": False,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "is_deleted": False,
    }


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 1, 2, 3, 4, 5, 600_007, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction: still six digits
        datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=timezone(timedelta(hours=-5))),
        datetime(999, 12, 31, 23, 59, 59, 1),  # naive, and a three-digit year
    ],
)
def test_sqlite_bulk_insert_stores_exactly_what_core_stores(sqlite_url: str, now: datetime) -> None:
    db = Database(sqlite_url)
    with db.unit_of_work() as uow:
        bulk_insert(uow.session, SalesLead, [_lead("fast", now)])
        uow.session.connection().execute(insert(SalesLead.__table__), [_lead("core", now)])
    db.dispose()
    path = make_url(sqlite_url).database
    assert path is not None
    with sqlite3.connect(path) as raw:
        columns = [row[1] for row in raw.execute("PRAGMA table_info(sales_leads)")]
        select = ", ".join(f"{c}, typeof({c})" for c in columns if c != "id")
        fast = raw.execute(f"SELECT {select} FROM sales_leads WHERE id = 'fast'").fetchone()
        core = raw.execute(f"SELECT {select} FROM sales_leads WHERE id = 'core'").fetchone()
    assert fast == core


def test_bulk_insert_refuses_rows_with_different_keys(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    lead_id = new_id()
    event = {"lead_id": lead_id, "event_type": "created", "event_timestamp": datetime.now(UTC)}
    with pytest.raises(ValueError, match="same keys"), db.unit_of_work() as uow:
        bulk_insert(uow.session, SalesLead, [_lead(lead_id)])
        bulk_insert(uow.session, LeadEvent, [event, {"lead_id": lead_id}])
    db.dispose()


def test_url_drivers() -> None:
    assert normalise_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    mysql = normalise_url("mariadb://u@h/d")
    assert mysql.drivername == "mysql+pymysql" and mysql.query["charset"] == "utf8mb4"


def test_ids_are_uuid7_and_strictly_increasing() -> None:
    import uuid

    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_a_request_waiting_to_write_goes_before_a_waiting_job() -> None:
    import threading
    import time

    from leadbase.db import WriteLock, background_writes

    lock, order = WriteLock(), []

    def job() -> None:
        with background_writes(), lock:
            order.append("job")

    def request() -> None:
        with lock:
            order.append("request")

    with lock:  # a write in flight; the job queues first, the request after it
        first = threading.Thread(target=job)
        first.start()
        time.sleep(0.1)
        second = threading.Thread(target=request)
        second.start()
        time.sleep(0.1)
        assert order == []
    first.join(5)
    second.join(5)
    assert order == ["request", "job"]
    # With nobody else waiting, a job writes at once.
    job()
    assert order[-1] == "job"


def test_a_write_waits_for_another_process_and_gives_up_after_busy_timeout(
    sqlite_url: str,
) -> None:
    import threading
    import time

    from sqlalchemy.exc import OperationalError

    from leadbase.config import Settings
    from leadbase.db import background_writes

    path = make_url(sqlite_url).database
    assert path
    db = Database(sqlite_url, Settings(database_url=sqlite_url, sqlite_busy_timeout_ms=300))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        # Another process's write holds the lock for 100 ms: ours waits, then runs.
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.1, lambda: other.execute("COMMIT")).start()
        started = time.monotonic()
        with db.unit_of_work() as uow:
            bulk_insert(uow.session, SalesLead, [_lead(new_id())])
        assert time.monotonic() - started >= 0.09
        # Held past busy_timeout: a clear "database is locked", for requests and jobs.
        other.execute("BEGIN IMMEDIATE")
        for writes_in_background in (False, True):
            with pytest.raises(OperationalError, match="locked"):
                if writes_in_background:
                    with background_writes(), db.unit_of_work() as uow:
                        uow.session.connection()  # begins the write transaction
                else:
                    with db.unit_of_work() as uow:
                        uow.session.connection()
        other.execute("ROLLBACK")
        with db.read_session() as session:
            assert session.query(SalesLead).count() == 1
    finally:
        other.close()
        db.dispose()


def test_on_a_server_requests_write_together_and_jobs_wait_for_them() -> None:
    import threading
    import time

    from leadbase.db import RequestsFirst, background_writes

    gate, order = RequestsFirst(), []
    release = threading.Event()

    def request(name: str) -> None:
        with gate:
            order.append(f"{name} in")
            release.wait(5)
            order.append(f"{name} out")

    def job() -> None:
        with background_writes(), gate:
            order.append("job")

    first = threading.Thread(target=request, args=("a",))
    first.start()
    time.sleep(0.05)
    waiting_job = threading.Thread(target=job)
    waiting_job.start()
    second = threading.Thread(target=request, args=("b",))
    second.start()
    time.sleep(0.1)
    # Two requests write at once (the database orders them); the job waits.
    assert sorted(order) == ["a in", "b in"]
    release.set()
    for thread in (first, second, waiting_job):
        thread.join(5)
    assert order[2:] in (["a out", "b out", "job"], ["b out", "a out", "job"])
    job()  # nobody writing: a job goes at once
    assert order[-1] == "job" and order.count("job") == 2
