"""Named queries over users, refresh tokens and API keys. Only auth.service writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.orm import Session

from leadbase.models import ApiKey, RefreshToken, User


def get(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


# Built once: every authenticated request runs it. A Core statement on the
# session's connection costs ~60 µs on SQLite where Session.get costs ~350.
_IDENTITY = select(User.id, User.email, User.role, User.is_active).where(
    User.id == bindparam("user_id")
)


def identity(session: Session, user_id: str) -> Row[tuple[str, str, str, bool]] | None:
    """(id, email, role, is_active) of a user, without loading the entity."""
    return session.connection().execute(_IDENTITY, {"user_id": user_id}).first()


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).first()


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get_refresh_token_for_update(session: Session, token_hash: str) -> RefreshToken | None:
    """Row-locked (PostgreSQL, MariaDB) so two uses of one token cannot both rotate it."""
    return session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    ).first()


def get_refresh_token(session: Session, token_hash: str) -> RefreshToken | None:
    return session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    ).first()


def revoke_family(session: Session, family_id: str, when: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=when)
        .execution_options(synchronize_session="fetch")
    )


def revoke_user_refresh_tokens(session: Session, user_id: str, when: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=when)
        .execution_options(synchronize_session="fetch")
    )


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def get_api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()


def list_api_keys(session: Session, user_id: str) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at)
    ).all()


def revoke_user_api_keys(session: Session, user_id: str, when: datetime) -> None:
    session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=when)
        .execution_options(synchronize_session="fetch")
    )


def page_users(
    session: Session,
    *,
    after_id: str | None,
    limit: int,
    role: str | None = None,
    is_active: bool | None = None,
) -> Sequence[User]:
    """One keyset page of users in id (= creation) order; the cursor is the last id."""
    query = select(User)
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    if after_id is not None:
        query = query.where(User.id > after_id)
    return session.scalars(query.order_by(User.id).limit(limit)).all()


def count_active_admins(session: Session) -> int:
    query = (
        select(func.count()).select_from(User).where(User.role == "admin", User.is_active.is_(True))
    )
    return session.scalar(query) or 0
