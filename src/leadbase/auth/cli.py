"""``leadbase users create|list|disable``: manage who may use the API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadbase.auth import repository, service
from leadbase.db import Database
from leadbase.errors import LeadbaseError
from leadbase.models import ROLES

users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _database() -> Database:
    return Database()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: a trailing newline from `echo` is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The user's email (their login).")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for unless --password-stdin."""
    password = _read_password(password_stdin)
    database = _database()
    try:
        with database.unit_of_work() as uow:
            user = service.create_user(uow.session, email, password, role)
            summary = f"created {user.role} {user.email} ({user.id})"
    except LeadbaseError as exc:
        err.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    out.print(summary)


@users_app.command("list")
def list_users() -> None:
    """List users with their role and whether they are active."""
    database = _database()
    try:
        with database.read_session() as session:
            users = repository.list_users(session)
    finally:
        database.dispose()
    table = Table("email", "role", "active", "last login", "id")
    for user in users:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "-"
        table.add_row(user.email, user.role, "yes" if user.is_active else "no", last, user.id)
    out.print(table)


@users_app.command("disable")
def disable(email: Annotated[str, typer.Option(help="The user to disable.")]) -> None:
    """Disable a user and revoke all their refresh tokens and API keys."""
    database = _database()
    try:
        with database.unit_of_work() as uow:
            user = service.get_user_by_email(uow.session, email)
            service.disable_user(uow.session, user)
            summary = f"disabled {user.email}"
    except LeadbaseError as exc:
        err.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    out.print(summary)
