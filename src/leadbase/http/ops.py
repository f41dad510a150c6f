"""Ops: /health, /ready, /metrics, and one structured log line per request.

- ``GET /health`` — liveness: the process answers. No auth, no database.
- ``GET /ready`` — readiness for a load balancer: the database answers, its
  schema is at the Alembic head, the queue's Redis answers. No auth; it says
  which check failed and in general terms why (never a host, user or driver
  message — those go to the server log). Each check gives up after
  ``READY_TIMEOUT_S``.
- ``GET /metrics`` — Prometheus text format, for a principal with the
  ``admin`` role only (an access token or, for a scraper, an admin's API key
  sent as ``Authorization: Bearer``). Why not "open on loopback": behind a
  reverse proxy on the same host every request comes from loopback, so an
  address rule would publish the metrics to the world by default.
- The request middleware (outermost, so it also sees the 413s and 429s that
  other middleware answer) counts every response by method, route template
  and status, times it, and logs it as one line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from fastapi import Depends, FastAPI, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, text
from sqlalchemy.pool import QueuePool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadbase import __version__, logs, schema
from leadbase.auth.endpoints import require_role
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.errors import LeadbaseError

READY_TIMEOUT_S = 2.0
QUEUE_TIMEOUT_S = 1.0
UNMATCHED = "unmatched"
# Any other method string a client sends is one label, not a new series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

log = logs.get_logger("leadbase.http.ops")
request_log = logs.get_logger("leadbase.request")


class NotReadyError(LeadbaseError):
    status_code = 503
    code = "not_ready"


# --- readiness -------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    status: str  # "ok" / "not_configured" when ok; why not, otherwise


@cache
def _head_revision() -> str | None:
    # The migrations ship with the code: the head cannot change while we run.
    return schema.head_revision()


class _DatabaseProbe:
    """``SELECT 1`` and the schema revision, on a thread we can stop waiting for.

    A database that does not answer (blackholed host, exhausted pool) would
    hold a request thread for the driver's or the pool's own timeout. The
    probe runs on one dedicated thread instead; callers wait at most their
    timeout, and while a probe is still stuck, later callers wait on that
    same probe rather than starting another, so a hung database holds at
    most one thread.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadbase-ready")
        self._lock = threading.Lock()
        self._running: Future[str | None] | None = None

    def start(self) -> Future[str | None]:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._revision)
            return self._running

    def _revision(self) -> str | None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return schema.current_revision(self._engine)


class Readiness:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._settings = settings
        self._probe = _DatabaseProbe(database.engine)

    def run(self) -> list[Check]:
        deadline = time.monotonic() + READY_TIMEOUT_S
        running = self._probe.start()
        queue = self._queue()  # meanwhile, on this thread
        database, migrations = self._database(running, deadline)
        return [database, migrations, queue]

    def _database(self, running: Future[str | None], deadline: float) -> tuple[Check, Check]:
        try:
            current = running.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            reason = f"no answer within {READY_TIMEOUT_S:g} s"
            log.warning("readiness check failed", check="database", reason=reason)
            return Check("database", False, reason), _unchecked_migrations()
        except Exception as exc:
            log.warning("readiness check failed", check="database", error=repr(exc))
            reason = f"unreachable ({type(exc).__name__})"
            return Check("database", False, reason), _unchecked_migrations()
        head = _head_revision()
        if current == head:
            return Check("database", True, "ok"), Check("migrations", True, "ok")
        reason = (
            f"schema at revision {current or 'none'}, this version needs {head}; "
            "run `leadbase db upgrade`"
        )
        return Check("database", True, "ok"), Check("migrations", False, reason)

    def _queue(self) -> Check:
        url = self._settings.redis_url
        if not url:
            if self._settings.queue == "celery":
                return Check("queue", False, "LEADBASE_QUEUE=celery needs LEADBASE_REDIS_URL")
            return Check("queue", True, "not_configured")  # local queue: nothing to reach
        try:
            with redis.Redis.from_url(
                url,
                socket_connect_timeout=QUEUE_TIMEOUT_S,
                socket_timeout=QUEUE_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # one try: the poller asks again soon
            ) as client:
                client.ping()
        except Exception as exc:
            log.warning("readiness check failed", check="queue", error=repr(exc))
            return Check("queue", False, f"redis did not answer ({type(exc).__name__})")
        return Check("queue", True, "ok")


def _unchecked_migrations() -> Check:
    return Check("migrations", False, "not checked: the database did not answer")


def _not_ready(checks: list[Check]) -> NotReadyError:
    failing = [check for check in checks if not check.ok]
    return NotReadyError(
        "not ready: " + ", ".join(check.name for check in failing),
        details=[{"check": check.name, "message": check.status} for check in failing],
    )


# --- metrics ---------------------------------------------------------------


class _PoolCollector:
    """SQLAlchemy pool gauges, read at scrape time.

    Only a ``QueuePool`` (our file SQLite, PostgreSQL, MariaDB) counts its
    connections; other pools (in-memory SQLite's, ``NullPool``) export just
    ``leadbase_db_pool_info`` naming their class.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        pool = self._engine.pool
        info = GaugeMetricFamily(
            "leadbase_db_pool_info", "The database pool in use.", labels=["pool", "dialect"]
        )
        info.add_metric([type(pool).__name__, self._engine.dialect.name], 1)
        yield info
        if not isinstance(pool, QueuePool):
            return
        yield GaugeMetricFamily(
            "leadbase_db_pool_size", "Connections the pool keeps open.", value=pool.size()
        )
        yield GaugeMetricFamily(
            "leadbase_db_pool_checked_out", "Connections in use.", value=pool.checkedout()
        )
        yield GaugeMetricFamily(
            "leadbase_db_pool_checked_in", "Idle connections in the pool.", value=pool.checkedin()
        )
        # overflow() counts up from -pool_size; only the part above zero is open.
        yield GaugeMetricFamily(
            "leadbase_db_pool_overflow",
            "Connections open beyond the pool size.",
            value=max(0, pool.overflow()),
        )


class Metrics:
    """This app's metrics, in its own registry: apps never share series."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leadbase_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadbase_http_request_duration_seconds",
            "Time to answer, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "leadbase_http_requests_in_progress",
            "Requests being answered now.",
            registry=self.registry,
        )
        self.registry.register(_PoolCollector(engine))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# --- route templates -------------------------------------------------------


class _RouteTemplates:
    """The route template of a request: ``/api/v1/leads/{lead_id}``, never the path.

    Routing leaves the matched route in the scope. Requests answered before
    routing (a 413 from the body limit, an idempotent replay) are matched
    here against every route's pattern; anything else is ``unmatched``, so
    scanners probing random paths add no series.
    """

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._patterns: list[tuple[Any, str]] = []
        self._built_for = -1

    def of(self, scope: Scope) -> str:
        template = getattr(scope.get("route"), "path_format", None)
        if isinstance(template, str):
            return template
        return self._match(scope.get("path", ""))

    def _match(self, path: str) -> str:
        if self._built_for != len(self._app.routes):  # routes added after install
            self._patterns = [
                (compile_path(route.path)[0], route.path_format)
                for route in iter_route_contexts(self._app.routes)
                if route.path and route.path_format
            ]
            self._built_for = len(self._app.routes)
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return UNMATCHED


# --- middleware ------------------------------------------------------------


class RequestObserver:
    """Pure ASGI middleware: metrics and the request log line for every response.

    The request id, client ip and principal are those the request-context
    middleware in ``leadbase.http.app`` (and the auth dependency) leave in the
    request state, so the log line names the same request id as the
    ``X-Request-ID`` header and the audit rows.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, templates: _RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.in_progress.dec()
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = self.templates.of(scope)
        self.metrics.observe(method, route, status, seconds)
        state: dict[str, Any] = scope.get("state") or {}
        actor = getattr(state.get("principal"), "actor", None)
        request_log.info(
            "request",
            method=scope["method"],
            route=route,
            path=scope.get("path"),
            status=status,
            duration_ms=round(seconds * 1000, 2),
            request_id=state.get("request_id"),
            client_ip=state.get("client_ip"),
            **({"actor": actor} if actor else {}),
        )


# --- install ---------------------------------------------------------------


def install(app: FastAPI, settings: Settings) -> None:
    """Routes and middleware for liveness, readiness, metrics and request logs."""
    database: Database = app.state.database
    metrics = Metrics(database.engine)
    readiness = Readiness(database, settings)
    app.state.metrics = metrics
    # Added after the other middleware, so it wraps them all.
    app.add_middleware(RequestObserver, metrics=metrics, templates=_RouteTemplates(app))

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness: the process answers. No auth, no database."""
        return {"success": True, "data": {"status": "ok", "version": __version__}}

    @app.get(
        "/ready",
        tags=["ops"],
        responses={503: {"description": "A check failed; `details` names it and why."}},
    )
    def ready() -> dict[str, Any]:
        """Readiness: database answers, schema at head, queue reachable. No auth."""
        checks = readiness.run()
        if not all(check.ok for check in checks):
            raise _not_ready(checks)
        return {"success": True, "data": {check.name: check.status for check in checks}}

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        dependencies=[Depends(require_role("admin"))],
        responses={
            200: {"content": {"text/plain": {}}, "description": "Prometheus text"},
            401: {"description": "No, an expired or an invalid token or API key"},
            403: {"description": "Not an admin"},
        },
    )
    def prometheus_metrics() -> Response:
        """Prometheus metrics (text format). Needs the admin role."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
