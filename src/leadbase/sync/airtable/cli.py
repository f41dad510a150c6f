"""``leadbase airtable check|push|pull|sync|conflicts|status``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from leadbase import context
from leadbase.db import Database
from leadbase.sync.airtable.client import AirtableError, RetryPolicy
from leadbase.sync.airtable.mapping import MappingError
from leadbase.sync.airtable.push import PushResult, push
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
