"""``leadbase score``: score every active lead (progress bar, then how many
changed and the distribution); ``leadbase score --rules FILE`` checks the
file and scores with it; ``leadbase score rules [--check FILE]`` prints the
rules in effect or checks a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.scoring import model_cli, service
from leadbase.scoring.rules import Rules, RulesError

score_app = typer.Typer(
    help="The lead score: score every lead, show or check the rules.",
    invoke_without_command=True,
)
out = Console()
err = Console(stderr=True)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="A TOML or JSON rules file (default: LEADBASE_SCORING_RULES, else the "
        "built-in rules). Checked first; a bad file scores nothing.",
        dir_okay=False,
    ),
]


def _rules(path: Path | None) -> Rules:
    try:
        return service.rules_in_effect(path)
    except RulesError as exc:
        err.print(f"[red]bad rules file:[/red] {exc.message}")
        raise typer.Exit(1) from None


@score_app.callback()
def score(ctx: typer.Context, rules: RulesOption = None) -> None:
    """Score every active lead with the rules (edit the rules, run this: every
    lead is rescored). Prints how many scores changed and the distribution."""
    if ctx.invoked_subcommand is not None:
        return
    effective = _rules(rules)
    database = Database(settings=get_settings())
    try:
        total = service.count_active(database)
        columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with Progress("scoring", *columns, console=err) as progress:
            task = progress.add_task("score", total=total)
            report = service.score_all(database, effective, lambda n: progress.advance(task, n))
    finally:
        database.dispose()
    out.print(
        f"scored {report.scored:,} leads with rules {report.rules}: "
        f"{report.changed:,} scores changed"
    )
    for band, count in report.distribution.items():
        out.print(f"  {band:>8}  {count:>9,}")


@score_app.command("rules")
def rules_cmd(
    check: Annotated[
        Path | None,
        typer.Option(
            "--check", help="Check this rules file; print the rules it makes.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Print the rules in effect as JSON (or check a file: exit 1 naming the bad key)."""
    effective = _rules(check)
    if check is not None:
        err.print(f"{check}: ok (rules {effective.digest})")
    out.print_json(json.dumps({"digest": effective.digest, "rules": effective.as_dict()}))


# `leadbase score train`: the learned model's command (scoring.model_cli).
model_cli.register(score_app)
