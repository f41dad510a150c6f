"""An import's rows made ready to write, here or in a second process.

Before a row meets the database it is read, mapped to lead fields,
validated and normalised, and its match keys are derived: pure Python, and
about half an import's time. ``ready_batches`` can run that in a child
process (``python -m leadbase.imports.pipeline``) that reads the file
while this one writes, sending each batch over a pipe. The write path is
the same either way: ``leads.clean.prepare_row`` is ``import_rows``' own
validation, done ahead.

The pipe is the only buffer: the child blocks once about a batch waits
unread, so memory stays flat whatever the file's size. It stops when the
parent stops reading (the generator closed: the child is killed) or dies
(its next write fails on the broken pipe).
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, NamedTuple

from leadbase.config import get_settings
from leadbase.errors import ValidationError
from leadbase.imports.mapping import Mapping, apply_mapping
from leadbase.imports.readers import FileShape, read_rows
from leadbase.leads import clean as leads_clean

# A file smaller than this is imported in one process: a child's start
# (~0.5 s of imports) would cost more than it saves.
PIPELINE_MIN_BYTES = 1 << 20


class ReadyRow(NamedTuple):
    number: int
    raw: dict[str, Any]  # the row as read: what a reject keeps
    # The row as lead fields, kept only when an update needs it (modes
    # upsert and update: a matched row updates with what it gives).
    lead: dict[str, Any] | None
    ready: leads_clean.Prepared | str  # ready for import_rows, or why the row is refused


Batch = list[ReadyRow]


@dataclass(frozen=True)
class Reading:
    """What the reader needs of a plan (sent to the child, pickled)."""

    path: Path
    shape: FileShape
    mapping: Mapping
    keep_leads: bool
    batch_size: int
    after: int  # rows already written: read from the next one


def prepare(reading: Reading, batch: Sequence[tuple[int, dict[str, Any]]]) -> Batch:
    """Map and validate the rows of one batch."""
    ready: Batch = []
    for number, raw in batch:
        if "__error__" in raw:
            row = {k: v for k, v in raw.items() if k != "__error__"}
            ready.append(ReadyRow(number, row, None, str(raw["__error__"])))
            continue
        try:
            lead = apply_mapping(raw, reading.mapping)
        except (TypeError, ValueError) as exc:
            ready.append(ReadyRow(number, raw, None, str(exc)))
            continue
        lead.setdefault("source", "import")
        try:
            prepared: leads_clean.Prepared | str = leads_clean.prepare_row(lead)
        except ValidationError as exc:
            prepared = exc.message
        ready.append(ReadyRow(number, raw, lead if reading.keep_leads else None, prepared))
    return ready


def _read(reading: Reading) -> Iterator[Batch]:
    batch: list[tuple[int, dict[str, Any]]] = []
    for numbered in read_rows(reading.path, reading.shape, start_after=reading.after):
        batch.append(numbered)
        if len(batch) >= reading.batch_size:
            yield prepare(reading, batch)
            batch = []
    if batch:
        yield prepare(reading, batch)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def worth_a_process(reading: Reading) -> bool:
    """A second core to read on, and a file big enough to pay for the child."""
    return _cores() > 1 and reading.path.stat().st_size >= PIPELINE_MIN_BYTES


def ready_batches(reading: Reading, *, pipelined: bool | None = None) -> Iterator[Batch]:
    """The file's batches after ``reading.after``, ready to write: read in a
    child process (``pipelined``; None: when ``worth_a_process``) or here."""
    if pipelined is None:
        pipelined = worth_a_process(reading)
    if not pipelined or not _more_than_a_batch(reading):  # one batch: no child needed
        yield from _read(reading)
        return
    # The child makes every batch ready, the first too: were this process to
    # make one, it would keep what that loads for good (phone metadata, the
    # suffix list, name parsing: ~10 MB of its peak RSS) to save the child's
    # start, now a fraction of a second (it imports leads.clean, not the ORM).
    try:
        child = _start(reading)
    except OSError:  # no process to be had (limits, no interpreter path): read here
        yield from _read(reading)
        return
    yield from _from_child(child)


def _more_than_a_batch(reading: Reading) -> bool:
    rows = read_rows(reading.path, reading.shape, start_after=reading.after)
    try:
        return sum(1 for _ in islice(rows, reading.batch_size + 1)) > reading.batch_size
    finally:
        rows.close()


# Young objects between collections while an import runs (default 700): a
# batch allocates some hundred thousand, mostly freed by reference counts.
IMPORT_GC_THRESHOLD = 20_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Spare a long import the cyclic garbage collector's full passes.

    Every full collection walks every object the process holds (modules,
    ORM metadata, caches): at the default thresholds an import of 30k rows
    spent a third of its time there. The objects present at the start are
    frozen (no collection walks them) and young objects are collected less
    often; both are restored at the end. Process-wide, so a server running
    two imports at once only collects less often meanwhile.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], IMPORT_GC_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


# --- the child process ------------------------------------------------------------

_BATCH, _END, _FAILED = "batch", "end", "failed"


class ReaderDied(RuntimeError):
    """The child process ended without finishing the file or saying why."""


def _start(reading: Reading) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        # What clean_input reads from the settings: the parent's, however set.
        "LEADBASE_DEFAULT_PHONE_REGION": get_settings().default_phone_region,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "leadbase.imports.pipeline"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdin is not None
    try:
        pickle.dump(reading, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        child.stdin.close()
    except BaseException:
        _reap(child, exiting=False)
        raise
    return child


def _from_child(child: subprocess.Popen[bytes]) -> Iterator[Batch]:
    """The batches a started child sends; it is reaped however this ends."""
    assert child.stdout is not None
    said_all = False  # the child's last message read: it is exiting by itself
    try:
        while True:
            try:
                kind, payload = pickle.load(child.stdout)
            except (EOFError, pickle.UnpicklingError):
                code = child.wait()
                raise ReaderDied(f"the import's reader process ended (exit {code})") from None
            if kind == _BATCH:
                yield payload
                # Not held while the next batch loads: the caller may be done with it.
                del payload
                continue
            said_all = True
            if kind == _FAILED:
                raise payload
            return
    finally:
        _reap(child, said_all)


def _reap(child: subprocess.Popen[bytes], exiting: bool) -> None:
    """Wait for a child that is exiting; kill one still reading."""
    if child.stdout is not None:
        child.stdout.close()
    if exiting:
        try:
            child.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:  # pragma: no cover - a child stuck at exit
            pass
    child.kill()
    child.wait()


def _serve(source: IO[bytes], out: IO[bytes]) -> None:
    """The child's side: read the plan, send its batches, then the end or
    the exception that stopped them."""
    reading: Reading = pickle.load(source)
    try:
        with fewer_collections():
            for batch in _read(reading):
                pickle.dump((_BATCH, batch), out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
                del batch  # sent: not held while the next one is made ready
        message: tuple[str, Any] = (_END, None)
    except Exception as exc:  # the parent raises it, as the reader in-process would
        message = (_FAILED, _picklable(exc))
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def main() -> int:
    # The pipe is stdout: anything printed goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        _serve(sys.stdin.buffer, out)
        out.close()
    except BrokenPipeError:  # the parent stopped reading or died
        os._exit(1)  # nothing left to flush to a pipe no one reads
    return 0


if __name__ == "__main__":
    # Under its own name, so that what it pickles names this module, not __main__.
    from leadbase.imports import pipeline

    raise SystemExit(pipeline.main())
