"""The local runner: worker threads that claim due jobs from the jobs table.

It runs inside ``leadbase serve`` (``LEADBASE_JOBS_IN_SERVER``) and as
``leadbase worker``. Threads poll every ``job_poll_seconds``; a job committed
in this process wakes them at once (``submit``). Any number of runners, in
any number of processes, can share one database: claims are leases.
"""

from __future__ import annotations

import threading
import time

from leadbase import logs
from leadbase.config import Settings
from leadbase.db import Database, background_writes
from leadbase.jobs import handover, registry, repository, runner
from leadbase.jobs.runner import OutcomeCallback
from leadbase.models import utcnow

log = logs.get_logger("leadbase.jobs.local")


class LocalRunner:
    def __init__(
        self,
        database: Database,
        settings: Settings | None = None,
        *,
        concurrency: int | None = None,
        on_outcome: OutcomeCallback | None = None,
        name: str | None = None,
    ) -> None:
        self.database = database
        self.settings = settings or database.settings
        self.concurrency = concurrency or self.settings.worker_concurrency
        self.on_outcome = on_outcome
        self.name = name or runner.worker_name()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, str] = {}  # job id -> owner, while a thread runs it
        self._lock = threading.Lock()
        self._idle_exit = False

    # -- the Runner interface --------------------------------------------------------

    def submit(self, job_id: str) -> None:
        """A job was committed: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        registry.load_modules(self.settings.job_handler_modules)
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), name=f"leadbase-job-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()
        handover.register_local(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Let each thread finish its current job; after ``timeout`` give the
        jobs still running back (they are due again at once elsewhere)."""
        handover.unregister_local(self)
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            unfinished = dict(self._running)
        if unfinished:
            self._release(unfinished)
        self._threads = []

    # -- beyond the interface --------------------------------------------------------

    def run_until_idle(self) -> None:
        """Run what is due now (and what becomes due meanwhile), then return:
        ``leadbase worker --once``."""
        self._idle_exit = True
        self.start()
        for thread in self._threads:
            thread.join()
        handover.unregister_local(self)

    # -- the threads ---------------------------------------------------------------

    def _loop(self, index: int) -> None:
        with background_writes():  # the server's requests write first
            self._serve(f"{self.name}:{index}")

    def _serve(self, owner: str) -> None:
        poll = self.settings.job_poll_seconds
        idle = True
        while not self._stopping.is_set():
            # Clear before looking: a job committed after this line sets the
            # event again, so the wait below cannot sleep through it.
            self._wake.clear()
            try:
                idle = not self._run_next(owner, look_first=idle)
            except Exception as exc:  # the database is away: try again later
                log.error("job runner: database error", error=str(exc))
                idle = True
                self._stopping.wait(poll)
            if idle:
                if self._idle_exit:
                    return
                self._wake.wait(poll)

    def _run_next(self, owner: str, *, look_first: bool) -> bool:
        # An idle runner looks with a plain read before claiming: a claim is
        # a write transaction, and on SQLite every poll would take the
        # database's write lock from the server's own requests.
        if look_first and not runner.anything_due(self.database):
            return False
        jobs = runner.claim_next(self.database, owner)
        if not jobs:
            return False
        job = jobs[0]
        with self._lock:
            self._running[job.id] = owner
        try:
            outcome = runner.execute(self.database, job, owner)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return True

    def _release(self, jobs: dict[str, str]) -> None:
        now = utcnow()
        by_owner: dict[str, list[str]] = {}
        for job_id, owner in jobs.items():
            by_owner.setdefault(owner, []).append(job_id)
        try:
            with self.database.unit_of_work() as uow:
                for owner, job_ids in by_owner.items():
                    repository.release(uow.session, job_ids, owner, now)
        except Exception as exc:  # their leases expire instead
            log.warning("could not release running jobs", error=str(exc))
