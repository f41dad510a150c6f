"""``leadbase airtable check|push|pull|sync|conflicts|status``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from leadbase.db import Database

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


# --- pull and conflicts ----------------------------------------------------------------
