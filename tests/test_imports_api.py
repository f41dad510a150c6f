"""POST /api/v1/imports: upload, the job, status and progress, rejects, revert."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadbase.db import Database
from tests.api_clients import api_settings, signed_in

EDITOR, VIEWER = "editor@example.com", "viewer@example.com"


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    database = Database(sqlite_url, api_settings(sqlite_url, mutation_rate_limit="1000/second"))
    client, headers = signed_in(database, {EDITOR: "editor", VIEWER: "viewer"})
    with client:
        yield client, headers
    database.dispose()


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Email Address", "Organisation", "Notes about them"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def upload(client: TestClient, headers: dict[str, str], body: bytes, **form: str) -> Any:
    return client.post(
        "/api/v1/imports",
        headers=headers,
        files={"file": ("contacts.csv", body, "text/csv")},
        data=form,
    )


def finished(client: TestClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/imports/{run_id}", headers=headers).json()["data"]
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"import {run_id} did not finish: {run}")


def test_upload_runs_as_a_job_and_reports(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    rows = [[f"Person {i}", f"p{i}@example.com", "Acme", "met at a fair"] for i in range(40)]
    rows.append(["Broken Row", "no-at-sign", "Acme", ""])
    answer = upload(client, headers[EDITOR], csv_bytes(rows))
    assert answer.status_code == 202, answer.text
    queued = answer.json()["data"]
    assert queued["status"] == "queued" and queued["job_id"]
    assert queued["mapping"]["Email Address"] == "email"

    run = finished(client, headers[VIEWER], queued["id"])
    assert run["status"] == "completed", run
    assert run["counts"]["created"] == 40 and run["counts"]["rejected"] == 1
    assert run["progress"] == 1.0 and run["rows_done"] == 41

    rejects = client.get(f"/api/v1/imports/{run['id']}/rejects", headers=headers[VIEWER])
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(rejects.text)))
    assert lines[0] == ["row", "reason", "data"] and lines[1][0] == "41"
    assert "no-at-sign" in lines[1][2]

    leads = client.get("/api/v1/leads", params={"q": "Person"}, headers=headers[VIEWER])
    assert len(leads.json()["data"]["items"]) == 40

    # The same file again: the earlier run, nothing new.
    again = upload(client, headers[EDITOR], csv_bytes(rows))
    assert again.status_code == 200 and again.json()["data"]["id"] == run["id"]

    listed = client.get("/api/v1/imports", headers=headers[VIEWER]).json()["data"]
    assert [item["id"] for item in listed["items"]] == [run["id"]]

    # Viewers read; only editors import and revert.
    assert upload(client, headers[VIEWER], csv_bytes(rows)).status_code == 403
    reverted = client.post(f"/api/v1/imports/{run['id']}/revert", headers=headers[EDITOR])
    assert reverted.status_code == 202, reverted.text
    run = finished(client, headers[VIEWER], run["id"])
    deadline = time.monotonic() + 30
    while run["status"] != "reverted" and time.monotonic() < deadline:
        time.sleep(0.05)
        run = client.get(f"/api/v1/imports/{run['id']}", headers=headers[VIEWER]).json()["data"]
    assert run["status"] == "reverted"
    leads = client.get("/api/v1/leads", params={"q": "Person"}, headers=headers[VIEWER])
    assert leads.json()["data"]["items"] == []


def test_bad_uploads_get_a_clear_422_and_nothing_runs(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    answer = upload(
        client, headers[EDITOR], csv_bytes([["A", "a@example.com", "", ""]]), mode="merge"
    )
    assert answer.status_code == 422 and "mode" in answer.json()["message"]
    answer = upload(
        client, headers[EDITOR], csv_bytes([["A", "a@example.com", "", ""]]), mapping="{not json"
    )
    assert answer.status_code == 422 and "mapping" in answer.json()["message"]
    nothing = b"colour,size\nred,2\n"
    answer = upload(client, headers[EDITOR], nothing)
    assert answer.status_code == 422 and "no column maps" in answer.json()["message"]
    assert client.get("/api/v1/imports", headers=headers[VIEWER]).json()["data"]["items"] == []
    assert (
        client.get(
            "/api/v1/imports/0190a0a0-0000-7000-8000-000000000000", headers=headers[VIEWER]
        ).status_code
        == 404
    )
