"""Access tokens (signed JWTs), refresh tokens and API keys (random strings).

Refresh tokens and API keys are opaque random strings stored only as SHA-256
digests: they carry 256 bits of entropy, so a slow hash would buy nothing.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from leadbase.auth.errors import AuthenticationError
from leadbase.config import Settings
from leadbase.models import new_id

ALGORITHM = "HS256"
API_KEY_PREFIX = "lb_"
API_KEY_SHOWN_CHARS = 11  # "lb_" + 8 random chars: enough to tell keys apart in a list
SECRET_KEY_FILE = "secret_key"
_REQUIRED_CLAIMS = ["sub", "role", "exp", "iat", "jti", "type"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    jti: str


# Keys read from data_dir, by path: every request checks a token, and the
# file never changes under a running server (rotating it means a restart).
_STORED_KEYS: dict[Path, str] = {}
# Tokens whose signature already checked out, by (token, key): PyJWT spends
# ~50 µs a decode, most of it checking base64 in Python, on every request.
# Expiry is still checked on each use; a changed key misses the cache.
_VERIFIED: OrderedDict[tuple[str, str], tuple[AccessClaims, float]] = OrderedDict()
_VERIFIED_MAX = 4096


def signing_key(settings: Settings) -> str:
    """LEADBASE_SECRET_KEY, or a key generated on first use beside the database."""
    if settings.secret_key:
        return settings.secret_key
    path = (settings.data_dir / SECRET_KEY_FILE).absolute()
    if path not in _STORED_KEYS:
        _STORED_KEYS[path] = _stored_key(path)
    return _STORED_KEYS[path]


def _stored_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(64)
    # Written in full to a private temporary file, then linked into place:
    # a reader never sees an empty key, and when two processes start at once
    # the link of one fails, so both use the key that won.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    finally:
        temporary.unlink()
    return key


def create_access_token(
    user_id: str, role: str, settings: Settings, *, now: datetime | None = None
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    issued = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims: dict[str, Any] = {
        "sub": user_id,
        "role": role,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": new_id(),
        "type": "access",
    }
    token = jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def decode_access_token(token: str, settings: Settings) -> AccessClaims:
    key = signing_key(settings)
    cached = _VERIFIED.get((token, key))
    if cached is not None and time.time() < cached[1]:
        return cached[0]
    claims = _decode(token, key)
    _VERIFIED[(token, key)] = claims
    while len(_VERIFIED) > _VERIFIED_MAX:
        try:
            _VERIFIED.popitem(last=False)
        except KeyError:  # another thread emptied it first
            break
    return claims[0]


def _decode(token: str, key: str) -> tuple[AccessClaims, float]:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # pinned: never trust the token's own "alg"
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.InvalidTokenError:
        raise AuthenticationError("invalid or expired token") from None
    if claims["type"] != "access":
        raise AuthenticationError("invalid or expired token")
    access = AccessClaims(user_id=str(claims["sub"]), role=str(claims["role"]), jti=claims["jti"])
    return access, float(claims["exp"])


def bearer_credentials(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header, or None."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def is_api_key(bearer: str) -> bool:
    return bearer.startswith(API_KEY_PREFIX)
