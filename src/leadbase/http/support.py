"""What every /api/v1 router shares: the success envelope, the request's
database, a unit of work acting as the caller, and ETag / If-Match handling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from leadbase import context
from leadbase.auth.service import Principal
from leadbase.db import Database, UnitOfWork
from leadbase.errors import ConflictError, LeadbaseError, ValidationError

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T


class PreconditionFailedError(LeadbaseError):
    status_code = 412
    code = "precondition_failed"


def envelope(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """An error as DESIGN.md's envelope, with its status."""
    body = {"success": False, "error": code, "message": message, "details": details or []}
    return JSONResponse(body, status_code=status)


def envelope_error(exc: LeadbaseError) -> JSONResponse:
    return envelope(exc.status_code, exc.code, exc.message, exc.details)


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


@contextmanager
def writing(request: Request, principal: Principal) -> Iterator[UnitOfWork]:
    """A unit of work acting as the caller (ip, agent, request id come from the middleware)."""
    with context.acting_as(principal.actor), database(request).unit_of_work() as uow:
        yield uow


async def write(request: Request, principal: Principal, work: Callable[[UnitOfWork], T]) -> T:
    """``work(uow)`` in a unit of work acting as the caller, in the thread
    pool: it may wait for the write lock. Routes calling this are async, so
    FastAPI checks and encodes their answer on the event loop, not in a
    second trip to the pool (a sync route makes two).
    """

    def run() -> T:
        with writing(request, principal) as uow:
            return work(uow)

    return await run_in_threadpool(run)


IfMatch = Annotated[
    str | None,
    Header(
        pattern=r'^(W/)?"?v[0-9]{1,9}"?$',
        description='The ETag last read, e.g. "v3": a stale one gets 412.',
    ),
]


@contextmanager
def stale_is_412(if_match: int | None) -> Iterator[None]:
    """A version clash answers 412 when the caller sent If-Match (its
    precondition failed), and stays a 409 conflict when it did not."""
    try:
        yield
    except ConflictError as exc:
        if if_match is not None:
            raise PreconditionFailedError(exc.message) from None
        raise


def etag(version: int) -> str:
    return f'"v{version}"'


def if_match_version(header: str | None) -> int | None:
    """The version an If-Match header names (``"v3"`` or ``W/"v3"``), or None."""
    if header is None:
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.startswith("v") or not tag[1:].isdigit():
        raise ValidationError("If-Match", f'expected an ETag like "v3", got {header!r}')
    return int(tag[1:])
