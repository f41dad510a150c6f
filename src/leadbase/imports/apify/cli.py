"""``leadbase apify import --run ID | --dataset ID | --actor ACTOR``,
``leadbase apify watch --actor ACTOR`` and ``leadbase apify states``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leadbase.db import Database
from leadbase.imports.apify import service
from leadbase.imports.apify.client import RunInfo

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

apify_app = typer.Typer(
    help="Import Apify runs and datasets (LEADBASE_APIFY_TOKEN, LEADBASE_APIFY_API_URL).",
    no_args_is_help=True,
)


@contextmanager
def _bar(description: str) -> Iterator[service.Progress]:
    """A progress bar on stderr, and the callback that moves it."""
    with Progress(
        SpinnerColumn(),
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def moved(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield moved


@contextmanager
def _database() -> Iterator[Database]:
    database = Database()
    try:
        yield database
    finally:
        database.dispose()


def _input(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc.msg}", param_hint="--input") from None
    if not isinstance(given, dict):
        raise typer.BadParameter("a JSON object, the actor's input", param_hint="--input")
    return given


@apify_app.command("import")
def import_cmd(
    run: Annotated[str | None, typer.Option("--run", help="An Apify run id.")] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="A dataset id (or name), without its run.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Start a run of this actor (id or user/name).")
    ] = None,
    run_input: Annotated[
        str | None, typer.Option("--input", help="--actor: the run's input, a JSON object.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="--actor: wait for the run, then import its items.")
    ] = False,
) -> None:
    """Import one run's items, one dataset, or a run started here. Importing
    again resumes a broken sync and changes nothing after a complete one."""
    if sum(x is not None for x in (run, dataset, actor)) != 1:
        raise typer.BadParameter("give one of --run, --dataset or --actor")
    if (run_input is not None or wait) and actor is None:
        raise typer.BadParameter("--input and --wait go with --actor")
    given = _input(run_input)
    with _database() as database, _bar("importing") as moved:
        if run is not None:
            report = service.import_run(database, run, progress=moved)
        elif dataset is not None:
            report = service.import_dataset(database, dataset, progress=moved)
        else:
            assert actor is not None
            info, report = service.start_actor(database, actor, given, wait=wait, progress=moved)
            if not wait:
                out.print(
                    f"started run {info.run_id} of {info.actor_name or actor} ({info.status}); "
                    f"`leadbase apify import --run {info.run_id}` or `watch` imports it "
                    "once it has finished"
                )
                return
    out.print(describe(report))


def describe(report: service.SyncReport) -> str:
    """One line: what a sync did, or why it did nothing."""
    if report.run_id:
        what = f"run {report.run_id}" + (f" of {report.actor}" if report.actor else "")
    elif report.dataset_name:
        what = f"dataset {report.dataset_name} ({report.dataset_id})"
    else:
        what = f"dataset {report.dataset_id}"
    if report.start == "done":
        return (
            f"{what} was imported in full already ({report.synced:,} items synced): nothing changed"
        )
    counts = (
        f"{report.total:,} items: {report.created:,} created, {report.duplicates:,} "
        f"duplicates (merged or already there), {report.failed:,} failed"
    )
    resumed = " (resumed)" if report.start == "resume" else ""
    return f"{what}{resumed}: {counts}; sync {report.sync_status} ({report.state_id})"


@apify_app.command("watch")
def watch_cmd(
    actor: Annotated[str, typer.Option("--actor", help="The actor (id or user/name).")],
    every: Annotated[
        float | None,
        typer.Option("--every", min=1, help="Watch again every SECONDS until interrupted."),
    ] = None,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="Queue an apify_watch job for the worker instead (it repeats itself "
            "every LEADBASE_APIFY_WATCH_SECONDS when set).",
        ),
    ] = False,
) -> None:
    """Import the actor's SUCCEEDED runs that finished since the last one synced."""
    with _database() as database:
        if schedule:
            with database.unit_of_work() as uow:
                job_id = service.schedule_watch(uow, actor)
            out.print(
                f"queued watch job {job_id} for {actor}"
                if job_id
                else f"a watch job for {actor} is already queued"
            )
            return
        while True:
            try:
                _watch_once(database, actor)
            except service.ApifySyncError as exc:
                if every is None:
                    raise
                err.print(f"[red]error:[/] {exc.message}")  # tried again next time
            if every is None:
                return
            time.sleep(every)


def _watch_once(database: Database, actor: str) -> None:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as progress:

        def bar(info: RunInfo) -> service.Progress:
            task = progress.add_task(f"run {info.run_id}", total=info.item_count)
            return lambda done, total: progress.update(task, completed=done, total=total)

        reports = service.watch(database, actor, progress=bar)
    if not reports:
        out.print(f"{actor}: no new runs")
    for report in reports:
        out.print(describe(report))


@apify_app.command("states")
def states_cmd(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """The latest syncs: status, items synced, failed, duplicates."""
    with _database() as database, database.read_session() as session:
        views = service.sync_states_for_console(session, limit)
    table = Table("sync", "of", "run", "status", "items", "synced", "failed", "dupes", "error")
    for v in views:
        table.add_row(
            v.id,
            v.label,
            v.run_id or "",
            v.sync_status,
            f"{v.total:,}",
            f"{v.synced:,}",
            f"{v.failed:,}",
            f"{v.duplicates:,}",
            (v.error or "")[:60],
        )
    out.print(table)
