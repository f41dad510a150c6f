"""``leadbase enrich``: queue enrichment for many leads and (by default) see it through."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from leadbase.config import Settings, get_settings
from leadbase.db import Database
from leadbase.jobs import repository as jobs_repository
from leadbase.jobs.local import LocalRunner
from leadbase.jobs.runner import Outcome
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.leads.schemas import EnrichmentStatus

err = Console(stderr=True)
BATCH = 200  # leads queued per transaction: short write locks, steady progress
POLL_SECONDS = 0.5


def _bar(description: str) -> Progress:
    columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    return Progress(description, *columns, console=err)


def _queue(database: Database, lead_ids: list[str]) -> list[str]:
    job_ids: list[str] = []
    with _bar("queueing") as progress:
        task = progress.add_task("queue", total=len(lead_ids))
        for start in range(0, len(lead_ids), BATCH):
            with database.unit_of_work() as uow:
                jobs = leads_service.start_enrichment(uow, lead_ids[start : start + BATCH])
            job_ids.extend(jobs.values())
            progress.advance(task, len(jobs))
    return job_ids


def _run_here(database: Database, settings: Settings, job_ids: list[str]) -> None:
    """The local queue: run the jobs on this process's threads."""
    wanted, lock = set(job_ids), threading.Lock()
    with _bar("enriching") as progress:
        task = progress.add_task("enrich", total=len(job_ids))

        def finished(outcome: Outcome) -> None:
            if outcome.job_id in wanted and outcome.status in jobs_repository.FINISHED:
                with lock:
                    progress.advance(task)

        LocalRunner(database, settings, on_outcome=finished).run_until_idle()


def _watch(database: Database, job_ids: list[str]) -> None:
    """The Celery queue: workers elsewhere run the jobs; follow them."""
    with _bar("enriching") as progress:
        task = progress.add_task("enrich", total=len(job_ids))
        done = 0
        while done < len(job_ids):
            time.sleep(POLL_SECONDS)
            with database.read_session() as session:
                done = jobs_repository.count_finished(session, job_ids)
            progress.update(task, completed=done)


def _summary(database: Database, lead_ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with database.read_session() as session:
        for start in range(0, len(lead_ids), 500):
            for lead in leads_repository.get_many(session, lead_ids[start : start + 500]).values():
                counts[lead.enrichment_status] = counts.get(lead.enrichment_status, 0) + 1
    return counts


def enrich(
    status: Annotated[
        EnrichmentStatus, typer.Option(help="Enrich the leads in this state.")
    ] = "pending",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many leads.")] = None,
    wait: Annotated[
        bool,
        typer.Option(
            help="See the jobs through: run them here (local queue) or follow the "
            "Celery workers. --no-wait only queues them."
        ),
    ] = True,
) -> None:
    """Queue an enrichment job for each lead in a state (oldest first)."""
    settings = get_settings()
    database = Database(settings=settings)
    try:
        with database.read_session() as session:
            lead_ids = leads_repository.ids_matching(
                session, {"enrichment_status": status}, limit=limit or 2**31 - 1
            )
        if not lead_ids:
            err.print(f"no {status} leads to enrich")
            return
        job_ids = _queue(database, lead_ids)
        if not wait:
            err.print(f"queued {len(job_ids):,} enrichment jobs")
            return
        if settings.queue == "local":
            _run_here(database, settings, job_ids)
        else:
            _watch(database, job_ids)
        counts = _summary(database, lead_ids)
        err.print(", ".join(f"{n:,} {state}" for state, n in sorted(counts.items())))
    finally:
        database.dispose()
