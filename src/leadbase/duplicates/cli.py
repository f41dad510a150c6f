"""``leadbase dedupe scan|merge|rekey``: duplicates across the whole database."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy.orm import Session

from leadbase.db import Database
from leadbase.dedupe import repository, scan
from leadbase.dedupe.rules import load_rules
from leadbase.duplicates import service as duplicates_service
from leadbase.errors import LeadbaseError

dedupe_app = typer.Typer(help="Duplicate leads: scan, merge, re-key.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
REKEY_BATCH = 2000
CLUSTER_PAGE = 200


def _bar(description: str) -> Progress:
    columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    return Progress(description, *columns, console=err, transient=True)


@dedupe_app.command("scan")
def scan_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per cluster, one a line.")
    ] = False,
) -> None:
    """Cluster the look-alike leads of the whole database and store the
    clusters for review. Merges nothing; dismissed pairs stay apart."""
    database = Database()
    try:
        rules = load_rules()
        stats = scan.ScanStats()
        with _bar("scanning") as progress:
            task = progress.add_task("scan", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            # Read outside the write transaction: a long scan must not hold
            # the write lock; the clusters are stored in one unit of work.
            with database.read_session() as session:
                clusters = scan.scan(session, rules, advance, stats)
        with database.unit_of_work() as uow:
            new = repository.upsert_clusters(
                uow.session, [c.as_dict() for c in clusters], origin="scan"
            )
    finally:
        database.dispose()
    if as_json:
        for cluster in clusters:
            print(json.dumps(cluster.as_dict()))
        return
    merge = sum(1 for c in clusters if c.action == "merge")
    out.print(
        f"{stats.leads:,} leads, {stats.compared:,} pairs compared: {len(clusters):,} clusters "
        f"({merge:,} merge, {len(clusters) - merge:,} review), {new:,} new"
    )


@dedupe_app.command("merge")
def merge_cmd(
    auto: Annotated[
        bool, typer.Option("--auto", help="Merge every open cluster whose action is merge.")
    ] = False,
) -> None:
    """Merge the stored clusters the rules rate certain (``--auto``), one
    transaction each; the oldest lead of a cluster survives."""
    if not auto:
        raise typer.BadParameter(
            "say --auto to merge every open merge cluster", param_hint="--auto"
        )
    database = Database()
    merged = failed = 0
    try:
        with database.read_session() as session:
            clusters = _open_merge_clusters(session)
        with _bar("merging") as progress:
            task = progress.add_task("merge", total=len(clusters))
            for cluster_id, lead_ids in clusters:
                try:
                    with database.unit_of_work() as uow:
                        survivor, others = scan.survivor_first(uow.session, lead_ids)
                        duplicates_service.merge_leads(uow, survivor, others, cluster_id=cluster_id)
                    merged += 1
                except LeadbaseError as exc:
                    # Changed since the scan (merged, deleted, edited): skip it, say why.
                    failed += 1
                    err.print(
                        f"[yellow]cluster {cluster_id} not merged:[/] {exc.message}",
                        soft_wrap=True,  # one line a cluster, whatever the terminal width
                        highlight=False,
                    )
                progress.advance(task)
    finally:
        database.dispose()
    out.print(f"{merged:,} clusters merged, {failed:,} skipped")
    if failed:
        raise typer.Exit(1)


def _open_merge_clusters(session: Session) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    after = None
    while True:
        page = duplicates_service.list_clusters(
            session,
            status="open",
            action="merge",
            limit=CLUSTER_PAGE,
            after=after,
        )
        found.extend((c.id, list(c.lead_ids)) for c in page.items if c.entity == "lead")
        if page.next_after is None:
            return found
        after = page.next_after


@dedupe_app.command("rekey")
def rekey_cmd() -> None:
    """Recompute every lead's match keys (after the key rules changed), in batches."""
    database = Database()
    changed = seen = 0
    try:
        with database.read_session() as session:
            total = scan.count_leads(session)
        with _bar("re-keying") as progress:
            task = progress.add_task("rekey", total=total)
            after = ""
            while True:
                with database.unit_of_work() as uow:
                    batch = scan.rekey_batch(uow.session, after, REKEY_BATCH)
                if batch.last_id is None:
                    break
                after = batch.last_id
                seen += batch.seen
                changed += batch.changed
                progress.update(task, completed=seen)
    finally:
        database.dispose()
    out.print(f"{seen:,} leads re-keyed, {changed:,} changed")
