"""Console sign-in: a session cookie, roles and CSRF tokens.

The session cookie holds the refresh token a console login is issued
(httpOnly, SameSite=Lax, Secure over https): the API's own sessions, so
logging out revokes it like ``POST /auth/logout`` and disabling a user ends
their console session at the next click. Every form post carries a CSRF
token derived from the session (an HMAC under the server's signing key);
before sign-in, the login form uses a random token mirrored in a cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadbase.auth import service as auth_service
from leadbase.auth import tokens
from leadbase.auth.errors import PermissionDeniedError
from leadbase.auth.service import Principal
from leadbase.db import Database
from leadbase.errors import LeadbaseError
from leadbase.http.support import database

SESSION_COOKIE = "leadbase_session"
LOGIN_CSRF_COOKIE = "leadbase_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
EDIT_ROLES = frozenset({"admin", "editor"})


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, fetches get 401."""


class CsrfError(LeadbaseError):
    status_code = 403
    code = "csrf_failed"


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in to the console, and the CSRF token their forms carry."""

    principal: Principal
    csrf_token: str

    @property
    def can_edit(self) -> bool:
        return self.principal.role in EDIT_ROLES

    @property
    def email(self) -> str:
        return self.principal.email

    @property
    def role(self) -> str:
        return self.principal.role


def csrf_token_for(request: Request, session_token: str) -> str:
    key = tokens.signing_key(database(request).settings).encode("utf-8")
    message = b"csrf:" + tokens.digest(session_token).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _look_up(database: Database, session_token: str) -> Principal | None:
    with database.read_session(single_statement=True) as session:
        return auth_service.principal_from_session_token(session, session_token)


async def current_user(request: Request) -> ConsoleUser:
    """Page dependency: the signed-in user, or LoginRequired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        raise LoginRequired
    principal = await run_in_threadpool(_look_up, database(request), token)
    if principal is None:
        raise LoginRequired
    request.state.principal = principal  # the request log line names the caller
    user = ConsoleUser(principal=principal, csrf_token=csrf_token_for(request, token))
    request.state.console_user = user  # templates show who is signed in
    return user


async def editor_post(request: Request) -> ConsoleUser:
    """Dependency of every console post that changes data: signed in, the
    session's CSRF token, and an editor or admin."""
    user = await current_user(request)
    await check_csrf(request, user)
    require_editor(user)
    return user


def require_editor(user: ConsoleUser) -> None:
    """Viewers see no edit controls; this refuses their posts anyway."""
    if not user.can_edit:
        raise PermissionDeniedError("viewers cannot change leads; ask an admin for the editor role")


async def check_csrf(request: Request, user: ConsoleUser) -> None:
    """A post must carry the session's CSRF token, as a form field or header."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and is_form_post(request):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, user.csrf_token):
        raise CsrfError("the form expired or came from another site; reload the page and retry")


def is_form_post(request: Request) -> bool:
    """A browser's form post (not a script's JSON)."""
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def check_login_csrf(request: Request, sent: str | None) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError("the sign-in form expired; reload the page and sign in again")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, session_token: str, days: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_token,
        max_age=days * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")


def set_login_csrf(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path on this site only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/leads"
    return value


# Route parameters: ``user: SignedIn`` for pages, ``user: Editor`` for posts that change data.
SignedIn = Annotated[ConsoleUser, Depends(current_user)]
Editor = Annotated[ConsoleUser, Depends(editor_post)]
