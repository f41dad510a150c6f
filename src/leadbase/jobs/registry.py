"""Job handlers by kind: what a worker runs for a row of the jobs table.

A handler is ``def fn(run: JobRun) -> dict | None``. It opens its own units
of work (``with run.database.unit_of_work() as uow:`` under
``context.acting_as("system:...")``), does slow work (network) outside any
transaction, and is idempotent: after a crash the job runs again, and the
rerun must not repeat effects the first run already committed.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from leadbase.db import Database, UnitOfWork

# Modules of leadbase whose handlers every worker knows without configuration.
# A module that is not there (yet) is skipped.
BUILTIN_MODULES = (
    "leadbase.enrichment.tasks",
    "leadbase.imports.tasks",
    "leadbase.imports.apify.tasks",
    "leadbase.sync.airtable.tasks",
    "leadbase.scoring.tasks",
)


@dataclass(frozen=True)
class JobRun:
    """What a handler gets: the job, which attempt this is (1 for the first),
    and the database to open units of work on."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    database: Database
    max_attempts: int = 1

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


class PermanentJobError(Exception):
    """Raised by a handler for a failure no retry can fix: the job goes
    ``dead`` at once, with this message as its last error."""


Handler = Callable[[JobRun], "dict[str, Any] | None"]
# Called in the unit of work that marks a job dead, with the last error: the
# place to record the failure on whatever the job was for (e.g. a lead's
# enrichment status), atomically with the job's own end.
OnDead = Callable[[UnitOfWork, JobRun, str], None]
F = TypeVar("F", bound=Handler)


@dataclass(frozen=True)
class Registered:
    kind: str
    fn: Handler
    on_dead: OnDead | None = None


_handlers: dict[str, Registered] = {}
_loaded: set[str] = set()
_lock = threading.Lock()


def handler(kind: str, *, on_dead: OnDead | None = None) -> Callable[[F], F]:
    """Register ``fn`` as the handler of jobs of ``kind``."""
    if not kind or len(kind) > 100:
        raise ValueError("a job kind is 1 to 100 characters")

    def register(fn: F) -> F:
        existing = _handlers.get(kind)
        if existing is not None and _name(existing.fn) != _name(fn):
            raise ValueError(f"job kind {kind!r} already has a handler: {_name(existing.fn)}")
        _handlers[kind] = Registered(kind, fn, on_dead)
        return fn

    return register


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def load_modules(modules: Iterable[str] = ()) -> None:
    """Import the built-in handler modules and ``modules`` (once each), so
    their ``@handler`` decorators run."""
    for module in (*BUILTIN_MODULES, *modules):
        if module in _loaded:
            continue
        with _lock:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                missing = exc.name or ""
                if module not in BUILTIN_MODULES or not f"{module}.".startswith(f"{missing}."):
                    raise
            _loaded.add(module)


def get(kind: str) -> Registered | None:
    return _handlers.get(kind)


def kinds() -> list[str]:
    return sorted(_handlers)


@handler("noop")
def noop(run: JobRun) -> dict[str, Any]:
    """Does nothing (after ``sleep_ms``, if given): for benches and tests."""
    sleep_ms = run.payload.get("sleep_ms", 0)
    if isinstance(sleep_ms, int | float) and sleep_ms > 0:
        time.sleep(min(float(sleep_ms), 600_000.0) / 1000)
    return {"ok": True}
