"""``leadbase worker`` and ``leadbase jobs list|retry``."""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from types import FrameType
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.jobs import repository, service
from leadbase.jobs.runner import Outcome
from leadbase.jobs.schemas import JobStatus
from leadbase.models import utcnow

jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

_STYLE = {"succeeded": "green", "failed": "yellow", "dead": "red", "lost": "magenta"}


def _print_outcome(outcome: Outcome) -> None:
    style = _STYLE.get(outcome.status, "white")
    line = (
        f"[{style}]{outcome.status:<9}[/] {outcome.job_id} {outcome.kind} "
        f"attempt {outcome.attempt} in {outcome.seconds * 1000:.0f} ms"
    )
    if outcome.error:
        line += f" [dim]{outcome.error[:200]}[/]"
    # soft_wrap: one line a job, whatever the terminal width (logs, pipes)
    out.print(line, soft_wrap=True, highlight=False)


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run the jobs that are due, then exit (local queue).")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Threads (default: LEADBASE_WORKER_CONCURRENCY)."),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(help="Seconds to let running jobs finish on SIGTERM/SIGINT."),
    ] = 10.0,
) -> None:
    """Run background jobs until SIGTERM/SIGINT: threads claiming jobs from the
    database (LEADBASE_QUEUE=local), or a Celery worker on Redis (celery)."""
    settings = get_settings()
    database = Database(settings=settings)
    try:
        if settings.queue == "celery":
            if once:
                raise typer.BadParameter("--once is for the local queue", param_hint="--once")
            from leadbase.jobs import celery_app

            threads = concurrency or settings.worker_concurrency
            broker = _without_password(settings.redis_url)
            err.print(f"celery worker on {broker}: {threads} threads")
            code = celery_app.run_worker(
                database, settings, on_outcome=_print_outcome, concurrency=concurrency
            )
            raise typer.Exit(code)
        _run_local(database, once=once, concurrency=concurrency, grace=grace)
    finally:
        database.dispose()


def _without_password(url: str | None) -> str:
    parts = urlsplit(url or "")
    if parts.password is None:
        return url or ""
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _run_local(database: Database, *, once: bool, concurrency: int | None, grace: float) -> None:
    from leadbase.jobs.local import LocalRunner

    runner = LocalRunner(database, concurrency=concurrency, on_outcome=_print_outcome)
    if once:
        runner.run_until_idle()
        return
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        err.print(f"{signal.Signals(signum).name}: finishing running jobs (up to {grace:g} s)")
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner.start()
        err.print(f"local worker {runner.name}: {runner.concurrency} threads")
        while not stop.wait(0.5):
            pass
    finally:
        runner.stop(timeout=grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _next_run(when: datetime, now: datetime) -> str:
    seconds = (when - now).total_seconds()
    if seconds <= 0:
        return "due"
    return f"in {seconds:.0f} s" if seconds < 120 else f"in {seconds / 60:.0f} min"


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
) -> None:
    """The newest jobs first."""
    database = Database()
    try:
        with database.read_session() as session:
            jobs = repository.listing(session, status=status, kind=kind, limit=limit)
    finally:
        database.dispose()
    table = Table(
        Column("id", no_wrap=True, min_width=36),
        Column("kind", no_wrap=True),
        Column("status", no_wrap=True, min_width=9),
        Column("tries", no_wrap=True, min_width=5, justify="right"),
        Column("next run", no_wrap=True),
        Column("last error", overflow="fold", min_width=10),
        box=box.SIMPLE_HEAD,
    )
    now = utcnow()
    for job in jobs:
        style = _STYLE.get(job.status, "")
        table.add_row(
            job.id,
            job.kind,
            f"[{style}]{job.status}[/]" if style else job.status,
            f"{job.attempts}/{job.max_attempts}",
            _next_run(job.next_run_at, now) if job.status in ("queued", "failed") else "",
            (job.last_error or "")[:80],
        )
    out.print(table)
    if not jobs:
        out.print("no jobs")


@jobs_app.command("retry")
def retry_jobs(
    job_id: Annotated[str | None, typer.Argument(help="The job to run again.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead job.")] = False,
) -> None:
    """Queue a failed or dead job again now, with a fresh set of attempts."""
    if (job_id is None) == (not dead):
        raise typer.BadParameter("give a job id or --dead (not both)")
    database = Database()
    try:
        with database.unit_of_work() as uow:
            ids = service.retry_dead(uow) if dead else [service.retry(uow, str(job_id)).id]
    finally:
        database.dispose()
    for retried in ids:
        out.print(f"queued {retried}")
    if not ids:
        out.print("no dead jobs")
