"""FastAPI application factory: middleware, error envelope, routers.

Every error leaves as the envelope of DESIGN.md:
``{"success": false, "error": code, "message": ..., "details": [...]}``
with its status, and never with a stack trace.
"""

from __future__ import annotations

import gc
import ipaddress
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadbase import __version__, context, logs, schema
from leadbase.activities import endpoints as activities_endpoints
from leadbase.analytics import endpoints as analytics_endpoints
from leadbase.auth import endpoints as auth_endpoints
from leadbase.auth import service as auth_service
from leadbase.auth import user_endpoints
from leadbase.companies import endpoints as companies_endpoints
from leadbase.config import Settings, get_settings
from leadbase.db import Database
from leadbase.duplicates import endpoints as duplicates_endpoints
from leadbase.enrichment import endpoints as enrichment_endpoints
from leadbase.errors import LeadbaseError
from leadbase.http import docs as api_docs
from leadbase.http import idempotency, ops, ratelimit
from leadbase.http.support import envelope, envelope_error
from leadbase.imports import endpoints as imports_endpoints
from leadbase.imports.apify import endpoints as apify_endpoints
from leadbase.jobs import endpoints as jobs_endpoints
from leadbase.leads import endpoints as leads_endpoints
from leadbase.scoring import endpoints as scoring_endpoints
from leadbase.scoring import model_endpoints as scoring_model_endpoints
from leadbase.sync.airtable import endpoints as airtable_endpoints
from leadbase.web import console, pages

log = logs.get_logger("leadbase.http.app")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# The API docs (Swagger UI, ReDoc) get their own policy: see api_docs.
_DOCS_PATHS = ("/docs", "/redoc")


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy, in
    which case the right-most X-Forwarded-For hop that is not one of ours."""
    if not peer or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: list[str]) -> bool:
    if not _is_ip(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)


def _request_id(header: str | None) -> str:
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class RequestContext:
    """Pure ASGI middleware: request id, client ip and user agent into the audit
    context (and request state, for the request log of leadbase.http.ops, which wraps
    this); security headers and X-Request-ID on every response; an unexpected
    error answered here as the 500 envelope, so it keeps those headers and is
    counted and logged with its request id.

    Pure ASGI rather than ``@app.middleware("http")``: that runs the rest of
    the app in another task and costs a noticeable share of a fast request.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.trusted = settings.trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = _request_id(headers.get("x-request-id"))
        peer = scope["client"][0] if scope.get("client") else None
        ip = client_ip(peer, headers.get("x-forwarded-for"), self.trusted)
        state = scope.setdefault("state", {})
        state["request_id"], state["client_ip"] = request_id, ip
        extra = _response_headers(scope, request_id)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                response_headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in response_headers:
                        response_headers[name] = value
            await send(message)

        if _has_nul(scope):
            # PostgreSQL refuses NUL in text: refuse it here, for every route.
            error = envelope(422, "validation_error", "NUL characters are not allowed in URLs")
            await error(scope, receive, send_with_headers)
            return
        with context.acting_as(ip=ip, user_agent=headers.get("user-agent"), request_id=request_id):
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception as exc:
                if started:
                    raise
                await internal_error(Request(scope), exc)(scope, receive, send_with_headers)


def _has_nul(scope: Scope) -> bool:
    return "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")


def _response_headers(scope: Scope, request_id: str) -> list[tuple[str, str]]:
    extra = [("X-Request-ID", request_id)]
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy" and scope["path"].startswith(_DOCS_PATHS):
            value = api_docs.CONTENT_SECURITY_POLICY
        extra.append((name, value))
    if scope.get("scheme") == "https":
        extra.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return extra


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LeadbaseError)
    def _domain_error(request: Request, exc: LeadbaseError) -> Response:
        if pages.is_console_request(request):
            return pages.console_error(request, exc)
        return envelope_error(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {
                "field": ".".join(str(part) for part in err["loc"] if part != "body") or "body",
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        first = details[0] if details else {"field": "body", "message": "invalid request"}
        if pages.is_console_request(request):
            return pages.error_page(request, 422, f"{first['field']}: {first['message']}")
        return envelope(422, "validation_error", f"{first['field']}: {first['message']}", details)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if pages.is_console_request(request) and exc.status_code in (404, 405):
            return pages.error_page(request, exc.status_code, "There is no such page.")
        code = _HTTP_CODES.get(exc.status_code, "error")
        response = envelope(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; the
            # resource allows every method its OpenAPI path lists.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    # The last resort, for errors outside the request-context middleware.
    app.add_exception_handler(Exception, internal_error)


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """500 with the envelope; the traceback goes to the server log only."""
    log.error(
        "unhandled error",
        exc_info=exc,
        method=request.method,
        path=request.url.path,
        request_id=getattr(request.state, "request_id", None),
    )
    return envelope(500, "internal_error", "internal error; see the server log")


def _bootstrap_admin(database: Database, settings: Settings) -> None:
    """The first admin from LEADBASE_ADMIN_EMAIL / LEADBASE_ADMIN_PASSWORD, once."""
    if not (settings.admin_email and settings.admin_password):
        return
    if not schema.is_at_head(database.engine):
        log.warning("database schema not current: run `leadbase db upgrade`; no admin created")
        return
    with context.acting_as(context.system_actor("bootstrap")), database.unit_of_work() as uow:
        auth_service.bootstrap_admin(uow.session, settings)


class ErrorEnvelope(BaseModel):
    """Every error: a machine code, a message for people, and details (e.g. which field)."""

    success: Literal[False] = False
    error: str
    message: str
    details: list[dict[str, Any]] = []


_ERROR_TEXT = {
    400: "Bad request",
    401: "Not authenticated: no, an expired or an invalid token or API key",
    403: "Authenticated, but the role does not allow this",
    404: "Not found",
    409: "Conflict: a duplicate, or a stale version",
    412: "If-Match names a version that is no longer current",
    413: "Request body too large",
    422: "Invalid input; details name the field",
    429: "Too many requests; see Retry-After",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text} for status, text in _ERROR_TEXT.items()
}


def _allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the requested path."""
    templates: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "path_methods", None
    )
    if templates is None:
        templates = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                [method.upper() for method in operations],
            )
            for path, operations in request.app.openapi()["paths"].items()
        ]
        request.app.state.path_methods = templates
    path = request.url.path
    # A literal path (/leads/bulk) is its own resource, not an id of /leads/{lead_id}.
    literal = [listed for pattern, listed in templates if pattern.pattern == f"^{re.escape(path)}$"]
    matching = literal or [listed for pattern, listed in templates if pattern.match(path)]
    methods = {method for listed in matching for method in listed}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


# Collect young objects every 10,000 allocations, not 700: a page of leads
# allocates tens of thousands, and each collection paused every request.
GC_THRESHOLDS = (10_000, 50, 100)


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[None]:
    """Process tuning for a server, done when it starts."""
    settings: Settings = app.state.settings
    # Few threads for the sync routes (writes, login): more only queue for
    # the GIL and the write lock, and stretch every request's latency.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
    if gc.get_threshold() != GC_THRESHOLDS:  # once a process: apps in tests start often
        # Modules, routes and schemas live as long as the process: frozen, the
        # collector stops walking them.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
    jobs = None
    if settings.queue == "local" and settings.jobs_in_server:
        from leadbase.jobs.local import LocalRunner

        jobs = LocalRunner(app.state.database, settings)
        jobs.start()
    try:
        yield
    finally:
        if jobs is not None:
            await anyio.to_thread.run_sync(jobs.stop)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="leadbase",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url=None,  # api_docs serves them without a CDN
        redoc_url=None,
        lifespan=_serving,
    )
    app.state.settings = settings
    app.state.database = database or Database(settings=settings)
    # Middleware added last runs first: idempotency sits inside the limits.
    idempotency.install(app, settings)
    ratelimit.install(app, settings)
    app.add_middleware(RequestContext, settings=settings)
    ops.install(app, settings)
    _install_error_handlers(app)
    limited = [Depends(ratelimit.limit_mutations)]
    # Routes match in this order: the busiest first.
    for router in (
        leads_endpoints.router,
        companies_endpoints.router,
        auth_endpoints.router,
        user_endpoints.router,
        jobs_endpoints.router,
        enrichment_endpoints.router,
        duplicates_endpoints.router,
        imports_endpoints.router,
        apify_endpoints.router,
        airtable_endpoints.router,
        activities_endpoints.router,
        analytics_endpoints.router,
        scoring_model_endpoints.router,
        scoring_endpoints.router,
    ):
        app.include_router(router, dependencies=limited, responses=ERROR_RESPONSES)
    api_docs.install(app)
    console.install(app)
    _bootstrap_admin(app.state.database, settings)
    return app
