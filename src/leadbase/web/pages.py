"""The console: sign-in, sign-out, assets, error pages, and each section's router.

Pages are server-rendered; they read through the repositories and write
through the services in a unit of work acting as the signed-in user, like
the API does, so the audit trail names them with their ip and browser.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadbase import context
from leadbase.auth import service as auth_service
from leadbase.auth import throttle
from leadbase.auth.errors import AuthenticationError
from leadbase.errors import LeadbaseError
from leadbase.http.ratelimit import RateLimitedError
from leadbase.http.support import database, envelope, envelope_error
from leadbase.web import rendering, session
from leadbase.web.session import ConsoleUser

router = APIRouter(include_in_schema=False)

SignedIn = session.SignedIn

# Paths that belong to the API and operations, never to the console.
_NOT_CONSOLE = ("/api/", "/health", "/ready", "/metrics", "/openapi.json", "/docs", "/redoc")


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/leads", status_code=303)


@router.get("/assets/tokens.css")
async def tokens_css() -> PlainTextResponse:
    return PlainTextResponse(
        rendering.tokens_stylesheet(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/favicon.ico")
async def favicon() -> Response:
    """The logo mark, for browsers that ask before reading a page's icon link."""
    return Response(
        (rendering.STATIC / "logo.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if request.cookies.get(session.SESSION_COOKIE):
        try:
            await session.current_user(request)
            return RedirectResponse(session.safe_next(next), status_code=303)
        except session.LoginRequired:
            pass  # an old cookie: show the form
    return _login_form(request, next)


def _login_form(
    request: Request, next_path: str | None, *, email: str = "", error: str = "", status: int = 200
) -> Response:
    token = session.new_login_csrf()
    response = rendering.render(
        request,
        "login.html",
        {
            "csrf_token": token,
            "next": session.safe_next(next_path),
            "email": email,
            "error": error,
        },
        status_code=status,
    )
    session.set_login_csrf(response, request, token)
    return response


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/leads",
) -> Response:
    """Sign in with a user of the API; throttled like ``POST /api/v1/auth/login``."""
    session.check_login_csrf(request, csrf_token)
    if not email.strip() or not password:
        return _login_form(
            request, next, email=email, error="Enter your email and password.", status=422
        )
    db = database(request)
    address, ip = email.strip().lower(), context.current().ip
    guard = throttle.for_request(request)
    try:
        guard.check(address, ip)
    except RateLimitedError as exc:
        return _login_form(request, next, email=email, error=str(exc.detail), status=429)
    try:
        with context.acting_as(f"user:{address}"), db.unit_of_work() as uow:
            pair = auth_service.login(uow.session, email, password, db.settings)
    except AuthenticationError:
        guard.record_failure(address, ip)
        return _login_form(request, next, email=email, error="Wrong email or password.", status=401)
    response = RedirectResponse(session.safe_next(next), status_code=303)
    session.set_session(response, request, pair.refresh_token, db.settings.refresh_token_days)
    return response


@router.post("/logout")
async def logout(request: Request, user: SignedIn) -> Response:
    await session.check_csrf(request, user)
    token = request.cookies.get(session.SESSION_COOKIE, "")
    db = database(request)

    def revoke() -> None:
        with db.unit_of_work() as uow:
            auth_service.logout(uow.session, token)

    await run_in_threadpool(revoke)
    response = RedirectResponse("/login", status_code=303)
    session.clear_session(response)
    return response


def is_console_request(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script)."""
    path = request.url.path
    if path.startswith(_NOT_CONSOLE):
        return False
    return "text/html" in request.headers.get("accept", "")


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
}


def error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "Something went wrong")
    return rendering.render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message},
        status_code=status,
    )


def _login_required(request: Request, _exc: Exception) -> Response:
    if _wants_json(request) or request.method != "GET":
        return envelope(401, "unauthorized", "your session ended; sign in again")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(session.login_url(target), status_code=303)
    session.clear_session(response)
    return response


def console_error(request: Request, exc: LeadbaseError) -> Response:
    """A domain error on a console page, as a page; fetches get the envelope."""
    if _wants_json(request):
        return envelope_error(exc)
    return error_page(request, exc.status_code, exc.message)


def mount_assets(app: FastAPI) -> None:
    """This module's routes (sign-in, assets), the static files and the
    sign-in redirect; web.console mounts the sections around them."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=rendering.STATIC), name="static")
    app.add_exception_handler(session.LoginRequired, _login_required)


def template_context(user: ConsoleUser, **values: Any) -> dict[str, Any]:
    """What every page template gets besides its own values."""
    return {"user": user, "csrf_token": user.csrf_token, **values}
