"""The ``leadbase`` command line. Every command acts as ``cli:<os user>``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from leadbase import __version__, context
from leadbase.auth.cli import users_app
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.duplicates.cli import dedupe_app
from leadbase.enrichment.cli import enrich
from leadbase.errors import LeadbaseError
from leadbase.imports.apify.cli import apify_app
from leadbase.imports.cli import import_app
from leadbase.imports.migrate_cli import migrate_json_cmd
from leadbase.jobs.cli import jobs_app, worker
from leadbase.logs import LogFormat
from leadbase.scoring.cli import score_app
from leadbase.sync.airtable.cli import airtable_app

app = typer.Typer(help="leadbase: a self-hosted lead database.", no_args_is_help=True)
db_app = typer.Typer(help="Schema migrations.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(jobs_app, name="jobs")
app.add_typer(dedupe_app, name="dedupe")
app.add_typer(import_app, name="import")
app.add_typer(apify_app, name="apify")
app.add_typer(airtable_app, name="airtable")
app.add_typer(score_app, name="score")
app.command("migrate-json")(migrate_json_cmd)
app.command("worker")(worker)
app.command("enrich")(enrich)

out = Console()
err = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    # Closed when the command ends, so the actor never leaks past it.
    ctx.with_resource(context.acting_as(context.cli_actor()))


def _database() -> Database:
    return Database()


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING... (default: LEADBASE_LOG_LEVEL).")
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="json: one JSON object a line; console: for humans."),
    ] = None,
) -> None:
    """Serve the API and console."""
    import uvicorn

    from leadbase import logs, schema

    settings = get_settings()
    level = (log_level or settings.log_level).upper()
    if level not in _LOG_LEVELS:
        raise typer.BadParameter(f"{level!r}: use one of {', '.join(_LOG_LEVELS)}")
    log_config = logs.logging_config(level, log_format or settings.log_format)
    database = _database()
    try:
        if not schema.is_at_head(database.engine):
            err.print("[yellow]the database schema is not current: run `leadbase db upgrade`[/]")
    finally:
        database.dispose()
    # uvicorn applies log_config in every worker process; its own access log
    # is off because leadbase.http.ops logs each request with more facts.
    uvicorn.run(
        "leadbase.http.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        log_level=level.lower(),
        access_log=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the schema up to REVISION (default: head)."""
    from leadbase import schema

    database = _database()
    schema.upgrade(database.engine, revision)
    out.print(f"database at revision {schema.current_revision(database.engine)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target, e.g. base or -1.")]) -> None:
    """Migrate the schema down to REVISION."""
    from leadbase import schema

    database = _database()
    schema.downgrade(database.engine, revision)
    out.print(f"database at revision {schema.current_revision(database.engine) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision the database is at."""
    from leadbase import schema

    database = _database()
    current = schema.current_revision(database.engine)
    head = schema.head_revision()
    note = "(head)" if current == head else f"(head is {head})"
    out.print(f"{current or 'base'} {note}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain. Exit 0 when intact, 1 naming the first bad entry."""
    from leadbase import audit

    database = _database()
    with _progress() as progress:
        progress.add_task("verifying audit chain", total=None)
        with database.read_session() as session:
            result = audit.verify(session)
    if result.ok:
        out.print(f"[green]{result.describe()}[/]")
        return
    err.print(f"[red]{result.describe()}[/]")
    raise typer.Exit(1)


@app.command("backup")
def backup_cmd(file: Annotated[Path, typer.Argument(help="Where to write the backup.")]) -> None:
    """Take a consistent snapshot of the database while it stays in use."""
    from leadbase import backup

    database = _database()
    with _progress() as progress:
        task = progress.add_task("backing up", total=None)
        rows = backup.backup(
            database.engine,
            file,
            lambda table, n: progress.update(task, description=f"backing up {table}: {n} rows"),
        )
    out.print(f"backup written to {file} ({rows} rows)")


@app.command("restore")
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="A file made by `leadbase backup`.")],
) -> None:
    """Load a backup into an empty database."""
    from leadbase import audit, backup

    database = _database()
    with _progress() as progress:
        task = progress.add_task("restoring", total=None)
        rows = backup.restore(
            database.engine,
            file,
            lambda table, n: progress.update(task, description=f"restoring {table}: {n} rows"),
        )
    with database.read_session() as session:
        result = audit.verify(session)
    out.print(f"restored {rows} rows from {file}; {result.describe()}")
    if not result.ok:
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except LeadbaseError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        sys.exit(2)
