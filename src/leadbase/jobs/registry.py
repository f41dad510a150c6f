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

# The kinds of leadbase's own handlers, each with the module that registers
# it: every worker knows them without configuration. A module that is not
# there (yet) is skipped. Enqueuing a job of one of these kinds imports none
# of them: together they pull in numpy, the Airtable and Apify clients, httpx
# and dnspython, ~33 MB that a CLI import, which only queues its scoring job,
# would otherwise hold at its end (tests hold this table to the modules).
BUILTIN_KINDS = {
    "enrich_lead": "leadbase.enrichment.tasks",
    "import_file": "leadbase.imports.tasks",
    "import_revert": "leadbase.imports.tasks",
    "apify_import": "leadbase.imports.apify.tasks",
    "apify_watch": "leadbase.imports.apify.tasks",
    "airtable_sync": "leadbase.sync.airtable.tasks",
    "score_leads": "leadbase.scoring.tasks",
}
BUILTIN_MODULES = tuple(dict.fromkeys(BUILTIN_KINDS.values()))


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
        _load(module)


def _load(module: str) -> None:
    if module in _loaded:
        return
    with _lock:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module not in BUILTIN_MODULES or not f"{module}.".startswith(f"{missing}."):
                raise
        _loaded.add(module)


def is_known(kind: str, modules: Iterable[str] = ()) -> bool:
    """Whether a worker has a handler for ``kind``: a built-in kind without
    importing its module; any other after importing ``modules``."""
    if kind in BUILTIN_KINDS or kind in _handlers:
        return True
    load_modules(modules)
    return kind in _handlers


def get(kind: str) -> Registered | None:
    """The handler of ``kind``; a built-in one's module is imported if no
    worker start has imported it yet."""
    if kind not in _handlers and kind in BUILTIN_KINDS:
        _load(BUILTIN_KINDS[kind])
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
