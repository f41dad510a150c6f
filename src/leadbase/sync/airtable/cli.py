"""``leadbase airtable check|push|pull|sync|conflicts|status``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leadbase import context
from leadbase.context import cli_actor
from leadbase.db import Database
from leadbase.errors import LeadbaseError
from leadbase.sync.airtable import conflicts, pull, service
from leadbase.sync.airtable.client import AirtableError, RetryPolicy
from leadbase.sync.airtable.mapping import MODIFIED_FIELD, MappingError
from leadbase.sync.airtable.push import PushResult, push
from leadbase.sync.airtable.schemas import StatusOut
from leadbase.sync.airtable.settings import AirtableConfig, AirtableNotConfigured

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

airtable_app = typer.Typer(
    help="Two-way sync with an Airtable table (LEADBASE_AIRTABLE_TOKEN, _BASE_ID, _TABLE, "
    "_API_URL).",
    no_args_is_help=True,
)


@contextmanager
def _database() -> Iterator[Database]:
    database = Database()
    try:
        yield database
    finally:
        database.dispose()


# --- check and push --------------------------------------------------------------------


def _config() -> AirtableConfig:
    """The settings, or a one-line error and exit 2 when they are incomplete."""
    try:
        return AirtableConfig.from_settings()
    except (AirtableNotConfigured, MappingError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


@airtable_app.command()
def check() -> None:
    """Check the field mapping against the table's fields in Airtable."""
    config = _config()
    # Two tries, not five: a person is waiting for the answer.
    client = config.client(RetryPolicy(max_attempts=2))
    try:
        table_fields = client.field_types()
    except AirtableError as exc:
        err.print(f"error: can't read the table {config.table!r} of base {config.base_id}: {exc}")
        raise typer.Exit(2) from None
    problems = config.mapping.check(table_fields)
    for problem in problems:
        out.print(f"- {problem}")
    if problems:
        out.print(f"{len(problems)} problem(s) with the Airtable mapping")
        raise typer.Exit(1)
    out.print(f"ok: {len(config.mapping.fields) + 1} fields mapped")


def _push_bar() -> Progress:
    columns = [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress("pushing", *columns, console=err, transient=True)


@airtable_app.command("push")
def push_command(
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many leads.")] = None,
    retry_failed: Annotated[
        bool, typer.Option(help="Give leads that failed every try a fresh set of tries.")
    ] = False,
) -> None:
    """Push new, changed and deleted leads to Airtable (the sync outbox)."""
    config = _config()
    with _database() as database, _push_bar() as bar:
        task = bar.add_task("push", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = push(
            database,
            config,
            progress=progress,
            limit=limit,
            retry_failed=retry_failed,
            actor=context.current().actor,
        )
    _summary(result)
    if result.error:
        err.print(f"error: the push stopped: {result.error}")
        raise typer.Exit(2)
    if result.failed:
        raise typer.Exit(1)


def _summary(result: PushResult) -> None:
    out.print(
        f"pushed {result.pushed:,} ({result.created:,} created, {result.updated:,} updated, "
        f"{result.deleted:,} deleted), {result.unchanged:,} unchanged, {result.failed:,} failed; "
        f"{result.requests:,} requests, {result.rate_limited:,} rate-limited, "
        f"{result.retries:,} retries"
    )
    for error in result.errors:
        out.print(f"- {error}")


# --- pull and conflicts ----------------------------------------------------------------


@contextmanager
def _counter(description: str) -> Iterator[pull.Progress]:
    """A spinner on stderr counting records, and the callback that moves it."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def moved(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield moved


@airtable_app.command("pull")
def pull_cmd(
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Read every record, not only those changed since the last pull, and "
            "handle the records deleted in Airtable (LEADBASE_AIRTABLE_ON_REMOTE_DELETE: "
            "flag or delete).",
        ),
    ] = False,
) -> None:
    """Apply the changes made in Airtable to the leads (as system:airtable)."""
    config = _config()
    with _database() as database, _counter("pulling") as moved:
        result = pull.pull(database, config, full=full, progress=moved)
    out.print(describe_pull(result))
    if result.untimed:
        err.print(
            f'[yellow]warning:[/] {result.untimed:,} records had no "{MODIFIED_FIELD}": '
            "without that field (type lastModifiedTime) every pull reads every record "
            "and a conflict keeps the local value; see `leadbase airtable check`"
        )
    for record_id, reason in result.failures[: pull.NOTED_FAILURES]:
        err.print(f"[yellow]not pulled:[/] {record_id}: {reason}")
    if result.conflicts:
        out.print("see them with `leadbase airtable conflicts`")


def describe_pull(result: pull.PullResult) -> str:
    deleted = f", {result.deleted:,} gone from Airtable" if result.kind == "full-pull" else ""
    skipped = f", {result.skipped:,} of leads deleted here" if result.skipped else ""
    return (
        f"{result.kind} {result.run_id}: {result.pulled:,} records read, "
        f"{result.created:,} new leads, {result.updated:,} leads updated, "
        f"{result.conflicts:,} conflicts, {result.failed:,} failed{deleted}{skipped}; "
        f"{result.requests:,} requests ({result.rate_limited:,} rate-limited, "
        f"{result.retries:,} retried)"
    )


def _shown(value: object) -> str:
    if value is None:
        return "(empty)"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


@airtable_app.command("conflicts")
def conflicts_cmd(
    show_all: Annotated[
        bool, typer.Option("--all", help="Resolved conflicts too, not only open ones.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
) -> None:
    """Fields changed both here and in Airtable since the last sync."""
    with _database() as database:
        found = conflicts.list_conflicts(database, include_resolved=show_all, limit=limit)
    if as_json:
        out.print_json(json.dumps([c.as_dict() for c in found], default=str))
        return
    if not found:
        out.print("no conflicts" if show_all else "no open conflicts")
        return
    table = Table("id", "lead", "field", "local", "remote", "applied", "status")
    for c in found:
        table.add_row(
            c.id,
            f"{c.lead_name or '(gone)'}\n{c.lead_id}",
            "\n".join(c.fields),
            "\n".join(_shown(v["local"]) for v in c.fields.values()),
            "\n".join(_shown(v["remote"]) for v in c.fields.values()),
            c.applied,
            c.status if c.status == "open" else f"{c.resolution} by {c.resolved_by}",
        )
    out.print(table)


@airtable_app.command("resolve")
def resolve_cmd(
    conflict_id: Annotated[str, typer.Argument(help="The conflict's id.")],
    keep: Annotated[
        str | None, typer.Option("--keep", help="local or remote: keep that side's values.")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="NAME=local|remote for one field (repeatable)."),
    ] = None,
) -> None:
    """Resolve a conflict: the lead gets the chosen values; those that differ
    from Airtable go with the next push."""
    if (keep is None) == (not field):
        raise typer.BadParameter("give --keep local|remote, or --field NAME=local|remote")
    choice: conflicts.Choice
    if keep is not None:
        if keep not in conflicts.SIDES:
            raise typer.BadParameter("local or remote", param_hint="--keep")
        choice = f"keep-{keep}"
    else:
        choice = dict(_field_choice(given) for given in field or [])
    with _database() as database:
        resolved = conflicts.resolve(database, conflict_id, choice, cli_actor())
    out.print(f"conflict {resolved.id} resolved ({resolved.resolution}) by {resolved.resolved_by}")


def _field_choice(given: str) -> tuple[str, str]:
    name, _, side = given.rpartition("=")
    if not name or side not in conflicts.SIDES:
        raise typer.BadParameter(f"{given!r}: NAME=local or NAME=remote", param_hint="--field")
    return name, side


# --- sync and status -------------------------------------------------------------------


@airtable_app.command("sync")
def sync_cmd(
    watch: Annotated[
        bool, typer.Option("--watch", help="Sync again every --every seconds, until Ctrl-C.")
    ] = False,
    every: Annotated[float, typer.Option("--every", min=1.0, help="Seconds between syncs.")] = 60.0,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="Queue a sync for the worker, which queues the next one "
            "LEADBASE_AIRTABLE_SYNC_SECONDS after each; then return.",
        ),
    ] = False,
) -> None:
    """Pull what changed in Airtable (a full pull, finding deletes, when
    LEADBASE_AIRTABLE_FULL_PULL_HOURS have passed), then push what changed here."""
    if watch and schedule:
        err.print("error: --watch syncs here, --schedule leaves it to the worker: choose one")
        raise typer.Exit(2)
    config = _config()
    with _database() as database:
        if schedule:
            with database.unit_of_work() as uow:
                job_id = service.schedule(uow, database.settings)
            out.print(f"queued: job {job_id}" if job_id else "a scheduled sync is queued already")
            if not database.settings.airtable_sync_seconds:
                err.print(
                    "note: LEADBASE_AIRTABLE_SYNC_SECONDS is not set (in the worker's "
                    "environment too): the worker runs this sync once and queues no next one"
                )
            return
        while True:
            code = _sync_once(database, config)
            if not watch:
                raise typer.Exit(code)
            err.print(f"next sync in {every:g} s (Ctrl-C stops)")
            try:
                time.sleep(every)
            except KeyboardInterrupt:
                raise typer.Exit(0) from None


def _sync_once(database: Database, config: AirtableConfig) -> int:
    """A pull (a full one when due), then a push, each summed up as it ends
    (service.run says why in that order); the exit code: 0, 1 when a record
    did not come or go, 2 when a run stopped. A pull that stopped leaves the
    push for the next sync: pushing without it could overwrite a change made
    in Airtable without seeing the conflict. A watch goes on after any of them."""
    try:
        with _counter("pulling") as moved:
            pulled = service.run(
                database, service.sync_pull_kind(database), config=config, progress=moved
            ).pulled
    except LeadbaseError as exc:
        err.print(f"error: the pull stopped: {exc.message}; nothing was pushed")
        return 2
    assert pulled is not None
    out.print(describe_pull(pulled))
    code = 1 if pulled.failed else 0
    try:
        with _counter("pushing") as moved:
            pushed = service.run(database, "push", config=config, progress=moved).pushed
    except LeadbaseError as exc:
        err.print(f"error: the push stopped: {exc.message}")
        return 2
    assert pushed is not None
    _summary(pushed)
    if pushed.error:
        err.print(f"error: the push stopped: {pushed.error}")
        return 2
    return code or (1 if pushed.failed else 0)


@airtable_app.command("status")
def status_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="The status as JSON.")] = False,
) -> None:
    """What waits to go, what failed and why, open conflicts, the last runs."""
    with _database() as database, database.read_session() as session:
        state = service.status(session, database.settings)
        shown = StatusOut.of(state)
    if as_json:
        out.print_json(shown.model_dump_json())
        return
    if state.configured:
        out.print(f"base {state.base_id}, table {state.table}")
    else:
        out.print("not configured: set " + ", ".join(state.missing))
    out.print(
        f"pending {state.pending:,}, failed {state.failed:,}, linked {state.linked:,}, "
        f"open conflicts {state.open_conflicts:,}"
    )
    for run in state.runs[:5]:
        counts = ", ".join(f"{name} {value:,}" for name, value in run.counts.items() if value)
        when = f"{run.started_at:%Y-%m-%d %H:%M:%S}"
        out.print(
            f"{when} {run.kind} {run.status}: {counts or 'nothing'} {run.error or ''}".rstrip()
        )
    for failure in state.failures[:10]:
        state_of = "gave up" if failure.status == "failed" else "retrying"
        out.print(
            f"{state_of}: {failure.lead_id} ({failure.lead_name or 'no name'}) "
            f"after {failure.attempts} tries: {failure.error}"
        )
