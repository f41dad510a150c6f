"""Who is acting, from where: read by the audit log, set at each boundary.

Contextvars follow the current thread or task, so concurrent requests and
worker threads never see each other's actor.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ActorContext:
    actor: str = "system:unknown"
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


# ActorContext is a frozen dataclass: sharing the default instance is safe.
_current: ContextVar[ActorContext] = ContextVar(
    "leadbase_actor",
    default=ActorContext(),  # noqa: B039
)


def current() -> ActorContext:
    return _current.get()


@contextmanager
def acting_as(
    actor: str | None = None,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
) -> Iterator[ActorContext]:
    """Set the actor (and request facts) for everything inside the block."""
    base = _current.get()
    ctx = replace(
        base,
        actor=actor or base.actor,
        ip=ip if ip is not None else base.ip,
        user_agent=user_agent if user_agent is not None else base.user_agent,
        request_id=request_id if request_id is not None else base.request_id,
    )
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still name someone
        return "unknown"


def cli_actor() -> str:
    return f"cli:{os_user()}"


def system_actor(component: str) -> str:
    return f"system:{component}"
