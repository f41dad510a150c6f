"""Templates, static assets and design tokens for the console.

Jinja2 autoescapes every value: lead fields hold whatever was imported, and a
``<script>`` in a name must show as text. The strict CSP of api.py forbids
inline script and inline style, so templates use classes and static files only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse

from leadbase.views import repository as views_repository
from leadbase.views.schemas import DEFAULT_LEAD_COLUMNS, LEAD_COLUMNS, LEADS, NAME_COLUMN, ViewLink

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
TOKENS_FILE = HERE / "tokens.json"


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str


# The console's sections, in menu order. Later features (duplicates, imports,
# sync, analytics) add their page here and it shows in every page's menu.
NAV: list[NavItem] = [
    NavItem("Leads", "/leads"),
    NavItem("Companies", "/companies"),
    NavItem("Duplicates", "/duplicates"),
    NavItem("Imports", "/imports"),
    NavItem("Sync", "/sync"),
    NavItem("Analytics", "/analytics"),
]
# A section's count beside its menu item (open duplicates, say): path ->
# a bounded query giving the text to show ("" for none). Sections register
# theirs, so this module imports none of them.
NAV_COUNTS: dict[str, Callable[[Session], str]] = {}


@dataclass(frozen=True)
class Flash:
    """What the last action did, shown atop the page it led to (an .alert-* kind)."""

    kind: str
    message: str


def who(actor: str) -> str:
    """An actor as people read it: the user's email without "user:"."""
    return actor.removeprefix("user:")


def load_tokens(path: Path = TOKENS_FILE) -> dict[str, Any]:
    tokens: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return tokens


def tokens_css(tokens: dict[str, Any]) -> str:
    """The design tokens as CSS custom properties: ``--color-text``, ``--space-2``..."""
    lines = [":root {"]
    for group in ("color", "space", "size", "font", "radius", "shadow"):
        for name, value in tokens.get(group, {}).items():
            lines.append(f"  --{group}-{name}: {value};")
    lines.append("}")
    return "\n".join(lines) + "\n"


@cache
def tokens_stylesheet() -> str:
    """The shipped tokens as CSS, built once a process."""
    return tokens_css(load_tokens())


@cache
def asset_version(name: str) -> str:
    """A short content hash, so browsers refetch an asset when it changes."""
    path = TOKENS_FILE if name == "tokens.css" else STATIC / name
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    if name == "tokens.css":
        return f"/assets/tokens.css?v={asset_version(name)}"
    return f"/static/{name}?v={asset_version(name)}"


def format_time(value: datetime | str | None) -> str:
    """UTC timestamps as ``2026-12-01 16:10`` (the full value goes in a title)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M")


def iso_time(value: datetime | str | None) -> str:
    """A timestamp as ISO 8601 UTC (``2026-12-01T16:10:05Z``) for
    ``<time datetime>``: console.js reads it to show the browser's local time."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name fails the page, loudly, in tests
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        static_url=static_url,
        nav=NAV,
        default_columns=[LEAD_COLUMNS[key] for key in DEFAULT_LEAD_COLUMNS],
        name_column=NAME_COLUMN,
    )
    environment.filters["time"] = format_time
    environment.filters["iso"] = iso_time
    return environment


ENVIRONMENT = _environment()


def nav_counts(request: Request) -> dict[str, str]:
    """Each section's count beside its menu item (for a page that read its
    saved views itself)."""
    try:
        with request.app.state.database.read_session(single_statement=True) as session:
            return {path: count(session) for path, count in NAV_COUNTS.items()}
    except SQLAlchemyError:
        return {}


def nav_state(request: Request, user_id: str) -> tuple[list[ViewLink], dict[str, str]]:
    """What the nav shows on every page: the saved views under Leads (one
    indexed query of at most a hundred short rows) and each section's count
    (bounded queries); they need not agree, so no transaction holds them."""
    database = request.app.state.database
    try:
        with database.read_session(single_statement=True) as session:
            views = views_repository.visible_to(session, user_id, LEADS)
            counts = {path: count(session) for path, count in NAV_COUNTS.items()}
            return views, counts
    except SQLAlchemyError:  # an error page about the database itself still renders
        return [], {}


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page: the template with the request, the signed-in user (or None) and context."""
    values: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "console_user", None),
        "path": request.url.path,
    }
    values.update(context or {})
    if values["user"] is not None and "nav_views" not in values:
        values["nav_views"], values["nav_counts"] = nav_state(
            request, values["user"].principal.user_id
        )
    elif values["user"] is not None and "nav_counts" not in values:
        values["nav_counts"] = nav_counts(request)
    body = ENVIRONMENT.get_template(template).render(values)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    response.headers["Cache-Control"] = "no-store"  # pages hold personal data
    return response
