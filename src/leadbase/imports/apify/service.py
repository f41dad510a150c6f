"""Apify runs and datasets into the lead database (issue 13 item 5, seed 003).

Each run (or dataset) we import has one ``apify_sync_states`` row. Its items
are read a page at a time, and each page is mapped and written in ONE unit
of work together with the state's new counts: the state's offset
(``synced_records + failed_records``, the dataset items behind us) is
always the offset of the first item not written, so a sync that breaks
(an Apify error, a crash, a kill) resumes there and no item is written
twice. Leads land through ``leads.service.import_rows`` with policy merge:
an item already imported (same ``provider_name`` + ``external_id``, or the
same contact keys) folds into its lead, counted as a duplicate.

Network calls happen outside any transaction; every write of a sync is on
the audit chain with ``request_id = "apify:<run id>"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from leadbase import audit, context
from leadbase.config import get_settings
from leadbase.db import Database, UnitOfWork
from leadbase.errors import ConflictError, LeadbaseError, NotFoundError
from leadbase.imports.apify import repository
from leadbase.imports.apify.client import TERMINAL_STATUSES, Apify, ApifyError, RunInfo
from leadbase.imports.apify.profiles import MappedItem, detect_profile, map_item
from leadbase.jobs import repository as jobs_repository
from leadbase.jobs import service as jobs_service
from leadbase.leads import service as leads_service
from leadbase.models import ApifySyncState, utcnow

PROVIDER = "apify"
IMPORT_JOB = "apify_import"
WATCH_JOB = "apify_watch"
DATASET_KEY = "dataset:"  # a dataset imported on its own is keyed "dataset:<id>"
MAX_KEPT_FAILURES = 100  # failed items whose reasons the state keeps
Progress = Callable[[int, int | None], None]
Start = Literal["new", "resume", "done"]


class ApifySyncError(LeadbaseError):
    """Apify answered with an error (or not at all): the sync stops, resumable."""

    status_code = 502
    code = "apify_error"


def _translated(exc: ApifyError) -> LeadbaseError:
    if exc.status == 404:
        return NotFoundError(str(exc))
    return ApifySyncError(str(exc))


class SyncMovedOnError(ConflictError):
    """Another import of the same run wrote the page first: this one stops and
    leaves the state to it."""


class ApifyNotConfiguredError(LeadbaseError):
    status_code = 409
    code = "apify_not_configured"


def connect(apify: Apify | None = None) -> Apify:
    """The given client, or the one the settings describe (a token is required:
    without one every call would fail, after its retries)."""
    if apify is not None:
        return apify
    if not get_settings().apify_token:
        raise ApifyNotConfiguredError("Apify is not set up: set LEADBASE_APIFY_TOKEN")
    return Apify.from_settings()


@dataclass(frozen=True)
class SyncReport:
    """A sync state as it stood when the call ended (safe to keep after the session)."""

    state_id: str
    run_id: str | None  # None for a dataset imported on its own
    dataset_id: str | None
    dataset_name: str | None
    actor: str | None  # "user/name" when known, else the actor's id
    sync_status: str
    start: Start
    total: int
    synced: int
    failed: int
    duplicates: int
    created: int
    error: str | None

    @classmethod
    def of(cls, state: ApifySyncState, start: Start) -> SyncReport:
        meta = state.extra_metadata or {}
        counts = meta.get("counts", {})
        return cls(
            state_id=state.id,
            run_id=None if state.run_id.startswith(DATASET_KEY) else state.run_id,
            dataset_id=state.dataset_id,
            dataset_name=meta.get("dataset_name"),
            actor=state.actor_name or state.actor_id or None,
            sync_status=state.sync_status,
            start=start,
            total=state.total_records,
            synced=state.synced_records,
            failed=state.failed_records,
            duplicates=state.duplicate_records,
            created=int(counts.get("created", 0)),
            error=state.error_message,
        )


@dataclass(frozen=True)
class _Target:
    """What one sync reads: a run's default dataset, or a dataset on its own."""

    key: str  # the state's run_id
    dataset_id: str
    total: int | None
    run: RunInfo | None = None
    name: str | None = None  # a dataset's, when imported on its own

    @property
    def actor_id(self) -> str:
        return self.run.actor_id if self.run else ""

    @property
    def actor_name(self) -> str | None:
        return self.run.actor_name if self.run else None


# --- the entry points ---------------------------------------------------------------


def import_run(
    database: Database, run_id: str, *, apify: Apify | None = None, progress: Progress | None = None
) -> SyncReport:
    """Import a finished run's items (a failed or timed-out run's too: what it
    scraped is kept). A completed sync is not repeated; a broken one resumes."""
    apify = connect(apify)
    try:
        info = apify.run(run_id)
    except ApifyError as exc:
        raise _translated(exc) from exc
    return _import_finished(database, apify, info, progress)


def import_dataset(
    database: Database,
    dataset_id: str,
    *,
    apify: Apify | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Import a dataset by id or name. A run's default dataset is imported as
    that run (one sync state, whichever way it is asked for); another is
    synced on its own, and importing it again reads only the items added since."""
    apify = connect(apify)
    try:
        found = apify.dataset_info(dataset_id)
        run = apify.run(found.run_id) if found.run_id else None
    except ApifyError as exc:
        raise _translated(exc) from exc
    if run is not None and run.dataset_id == found.dataset_id:
        return _import_finished(database, apify, run, progress)
    key = DATASET_KEY + found.dataset_id
    target = _Target(key, found.dataset_id, found.item_count, name=found.name)
    return _sync(database, apify, target, progress)


def start_actor(
    database: Database,
    actor: str,
    run_input: dict[str, Any] | None,
    *,
    wait: bool,
    apify: Apify | None = None,
    progress: Progress | None = None,
) -> tuple[RunInfo, SyncReport]:
    """Start a run of ``actor``. With ``wait``, import its items once it ends;
    without, record it as pending (``watch`` imports it when it has ended)."""
    apify = connect(apify)
    try:
        info = apify.start_run(actor, run_input, wait=wait)
    except ApifyError as exc:
        raise _translated(exc) from exc
    if wait:
        return info, _import_finished(database, apify, info, progress)
    with database.unit_of_work() as uow:
        state, start = _claim(uow, _run_target(info), start=False)
        return info, SyncReport.of(state, start)


def watch(
    database: Database,
    actor: str,
    *,
    apify: Apify | None = None,
    progress: Callable[[RunInfo], Progress | None] | None = None,
) -> list[SyncReport]:
    """Import the actor's SUCCEEDED runs that finished after the last one we
    synced (all of them the first time), oldest first; and finish the syncs of
    its runs that broke off. Runs still going on are left for the next watch."""
    apify = connect(apify)
    with database.read_session() as session:
        since = repository.last_synced_finish(session, actor)
        broken = repository.unfinished_run_ids(session, actor)
    try:
        runs = {info.run_id: info for info in apify.runs_since(actor, since)}
        for run_id in broken:
            if run_id not in runs:
                runs[run_id] = apify.run(run_id)
    except ApifyError as exc:
        raise _translated(exc) from exc
    with database.read_session() as session:
        known = repository.by_run_ids(session, list(runs))
    reports = []
    for info in sorted(runs.values(), key=_finish_order):
        state = known.get(info.run_id)
        if state is not None and state.sync_status == "completed":
            continue
        if info.status not in TERMINAL_STATUSES:
            continue
        reports.append(
            _import_finished(database, apify, info, progress(info) if progress else None)
        )
    return reports


def _finish_order(info: RunInfo) -> tuple[datetime, str]:
    return (info.finished_at or info.started_at or utcnow(), info.run_id)


def _run_target(info: RunInfo) -> _Target:
    if info.dataset_id is None:
        raise ApifySyncError(f"Apify run {info.run_id} has no dataset")
    return _Target(info.run_id, info.dataset_id, info.item_count, run=info)


def _import_finished(
    database: Database, apify: Apify, info: RunInfo, progress: Progress | None
) -> SyncReport:
    _check_finished(info)
    return _sync(database, apify, _run_target(info), progress)


# --- one sync -----------------------------------------------------------------------


def _offset(state: ApifySyncState) -> int:
    """The dataset items behind us: each was written (synced) or refused (failed)."""
    return state.synced_records + state.failed_records


def _claim(uow: UnitOfWork, target: _Target, *, start: bool = True) -> tuple[ApifySyncState, Start]:
    """The target's state, made or found: "done" when nothing is left to read,
    else marked running (with ``start``) from its offset."""
    session = uow.session
    state = repository.by_run_id_for_update(session, target.key)
    kind: Start = "resume"
    if state is None:
        state = _new_state(target)
        repository.add(session, state)
        kind = "new"
    elif state.sync_status == "completed" and (target.total or 0) <= _offset(state):
        return state, "done"
    _refresh(state, target)
    state.updated_by = context.current().actor
    if start:
        if state.sync_status == "failed":
            state.retry_count += 1
        state.sync_status, state.error_message = "running", None
        state.last_sync_at = utcnow()
    return state, kind


def _new_state(target: _Target) -> ApifySyncState:
    actor = context.current().actor
    return ApifySyncState(
        actor_id=target.actor_id,
        actor_name=target.actor_name,
        run_id=target.key,
        dataset_id=target.dataset_id,
        sync_status="pending",
        total_records=0,
        synced_records=0,
        failed_records=0,
        duplicate_records=0,
        retry_count=0,
        created_by=actor,
        updated_by=actor,
        extra_metadata={
            "kind": "run" if target.run else "dataset",
            "counts": {"created": 0, "merged": 0, "unchanged": 0},
            **({"dataset_name": target.name} if target.name else {}),
        },
    )


def _refresh(state: ApifySyncState, target: _Target) -> None:
    """What Apify says of the run now (a resumed sync may find it changed)."""
    if target.total is not None:
        state.total_records = max(target.total, _offset(state))
    run = target.run
    if run is not None:
        state.actor_name = state.actor_name or run.actor_name
        state.run_status = run.status
        state.started_at, state.finished_at = run.started_at, run.finished_at
        # Best-effort details: one missing this time keeps what was read before.
        state.compute_units = run.compute_units or state.compute_units
        state.cost_usd = run.cost_usd or state.cost_usd
        state.input_params = run.input if run.input is not None else state.input_params


def _sync(
    database: Database, apify: Apify, target: _Target, progress: Progress | None
) -> SyncReport:
    with database.unit_of_work() as uow:
        state, start = _claim(uow, target)
        report = SyncReport.of(state, start)
    if start == "done":
        return report
    offset = report.synced + report.failed
    with context.acting_as(request_id=f"apify:{target.key}"):
        try:
            if progress is not None:
                progress(offset, target.total)
            for page_offset, items in apify.items(target.dataset_id, offset=offset):
                offset = _write_page(database, report.state_id, target, page_offset, items)
                if progress is not None:
                    progress(offset, max(target.total or 0, offset) or None)
        except SyncMovedOnError:
            raise  # the state is the other import's: it goes on
        except Exception as exc:
            _finish(database, report.state_id, "failed", exc, start)
            if isinstance(exc, ApifyError):
                raise _translated(exc) from exc
            raise
    return _finish(database, report.state_id, "completed", None, start)


def _write_page(
    database: Database,
    state_id: str,
    target: _Target,
    offset: int,
    items: Sequence[dict[str, Any]],
) -> int:
    """Map and write one page, and move the state's offset past it, atomically."""
    with database.unit_of_work() as uow:
        state = repository.get_for_update(uow.session, state_id)
        if state is None or state.sync_status != "running" or _offset(state) != offset:
            raise SyncMovedOnError(
                f"the sync of {target.key} moved on elsewhere (another import of it?)"
            )
        leads_service.defer_scoring(uow)  # one job for the sync, at its end
        meta = dict(state.extra_metadata or {})
        profile = meta.get("profile") or detect_profile(
            target.actor_name or target.actor_id or None, items[0] if items else {}
        )
        leads, sources, failures = _mapped(profile, target, state, offset, items)
        results = (
            leads_service.import_rows(
                uow, [lead for _, lead in leads], on_duplicate="merge", sources=sources
            )
            if leads
            else []
        )
        counts = dict(meta.get("counts", {}))
        for (position, _), result in zip(leads, results, strict=True):
            if isinstance(result, LeadbaseError):
                failures.append((position, result.message))
            else:
                counts[result.outcome] = counts.get(result.outcome, 0) + 1
                # merged into a lead, or found it already holding the item
                state.duplicate_records += result.outcome in ("merged", "unchanged")
        state.synced_records += len(items) - len(failures)
        state.failed_records += len(failures)
        state.total_records = max(state.total_records, _offset(state))
        state.last_sync_at = utcnow()
        state.extra_metadata = {**meta, "profile": profile, "counts": counts}
        if failures:
            state.error_details = _kept_failures(state.error_details, failures)
        return _offset(state)


def _mapped(
    profile: str,
    target: _Target,
    state: ApifySyncState,
    offset: int,
    items: Sequence[dict[str, Any]],
) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]], list[tuple[int, str]]]:
    """(dataset position, lead) and its source for each item that maps; the
    positions and reasons of those that do not."""
    leads: list[tuple[int, dict[str, Any]]] = []
    sources: list[dict[str, Any]] = []
    failures: list[tuple[int, str]] = []
    for position, item in enumerate(items, start=offset):
        try:
            mapped = map_item(profile, item)
        except (TypeError, ValueError) as exc:
            failures.append((position, f"cannot map the item: {exc}"))
            continue
        leads.append((position, _lead(mapped, target)))
        sources.append(_source(mapped, target, state, position))
    return leads, sources, failures


def _provenance(mapped: MappedItem, target: _Target) -> dict[str, Any]:
    return {
        "provider_name": PROVIDER,
        "actor_id": target.actor_id or None,
        "run_id": target.run.run_id if target.run else None,
        "dataset_id": target.dataset_id,
        "external_id": mapped.external_id,
    }


def _lead(mapped: MappedItem, target: _Target) -> dict[str, Any]:
    lead = {**mapped.lead, "source": PROVIDER}
    lead.update({k: v for k, v in _provenance(mapped, target).items() if v is not None})
    return lead


def _source(
    mapped: MappedItem, target: _Target, state: ApifySyncState, position: int
) -> dict[str, Any]:
    run = target.run
    name = target.actor_name or (target.name and f"dataset {target.name}") or target.key
    return {
        "source_type": PROVIDER,
        "source_name": name[:255],
        "actor_name": target.actor_name,
        "import_batch_id": state.id,
        "external_url": (mapped.external_url or "")[:1000] or None,
        "scraped_at": run.finished_at if run else None,
        "scrape_params": state.input_params,
        "metadata": {"offset": position},
        **_provenance(mapped, target),
    }


def _kept_failures(
    details: dict[str, Any] | None, failures: Sequence[tuple[int, str]]
) -> dict[str, Any]:
    """The first MAX_KEPT_FAILURES failed items: their dataset offset and the reason."""
    kept = list((details or {}).get("failed_items", []))
    room = MAX_KEPT_FAILURES - len(kept)
    kept.extend({"offset": position, "reason": reason} for position, reason in failures[:room])
    return {**(details or {}), "failed_items": kept}


def _finish(
    database: Database, state_id: str, status: str, exc: Exception | None, start: Start
) -> SyncReport:
    with database.unit_of_work() as uow:
        state = repository.get_for_update(uow.session, state_id)
        if state is None:
            raise NotFoundError(f"Apify sync state {state_id} not found")
        if state.sync_status == "running":
            state.sync_status = status
            state.error_message = _reason(exc) if exc is not None else None
            state.last_sync_at = utcnow()
            if state.synced_records:
                leads_service.queue_run_scoring(uow, state_id)
            if status == "completed":
                state.total_records = max(state.total_records, _offset(state))
        return SyncReport.of(state, start)


def _reason(exc: Exception) -> str:
    if isinstance(exc, LeadbaseError):
        return exc.message
    if isinstance(exc, ApifyError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --- jobs ---------------------------------------------------------------------------


def queue_run_import(uow: UnitOfWork, info: RunInfo) -> tuple[SyncReport, str | None]:
    """Record the run's state (pending) and queue its import as a job; a run
    already synced in full answers its state and no job."""
    state, start = _claim(uow, _run_target(info), start=False)
    if start == "done":
        return SyncReport.of(state, start), None
    payload = {"run_id": info.run_id, "actor": context.current().actor}
    job_id = jobs_service.enqueue(uow, IMPORT_JOB, payload)
    # Who asked for the import, from where: the job's lead writes carry its own actor.
    audit.append(
        uow.session, "apify_sync", state.id, "import_requested", {"job_id": [None, job_id]}
    )
    return SyncReport.of(state, start), job_id


def schedule_watch(uow: UnitOfWork, actor: str, *, delay: float | None = None) -> str | None:
    """Queue an ``apify_watch`` job for ``actor`` (after ``delay`` seconds);
    None when one is already waiting for it: one chain per actor."""
    if _watch_waiting(uow.session, actor):
        return None
    return _enqueue_watch(uow, actor, delay)


def reschedule_watch(uow: UnitOfWork, actor: str, *, current_job_id: str) -> str | None:
    """The next watch of ``actor`` after ``LEADBASE_APIFY_WATCH_SECONDS`` (the
    running job calls this as it ends); None when the setting is not set, or
    when a next one is already queued (this job ran again after a crash)."""
    seconds = get_settings().apify_watch_seconds
    if not seconds or _watch_waiting(uow.session, actor, but=current_job_id):
        return None
    return _enqueue_watch(uow, actor, seconds)


def _watch_waiting(session: Session, actor: str, *, but: str | None = None) -> bool:
    return any(
        job.payload.get("actor") == actor and job.id != but
        for job in jobs_repository.waiting(session, WATCH_JOB)
    )


def _enqueue_watch(uow: UnitOfWork, actor: str, delay: float | None) -> str:
    job_id = jobs_service.enqueue(uow, WATCH_JOB, {"actor": actor})
    if delay:
        jobs_repository.postpone(uow.session, job_id, utcnow() + timedelta(seconds=delay))
    return job_id


# --- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStateView:
    """One sync state as the console lists it."""

    id: str
    kind: str  # "run" | "dataset"
    label: str  # the actor's name, or the dataset's
    run_id: str | None
    dataset_id: str | None
    sync_status: str
    run_status: str | None
    total: int
    synced: int
    failed: int
    duplicates: int
    progress: float | None  # 0..1 when the total is known
    error: str | None
    last_sync_at: datetime | None
    cost_usd: float | None


def view(state: ApifySyncState) -> SyncStateView:
    kind = "dataset" if state.run_id.startswith(DATASET_KEY) else "run"
    meta = state.extra_metadata or {}
    dataset = meta.get("dataset_name") or state.dataset_id
    label = state.actor_name or state.actor_id or f"dataset {dataset}"
    done = _offset(state)
    if state.sync_status == "completed":
        progress: float | None = 1.0
    elif state.total_records:
        progress = min(done / state.total_records, 0.99)
    else:
        progress = None
    return SyncStateView(
        id=state.id,
        kind=kind,
        label=label,
        run_id=None if kind == "dataset" else state.run_id,
        dataset_id=state.dataset_id,
        sync_status=state.sync_status,
        run_status=state.run_status,
        total=state.total_records,
        synced=state.synced_records,
        failed=state.failed_records,
        duplicates=state.duplicate_records,
        progress=progress,
        error=state.error_message,
        last_sync_at=state.last_sync_at,
        cost_usd=float(state.cost_usd) if state.cost_usd is not None else None,
    )


def sync_states_for_console(session: Session, limit: int = 20) -> list[SyncStateView]:
    """The latest Apify syncs, newest first: what the console's /imports shows."""
    return [view(state) for state in repository.newest(session, limit)]


def runs_with_states(
    database: Database, actor: str, *, limit: int = 50, apify: Apify | None = None
) -> list[tuple[RunInfo, ApifySyncState | None]]:
    """The actor's latest runs on Apify, each with our sync state of it (or None)."""
    try:
        runs = connect(apify).recent_runs(actor, limit=limit)
    except ApifyError as exc:
        raise _translated(exc) from exc
    with database.read_session() as session:
        states = repository.by_run_ids(session, [run.run_id for run in runs])
        for state in states.values():
            session.expunge(state)
    return [(run, states.get(run.run_id)) for run in runs]


def fetch_finished_run(run_id: str, *, apify: Apify | None = None) -> RunInfo:
    """A run that has ended (404 when Apify has no such run, 409 while it runs)."""
    try:
        info = connect(apify).run(run_id)
    except ApifyError as exc:
        raise _translated(exc) from exc
    _check_finished(info)
    return info


def _check_finished(info: RunInfo) -> None:
    if info.status not in TERMINAL_STATUSES:
        raise ConflictError(
            f"Apify run {info.run_id} is {info.status}: import it once it has finished"
        )
