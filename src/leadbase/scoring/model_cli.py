"""``leadbase score train``: fit the learned score on the leads' outcomes."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from leadbase.db import Database
from leadbase.scoring import learned

out = Console()
err = Console(stderr=True)


def train(
    min_outcomes: Annotated[
        int,
        typer.Option(
            "--min-outcomes", help="Refuse with fewer converted or fewer lost leads than this."
        ),
    ] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split.")] = learned.DEFAULT_SEED,
) -> None:
    """Fit logistic regression and gradient boosting on converted vs lost
    leads, keep the better held-out AUC, and make it the active model."""
    database = Database()
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True
        ) as bar:
            bar.add_task("training on converted and lost leads", total=None)
            result = learned.train(database, min_each=min_outcomes, seed=seed)
    except learned.TooFewOutcomesError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    _report(result)


def _report(result: learned.TrainResult) -> None:
    metrics = result.metrics
    for algorithm, auc in result.auc.items():
        mark = "  (kept)" if algorithm == result.algorithm else ""
        out.print(f"held-out AUC {algorithm}: {auc:.4f}{mark}")
    out.print(f"Brier score: {metrics['brier']:.4f}")
    out.print(_calibration_table(metrics["calibration"]))
    train, test = metrics["train"], metrics["test"]
    out.print(
        f"trained on {train['converted']} converted + {train['lost']} lost, "
        f"tested on {test['converted']} + {test['lost']}; "
        f"{len(result.features)} features; {metrics['train_seconds']:.1f} s"
    )
    out.print(f"model version {result.version} ({result.algorithm}) is now active")


def _calibration_table(bins: list[dict[str, Any]]) -> Table:
    table = Table(title="calibration (held-out leads)")
    for name in ("predicted band", "leads", "mean predicted", "observed"):
        table.add_column(name, justify="right")
    for row in bins:
        table.add_row(
            f"{row['lower']:.1f}-{row['upper']:.1f}",
            str(row["count"]),
            f"{row['predicted']:.3f}",
            f"{row['observed']:.3f}",
        )
    return table


def register(app: typer.Typer) -> None:
    """Add ``train`` to the ``score`` group."""
    app.command("train")(train)
