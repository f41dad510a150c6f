"""/api/v1/auth: login, refresh, logout, me, API keys; and the auth dependencies.

Every other router guards its routes with ``Depends(get_principal)`` or
``Depends(require_role(...))``; both accept an access token or an API key as
``Authorization: Bearer ...``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from leadbase import context
from leadbase.auth import repository, service, throttle, tokens
from leadbase.auth.errors import AuthenticationError, PermissionDeniedError, RefreshTokenReusedError
from leadbase.auth.service import Principal, TokenPair
from leadbase.db import Database
from leadbase.models import ApiKey

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)  # argon2 hashes anything; cap the work


class RefreshIn(BaseModel):
    refresh_token: str = Field(max_length=512)


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


# Declares the scheme in the OpenAPI document (so /docs offers "Authorize")
# on every route that needs a caller; the header is read by _bearer below,
# which also takes API keys and answers the envelope's 401.
BEARER_SCHEME = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT or API key",
    description="An access token from POST /api/v1/auth/login, or an API key.",
    auto_error=False,
)


def _bearer(request: Request) -> str:
    bearer = tokens.bearer_credentials(request.headers.get("authorization"))
    if bearer is None:
        raise AuthenticationError("missing bearer token")
    return bearer


async def get_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
) -> Principal:
    """The caller, from an access token or an API key; 401 otherwise.

    Async: a token whose user was looked up a moment ago is answered without
    the thread pool or the database; otherwise the lookup runs in the pool.
    """
    bearer = _bearer(request)
    database = _database(request)
    database_key = str(database.url)
    principal = service.cached_principal(database_key, bearer, database.settings)
    if principal is None:
        principal = await run_in_threadpool(_look_up_principal, database, bearer)
        service.remember_identity(database_key, principal)
    request.state.principal = principal  # the request log line names the caller
    return principal


def _look_up_principal(database: Database, bearer: str) -> Principal:
    with database.read_session(single_statement=True) as session:
        principal = service.principal_from_bearer(session, bearer, database.settings)
    if principal.api_key_id is not None and principal.touch_api_key:
        with database.unit_of_work() as uow:
            service.touch_api_key(uow.session, principal.api_key_id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only these roles through (403 for the others)."""
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise PermissionDeniedError(f"this needs the role {' or '.join(sorted(allowed))}")
        return principal

    return check


def _tokens(pair: TokenPair) -> dict[str, Any]:
    data = {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
    }
    return {"success": True, "data": data}


def _key_out(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@router.post("/login")
def login(body: LoginIn, request: Request) -> dict[str, Any]:
    """429 with Retry-After once an account or an ip has used up its failed attempts."""
    database = _database(request)
    email, ip = body.email.strip().lower(), context.current().ip
    guard = throttle.for_request(request)
    guard.check(email, ip)
    try:
        with context.acting_as(f"user:{email}"), database.unit_of_work() as uow:
            pair = service.login(uow.session, body.email, body.password, database.settings)
    except AuthenticationError:
        guard.record_failure(email, ip)
        raise
    return _tokens(pair)


@router.post("/refresh")
def refresh(body: RefreshIn, request: Request) -> dict[str, Any]:
    database = _database(request)
    reused: RefreshTokenReusedError | None = None
    with database.unit_of_work() as uow:
        try:
            pair = service.refresh(uow.session, body.refresh_token, database.settings)
        except RefreshTokenReusedError as exc:
            reused = exc  # leave the block normally: the family revocation must commit
    if reused is not None:
        raise reused
    return _tokens(pair)


@router.post("/logout")
def logout(body: RefreshIn, request: Request) -> dict[str, Any]:
    """Revoke the refresh token's whole family. Access tokens run out on their own."""
    with _database(request).unit_of_work() as uow:
        service.logout(uow.session, body.refresh_token)
    return {"success": True, "data": {"logged_out": True}}


@router.get("/me")
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    data = {
        "id": principal.user_id,
        "email": principal.email,
        "role": principal.role,
        "auth": "api_key" if principal.api_key_id else "token",
    }
    return {"success": True, "data": data}


@router.get("/api-keys")
def list_api_keys(principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    with _database(request).read_session() as session:
        keys = repository.list_api_keys(session, principal.user_id)
        return {"success": True, "data": {"items": [_key_out(k) for k in keys]}}


@router.post("/api-keys", status_code=201)
def create_api_key(body: ApiKeyIn, principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    """The plaintext key is in this response only; it is stored hashed."""
    database = _database(request)
    with context.acting_as(principal.actor), database.unit_of_work() as uow:
        user = repository.get(uow.session, principal.user_id)
        if user is None:
            raise AuthenticationError("invalid or expired token")
        key, plaintext = service.create_api_key(uow.session, user, body.name)
        out = _key_out(key)
    return {"success": True, "data": {**out, "key": plaintext}}


@router.delete("/api-keys/{key_id}")
def revoke_api_key(key_id: str, principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    # Admins may revoke anyone's key; others only their own.
    owner = None if principal.role == "admin" else principal.user_id
    with context.acting_as(principal.actor), _database(request).unit_of_work() as uow:
        key = service.revoke_api_key(uow.session, key_id, user_id=owner)
        out = _key_out(key)
    return {"success": True, "data": out}
