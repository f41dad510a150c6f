"""Celery mode (``LEADBASE_QUEUE=celery``): Celery on Redis runs the jobs.

The jobs table stays the truth. A Celery message only says "look at job X":
its one task, ``leadbase.run_job``, calls ``run_one``, which claims the row by
lease or does nothing when the job is not due. The sweeper in every
``leadbase worker`` re-sends what the broker does not hold a live message
for — jobs never sent, retries that came due, jobs whose worker died (an
expired lease) — so a ``kill -9`` mid-job is recovered by lease expiry, not
by Redis visibility timeouts.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

from leadbase import logs
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.errors import LeadbaseError
from leadbase.jobs import registry, repository, runner
from leadbase.jobs.runner import OutcomeCallback
from leadbase.models import utcnow

log = logs.get_logger("leadbase.jobs.celery")

TASK = "leadbase.run_job"
QUEUE = "leadbase"
SWEEP_BATCH = 1000

_apps: dict[tuple[str, str], Celery] = {}
_apps_lock = threading.Lock()


class _WorkerState:
    """What the task needs in a worker process: set by ``run_worker``."""

    database: Database | None = None
    on_outcome: OutcomeCallback | None = None


_state = _WorkerState()


def key_prefix(settings: Settings) -> str:
    """Celery's keys in Redis share the deployment's prefix, so several
    deployments (or test runs) can share one Redis."""
    return f"{settings.rate_limit_key_prefix}:celery:"


def get_app(settings: Settings) -> Celery:
    """The Celery app for these settings (one per broker and prefix)."""
    if not settings.redis_url:
        raise LeadbaseError("LEADBASE_QUEUE=celery needs LEADBASE_REDIS_URL (the broker)")
    key = (settings.redis_url, key_prefix(settings))
    with _apps_lock:
        if key not in _apps:
            _apps[key] = _make_app(settings)
        return _apps[key]


def _make_app(settings: Settings) -> Celery:
    app = Celery("leadbase", set_as_current=False)
    app.conf.update(
        broker_url=settings.redis_url,
        broker_transport_options={"global_keyprefix": key_prefix(settings)},
        broker_connection_retry_on_startup=True,
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        # A message is acknowledged after its task ran: a worker that dies
        # holding one does not lose it for good (our sweeper resends anyway).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    app.task(name=TASK, ignore_result=True, acks_late=True)(run_job)
    return app


def run_job(job_id: str) -> bool:
    """The task: run the job if it is due (False: it was not; nothing ran)."""
    database = _state.database
    if database is None:  # a worker started by `celery worker`, not `leadbase worker`
        database = _state.database = Database()
    owner = f"{runner.worker_name()}:{threading.current_thread().name}"
    return runner.run_one(database, job_id, owner, on_outcome=_state.on_outcome)


def send(job_id: str, settings: Settings) -> None:
    get_app(settings).send_task(TASK, args=[job_id], queue=QUEUE)


class Sweeper:
    """The Celery-mode runner: ``submit`` sends the task; ``start`` runs the
    thread that re-sends due jobs every ``job_poll_seconds``."""

    def __init__(self, database: Database, settings: Settings | None = None) -> None:
        self.database = database
        self.settings = settings or database.settings
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, job_id: str) -> None:
        send(job_id, self.settings)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="leadbase-sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.wait(self.settings.job_poll_seconds):
            try:
                self.sweep()
            except Exception as exc:  # database or broker away: next round
                log.warning("job sweep failed", error=str(exc))

    def sweep(self) -> int:
        """Send every due job the broker holds no live message for; returns
        how many were sent."""
        now = utcnow()
        # A message older than a lease that has not started its job is lost.
        grace = self.settings.job_lease_seconds
        with self.database.unit_of_work() as uow:
            job_ids = repository.unsent_due(uow.session, now, grace, SWEEP_BATCH)
            if job_ids:
                repository.mark_sent(uow.session, job_ids, now)
        for job_id in job_ids:
            send(job_id, self.settings)
        return len(job_ids)


def run_worker(
    database: Database,
    settings: Settings,
    *,
    on_outcome: OutcomeCallback | None = None,
    concurrency: int | None = None,
) -> int:
    """A Celery worker in this process (threads sharing ``database``) plus the
    sweeper, until SIGTERM/SIGINT (warm shutdown: running jobs finish)."""
    registry.load_modules(settings.job_handler_modules)
    app = get_app(settings)
    _state.database, _state.on_outcome = database, on_outcome
    sweeper = Sweeper(database, settings)
    sweeper.start()
    options: dict[str, Any] = {
        "pool_cls": "threads",
        "concurrency": concurrency or settings.worker_concurrency,
        "hostname": f"leadbase-{os.getpid()}@{socket.gethostname()}",
        "queues": [QUEUE],
        "loglevel": "WARNING",
        "quiet": True,
        "without_mingle": True,
        "without_gossip": True,
        "without_heartbeat": True,
    }
    try:
        worker = app.Worker(**options)
        worker.start()
        return int(worker.exitcode or 0)
    finally:
        sweeper.stop()
        _state.database, _state.on_outcome = None, None
