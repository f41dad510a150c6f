"""``leadbase migrate-json DIR [--validate] [--dry-run]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from leadbase.db import Database
from leadbase.imports import migrate_json
from leadbase.imports.migrate_json import FileResult, MigrationReport, ValidationReport

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)
# Reasons printed per file; the report file holds them all.
SHOWN = 10


def migrate_json_cmd(
    directory: Annotated[
        Path, typer.Argument(help="The folder the agents kept lead JSON files in (searched deep).")
    ],
    validate: Annotated[
        bool,
        typer.Option(
            "--validate",
            help="Only check that every source lead is in the database; exit 1 if any is not.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")
    ] = False,
) -> None:
    """Migrate the lead JSON files under DIRECTORY: back up the database and
    the files, then write every lead through the one write path (duplicates
    merged), log each file in migration_log and print a report. Safe to re-run.
    Exit 1 when a lead or a file could not be migrated."""
    database = Database()
    try:
        if validate:
            checked = migrate_json.validate(database, directory)
            _print_validation(checked)
            ok = checked.ok
        else:
            report = _migrate(database, directory, dry_run)
            _print_report(report)
            ok = report.ok
    finally:
        database.dispose()
    if not ok:
        raise typer.Exit(1)


def _migrate(database: Database, directory: Path, dry_run: bool) -> MigrationReport:
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )
    with bar:
        task = bar.add_task("migrating", total=None)
        return migrate_json.migrate(
            database,
            directory,
            dry_run=dry_run,
            progress=lambda name, done, total: bar.update(
                task, description=name, completed=done, total=total
            ),
        )


def _print_report(report: MigrationReport) -> None:
    if not report.files:
        out.print(f"no .json, .ndjson or .jsonl files under {report.directory}: nothing to do")
        return
    if report.database_backup:
        out.print(f"database backed up to {report.database_backup}")
        out.print(f"files copied to {report.files_backup}")
    header = ("file", "shape", "status", "leads", "new", "merged", "unchanged", "failed")
    lines = [header] + [
        (
            r.file,
            r.shape,
            r.status,
            *(str(n) for n in (r.leads, r.created, r.merged, r.unchanged, r.failed)),
        )
        for r in report.files
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        out.print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    for result in report.files:
        _print_problems(result)
    totals = report.totals()
    prefix = "dry run, nothing changed: " if report.dry_run else ""
    out.print(
        f"{prefix}{totals['files']} files ({totals['skipped_files']} without leads, "
        f"{totals['failed_files']} failed): {totals['leads']} leads, "
        f"{totals['created']} migrated as new, {totals['merged']} merged, "
        f"{totals['unchanged']} unchanged, {totals['failed']} failed"
    )
    if report.report_path:
        out.print(f"report written to {report.report_path}")


def _print_problems(result: FileResult) -> None:
    if result.reason:
        out.print(f"{result.file}: {result.status}: {result.reason}")
    for failure in result.failures[:SHOWN]:
        where = f"#{failure['index']}" + (f" (id {failure['id']})" if failure["id"] else "")
        out.print(f"{result.file} {where}: failed: {failure['reason']}")
    for warning in result.warnings[:SHOWN]:
        where = f"#{warning['index']}" + (f" (id {warning['id']})" if warning["id"] else "")
        out.print(f"{result.file} {where}: warning: {warning['warning']}")
    hidden = max(len(result.failures) - SHOWN, 0) + max(len(result.warnings) - SHOWN, 0)
    if hidden:
        out.print(f"{result.file}: {hidden} more in the report")


def _print_validation(report: ValidationReport) -> None:
    for missing in report.missing:
        where = "" if missing.index is None else f" #{missing.index}"
        where += f" (id {missing.old_id})" if missing.old_id else ""
        name = f" {missing.name}:" if missing.name else ""
        out.print(f"{missing.file}{where}:{name} {missing.reason}")
    deleted = f" ({report.deleted} deleted since)" if report.deleted else ""
    out.print(
        f"{report.found} of {report.leads} source leads found in the database{deleted}; "
        f"{len(report.missing)} not found; {len(report.skipped_files)} files without leads"
    )
