"""``leadbase import FILE`` and ``leadbase import revert|list|show RUN``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
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
from typer.core import TyperGroup

from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.imports import repository, service
from leadbase.imports.mapping import describe
from leadbase.imports.schemas import ImportRunOut
from leadbase.models.imports import IMPORT_COUNTS

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


class FileOrCommand(TyperGroup):
    """``leadbase import FILE`` runs the ``file`` command: the first word
    is a sub-command only when it names one."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["file", *args]
        return super().resolve_command(ctx, args)


import_app = typer.Typer(
    cls=FileOrCommand,
    help="Import leads from CSV, TSV, JSON, NDJSON or XLSX files; list, show, revert runs.",
    no_args_is_help=True,
)


def _bar(description: str) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@import_app.command("file", help="Import FILE (the default: `leadbase import FILE`).")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSON, NDJSON or XLSX file.")],
    mapping: Annotated[
        Path | None,
        typer.Option(help='JSON or TOML {"Header": "lead_field" | null}; others are guessed.'),
    ] = None,
    show_mapping: Annotated[
        bool, typer.Option("--show-mapping", help="Print the mapping with sample rows and stop.")
    ] = False,
    mode: Annotated[
        str, typer.Option(help="create: new leads (duplicates by policy); upsert; update.")
    ] = "create",
    match_on: Annotated[
        str, typer.Option(help="upsert/update: keys that find the lead, comma-separated.")
    ] = "email",
    on_duplicate: Annotated[
        str, typer.Option(help="merge (default), reject, allow or review.")
    ] = "merge",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where rejected rows go (default: FILE's name + .rejects.csv here)."),
    ] = None,
    again: Annotated[
        bool, typer.Option("--again", help="Import a file already imported the same way.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = service.BATCH_SIZE,
    format: Annotated[
        str | None, typer.Option(help="csv, tsv, json, ndjson or xlsx (default: sniffed).")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Default: sniffed.")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Default: sniffed.")] = None,
) -> None:
    options = service.ImportOptions.given(mode, match_on, on_duplicate, batch_size)
    plan = service.plan(
        file.resolve(),
        options,
        mapping_file=mapping,
        format=format,
        encoding=encoding,
        delimiter=delimiter,
    )
    if show_mapping:
        _show_mapping(plan)
        return
    database = _import_database()
    try:
        if dry_run:
            _dry_run(database, plan)
            return
        _run(database, plan, rejects, again)
    finally:
        database.dispose()


# An import's page cache: its writes land at the right edge of most indexes.
IMPORT_CACHE_KIB = 16384


def _import_database() -> Database:
    """No memory-mapped reads and a smaller page cache for an import: a long
    run over a large SQLite file would keep the pages it touched in its RSS,
    where the OS's page cache serves them as well."""
    settings = get_settings()
    lean = {"sqlite_mmap_bytes": 0, "sqlite_cache_kib": IMPORT_CACHE_KIB}
    return Database(settings=settings.model_copy(update=lean))


def _show_mapping(plan: service.Plan) -> None:
    shape = plan.shape
    out.print(
        f"{plan.path.name}: {shape.format}"
        + (f", {shape.encoding}" if shape.encoding else "")
        + (f", delimiter {shape.delimiter!r}" if shape.delimiter else "")
    )
    out.print(describe(plan.mapping, [raw for raw, _ in service.preview(plan, 3)]), highlight=False)


def _dry_run(database: Database, plan: service.Plan) -> None:
    with _bar("checking") as progress:
        task = progress.add_task("dry-run", total=None)
        counts = service.dry_run(
            database, plan, lambda done, total: progress.update(task, completed=done, total=total)
        )
    out.print("dry run, nothing changed: " + _counts(counts))


def _run(database: Database, plan: service.Plan, rejects: Path | None, again: bool) -> None:
    with database.unit_of_work() as uow:
        begun = service.begin(uow, plan, again=again, rows_total=service.estimate_rows(plan))
        run_id, done = begun.run.id, begun.run.rows_done
    if begun.start == "done":
        out.print(
            f"{plan.path.name} was imported the same way by run {run_id} "
            f"({_counts(begun.run.counts)}): nothing to do (--again to import it anyway)"
        )
        return
    if begun.start == "resume":
        err.print(f"resuming import {run_id} after row {done:,}")
    with _bar("importing") as progress:
        task = progress.add_task("import", total=None, completed=done)
        run = service.run_import(
            database,
            run_id,
            plan,
            lambda done, total: progress.update(
                task, completed=done, total=max(total or 0, done) or None
            ),
        )
    out.print(f"import {run.id}: {_counts(run.counts)}")
    if run.counts.get("rejected"):
        target = rejects or Path.cwd() / f"{plan.path.stem}.rejects.csv"
        written = _write_rejects(database, run.id, target)
        out.print(f"{written:,} rejected rows written to {target}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(name, 0):,} {name}" for name in IMPORT_COUNTS)


def _write_rejects(database: Database, run_id: str, target: Path) -> int:
    written = 0
    with database.read_session() as session, target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "reason", "data"])
        for reject in repository.rejects(session, run_id):
            writer.writerow([reject.row_number, reject.reason, json.dumps(reject.row)])
            written += 1
    return written


@import_app.command("revert")
def revert_cmd(run_id: Annotated[str, typer.Argument(help="The run's id.")]) -> None:
    """Undo a run: soft-delete what it created, restore what it changed (audited)."""
    database = Database()
    try:
        with _bar("reverting") as progress:
            task = progress.add_task("revert", total=None)
            report = service.revert(
                database,
                run_id,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
    finally:
        database.dispose()
    out.print(
        f"import {run_id} reverted: {report.deleted:,} leads deleted, {report.restored:,} "
        f"restored, {report.kept:,} kept newer edits"
    )


@import_app.command("list")
def list_cmd(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """The latest import runs."""
    database = Database()
    try:
        with database.read_session() as session:
            runs = repository.newest(session, limit)
            table = Table("run", "file", "status", "rows", "counts", "when")
            for run in runs:
                table.add_row(
                    run.id,
                    run.file_name,
                    run.status,
                    f"{run.rows_done:,}",
                    _counts(run.counts),
                    f"{run.created_at:%Y-%m-%d %H:%M}",
                )
    finally:
        database.dispose()
    out.print(table)


@import_app.command("show")
def show_cmd(run_id: Annotated[str, typer.Argument(help="The run's id.")]) -> None:
    """One run as JSON: status, counts, progress, error."""
    database = Database()
    try:
        with database.read_session() as session:
            run = service.get_run(session, run_id)
            print(ImportRunOut.of(run).model_dump_json(indent=2))
    finally:
        database.dispose()
