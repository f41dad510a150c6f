"""/api/v1/users: user administration, for admins only.

Users are never deleted: DELETE disables (the audit trail keeps naming them),
and a disabled user's tokens and API keys stop working at once. No route
ever returns a password hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from leadbase.auth import passwords, repository, service
from leadbase.auth.endpoints import require_role
from leadbase.auth.service import Principal
from leadbase.http.support import Envelope, database, writing
from leadbase.models import User

MAX_PAGE = 500

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
Role = Literal["admin", "editor", "viewer"]
# Ids are UUID strings; the pattern keeps NUL, which PostgreSQL refuses, out of queries.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"
UserId = Annotated[str, Path(pattern=ID_PATTERN)]
# argon2 hashes anything; the cap bounds the work.
Password = Annotated[str, Field(min_length=passwords.MIN_LENGTH, max_length=1024)]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    role: str
    is_active: bool
    last_login_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: EmailStr
    password: Password
    role: Role


class UserPatch(BaseModel):
    """Only the fields given change. A new password ends the user's sessions."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Role | None = None
    is_active: bool | None = None
    password: Password | None = None


def _one(user: User) -> Envelope[UserOut]:
    return Envelope(data=UserOut.model_validate(user))


@router.get("", response_model=Envelope[UserPage])
def list_users(
    request: Request,
    _admin: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> Envelope[UserPage]:
    """Users in creation order."""
    with database(request).read_session() as session:
        rows = repository.page_users(
            session, after_id=cursor, limit=limit + 1, role=role, is_active=is_active
        )
        items = [UserOut.model_validate(row) for row in rows[:limit]]
    next_cursor = items[-1].id if len(rows) > limit else None
    return Envelope(data=UserPage(items=items, next_cursor=next_cursor))


@router.post("", status_code=201, response_model=Envelope[UserOut])
def create_user(
    request: Request, response: Response, admin: Admin, body: UserCreate
) -> Envelope[UserOut]:
    """A new user; an email already taken (by an active or disabled user) is a 409."""
    with writing(request, admin) as uow:
        user = service.add_user(uow.session, body.email, body.password, body.role)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return _one(user)


@router.get("/{user_id}", response_model=Envelope[UserOut])
def get_user(request: Request, _admin: Admin, user_id: UserId) -> Envelope[UserOut]:
    with database(request).read_session() as session:
        user = service.get_user(session, user_id)
    return _one(user)


@router.patch("/{user_id}", response_model=Envelope[UserOut])
def update_user(
    request: Request, admin: Admin, user_id: UserId, body: UserPatch
) -> Envelope[UserOut]:
    """Change role, enable/disable, reset the password. The last active admin
    cannot be demoted or disabled (409)."""
    with writing(request, admin) as uow:
        user = service.update_user(
            uow.session, user_id, role=body.role, is_active=body.is_active, password=body.password
        )
    return _one(user)


@router.delete("/{user_id}", response_model=Envelope[UserOut])
def disable_user(request: Request, admin: Admin, user_id: UserId) -> Envelope[UserOut]:
    """Disable (never delete) the user and revoke their tokens and API keys."""
    with writing(request, admin) as uow:
        user = service.deactivate_user(uow.session, user_id)
    return _one(user)
