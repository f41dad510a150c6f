"""An import's rows read and validated in a second process (imports.pipeline).

The pipelined import must be the in-process import: the same leads, counts
and rejects, the same failure when the file breaks, nothing left running
when the parent stops reading or dies, and a resume after a kill -9.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase import audit
from leadbase.cli import app
from leadbase.db import Database
from leadbase.imports import pipeline
from leadbase.imports import service as imports_service
from leadbase.imports.readers import ReadError
from leadbase.models import ImportReject, ImportRun, LeadSource, SalesLead
from tests.test_import_cli import HEADERS, person, write_csv

runner = CliRunner()


@pytest.fixture
def url(env_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # where rejects files land
    return env_db_url


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every reader process started, and small files pipelined too."""
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child = real(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(pipeline.subprocess, "Popen", spy)
    monkeypatch.setattr(pipeline, "PIPELINE_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "_cores", lambda: 2)
    return started


def invoke(*args: str) -> str:
    result = runner.invoke(app, ["import", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def stored(url: str) -> dict[str, Any]:
    """What an import leaves: leads (without ids and times), sources, rejects."""
    database = Database(url)
    try:
        with database.read_session() as session:
            leads = sorted(
                (lead.email or "", lead.full_name, lead.phone, lead.title, lead.key_name)
                for lead in session.scalars(select(SalesLead))
            )
            rejects = sorted(
                (r.row_number, r.reason) for r in session.scalars(select(ImportReject))
            )
            sources = session.scalar(select(func.count()).select_from(LeadSource))
            assert audit.verify(session).ok
            return {"leads": leads, "rejects": rejects, "sources": sources}
    finally:
        database.dispose()


def messy_rows() -> list[list[str]]:
    rows = [person(i) for i in range(120)]
    rows[7][1] = "not-an-email"  # refused by validation
    rows[9] = ["", "", "Acme", "", "", "", "teal"]  # no name, email or phone: refused
    rows[30] = [*person(3)]  # the same person again: merged (unchanged)
    rows[4][3] = ""  # no title, which the same person's row 32 brings: merged
    rows[31] = [*person(4)]
    return rows


def test_pipelined_batches_are_the_in_process_batches(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    path = write_csv(tmp_path / "leads.csv", messy_rows())
    for keep_leads in (False, True):
        reading = _reading(path, batch_size=25, keep_leads=keep_leads)
        pipelined = list(pipeline.ready_batches(reading))
        assert pipelined == list(pipeline.ready_batches(reading, pipelined=False))
        assert [len(batch) for batch in pipelined] == [25, 25, 25, 25, 20]
        rows = [row for batch in pipelined for row in batch]
        assert all((row.lead is not None) == keep_leads for row in rows if row.number != 8)
        assert isinstance(rows[7].ready, str) and "email" in rows[7].ready
    assert len(children) == 2 and all(child.returncode == 0 for child in children)


def test_pipelined_import(
    url: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    path = write_csv(tmp_path / "leads.csv", messy_rows())
    out = invoke(str(path), "--batch-size", "25")
    assert len(children) == 1 and children[0].returncode == 0
    assert "116 created" in out and "1 merged" in out and "1 unchanged" in out
    assert "2 rejected" in out
    result = stored(url)
    assert len(result["leads"]) == 116 and result["sources"] == 117
    assert [number for number, _ in result["rejects"]] == [8, 10]
    assert "a lead needs at least one of" in result["rejects"][1][1]
    with (tmp_path / "leads.rejects.csv").open(encoding="utf-8") as f:
        assert [r["row"] for r in csv.DictReader(f)] == ["8", "10"]
    [run] = the_runs(url)
    assert run.status == "completed" and run.rows_done == 120


def test_counts_do_not_depend_on_the_batch_size(url: str, tmp_path: Path) -> None:
    # In one batch, the repeated person meets the lead an earlier row of the
    # same batch creates: it brings nothing new, so it is "unchanged" there
    # too, as it is when it meets the stored lead a batch later.
    path = write_csv(tmp_path / "leads.csv", messy_rows())
    out = invoke(str(path), "--batch-size", "1000")
    assert "116 created" in out and "1 merged" in out and "1 unchanged" in out
    assert stored(url)["sources"] == 117


def test_pipelined_upsert_and_dry_run(
    url: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    invoke(
        str(write_csv(tmp_path / "first.csv", [person(i) for i in range(10)])), "--batch-size", "4"
    )
    changed = [person(i) for i in range(5, 15)]
    for row in changed:
        row[3] = "VP Sales"
    titles = write_csv(tmp_path / "titles.csv", changed)
    dry = invoke(str(titles), "--mode", "upsert", "--dry-run", "--batch-size", "3")
    assert "5 created" in dry and "5 updated" in dry
    out = invoke(str(titles), "--mode", "upsert", "--batch-size", "3")
    assert "5 created" in out and "5 updated" in out
    assert len(children) == 3 and all(child.returncode == 0 for child in children)
    leads = stored(url)["leads"]
    assert len(leads) == 15 and {title for *_, title, _ in leads} == {
        "VP Sales",
        "Head of Sales",
        "Engineer",
    }
    assert sum(title == "VP Sales" for *_, title, _ in leads) == 10


def test_a_file_that_breaks_fails_the_run_as_in_one_process(
    url: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "leads.ndjson"
    lines = [f'{{"name": "Lead {i}", "email": "lead{i}@example.com"}}\n' for i in range(3000)]
    path.write_bytes("".join(lines).encode() + '{"name": "Zoë"}\n'.encode("cp1252"))
    plan = imports_service.plan(
        path, imports_service.ImportOptions(batch_size=500), encoding="utf-8"
    )
    reasons = []
    for pipelined in (True, False):
        database = Database(url)
        try:
            with database.unit_of_work() as uow:
                run_id = imports_service.begin(uow, plan, again=True).run.id
            with pytest.raises(ReadError, match="not utf-8") as raised:
                imports_service.run_import(database, run_id, plan, pipelined=pipelined)
            with database.read_session() as session:
                run = session.get(ImportRun, run_id)
                assert run is not None and run.status == "failed"
                # the batches read before the break are written
                reasons.append((str(raised.value), run.error, run.rows_done))
        finally:
            database.dispose()
    assert reasons[0] == reasons[1] and reasons[0][2] > 0
    assert len(children) == 1 and children[0].returncode == 0


def _reading(path: Path, batch_size: int = 100, *, keep_leads: bool = False) -> pipeline.Reading:
    plan = imports_service.plan(path, imports_service.ImportOptions(batch_size=batch_size))
    return pipeline.Reading(plan.path, plan.shape, plan.mapping, keep_leads, batch_size, after=0)


def test_a_reader_is_stopped_with_its_generator_and_a_dead_one_is_said(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(3000)])
    batches = pipeline.ready_batches(_reading(path))
    first = next(batches)  # made ready by the child, as every batch is
    assert [row.number for row in first] == list(range(1, 101))
    assert isinstance(first[0].ready, pipeline.leads_clean.Prepared)
    batches.close()  # the parent stops reading: the child is killed and reaped
    assert len(children) == 1 and children[0].returncode is not None

    batches = pipeline.ready_batches(_reading(path))
    next(batches)
    assert [row.number for row in next(batches)] == list(range(101, 201))
    batches.close()
    assert len(children) == 2 and children[1].returncode is not None

    batches = pipeline.ready_batches(_reading(path))
    next(batches)
    next(batches)
    children[2].kill()
    with pytest.raises(pipeline.ReaderDied, match="reader process ended"):
        for _ in batches:
            pass


def test_starting_after_written_rows_reads_the_rest(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(250)])
    reading = _reading(path, batch_size=30)
    resumed = pipeline.Reading(*list(vars(reading).values())[:-1], after=180)
    numbers = [row.number for batch in pipeline.ready_batches(resumed) for row in batch]
    assert numbers == list(range(181, 251))
    in_process = pipeline.ready_batches(resumed, pipelined=False)
    assert [row.number for batch in in_process for row in batch] == numbers
    assert len(children) == 1


def test_small_files_and_single_cores_stay_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(20)])
    assert not pipeline.worth_a_process(_reading(path))
    monkeypatch.setattr(pipeline, "PIPELINE_MIN_BYTES", 0)
    assert pipeline.worth_a_process(_reading(path))
    monkeypatch.setattr(pipeline, "_cores", lambda: 1)
    assert not pipeline.worth_a_process(_reading(path))


def test_a_file_within_one_batch_needs_no_child(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(20)])
    batches = list(pipeline.ready_batches(_reading(path, batch_size=20)))
    assert [len(batch) for batch in batches] == [20] and not children
    empty = write_csv(tmp_path / "empty.csv", [])
    assert list(pipeline.ready_batches(_reading(empty))) == [] and not children


def test_an_exception_that_cannot_travel_is_said_in_words() -> None:
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:  # pickling calls it with one argument
            super().__init__(f"{a}/{b}")

    sent = pipeline._picklable(Odd(1, 2))
    assert isinstance(sent, RuntimeError) and str(sent) == "Odd: 1/2"
    error = ReadError("cannot read", row_number=7)
    back = pickle.loads(pickle.dumps(pipeline._picklable(error)))
    assert isinstance(back, ReadError) and str(back) == "row 7: cannot read"


def test_fewer_collections_restores_the_collector() -> None:
    before = gc.get_threshold()
    with pipeline.fewer_collections():
        assert gc.get_threshold()[0] >= pipeline.IMPORT_GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def the_runs(url: str) -> list[ImportRun]:
    database = Database(url)
    try:
        with database.read_session() as session:
            return list(session.scalars(select(ImportRun).order_by(ImportRun.created_at)))
    finally:
        database.dispose()


# --- kill -9 of a pipelined import (a file past PIPELINE_MIN_BYTES) ----------------

BIG_ROWS = 13_000


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(p) for p in (task / "children").read_text().split())
    return found


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def _wait(condition: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def big_csv(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS)
        writer.writerows(person(i) for i in range(BIG_ROWS))
    assert path.stat().st_size >= pipeline.PIPELINE_MIN_BYTES
    yield path


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
# The pipeline is the same on every database: SQLite is enough.
@pytest.mark.parametrize("env_db_url", ["sqlite"], indirect=True)
def test_resume_after_kill_9_of_a_pipelined_import(
    env_db_url: str, big_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(big_csv.parent)
    env = {**os.environ, "LEADBASE_DATABASE_URL": env_db_url}
    command = [sys.executable, "-m", "leadbase", "import", str(big_csv), "--batch-size", "200"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        assert _wait(lambda: (runs := the_runs(env_db_url)) and runs[0].rows_done >= 400)
        [reader] = _children_of(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    # The reader's next write finds no one reading: it exits on its own.
    assert _wait(lambda: _gone(reader), 30)
    [killed] = the_runs(env_db_url)
    assert killed.status == "running" and 0 < killed.rows_done < BIG_ROWS

    invoke(str(big_csv))
    [run] = the_runs(env_db_url)
    assert run.status == "completed" and run.rows_done == BIG_ROWS
    assert sum(run.counts.values()) == BIG_ROWS
    database = Database(env_db_url)
    try:
        with database.read_session() as session:
            leads = session.scalar(select(func.count()).select_from(SalesLead))
            emails = session.scalar(select(func.count(func.distinct(SalesLead.email))))
            assert leads == emails == BIG_ROWS  # none doubled
            assert audit.verify(session).ok
    finally:
        database.dispose()


def test_without_a_child_process_the_rows_are_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(pipeline.subprocess, "Popen", refuse)
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(250)])
    batches = list(pipeline.ready_batches(_reading(path), pipelined=True))
    assert [row.number for batch in batches for row in batch] == list(range(1, 251))
    assert batches == list(pipeline.ready_batches(_reading(path), pipelined=False))


def _messages(data: bytes) -> list[tuple[str, Any]]:
    stream, found = io.BytesIO(data), []
    while stream.tell() < len(data):
        found.append(pickle.load(stream))
    return found


def test_the_child_sends_its_batches_then_the_end_or_what_stopped_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", [person(i) for i in range(250)])
    out = io.BytesIO()
    pipeline._serve(io.BytesIO(pickle.dumps(_reading(path))), out)
    sent = _messages(out.getvalue())
    assert [kind for kind, _ in sent] == ["batch", "batch", "batch", "end"]
    assert sent[:-1] == [
        ("batch", b) for b in pipeline.ready_batches(_reading(path), pipelined=False)
    ]

    reading = _reading(path)
    path.unlink()  # gone before the child reads it
    out = io.BytesIO()
    pipeline._serve(io.BytesIO(pickle.dumps(reading)), out)
    [(kind, error)] = _messages(out.getvalue())
    assert kind == "failed" and isinstance(error, Exception)


def test_a_repeat_that_brings_a_stored_lead_nothing_is_unchanged_in_any_batch(
    url: str, tmp_path: Path
) -> None:
    """Two rows of one batch meet a stored lead: the first gives it a phone,
    the second (the same phone) brings nothing: 1 merged, 1 unchanged, as
    when they come a batch apart."""
    first = [person(i) for i in range(5)]
    first[1][4] = first[3][4] = ""  # no phone yet
    invoke(str(write_csv(tmp_path / "first.csv", first)))
    before = stored(url)["sources"]
    again = [person(1), person(1)]
    out = invoke(str(write_csv(tmp_path / "again.csv", again)), "--batch-size", "1000")
    assert "0 created" in out and "1 merged" in out and "1 unchanged" in out
    assert stored(url)["sources"] == before + 1  # the row that brought the phone
    apart = write_csv(tmp_path / "apart.csv", [person(3), person(3)])
    out = invoke(str(apart), "--batch-size", "1")
    assert "0 created" in out and "1 merged" in out and "1 unchanged" in out
