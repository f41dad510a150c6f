"""Users, login, token rotation and API keys: the one write path for auth tables.

Functions take the caller's session and only flush; the caller's unit of work
commits. User changes go on the audit chain, never with secrets in them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadbase import audit, context
from leadbase.auth import passwords, repository, tokens
from leadbase.auth.errors import AuthenticationError, RefreshTokenReusedError
from leadbase.config import Settings
from leadbase.db import serialize_writers
from leadbase.dedupe.normalise import normalise_email
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.models import ROLES, ApiKey, RefreshToken, User, new_id, utcnow

_BAD_LOGIN = "invalid email or password"
_BAD_TOKEN = "invalid or expired token"
# last_used_at is a hint for humans; writing it on every request would turn
# every API-key read into a write transaction.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind an access token or an API key."""

    user_id: str
    email: str
    role: str
    api_key_id: str | None = None
    touch_api_key: bool = False

    @property
    def actor(self) -> str:
        return f"user:{self.email}"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def _aware(value: datetime) -> datetime:
    # SQLite hands back what the session cached; make comparisons safe either way.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- users ---------------------------------------------------------------


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError("role", f"must be one of {', '.join(ROLES)}")
    return role


def validate_password(password: str) -> str:
    if len(password) < passwords.MIN_LENGTH:
        raise ValidationError("password", f"must be at least {passwords.MIN_LENGTH} characters")
    return password


def create_user(session: Session, email: str, password: str, role: str) -> User:
    normalised = normalise_email(email)
    validate_role(role)
    validate_password(password)
    if repository.get_by_email(session, normalised) is not None:
        raise ConflictError(f"a user with email {normalised} already exists")
    user = User(
        id=new_id(),
        email=normalised,
        password_hash=passwords.hash_password(password),
        role=role,
        is_active=True,
    )
    session.add(user)
    session.flush()
    changes: dict[str, list[Any]] = {
        "email": [None, normalised],
        "role": [None, role],
        "is_active": [None, True],
    }
    audit.append(session, "user", user.id, "create", changes)
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = repository.get_by_email(session, email.strip().lower())
    if user is None:
        raise NotFoundError(f"no user with email {email}")
    return user


def disable_user(session: Session, user: User) -> None:
    """Deactivate and cut off every credential at once: tokens and keys."""
    now = utcnow()
    forget_identity(user.id)
    repository.revoke_user_refresh_tokens(session, user.id, now)
    repository.revoke_user_api_keys(session, user.id, now)
    if user.is_active:
        user.is_active = False
        session.flush()
        audit.append(session, "user", user.id, "disable", {"is_active": [True, False]})


def bootstrap_admin(session: Session, settings: Settings) -> User | None:
    """Create the first admin from LEADBASE_ADMIN_EMAIL/PASSWORD when no user exists."""
    if not settings.admin_email or not settings.admin_password:
        return None
    # Two processes starting at once must not both see "no users".
    serialize_writers(session)
    if repository.count_users(session) > 0:
        return None
    return create_user(session, settings.admin_email, settings.admin_password, "admin")


# --- user administration (/api/v1/users) ------------------------------------

_LAST_ADMIN = "the last active admin cannot be disabled or demoted: make another user admin first"


def get_user(session: Session, user_id: str) -> User:
    user = repository.get(session, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


def add_user(session: Session, email: str, password: str, role: str) -> User:
    """``create_user`` for the API: two admins adding one email at once get a
    409 for the second, not a unique-constraint error."""
    serialize_writers(session)
    return create_user(session, email, password, role)


def _keep_an_admin(session: Session, user: User, *, role: str, is_active: bool) -> None:
    """Refuse a change that would leave no active admin to manage users."""
    loses_admin = user.role == "admin" and user.is_active and (role != "admin" or not is_active)
    if loses_admin and repository.count_active_admins(session) <= 1:
        raise ConflictError(_LAST_ADMIN)


def update_user(
    session: Session,
    user_id: str,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, active flag and/or password, each change audited
    (a password never: the entry says only that it was reset)."""
    serialize_writers(session)  # the last-admin check must not race another change
    user = get_user(session, user_id)
    forget_identity(user.id)
    new_role = validate_role(role) if role is not None else user.role
    new_active = user.is_active if is_active is None else is_active
    if password is not None:
        validate_password(password)
    _keep_an_admin(session, user, role=new_role, is_active=new_active)
    if new_role != user.role:
        old_role, user.role = user.role, new_role
        user.updated_by = context.current().actor
        session.flush()
        audit.append(session, "user", user.id, "role_change", {"role": [old_role, new_role]})
    if password is not None:
        _reset_password(session, user, password)
    if new_active and not user.is_active:
        user.is_active = True
        user.updated_by = context.current().actor
        session.flush()
        audit.append(session, "user", user.id, "enable", {"is_active": [False, True]})
    elif not new_active:
        _disable(session, user)
    return user


def _reset_password(session: Session, user: User, password: str) -> None:
    """New password; whoever logged in with the old one must log in again
    (refresh tokens revoked). API keys are separate credentials and stay."""
    user.password_hash = passwords.hash_password(password)
    user.updated_by = context.current().actor
    repository.revoke_user_refresh_tokens(session, user.id, utcnow())
    session.flush()
    audit.append(session, "user", user.id, "password_reset", {})


def deactivate_user(session: Session, user_id: str) -> User:
    """DELETE /users/{id}: the user is disabled, never removed (the audit
    trail keeps naming them); the last active admin is refused."""
    serialize_writers(session)
    user = get_user(session, user_id)
    _keep_an_admin(session, user, role=user.role, is_active=False)
    _disable(session, user)
    return user


def _disable(session: Session, user: User) -> None:
    if user.is_active:
        user.updated_by = context.current().actor
    disable_user(session, user)


# --- login and tokens ------------------------------------------------------


def authenticate(session: Session, email: str, password: str) -> User:
    try:
        user = repository.get_by_email(session, normalise_email(email))
    except ValidationError:
        user = None
    if user is None:
        passwords.verify_password(password, passwords.dummy_hash())  # same cost as a miss
        raise AuthenticationError(_BAD_LOGIN)
    ok, new_hash = passwords.verify_password(password, user.password_hash)
    if not ok or not user.is_active:
        raise AuthenticationError(_BAD_LOGIN)
    if new_hash is not None:
        user.password_hash = new_hash
    return user


def login(session: Session, email: str, password: str, settings: Settings) -> TokenPair:
    user = authenticate(session, email, password)
    user.last_login_at = utcnow()
    pair = _issue(session, user, new_id(), settings)
    audit.append(session, "user", user.id, "login", {})
    return pair


def _issue(session: Session, user: User, family_id: str, settings: Settings) -> TokenPair:
    access, expires_in = tokens.create_access_token(user.id, user.role, settings)
    refresh = tokens.new_refresh_token()
    session.add(
        RefreshToken(
            id=new_id(),
            user_id=user.id,
            family_id=family_id,
            token_hash=tokens.digest(refresh),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
        )
    )
    session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


def refresh(session: Session, refresh_token: str, settings: Settings) -> TokenPair:
    """Rotate: the presented token is spent and a new one in its family issued.

    A spent token coming back means it was copied: the whole family is revoked
    (flushed here) and RefreshTokenReusedError raised; commit before reporting.
    """
    row = repository.get_refresh_token_for_update(session, tokens.digest(refresh_token))
    now = utcnow()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        raise AuthenticationError(_BAD_TOKEN)
    user = repository.get(session, row.user_id)
    if row.used_at is not None:
        repository.revoke_family(session, row.family_id, now)
        _audit_as_owner(session, user, row.user_id, "refresh_token_reused")
        raise RefreshTokenReusedError(_BAD_TOKEN)
    if user is None or not user.is_active:
        raise AuthenticationError(_BAD_TOKEN)
    row.used_at = now
    pair = _issue(session, user, row.family_id, settings)
    _audit_as_owner(session, user, user.id, "token_refresh")
    return pair


def _audit_as_owner(session: Session, user: User | None, user_id: str, action: str) -> None:
    """Refresh and logout carry no access token: the refresh token's owner is
    the one acting (ip, user agent and request id still come from the request)."""
    actor = f"user:{user.email}" if user is not None else None
    with context.acting_as(actor):
        audit.append(session, "user", user_id, action, {})


def logout(session: Session, refresh_token: str) -> bool:
    """Revoke the token's family. False when the token is unknown."""
    row = repository.get_refresh_token(session, tokens.digest(refresh_token))
    if row is None:
        return False
    repository.revoke_family(session, row.family_id, utcnow())
    _audit_as_owner(session, repository.get(session, row.user_id), row.user_id, "logout")
    return True


# --- API keys ---------------------------------------------------------------


def create_api_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    """The new key row and its plaintext, which is never available again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("name", "must be 1 to 100 characters")
    plaintext = tokens.new_api_key()
    key = ApiKey(
        id=new_id(),
        user_id=user.id,
        name=name,
        prefix=plaintext[: tokens.API_KEY_SHOWN_CHARS],
        key_hash=tokens.digest(plaintext),
    )
    session.add(key)
    session.flush()
    changes: dict[str, list[Any]] = {"api_key": [None, {"id": key.id, "name": name}]}
    audit.append(session, "user", user.id, "api_key_create", changes)
    return key, plaintext


def revoke_api_key(session: Session, key_id: str, *, user_id: str | None = None) -> ApiKey:
    """Revoke a key; with user_id, only one of that user's keys."""
    key = repository.get_api_key(session, key_id)
    if key is None or (user_id is not None and key.user_id != user_id):
        raise NotFoundError(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        changes: dict[str, list[Any]] = {"api_key": [{"id": key.id, "name": key.name}, None]}
        audit.append(session, "user", key.user_id, "api_key_revoke", changes)
    return key


def touch_api_key(session: Session, key_id: str) -> None:
    key = repository.get_api_key(session, key_id)
    if key is not None:
        key.last_used_at = utcnow()


# --- who is calling ---------------------------------------------------------


# Recently looked-up users, by (database, user id): most requests then need
# no query to name their caller. Entries live IDENTITY_TTL_SECONDS and are
# dropped at once when this process changes the user, so a role change or a
# disabling takes effect at once here and within a second in other processes.
IDENTITY_TTL_SECONDS = 1.0
_IDENTITY_MAX = 10_000
_identities: dict[tuple[str, str], tuple[Principal, float]] = {}


def cached_principal(database_key: str, bearer: str, settings: Settings) -> Principal | None:
    """The caller behind an access token when its user was looked up less than
    IDENTITY_TTL_SECONDS ago; None when a lookup is needed (or for API keys).
    A bad or expired token raises AuthenticationError, as it would anyway."""
    if tokens.is_api_key(bearer):
        return None
    claims = tokens.decode_access_token(bearer, settings)
    hit = _identities.get((database_key, claims.user_id))
    if hit is None or hit[1] <= time.monotonic():
        return None
    return hit[0]


def remember_identity(database_key: str, principal: Principal) -> None:
    if principal.api_key_id is not None:
        return  # keys are checked every time: revoking one must bite at once
    if len(_identities) >= _IDENTITY_MAX:
        _identities.clear()
    expires = time.monotonic() + IDENTITY_TTL_SECONDS
    _identities[(database_key, principal.user_id)] = (principal, expires)


def forget_identity(user_id: str) -> None:
    for key in [key for key in list(_identities) if key[1] == user_id]:
        _identities.pop(key, None)


def principal_from_bearer(session: Session, bearer: str, settings: Settings) -> Principal:
    """The caller behind an access token or an API key; AuthenticationError otherwise.

    Reads only. The user is looked up every time, so disabling a user or
    changing a role takes effect at once, not when the token expires.
    """
    if tokens.is_api_key(bearer):
        return _principal_from_api_key(session, bearer)
    claims = tokens.decode_access_token(bearer, settings)
    user = repository.identity(session, claims.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError(_BAD_TOKEN)
    return Principal(user_id=user.id, email=user.email, role=user.role)


def _principal_from_api_key(session: Session, bearer: str) -> Principal:
    key = repository.get_api_key_by_hash(session, tokens.digest(bearer))
    if key is None or key.revoked_at is not None:
        raise AuthenticationError(_BAD_TOKEN)
    user = repository.get(session, key.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError(_BAD_TOKEN)
    last = key.last_used_at
    stale = last is None or utcnow() - _aware(last) >= API_KEY_TOUCH_INTERVAL
    return Principal(
        user_id=user.id, email=user.email, role=user.role, api_key_id=key.id, touch_api_key=stale
    )


def principal_from_session_token(session: Session, refresh_token: str) -> Principal | None:
    """The console's signed-in user: its session cookie holds the login's
    refresh token, valid while unrevoked, unexpired and its user active.
    Reads only; the console never rotates it (logout revokes it)."""
    row = repository.get_refresh_token(session, tokens.digest(refresh_token))
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= utcnow():
        return None
    user = repository.identity(session, row.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(user_id=user.id, email=user.email, role=user.role)
