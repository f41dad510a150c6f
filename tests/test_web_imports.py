"""The console's /imports over HTTP: the upload form and its refusals, the
mapping preview (sniffed shape, selects set to the guess, samples, the first
rows as leads), a changed mapping, start as a job, the run's page and its
progress JSON, the rejects download, revert, the same file again, cancel,
roles and CSRF, paging and the empty and error states. The browser flow is
in test_web_imports_browser.py."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from leadbase.imports import service as imports_service
from leadbase.models import ImportRun, SalesLead, utcnow
from leadbase.models.imports import IMPORT_COUNTS
from tests.browser import ConsoleServer, SignedInClient

HEADERS = ["Name", "Email Address", "Organisation", "Mobile", "Notes about them"]
ROWS = [
    ["Ada Lovelace", "ada@example.com", "Analytical Engines", "+44 20 7946 0958", "met at a fair"],
    ["Bad Row", "no-at-sign", "Acme", "", ""],
    ["Charles Babbage", "charles@example.com", "Difference Ltd", "", "inventor"],
]
OPTIONS = {"mode": "create", "match_on": "email", "on_duplicate": "merge"}


def csv_bytes(rows: list[list[str]] = ROWS, headers: list[str] = HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def server(console_factory: Callable[..., ConsoleServer]) -> ConsoleServer:
    """A console whose server runs the jobs (imports, reverts) itself."""
    return console_factory(jobs_in_server=True)


def upload(client: SignedInClient, body: bytes, name: str = "contacts.csv", **form: str) -> Any:
    data = {"csrf_token": client.csrf_token, **OPTIONS, **form}
    return client.http.post("/imports", data=data, files={"file": (name, body, "text/csv")})


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return found.group(1)


def selected(html: str) -> dict[str, str]:
    """Each mapping select's chosen value, by column index."""
    chosen: dict[str, str] = {}
    for index, body in re.findall(r'<select id="f-map-(\d+)"[^>]*>(.*?)</select>', html, re.S):
        value = re.search(r'<option value="([^"]*)" selected>', body)
        chosen[index] = value.group(1) if value else ""
    return chosen


def start_form(html: str, **changes: str) -> dict[str, str]:
    form = {
        "upload": hidden(html, "upload"),
        "file_name": hidden(html, "file_name"),
        **OPTIONS,
        **{f"map-{index}": value for index, value in selected(html).items()},
    }
    form.update(changes)
    return form


def finished(client: SignedInClient, run_id: str, *, until: tuple[str, ...] = ()) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = client.get(f"/imports/{run_id}/progress").json()
        if state["status"] not in ("queued", "running") and (not until or state["status"] in until):
            return state
        time.sleep(0.05)
    raise AssertionError(f"import {run_id} did not finish: {state}")


def run_id_of(location: str) -> str:
    found = re.match(r"^/imports/([0-9a-f-]{36})\?done=(\w+)$", location)
    assert found, location
    return found.group(1)


def test_upload_preview_start_follow_download_revert(server: ConsoleServer) -> None:
    editor, viewer = server.client("editor"), server.client("viewer")
    page = editor.get("/imports")
    assert page.status_code == 200
    assert '<a href="/imports" aria-current="page">Imports</a>' in page.text
    assert 'data-testid="upload-form"' in page.text and 'data-testid="no-imports"' in page.text
    assert 'id="h-apify"' in page.text  # the place the Apify syncs will be listed

    preview = upload(editor, csv_bytes())
    assert preview.status_code == 200, preview.text
    html = preview.text
    shape = re.search(r'data-testid="shape">(.*?)</dl>', html, re.S)
    assert shape and "CSV" in shape.group(1) and "utf-8" in shape.group(1)
    assert "Comma" in shape.group(1)
    # Each header's select starts at the guess; its values beside it.
    assert selected(html) == {
        "0": "full_name",
        "1": "email",
        "2": "company_name",
        "3": "phone",
        "4": "",
    }
    assert "Analytical Engines" in html and "+44 20 7946 0958" in html
    leads_table = re.search(r'data-testid="preview-leads">(.*?)</table>', html, re.S)
    assert leads_table and "ada@example.com" in leads_table.group(1)
    assert "Notes about them: met at a fair" in leads_table.group(1)  # raw data
    token = hidden(html, "upload")
    kept = imports_service.uploads_dir() / token
    assert kept.is_dir()

    # "Update preview" with the notes column sent to the lead's notes.
    again = editor.post(
        "/imports/start", start_form(html, **{"map-4": "notes", "action": "preview"})
    )
    assert again.status_code == 200
    assert selected(again.text)["4"] == "notes"
    assert "Changed (guessed: raw data)" in again.text
    leads_table = re.search(r'data-testid="preview-leads">(.*?)</table>', again.text, re.S)
    assert leads_table and '<th scope="col">Notes</th>' in leads_table.group(1)

    started = editor.post("/imports/start", start_form(again.text, action="start"))
    assert started.status_code == 303, started.text
    run_id = run_id_of(started.headers["location"])
    state = finished(viewer, run_id)
    assert state["status"] == "completed", state
    assert state["counts"]["created"] == 2 and state["counts"]["rejected"] == 1
    assert state["progress"] == 1.0

    with server.database.read_session() as session:
        run = session.get(ImportRun, run_id)
        assert run is not None and run.mapping["Notes about them"] == "notes"
        ada = session.query(SalesLead).filter_by(email="ada@example.com").one()
        assert ada.notes == "met at a fair" and ada.company_name == "Analytical Engines"

    page = viewer.get(started.headers["location"])
    assert page.status_code == 200
    assert "Import started." not in page.text  # it ended: the status says so
    assert "by editor@example.com" in page.text
    assert 'data-testid="rejects"' in page.text and "no-at-sign" not in page.text
    assert "Rejected rows (1)" in page.text and "email" in page.text
    assert re.search(r'href="/leads/[0-9a-f-]{36}">Ada Lovelace</a>', page.text)
    assert "Revert this import" not in page.text  # viewers only look
    assert "<noscript>" not in page.text  # finished: no refresh

    download = viewer.get(f"/imports/{run_id}/rejects")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(download.text)))
    assert lines[0] == ["row", "reason", *HEADERS, "other columns"]
    assert lines[1][0] == "2" and lines[1][3] == "no-at-sign" and "email" in lines[1][1]

    listing = viewer.get("/imports").text
    assert f'href="/imports/{run_id}">contacts.csv</a>' in listing
    assert "Completed" in listing and 'data-testid="upload-form"' not in listing
    assert 'data-testid="viewer-note"' in listing

    # The same file the same way again: that run, nothing new.
    same = upload(editor, csv_bytes())
    repeat = editor.post(
        "/imports/start", start_form(same.text, **{"map-4": "notes", "action": "start"})
    )
    assert repeat.headers["location"] == f"/imports/{run_id}?done=already"
    assert not (imports_service.uploads_dir() / hidden(same.text, "upload")).exists()

    # Revert: viewers cannot; an editor's goes through the job.
    assert viewer.post(f"/imports/{run_id}/revert").status_code == 403
    page = editor.get(f"/imports/{run_id}").text
    assert 'data-confirm="Revert this import?' in page
    reverted = editor.post(f"/imports/{run_id}/revert")
    assert reverted.headers["location"] == f"/imports/{run_id}?done=reverting"
    assert finished(viewer, run_id, until=("reverted",))["status"] == "reverted"
    page = editor.get(reverted.headers["location"]).text
    assert "Import reverted." in page and "Revert this import" not in page
    with server.database.read_session() as session:
        assert session.query(SalesLead).filter_by(email="ada@example.com").one().is_deleted


def test_refused_uploads_say_why_at_the_field(server: ConsoleServer) -> None:
    editor = server.client("editor")
    nothing = editor.http.post("/imports", data={"csrf_token": editor.csrf_token, **OPTIONS})
    assert nothing.status_code == 422
    assert 'data-testid="error-summary"' in nothing.text
    assert 'id="f-file-error"' in nothing.text and "Choose a file" in nothing.text

    bad = upload(editor, csv_bytes(), mode="merge", on_duplicate="maybe", match_on="colour")
    assert bad.status_code == 422
    for name in ("mode", "match_on", "on_duplicate"):
        assert f'id="f-{name}-error"' in bad.text, name
    assert not list(imports_service.uploads_dir().glob("*/*"))  # nothing kept

    update = upload(editor, csv_bytes(), mode="update", match_on="")
    assert update.status_code == 422 and "at least one field" in update.text

    # A file that cannot be read: said at the field, nothing kept.
    unreadable = upload(editor, b'{"leads": [{"email": ', name="broken.json")
    assert unreadable.status_code == 422, unreadable.text
    assert "broken.json cannot be read" in unreadable.text
    assert not list(imports_service.uploads_dir().glob("*/*"))


def test_a_mapping_that_cannot_import_is_refused_then_cancel_removes_the_upload(
    server: ConsoleServer,
) -> None:
    editor = server.client("editor")
    html = upload(editor, csv_bytes()).text
    twice = editor.post("/imports/start", start_form(html, **{"map-0": "email", "action": "start"}))
    assert twice.status_code == 422
    assert "“Email Address” already goes to Email" in twice.text or (
        "“Name” already goes to Email" in twice.text
    )
    assert 'class="imp-bad"' in twice.text

    nothing = {f"map-{i}": "" for i in range(len(HEADERS))}
    none_mapped = editor.post("/imports/start", start_form(html, **nothing, action="start"))
    assert none_mapped.status_code == 422
    assert "No column goes to a lead field" in none_mapped.text

    # A header nobody can guess is offered unmapped, to choose.
    odd = upload(editor, b"colour,size\nred,2\n", name="odd.csv")
    assert odd.status_code == 200 and selected(odd.text) == {"0": "", "1": ""}
    assert "No column goes to a lead field" in odd.text

    token = hidden(html, "upload")
    cancel = editor.post("/imports/start", {"upload": token, "action": "cancel"})
    assert cancel.headers["location"] == "/imports?done=cancelled"
    assert not (imports_service.uploads_dir() / token).exists()
    assert "Upload cancelled" in editor.get(cancel.headers["location"]).text
    gone = editor.post("/imports/start", {"upload": token, "action": "start"})
    assert gone.headers["location"] == "/imports?done=gone"
    bogus = editor.post("/imports/start", {"upload": "../../etc", "action": "start"})
    assert bogus.headers["location"] == "/imports?done=gone"
    with server.database.read_session() as session:
        assert session.query(ImportRun).count() == 0


def test_roles_and_csrf(server: ConsoleServer) -> None:
    viewer, editor = server.client("viewer"), server.client("editor")
    assert upload(viewer, csv_bytes()).status_code == 403
    forged = editor.http.post(
        "/imports", data=OPTIONS, files={"file": ("a.csv", csv_bytes(), "text/csv")}
    )
    assert forged.status_code == 403
    html = upload(editor, csv_bytes()).text
    assert viewer.post("/imports/start", start_form(html, action="start")).status_code == 403
    anonymous = server.client(None)
    assert anonymous.get("/imports").status_code == 303
    assert (
        anonymous.get("/imports/x/progress", headers={"Accept": "application/json"}).status_code
        == 401
    )


def test_queued_runs_refresh_and_unknown_runs_are_404(
    console_factory: Callable[..., ConsoleServer],
) -> None:
    server = console_factory()  # no job threads: the run waits in the queue
    editor = server.client("editor")
    html = upload(editor, csv_bytes()).text
    started = editor.post("/imports/start", start_form(html, action="start"))
    run_id = run_id_of(started.headers["location"])
    page = editor.get(started.headers["location"]).text
    assert "Import started." in page
    assert 'data-role="queued-hint"' in page and "Queued" in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "Revert this import" not in page
    state = editor.get(f"/imports/{run_id}/progress").json()
    assert state["status"] == "queued" and state["rows_total"] == 3
    assert 'status-queued">Queued' in editor.get("/imports").text

    missing = editor.get("/imports/0000-missing")
    assert missing.status_code == 404 and "not found" in missing.text
    assert editor.get("/imports/not%20an%20id").status_code == 404
    assert editor.get("/imports/0000-missing/rejects").status_code == 404


def test_runs_are_paged_newest_first(server: ConsoleServer) -> None:
    now = utcnow()
    with server.database.unit_of_work() as uow:
        for i in range(23):
            uow.session.add(
                ImportRun(
                    file_name=f"file-{i:02}.csv",
                    file_sha256="0" * 64,
                    file_size=10,
                    file_format="csv",
                    mapping={"Email": "email"},
                    options={"mode": "create", "match_on": ["email"], "on_duplicate": "merge"},
                    fingerprint=f"{i:064}",
                    status="completed",
                    rows_done=i,
                    counts=dict.fromkeys(IMPORT_COUNTS, 0),
                    actor="test:seed",
                    created_at=now - timedelta(minutes=30 - i),
                )
            )
    viewer = server.client("viewer")
    first = viewer.get("/imports").text
    names = re.findall(r">(file-\d\d\.csv)</a>", first)
    assert names == [f"file-{i:02}.csv" for i in range(22, 2, -1)]
    older = re.search(r'href="(/imports\?cursor=[^"]+)" rel="next"', first)
    assert older
    second = viewer.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r">(file-\d\d\.csv)</a>", second) == [
        "file-02.csv",
        "file-01.csv",
        "file-00.csv",
    ]
    assert 'rel="next"' not in second and ">Newest</a>" in second
