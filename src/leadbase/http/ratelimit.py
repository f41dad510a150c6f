"""Rate limits and the request body size limit.

* Mutations (POST/PUT/PATCH/DELETE) are limited per caller at
  ``settings.mutation_rate_limit`` with a moving window from ``limits``: in
  process memory, or in Redis when ``settings.redis_url`` is set, so that every
  process and replica spends from one budget. Over the limit: 429
  ``rate_limited`` with ``Retry-After``.
* Request bodies over ``settings.max_body_bytes`` get 413
  ``payload_too_large``, whether Content-Length says so or a chunked body
  streams past the limit.

The limiter is built per app (``app.state.limits``) so two apps never
share counters unless they share a Redis.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadbase import context
from leadbase.auth import repository as auth_repository
from leadbase.auth import tokens
from leadbase.auth.errors import AuthenticationError
from leadbase.config import Settings
from leadbase.db import Database

log = logging.getLogger("leadbase.http.ratelimit")

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A Redis that answers slower than this is treated as down: a rate limit must
# never be what makes the API slow.
REDIS_TIMEOUT_SECONDS = 0.5
# After a Redis failure, use process memory this long before trying again, so
# a dead Redis costs one timeout per interval rather than one per request.
REDIS_RETRY_SECONDS = 5.0
# One warning per interval while Redis stays down, not one per request.
REDIS_WARN_SECONDS = 60.0


class RateLimitedError(HTTPException):
    """429 ``rate_limited`` with Retry-After (rendered by the app's HTTP error handler)."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(429, detail=message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class PayloadTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An HTTPException, so FastAPI's body parsing lets it through to the app's
    error handler (413 ``payload_too_large``) instead of turning it into a 400;
    the body limit middleware renders it when it escapes elsewhere.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body over the limit of {limit} bytes")


class Limiter:
    """Moving-window limits in Redis when configured, else in process memory.

    If Redis is configured but unreachable we neither fail open nor closed:
    the limits are enforced per process, in memory, until Redis answers again
    (logged as a warning). A dead Redis must not turn every mutation into a
    500 or a 429, and it must not switch login throttling off either.
    """

    def __init__(self, redis_url: str | None, key_prefix: str) -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._redis: MovingWindowRateLimiter | None = None
        if redis_url:
            storage = storage_from_string(
                redis_url,
                key_prefix=key_prefix,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._redis = MovingWindowRateLimiter(storage)
        self._lock = threading.Lock()
        self._redis_down_until = 0.0
        self._last_warning = -math.inf

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    def hit(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """Spend one request. None when allowed, else the seconds to wait."""
        limiter = self._strategy()
        try:
            if limiter.hit(item, *identifiers):
                return None
            return _retry_after(limiter, item, identifiers)
        except StorageError as exc:
            self._redis_failed(exc)
            return self.hit(item, *identifiers)

    def blocked_for(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """Without spending: None while requests remain, else the seconds to wait."""
        limiter = self._strategy()
        try:
            if limiter.test(item, *identifiers):
                return None
            return _retry_after(limiter, item, identifiers)
        except StorageError as exc:
            self._redis_failed(exc)
            return self.blocked_for(item, *identifiers)

    def _strategy(self) -> MovingWindowRateLimiter:
        if self._redis is None or time.monotonic() < self._redis_down_until:
            return self._memory
        return self._redis

    def _redis_failed(self, exc: StorageError) -> None:
        now = time.monotonic()
        with self._lock:
            self._redis_down_until = now + REDIS_RETRY_SECONDS
            warn = now - self._last_warning >= REDIS_WARN_SECONDS
            if warn:
                self._last_warning = now
        if warn:
            log.warning(
                "rate limit storage (Redis) unreachable: limiting per process in memory "
                "until it answers again: %s",
                exc.storage_error,
            )


def _retry_after(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]
) -> int:
    """Whole seconds until the oldest request in the window leaves it (at least 1)."""
    reset = limiter.get_window_stats(item, *identifiers).reset_time
    return max(1, math.ceil(reset - time.time()))


@dataclass(frozen=True)
class AppLimits:
    """One app's limiter and the rates it applies."""

    limiter: Limiter
    mutation_rate: RateLimitItem
    login_rate: RateLimitItem

    @classmethod
    def from_settings(cls, settings: Settings) -> AppLimits:
        # Parsed here: a malformed rate string stops the app at start, not at first use.
        return cls(
            limiter=Limiter(settings.redis_url, settings.rate_limit_key_prefix),
            mutation_rate=parse(settings.mutation_rate_limit),
            login_rate=parse(settings.login_rate_limit),
        )


_lazy_lock = threading.Lock()


def limits_of(request: Request) -> AppLimits:
    """The app's limits; built on first use for an app that mounts our routers
    without calling install(), so login is throttled there too."""
    state = request.app.state
    found: AppLimits | None = getattr(state, "limits", None)
    if found is None:
        with _lazy_lock:
            found = getattr(state, "limits", None)
            if found is None:
                found = AppLimits.from_settings(state.database.settings)
                state.limits = found
    return found


def install(app: FastAPI, settings: Settings) -> None:
    """The app's limits, and the body size limit around every request."""
    app.state.limits = AppLimits.from_settings(settings)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_bytes=settings.max_upload_bytes,
    )


# --- mutations per caller ------------------------------------------------------


async def limit_mutations(request: Request) -> None:
    """Router dependency: mutating requests are limited per caller.

    It runs before the route's own auth, so it must not fail on a missing or
    bad credential: those requests are counted against the client ip (login
    has its own, stricter throttle) and the route answers 401 as usual.
    Async so that reads pass without a trip through the thread pool; the
    counting (a key lookup, maybe Redis) runs there.
    """
    if request.method in MUTATING_METHODS:
        await run_in_threadpool(_spend_mutation, request)


def _spend_mutation(request: Request) -> None:
    limits = limits_of(request)
    wait = limits.limiter.hit(limits.mutation_rate, "mutations", _caller(request))
    if wait is not None:
        raise RateLimitedError(wait, f"too many changes; retry in {wait} s")


def _caller(request: Request) -> str:
    bearer = tokens.bearer_credentials(request.headers.get("authorization"))
    if bearer is not None:
        user_id = _user_behind(request.app.state.database, bearer)
        if user_id is not None:
            return f"user:{user_id}"
    return f"ip:{context.current().ip or 'unknown'}"


def _user_behind(database: Database, bearer: str) -> str | None:
    """The user a credential names, cheaply: an access token is only verified
    (no query), an API key costs one indexed lookup. Whether the user may act
    is for the route's auth to decide; a user's tokens and keys share a budget."""
    if tokens.is_api_key(bearer):
        with database.read_session() as session:
            key = auth_repository.get_api_key_by_hash(session, tokens.digest(bearer))
            return key.user_id if key is not None and key.revoked_at is None else None
    try:
        return tokens.decode_access_token(bearer, database.settings).user_id
    except AuthenticationError:
        return None


# --- body size ------------------------------------------------------------------


UPLOAD_PATHS = ("/api/v1/imports", "/imports")


class BodySizeLimitMiddleware:
    """413 for a body over the limit: before reading when Content-Length says
    so, else as soon as a streamed body passes it."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_bytes: int | None = None,
        upload_paths: tuple[str, ...] = UPLOAD_PATHS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes or max_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # File uploads (imports) may be far larger than any JSON body.
        upload = scope["method"] == "POST" and scope["path"] in self.upload_paths
        limit = self.upload_bytes if upload else self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLargeError:
            # Read outside a route (another middleware buffering the body).
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the server rejects a malformed length itself


def _too_large(limit: int) -> JSONResponse:
    body: dict[str, Any] = {
        "success": False,
        "error": "payload_too_large",
        "message": f"request body over the limit of {limit} bytes",
        "details": [],
    }
    return JSONResponse(body, status_code=413)
