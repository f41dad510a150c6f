"""FastAPI application factory: middleware, error envelope, routers.

Every error leaves as the envelope of DESIGN.md:
``{"success": false, "error": code, "message": ..., "details": [...]}``
with its status, and never with a stack trace.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadbase import __version__, context, idempotency, logs, ops, ratelimit, schema
from leadbase.auth import endpoints as auth_endpoints
from leadbase.auth import service as auth_service
from leadbase.auth import user_endpoints
from leadbase.companies import endpoints as companies_endpoints
from leadbase.config import Settings, get_settings
from leadbase.db import Database
from leadbase.errors import LeadbaseError
from leadbase.leads import endpoints as leads_endpoints

log = logs.get_logger("leadbase.api")

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
# Swagger UI loads its own script and styles: a strict CSP would blank the page.
_NO_CSP_PATHS = ("/docs", "/redoc")


def envelope(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body = {"success": False, "error": code, "message": message, "details": details or []}
    return JSONResponse(body, status_code=status)


def envelope_error(exc: LeadbaseError) -> JSONResponse:
    return envelope(exc.status_code, exc.code, exc.message, exc.details)


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


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = _request_id(request.headers.get("x-request-id"))
        peer = request.client.host if request.client else None
        ip = client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)
        # For the request log and metrics of leadbase.ops, which wrap this.
        request.state.request_id = request_id
        request.state.client_ip = ip
        with context.acting_as(
            ip=ip, user_agent=request.headers.get("user-agent"), request_id=request_id
        ):
            try:
                response = await call_next(request)
            except Exception as exc:
                # Answered here, not by Starlette's last-resort handler outside
                # all middleware: the 500 keeps its X-Request-ID and headers,
                # is counted and logged, and the traceback names the request.
                response = internal_error(request, exc)
        response.headers["X-Request-ID"] = request_id
        for name, value in SECURITY_HEADERS.items():
            if name == "Content-Security-Policy" and request.url.path.startswith(_NO_CSP_PATHS):
                continue
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LeadbaseError)
    def _domain_error(_request: Request, exc: LeadbaseError) -> JSONResponse:
        return envelope_error(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(part) for part in err["loc"] if part != "body") or "body",
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        first = details[0] if details else {"field": "body", "message": "invalid request"}
        return envelope(422, "validation_error", f"{first['field']}: {first['message']}", details)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        response = envelope(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
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


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="leadbase", version=__version__, openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.database = database or Database(settings=settings)
    # Middleware added last runs first: idempotency sits inside the limits.
    idempotency.install(app, settings)
    ratelimit.install(app, settings)
    _install_middleware(app, settings)
    ops.install(app, settings)
    _install_error_handlers(app)
    limited = [Depends(ratelimit.limit_mutations)]
    app.include_router(auth_endpoints.router, dependencies=limited)
    app.include_router(user_endpoints.router, dependencies=limited)
    app.include_router(leads_endpoints.router, dependencies=limited)
    app.include_router(companies_endpoints.router, dependencies=limited)
    _bootstrap_admin(app.state.database, settings)
    return app
