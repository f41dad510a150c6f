"""File imports: plan, run in committed batches, resume, dry-run, revert.

A run streams its file through the one write path a batch at a time; each
batch commits with the run's ``rows_done``, its rejected rows and the
``lead_sources`` rows of the leads it touched, so a crash loses at most the
batch in flight and the same command resumes after the last committed row.
Every write of a run carries ``request_id = "import:<run id>"`` on the audit
chain: revert reads the run's own entries to know what to put back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal

from leadbase import audit, context
from leadbase.audit import repository as audit_repository
from leadbase.config import get_settings
from leadbase.db import Database, UnitOfWork
from leadbase.errors import (
    ConflictError,
    LeadbaseError,
    NotFoundError,
)
from leadbase.imports import repository
from leadbase.imports.mapping import Mapping, apply_mapping, guess_mapping, load_mapping
from leadbase.imports.pipeline import (
    Batch,
    Reading,
    ReadyRow,
    fewer_collections,
    ready_batches,
)
from leadbase.imports.readers import FileShape, ReadError, file_sha256, read_rows, sniff
from leadbase.jobs import service as jobs_service
from leadbase.leads import repository as leads_repository
from leadbase.leads import service as leads_service
from leadbase.leads.schemas import DuplicatePolicy
from leadbase.models import IMPORT_MODES, ImportRun, new_id, utcnow
from leadbase.models.imports import IMPORT_COUNTS

IMPORT_JOB = "import_file"
REVERT_JOB = "import_revert"
Mode = Literal["create", "upsert", "update"]
MATCH_FIELDS = ("email", "linkedin_url", "phone", "external_id", "id")
# Rows a transaction. Both processes hold about a batch while it moves (the
# reader builds one, the writer unpickles and writes one): at 5,000 the two
# peaked ~40 MB higher than at 2,500, which writes as fast (100k rows).
BATCH_SIZE = 2500
# A run another machine is working on counts as abandoned after this long
# without a committed batch (on this machine a dead process tells at once).
STALE_AFTER = timedelta(minutes=10)
Progress = Callable[[int, int | None], None]


class ImportFileError(LeadbaseError):
    """A file or an option that cannot be imported: said before anything is written."""

    status_code = 422
    code = "import_error"


@dataclass(frozen=True)
class ImportOptions:
    mode: Mode = "create"
    match_on: tuple[str, ...] = ("email",)
    on_duplicate: DuplicatePolicy = "merge"
    batch_size: int = BATCH_SIZE

    def __post_init__(self) -> None:
        if self.mode not in IMPORT_MODES:
            raise ImportFileError(f"mode {self.mode!r}: use one of {', '.join(IMPORT_MODES)}")
        unknown = [f for f in self.match_on if f not in MATCH_FIELDS]
        if unknown or not self.match_on:
            raise ImportFileError(
                f"match keys {', '.join(unknown) or '(none)'}: use {', '.join(MATCH_FIELDS)}"
            )
        if self.on_duplicate not in leads_service.POLICIES:
            raise ImportFileError(
                f"duplicate policy {self.on_duplicate!r}: use " + ", ".join(leads_service.POLICIES)
            )
        if not 1 <= self.batch_size <= 50_000:
            raise ImportFileError("batch size: 1 to 50,000 rows")

    @classmethod
    def given(
        cls, mode: str, match_on: str, on_duplicate: str, batch_size: int = BATCH_SIZE
    ) -> ImportOptions:
        """Options as a command line or a form gives them (``match_on``
        comma-separated), checked."""
        return cls(
            mode=mode,  # type: ignore[arg-type]  # checked in __post_init__
            match_on=tuple(k.strip() for k in match_on.split(",") if k.strip()),
            on_duplicate=on_duplicate,  # type: ignore[arg-type]
            batch_size=batch_size,
        )

    def to_json(self) -> dict[str, Any]:
        # The batch size changes how, not what: it stays out of the fingerprint.
        return {
            "mode": self.mode,
            "match_on": list(self.match_on),
            "on_duplicate": self.on_duplicate,
        }


@dataclass(frozen=True)
class Plan:
    """What an import of one file will do, before it writes anything."""

    path: Path
    shape: FileShape
    mapping: Mapping
    options: ImportOptions
    sha256: str
    size: int

    @property
    def fingerprint(self) -> str:
        facts = {
            "sha256": self.sha256,
            "mapping": self.mapping.to_json(),
            "options": self.options.to_json(),
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()

    def shape_json(self) -> dict[str, Any]:
        return {
            "format": self.shape.format,
            "encoding": self.shape.encoding,
            "delimiter": self.shape.delimiter,
        }


def plan(
    path: Path,
    options: ImportOptions | None = None,
    *,
    mapping_file: Path | None = None,
    mapping: dict[str, str | None] | None = None,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Plan:
    """Sniff the file and settle its mapping (guessed, or from a file)."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        shape = sniff(path, format=format, encoding=encoding, delimiter=delimiter)
        if mapping_file is not None:
            chosen = load_mapping(mapping_file, shape.headers)
        else:
            chosen = guess_mapping(shape.headers)
            if mapping:
                chosen = _overridden(chosen, mapping, shape.headers)
    except (ReadError, ValueError, OSError) as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    if not any(chosen.columns.values()):
        raise ImportFileError(
            f"{path.name}: no column maps to a lead field (headers: "
            f"{', '.join(shape.headers[:12])}); give --mapping"
        )
    return Plan(path, shape, chosen, options or ImportOptions(), file_sha256(path), _size(path))


def _size(path: Path) -> int:
    return path.stat().st_size


def _overridden(guessed: Mapping, given: dict[str, str | None], headers: Sequence[str]) -> Mapping:
    unknown = [h for h in given if h not in headers]
    if unknown:
        raise ValueError(f"mapping names columns the file lacks: {', '.join(unknown)}")
    return Mapping({**guessed.columns, **given})


def plan_for_run(run: ImportRun) -> Plan:
    """The plan a run was started with (to resume it or run it as a job)."""
    if not run.file_path or not Path(run.file_path).is_file():
        raise ImportFileError(f"import {run.id}: its file {run.file_path} is gone")
    stored = run.options
    options = ImportOptions(
        mode=stored["mode"],
        match_on=tuple(stored["match_on"]),
        on_duplicate=stored["on_duplicate"],
        batch_size=stored.get("batch_size", BATCH_SIZE),
    )
    path = Path(run.file_path)
    shape = sniff(
        path,
        format=stored["shape"]["format"],
        encoding=stored["shape"]["encoding"],
        delimiter=stored["shape"]["delimiter"],
    )
    found = file_sha256(path)
    if found != run.file_sha256:
        raise ImportFileError(f"import {run.id}: {path.name} changed since the run started")
    return Plan(path, shape, Mapping(dict(run.mapping)), options, found, _size(path))


def preview(plan: Plan, rows: int = 5) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The first rows as read and as the leads they would become."""
    shown: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for _, raw in read_rows(plan.path, plan.shape):
        if "__error__" in raw:
            continue
        shown.append((raw, apply_mapping(raw, plan.mapping)))
        if len(shown) == rows:
            break
    return shown


def estimate_rows(plan: Plan) -> int | None:
    """Data rows in a line-based file (a quoted newline counts twice: an
    estimate for the progress bar); None for JSON arrays and workbooks."""
    if plan.shape.format not in ("csv", "tsv", "ndjson"):
        return None
    lines = 0
    last = b"\n"
    with plan.path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"
    return max(lines - (plan.shape.format != "ndjson"), 0)


# --- starting, resuming ------------------------------------------------------------

Start = Literal["new", "resume", "done"]


@dataclass(frozen=True)
class Begun:
    run: ImportRun
    start: Start


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_gone(run: ImportRun) -> bool:
    """Whether a run marked running has lost the process working on it."""
    host, _, pid = (run.owner or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return utcnow() - run.updated_at > STALE_AFTER


def begin(
    uow: UnitOfWork,
    plan: Plan,
    *,
    file_name: str | None = None,
    again: bool = False,
    job_id: str | None = None,
    rows_total: int | None = None,
) -> Begun:
    """Record a run, or find the one this same import already made: a
    finished one is not repeated (unless ``again``), an abandoned one resumes."""
    session = uow.session
    earlier = repository.latest_by_fingerprint(session, plan.fingerprint)
    if earlier is not None and not again:
        if earlier.status == "completed":
            return Begun(earlier, "done")
        if earlier.status == "running" and not _owner_gone(earlier):
            raise ConflictError(
                f"{plan.path.name} is being imported right now (run {earlier.id}, "
                f"{earlier.rows_done:,} rows done)"
            )
        earlier.status, earlier.owner, earlier.error = "running", _owner(), None
        earlier.file_path = str(plan.path)
        return Begun(earlier, "resume")
    run = ImportRun(
        file_name=file_name or plan.path.name,
        file_path=str(plan.path),
        file_sha256=plan.sha256,
        file_size=plan.size,
        file_format=plan.shape.format,
        mapping=plan.mapping.columns,
        options={
            **plan.options.to_json(),
            "batch_size": plan.options.batch_size,
            "shape": plan.shape_json(),
        },
        fingerprint=plan.fingerprint,
        status="running" if job_id is None else "queued",
        rows_total=rows_total,
        rows_done=0,
        counts=dict.fromkeys(IMPORT_COUNTS, 0),
        owner=_owner() if job_id is None else None,
        job_id=job_id,
        actor=context.current().actor,
        started_at=utcnow(),
    )
    repository.add(session, run)
    return Begun(run, "new")


def claim(uow: UnitOfWork, run_id: str) -> ImportRun:
    """A worker takes a queued (or abandoned) run."""
    run = repository.get_for_update(uow.session, run_id)
    if run is None:
        raise NotFoundError(f"import {run_id} not found")
    if run.status == "running" and not _owner_gone(run):
        raise ConflictError(f"import {run_id} is running in another process")
    if run.status in ("completed", "reverted"):
        return run
    run.status, run.owner, run.error = "running", _owner(), None
    return run


def uploads_dir() -> Path:
    return get_settings().data_dir / "imports"


def save_upload(stream: BinaryIO, file_name: str) -> Path:
    """Keep an uploaded file under the data folder, where the job reads it
    (and a resumed run finds it again)."""
    name = Path(file_name or "upload").name.replace(os.sep, "_")[:200] or "upload"
    folder = uploads_dir() / new_id()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    with target.open("wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return target


def queue(uow: UnitOfWork, plan: Plan, file_name: str) -> Begun:
    """Start a run as a job (HTTP, console): answered at once with the run."""
    job_id = new_id()
    begun = begin(uow, plan, file_name=file_name, job_id=job_id, rows_total=estimate_rows(plan))
    if begun.start == "done":
        return begun
    run = begun.run
    run.status, run.job_id, run.owner = "queued", job_id, None
    jobs_service.enqueue(uow, IMPORT_JOB, {"run_id": run.id}, job_id=job_id)
    # Who started the import, from where (its lead writes name the run).
    audit.append(
        uow.session,
        "import_run",
        run.id,
        "import_requested",
        {"file_name": [None, run.file_name], "file_sha256": [None, run.file_sha256]},
    )
    return begun


def queue_revert(uow: UnitOfWork, run_id: str) -> str:
    run = get_run(uow.session, run_id)
    if run.status == "reverted":
        raise ConflictError(f"import {run_id} is already reverted")
    payload = {"run_id": run_id, "actor": context.current().actor}
    job_id = jobs_service.enqueue(uow, REVERT_JOB, payload)
    audit.append(uow.session, "import_run", run_id, "revert_requested", {"job_id": [None, job_id]})
    return job_id


# --- running ------------------------------------------------------------------------


def run_import(
    database: Database,
    run_id: str,
    plan: Plan,
    progress: Progress | None = None,
    *,
    pipelined: bool | None = None,
) -> ImportRun:
    """Write the run's remaining rows a batch at a time; mark it completed
    (or failed with the reason, resumable). ``pipelined``: read and validate
    the rows in a second process (None: when the file is big enough)."""
    with database.read_session() as session:
        run = repository.get(session, run_id)
        if run is None:
            raise NotFoundError(f"import {run_id} not found")
        done, total, actor = run.rows_done, run.rows_total, run.actor
    try:
        with context.acting_as(actor, request_id=f"import:{run_id}"), fewer_collections():
            for written, batch in enumerate(_batches(plan, done, pipelined), start=1):
                done = _commit_batch(database, run_id, plan, batch)
                del batch  # written: not held while the next one loads
                if written & (written - 1) == 0:  # batches 1, 2, 4, 8...: the table doubled
                    with database.unit_of_work() as uow:
                        repository.refresh_statistics(uow.session)
                if progress is not None:
                    progress(done, total)
    except Exception as exc:
        _finish(database, run_id, "failed", _reason(exc))
        raise
    return _finish(database, run_id, "completed", None)


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, LeadbaseError) else f"{type(exc).__name__}: {exc}"


def _batches(plan: Plan, after: int, pipelined: bool | None) -> Iterator[Batch]:
    """The rows after ``after``, mapped and validated, a batch at a time."""
    reading = Reading(
        plan.path,
        plan.shape,
        plan.mapping,
        keep_leads=plan.options.mode != "create",
        batch_size=plan.options.batch_size,
        after=after,
    )
    return ready_batches(reading, pipelined=pipelined)


def _commit_batch(database: Database, run_id: str, plan: Plan, batch: Batch) -> int:
    with database.unit_of_work() as uow:
        run = repository.get_for_update(uow.session, run_id)
        if run is None or run.status != "running":
            raise ConflictError(f"import {run_id} was stopped")
        leads_service.defer_scoring(uow)  # one job for the run, at its end
        outcome = write_batch(uow, plan, batch, batch_id=run_id, file_name=run.file_name)
        repository.insert_rejects(
            uow.session, [{"run_id": run_id, **reject} for reject in outcome.rejects]
        )
        counts = Counter(run.counts)
        counts.update(outcome.counts)
        run.counts = {name: counts[name] for name in IMPORT_COUNTS}
        run.rows_done = batch[-1].number
        return run.rows_done


def _finish(database: Database, run_id: str, status: str, error: str | None) -> ImportRun:
    with database.unit_of_work() as uow:
        run = repository.get_for_update(uow.session, run_id)
        if run is None:
            raise NotFoundError(f"import {run_id} not found")
        if run.status == "running":
            run.status, run.error, run.owner = status, error, None
            run.finished_at = utcnow()
            if run.rows_done:  # what a failed run wrote stays: score it too
                leads_service.queue_run_scoring(uow, run_id)
        uow.session.flush()
        uow.session.expunge(run)
    return run


# --- one batch ----------------------------------------------------------------------


@dataclass
class BatchOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row_number: int, reason: str, row: dict[str, Any]) -> None:
        self.counts["rejected"] += 1
        self.rejects.append({"row_number": row_number, "reason": reason, "row": _jsonable(row)})


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """The row as JSON would store it (an XLSX date becomes its text)."""
    stored: dict[str, Any] = json.loads(json.dumps(row, default=str))
    return stored


def write_batch(
    uow: UnitOfWork,
    plan: Plan,
    batch: Sequence[ReadyRow],
    *,
    batch_id: str,
    file_name: str,
) -> BatchOutcome:
    """Write one batch (mapped and validated: ``pipeline``) in the caller's
    unit of work; its refused rows are rejects."""
    outcome = BatchOutcome()
    rows: list[ReadyRow] = []
    for row in batch:
        if isinstance(row.ready, str):
            outcome.reject(row.number, row.ready, row.raw)
        else:
            rows.append(row)
    source = {"source_type": "import", "source_name": file_name[:255], "import_batch_id": batch_id}
    if plan.options.mode == "create":
        _create(uow, plan.options, rows, source, outcome)
    else:
        _update_or_upsert(uow, plan.options, rows, source, outcome)
    return outcome


def _sources(rows: Sequence[ReadyRow], source: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**source, "metadata": {"row": row.number}} for row in rows]


def _create(
    uow: UnitOfWork,
    options: ImportOptions,
    rows: Sequence[ReadyRow],
    source: dict[str, Any],
    outcome: BatchOutcome,
) -> None:
    if not rows:
        return
    results = leads_service.import_rows(
        uow,
        [row.ready for row in rows],  # type: ignore[misc]  # write_batch kept the prepared
        on_duplicate=options.on_duplicate,
        sources=_sources(rows, source),
    )
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, LeadbaseError):
            outcome.reject(row.number, result.message, row.raw)
        else:
            outcome.counts[result.outcome] += 1


def _update_or_upsert(
    uow: UnitOfWork,
    options: ImportOptions,
    rows: Sequence[ReadyRow],
    source: dict[str, Any],
    outcome: BatchOutcome,
) -> None:
    """Rows matching an existing lead on the chosen keys update it (empty
    cells leave its values alone); the others are created (upsert) or
    skipped (update)."""
    session = uow.session
    cleaned = [(row, _prepared(row).clean) for row in rows]
    found = {
        key: repository.ids_by_field(session, key, [c[key] for _, c in cleaned if c.get(key)])
        for key in options.match_on
    }
    unmatched: list[ReadyRow] = []
    for row, clean in cleaned:
        lead_id = next(
            (found[key][clean[key]] for key in options.match_on if clean.get(key) in found[key]),
            None,
        )
        if lead_id is None:
            if options.mode == "upsert":
                unmatched.append(row)
            else:
                outcome.counts["skipped"] += 1
            continue
        assert row.lead is not None  # kept for modes upsert and update
        _update_one(uow, lead_id, row.number, row.raw, row.lead, source, outcome)
    _create(uow, options, unmatched, source, outcome)


def _prepared(row: ReadyRow) -> leads_service.Prepared:
    assert not isinstance(row.ready, str)  # write_batch took the refused rows out
    return row.ready


def _update_one(
    uow: UnitOfWork,
    lead_id: str,
    number: int,
    raw: dict[str, Any],
    lead: dict[str, Any],
    source: dict[str, Any],
    outcome: BatchOutcome,
) -> None:
    session = uow.session
    given = {k: v for k, v in lead.items() if v is not None and k != "source"}
    mark = audit.queued(session)
    savepoint = session.begin_nested()
    try:
        before = leads_repository.get(session, lead_id)
        version = before.version if before is not None else None
        after = leads_service.update(uow, lead_id, given)
        savepoint.commit()
    except LeadbaseError as exc:
        savepoint.rollback()
        audit.unqueue(session, mark)
        outcome.reject(number, exc.message, raw)
        return
    outcome.counts["updated" if after.version != version else "unchanged"] += 1
    leads_service.record_sources(session, [(lead_id, {**source, "metadata": {"row": number}})])


# --- dry run ------------------------------------------------------------------------


def dry_run(
    database: Database,
    plan: Plan,
    progress: Progress | None = None,
    *,
    pipelined: bool | None = None,
) -> dict[str, int]:
    """Everything a run would do, in one transaction rolled back at the end:
    the counts are exact (later rows see earlier ones) and nothing stays."""
    counts: Counter[str] = Counter()
    total = estimate_rows(plan)
    with database.unit_of_work() as uow:
        leads_service.defer_scoring(uow)  # nothing stays: nothing to score
        with context.acting_as(request_id="import:dry-run"), fewer_collections():
            for batch in _batches(plan, 0, pipelined):
                counts.update(
                    write_batch(
                        uow, plan, batch, batch_id="dry-run", file_name=plan.path.name
                    ).counts
                )
                if progress is not None:
                    progress(batch[-1].number, total)
        # Undo it all here: the unit of work then commits an empty transaction.
        uow.session.rollback()
    return {name: counts[name] for name in IMPORT_COUNTS}


# --- revert -------------------------------------------------------------------------


@dataclass
class RevertReport:
    deleted: int = 0
    restored: int = 0
    kept: int = 0  # leads changed since the import: their newer values stay
    untouched: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


REVERT_BATCH = 500


def revert(database: Database, run_id: str, progress: Progress | None = None) -> RevertReport:
    """Undo a run: soft-delete the leads it created, put back the values it
    changed (a value edited since stays, counted as kept). Audited under
    ``request_id = "revert:<run id>"``; running it twice changes nothing more."""
    with database.read_session() as session:
        run = repository.get(session, run_id)
        if run is None:
            raise NotFoundError(f"import {run_id} not found")
        if run.status in ("running", "queued") and not _owner_gone(run):
            raise ConflictError(f"import {run_id} is still running; revert it when it ends")
        lead_ids = repository.lead_ids_touched(session, run_id)
    report = RevertReport()
    with context.acting_as(request_id=f"revert:{run_id}"):
        for start in range(0, len(lead_ids), REVERT_BATCH):
            with database.unit_of_work() as uow:
                for lead_id in lead_ids[start : start + REVERT_BATCH]:
                    _revert_lead(uow, run_id, lead_id, report)
            if progress is not None:
                progress(min(start + REVERT_BATCH, len(lead_ids)), len(lead_ids))
        with database.unit_of_work() as uow:
            run = repository.get_for_update(uow.session, run_id)
            assert run is not None
            run.status, run.reverted_at = "reverted", utcnow()
            run.reverted_by = context.current().actor
    return report


def _revert_lead(uow: UnitOfWork, run_id: str, lead_id: str, report: RevertReport) -> None:
    session = uow.session
    entries = [
        e
        for e in audit_repository.entries_for(session, "lead", lead_id)
        if e.request_id == f"import:{run_id}"
    ]
    lead = leads_repository.get(session, lead_id, include_deleted=True)
    if lead is None or not entries:
        report.untouched += 1
        return
    if any(e.action == "create" for e in entries):
        if lead.is_deleted or lead.merged_into_id:
            report.untouched += 1
            return
        leads_service.soft_delete(uow, lead_id)
        report.deleted += 1
        return
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for entry in entries:
        for name, (old, new) in json.loads(entry.changes).items():
            before.setdefault(name, old)
            after[name] = new
    current = {name: getattr(lead, name) for name in before}
    back = {name: before[name] for name in before if _same(current[name], after[name])}
    if len(back) < len(before):
        report.kept += 1
    if back and not lead.is_deleted and not lead.merged_into_id:
        leads_service.update(uow, lead_id, back, on_duplicate="review")
        report.restored += 1
    elif not back:
        report.untouched += 1


def _same(current: Any, imported: Any) -> bool:
    return json.dumps(current, default=str, sort_keys=True) == json.dumps(
        imported, default=str, sort_keys=True
    )


# --- reading ------------------------------------------------------------------------


def get_run(session: Any, run_id: str) -> ImportRun:
    run = repository.get(session, run_id)
    if run is None:
        raise NotFoundError(f"import {run_id} not found")
    return run
