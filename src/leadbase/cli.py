"""The ``leadbase`` command line. Every command acts as ``cli:<os user>``.

A command imports only what it needs: the commands of other packages are
named here and imported when invoked (``_LAZY``), so ``leadbase import
FILE`` does not pay for the Airtable sync, the API server or the password
hasher, and ``leadbase --help`` lists them from the help texts kept here
(tests/test_cli.py holds those equal to the commands' own).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from leadbase import __version__, context
from leadbase.errors import LeadbaseError

if TYPE_CHECKING:
    from rich.progress import Progress

    from leadbase.db import Database


# leadbase.logs.LogFormat, for serve's option, without importing structlog
# for every command (tests/test_cli.py holds the two equal).
LogFormat = Literal["json", "console"]


class Lazy:
    """A command of another package: where it is, and its help for ``--help``."""

    def __init__(self, module: str, attribute: str, help: str) -> None:
        self.module, self.attribute, self.help = module, attribute, help

    def load(self, name: str, group: TyperGroup) -> Any:
        """Build the command as ``app.command(name)`` or ``app.add_typer(name=)``
        would have, with the root's settings."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        holder = typer.Typer()
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
            return typer.main.get_group_from_info(
                holder.registered_groups[0],
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=group.rich_markup_mode,
                suggest_commands=group.suggest_commands,
            )
        holder.command(name)(target)
        return typer.main.get_command_from_info(
            holder.registered_commands[0],
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=group.rich_markup_mode,
        )

    def stand_in(self, name: str) -> TyperCommand:
        """What the root's help lists of a command not imported."""
        return TyperCommand(name=name, help=self.help, callback=None)


# In the order `leadbase --help` lists them: commands before groups, each in
# the order it was added, the ones defined below among them (None).
_LAZY: dict[str, Lazy | None] = {
    "migrate-json": Lazy(
        "leadbase.imports.migrate_cli",
        "migrate_json_cmd",
        "Migrate the lead JSON files under DIRECTORY: back up the database and\n"
        "the files, then write every lead through the one write path (duplicates\n"
        "merged), log each file in migration_log and print a report. Safe to re-run.\n"
        "Exit 1 when a lead or a file could not be migrated.",
    ),
    "worker": Lazy(
        "leadbase.jobs.cli",
        "worker",
        "Run background jobs until SIGTERM/SIGINT: threads claiming jobs from the\n"
        "database (LEADBASE_QUEUE=local), or a Celery worker on Redis (celery).",
    ),
    "enrich": Lazy(
        "leadbase.enrichment.cli",
        "enrich",
        "Queue an enrichment job for each lead in a state (oldest first).",
    ),
    "serve": None,
    "backup": None,
    "restore": None,
    "db": None,
    "audit": None,
    "users": Lazy("leadbase.auth.cli", "users_app", "Users and roles."),
    "jobs": Lazy("leadbase.jobs.cli", "jobs_app", "Background jobs."),
    "dedupe": Lazy(
        "leadbase.duplicates.cli", "dedupe_app", "Duplicate leads: scan, merge, re-key."
    ),
    "import": Lazy(
        "leadbase.imports.cli",
        "import_app",
        "Import leads from CSV, TSV, JSON, NDJSON or XLSX files; list, show, revert runs.",
    ),
    "apify": Lazy(
        "leadbase.imports.apify.cli",
        "apify_app",
        "Import Apify runs and datasets (LEADBASE_APIFY_TOKEN, LEADBASE_APIFY_API_URL).",
    ),
    "airtable": Lazy(
        "leadbase.sync.airtable.cli",
        "airtable_app",
        "Two-way sync with an Airtable table "
        "(LEADBASE_AIRTABLE_TOKEN, _BASE_ID, _TABLE, _API_URL).",
    ),
    "score": Lazy(
        "leadbase.scoring.cli",
        "score_app",
        "The lead score: score every lead, show or check the rules.",
    ),
}


class _Commands(MutableMapping[str, Any]):
    """The root's commands: those of ``_LAZY`` built on first use."""

    def __init__(self, group: LazyGroup, built: MutableMapping[str, Any]) -> None:
        self.group, self.built = group, dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            lazy = _LAZY.get(name)
            if lazy is None:
                raise KeyError(name)
            self.built[name] = lazy.load(name, self.group)
        return self.built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __iter__(self) -> Iterator[str]:
        listed = [name for name in _LAZY if name in self.built or _LAZY[name] is not None]
        yield from listed
        yield from (name for name in self.built if name not in _LAZY)

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __contains__(self, name: object) -> bool:
        return name in self.built or _LAZY.get(name) is not None  # type: ignore[call-overload]

    def stand_ins(self) -> dict[str, Any]:
        """Every command, those not built yet as their help alone."""
        return {name: self.built[name] if name in self.built else _stand_in(name) for name in self}


def _stand_in(name: str) -> TyperCommand:
    lazy = _LAZY[name]
    assert lazy is not None
    return lazy.stand_in(name)


class LazyGroup(TyperGroup):
    """The root group: commands of ``_LAZY`` imported when invoked."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self, self.commands)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # The root's help lists every command without importing any.
        commands = self.commands
        assert isinstance(commands, _Commands)
        self.commands = commands.stand_ins()
        try:
            super().format_help(ctx, formatter)
        finally:
            self.commands = commands


app = typer.Typer(
    cls=LazyGroup, help="leadbase: a self-hosted lead database.", no_args_is_help=True
)
db_app = typer.Typer(help="Schema migrations.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")

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
    from leadbase.db import Database

    return Database()


def _progress() -> Progress:
    from rich.progress import Progress, SpinnerColumn, TextColumn

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
    from leadbase.config import get_settings

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
