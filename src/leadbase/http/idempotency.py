"""Idempotency-Key on POST: a retried request gets the first answer back.

For a POST under /api/v1 that carries ``Idempotency-Key`` from an
authenticated user:

1. the key is claimed for (user, key) in a short transaction of its own: an
   in-flight row, unique on (principal, key), so of two concurrent requests
   with one key only one runs; the other gets 409 ``idempotency_in_progress``;
2. the request runs as usual and its own unit of work commits;
3. a 2xx answer (status, body, Content-Type, Location, ETag) is stored on the
   row in another short transaction. A replay with the same route and body
   gets it back with ``Idempotent-Replayed: true`` and creates nothing; the
   same key on another route or with another body is 422
   ``idempotency_key_reused``.

Only 2xx answers are kept. Any other answer of this API means its unit of
work rolled back and nothing changed, so the key is released and a retry,
with the same body or a corrected one, runs for real; a 5xx or an exception
releases it too. A 429 or a 409 for a duplicate may well succeed later, and
replaying a stale refusal would only hide that.

Keys are per user (a token and an API key of one user share them); a key is
stored as its SHA-256, so case and padding rules of a database collation
cannot make two keys collide. Rows older than ``idempotency_ttl_hours`` are
ignored and purged lazily.

/api/v1/auth is left out: its answers carry secrets (tokens, an API key shown
once) that must not be stored, and login and refresh have no user to key on.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadbase.auth import service as auth_service
from leadbase.auth import tokens
from leadbase.auth.errors import AuthenticationError
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http import idempotency_repository as repository
from leadbase.models import IdempotencyKey, utcnow

log = logging.getLogger("leadbase.http.idempotency")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEPT_HEADERS = ("content-type", "location", "etag")
# A claim still unanswered after this long belongs to a request whose process
# died: it is taken over, or the key would be stuck until the TTL runs out.
IN_FLIGHT_TIMEOUT = timedelta(minutes=5)
PURGE_INTERVAL_SECONDS = 600.0
_API_PREFIX = "/api/v1/"
_EXCLUDED_PREFIX = "/api/v1/auth/"
_CLAIM_ATTEMPTS = 3


def install(app: FastAPI, settings: Settings) -> None:
    """Middleware replaying the first response to a repeated Idempotency-Key."""
    app.add_middleware(IdempotencyMiddleware, ttl_hours=settings.idempotency_ttl_hours)


@dataclass(frozen=True)
class _KeyedRequest:
    principal: str
    key: str  # SHA-256 of the header
    path: str  # as stored: at most the column's 500 characters
    request_hash: str  # SHA-256 of path, query string and body


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ttl_hours: int) -> None:
        self.app = app
        self.ttl = timedelta(hours=ttl_hours)
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_key = _key_header(scope)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        if not valid_key(raw_key):
            await _invalid_key()(scope, receive, send)
            return
        database: Database = scope["app"].state.database
        authorization = Headers(scope=scope).get("authorization", "")
        principal = await run_in_threadpool(_principal, database, authorization)
        if principal is None:  # the route answers 401
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away before sending its body
            return
        request = _KeyedRequest(
            principal=principal,
            key=hashlib.sha256(raw_key.encode("ascii")).hexdigest(),
            path=scope["path"][:500],
            request_hash=_request_hash(scope, body),
        )
        outcome = await run_in_threadpool(self._claim, database, request)
        if isinstance(outcome, Response):
            await outcome(scope, receive, send)
            return
        await self._run_first(scope, _replaying(body, receive), send, database, outcome)

    def _claim(self, database: Database, request: _KeyedRequest) -> str | Response:
        """The id of our new claim, or the answer for a key already claimed."""
        self._purge_now_and_then(database)
        for _attempt in range(_CLAIM_ATTEMPTS):
            try:
                with database.unit_of_work() as uow:
                    row = repository.insert_claim(
                        uow.session,
                        principal=request.principal,
                        key=request.key,
                        method="POST",
                        path=request.path,
                        request_hash=request.request_hash,
                    )
                    return row.id
            except IntegrityError:
                pass  # the key is taken: see by whom, below
            with database.read_session() as session:
                existing = repository.find(session, request.principal, request.key)
            if existing is None:
                continue  # released in between: claim it again
            if self._stale(existing):
                with database.unit_of_work() as uow:
                    repository.remove(uow.session, existing.id)
                continue
            return _answer_for(existing, request)
        return _in_progress()  # claimed and released over and over: busy

    async def _run_first(
        self, scope: Scope, receive: Receive, send: Send, database: Database, record_id: str
    ) -> None:
        response = _CapturedResponse()
        try:
            await self.app(scope, receive, response.capture)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_release, database, record_id)
            raise
        if response.storable:
            await run_in_threadpool(_store, database, record_id, response)
        else:
            await run_in_threadpool(_release, database, record_id)
        await response.forward(send)

    def _stale(self, row: IdempotencyKey) -> bool:
        age = utcnow() - row.created_at
        return age >= self.ttl or (row.status_code is None and age >= IN_FLIGHT_TIMEOUT)

    def _purge_now_and_then(self, database: Database) -> None:
        now = time.monotonic()
        with self._purge_lock:
            if now < self._next_purge:
                return
            self._next_purge = now + PURGE_INTERVAL_SECONDS
        with database.unit_of_work() as uow:
            purged = repository.purge_created_before(uow.session, utcnow() - self.ttl)
        if purged:
            log.info("purged %d expired idempotency keys", purged)


class _CapturedResponse:
    """The app's answer, held back until it is stored (or the key released)."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def capture(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start is not None else 500

    @property
    def storable(self) -> bool:
        return 200 <= self.status < 300

    def kept_headers(self) -> dict[str, str]:
        raw = self.start.get("headers", []) if self.start is not None else []
        found = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
        return {name: found[name] for name in KEPT_HEADERS if name in found}

    async def forward(self, send: Send) -> None:
        if self.start is None:
            return
        await send(self.start)
        await send({"type": "http.response.body", "body": bytes(self.body)})


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters, no surrounding blanks."""
    within = 0 < len(key) <= MAX_KEY_LENGTH
    return within and key.isascii() and key.isprintable() and key == key.strip()


def _key_header(scope: Scope) -> str | None:
    """The Idempotency-Key of a POST this middleware handles, else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(_API_PREFIX) or path.startswith(_EXCLUDED_PREFIX):
        return None
    return Headers(scope=scope).get(HEADER)


def _principal(database: Database, authorization: str) -> str | None:
    bearer = tokens.bearer_credentials(authorization)
    if bearer is None:
        return None
    try:
        with database.read_session() as session:
            principal = auth_service.principal_from_bearer(session, bearer, database.settings)
    except AuthenticationError:
        return None
    return f"user:{principal.user_id}"


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the real channel."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _request_hash(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["path"].encode("utf-8", "replace"), scope.get("query_string", b""), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _answer_for(existing: IdempotencyKey, request: _KeyedRequest) -> Response:
    if existing.path != request.path:
        return _reused(f"this Idempotency-Key was used for {existing.method} {existing.path}")
    if existing.request_hash != request.request_hash:
        return _reused("this Idempotency-Key was used with a different request body or query")
    if existing.status_code is None:
        return _in_progress()
    headers = {**(existing.response_headers or {}), REPLAYED_HEADER: "true"}
    body = (existing.response_body or "").encode("utf-8")
    return Response(body, status_code=existing.status_code, headers=headers)


def _store(database: Database, record_id: str, response: _CapturedResponse) -> None:
    """Keep the answer. The request has committed: failing here loses only the replay."""
    try:
        text = bytes(response.body).decode("utf-8")
    except UnicodeDecodeError:
        log.warning("idempotent response is not UTF-8 text; key released, not stored")
        _release(database, record_id)
        return
    try:
        with database.unit_of_work() as uow:
            stored = repository.store_response(
                uow.session, record_id, response.status, text, response.kept_headers()
            )
    except SQLAlchemyError:
        log.exception("could not store an idempotent response; a retry will run again")
        _release(database, record_id)
        return
    if not stored:
        log.warning("idempotency claim %s was taken over before its answer was stored", record_id)


def _release(database: Database, record_id: str) -> None:
    try:
        with database.unit_of_work() as uow:
            repository.remove(uow.session, record_id)
    except SQLAlchemyError:
        # The claim stays in flight until IN_FLIGHT_TIMEOUT; retries get 409 until then.
        log.exception("could not release idempotency claim %s", record_id)


def _error(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"success": False, "error": code, "message": message, "details": details or []}
    return JSONResponse(body, status_code=status, headers=headers)


def _invalid_key() -> JSONResponse:
    message = f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
    return _error(
        422,
        "validation_error",
        f"Idempotency-Key: {message}",
        details=[{"field": "Idempotency-Key", "message": message}],
    )


def _reused(message: str) -> JSONResponse:
    return _error(422, "idempotency_key_reused", message)


def _in_progress() -> JSONResponse:
    return _error(
        409,
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still being answered; retry shortly",
        headers={"Retry-After": "1"},
    )
