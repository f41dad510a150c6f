"""Console export: /leads/export downloads in Chromium (SQLite), and the same
over HTTP on every database."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from leadbase.leads import export
from tests import dbs
from tests.browser import ConsoleServer

CALC = "=cmd|' /C calc'!A0"
FILENAME = re.compile(r"leads-\d{8}-\d{4}\.(csv|xlsx)")


def _seed(console: ConsoleServer) -> dict[str, str]:
    """One lead at a time, so each is newer than the last: name -> id."""
    leads = [
        {"full_name": "Ada Lovelace", "country": "FR", "tags": ["vip"], "lead_score": 90},
        {"full_name": CALC, "country": "FR", "company_name": "@SUM(1+1)*cmd|' /C calc'!A0"},
        {"full_name": "Grace Hopper", "country": "US"},
        {"full_name": "Émile Zola", "country": "FR", "notes": "-2+3+cmd|' /C calc'!A0"},
    ]
    return {str(lead["full_name"]): console.add_leads([lead])[0] for lead in leads}


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


CLICK_LINK = """url => {
    const link = document.createElement('a');
    link.href = url;
    link.textContent = 'Export';
    document.body.append(link);
    link.click();
}"""

POST_FORM = """([ids, format]) => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/leads/export';
    const fields = [
        ['csrf_token', document.querySelector('meta[name=csrf-token]').content],
        ['format', format],
        ['columns', 'full_name,company_name,notes'],
        ...ids.map(id => ['ids', id]),
    ];
    for (const [name, value] of fields) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        form.append(input);
    }
    document.body.append(form);
    form.submit();
}"""


def test_a_viewer_downloads_a_filtered_list_and_a_selection(
    console: ConsoleServer, page: Any
) -> None:
    ids = _seed(console)
    console.sign_in(page, "viewer")
    page.goto(f"{console.url}/leads?country=FR")

    with page.expect_download() as started:
        page.evaluate(CLICK_LINK, "/leads/export?country=FR&format=csv")
    download = started.value
    assert FILENAME.fullmatch(download.suggested_filename)
    assert download.suggested_filename.endswith(".csv")
    header, *rows = _csv(Path(download.path()).read_bytes())
    assert header == [export.COLUMNS[c] for c in export.DEFAULT_COLUMNS]
    # The list's default order, newest first; France only; the formula defused.
    assert [row[0] for row in rows] == ["Émile Zola", "'" + CALC, "Ada Lovelace"]
    ada = rows[2]
    assert ada[header.index("Tags")] == "vip" and ada[header.index("Score")] == "90"

    with page.expect_download() as started:
        page.evaluate(POST_FORM, [[ids["Grace Hopper"], ids[CALC]], "xlsx"])
    download = started.value
    assert FILENAME.fullmatch(download.suggested_filename)
    assert download.suggested_filename.endswith(".xlsx")
    workbook = openpyxl.load_workbook(
        io.BytesIO(Path(download.path()).read_bytes()), read_only=True
    )
    cells = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    assert cells == [
        ["Name", "Company", "Notes"],
        ["Grace Hopper", None, None],
        ["'" + CALC, "'@SUM(1+1)*cmd|' /C calc'!A0", None],
    ]


def test_a_bad_export_link_shows_the_error_page_naming_it(
    console: ConsoleServer, page: Any
) -> None:
    console.sign_in(page, "editor")
    answer = page.goto(f"{console.url}/leads/export?columns=full_name,colour")
    assert answer.status == 422
    assert "colour" in page.get_by_role("alert").inner_text()
    answer = page.goto(f"{console.url}/leads/export?lead_status=sleeping")
    assert answer.status == 422
    assert "sleeping" in page.get_by_role("alert").inner_text()


@pytest.mark.parametrize("kind", dbs.KINDS)
def test_console_export_over_http(kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("_server_urls")(kind)
        dbs.empty_all_tables(url)
    console = ConsoleServer(url).start()
    try:
        ids = _seed(console)
        client = console.client("viewer")
        listed = client.get("/leads/export", params={"country": "FR", "q": "zola"})
        assert listed.status_code == 200, listed.text
        assert FILENAME.search(listed.headers["content-disposition"])
        assert [row[0] for row in _csv(listed.content)[1:]] == ["Émile Zola"]

        form = {
            "ids": [ids["Ada Lovelace"], ids["Émile Zola"], ids["Grace Hopper"]],
            "columns": "full_name,notes",
            "sort": "-created_at",
        }
        chosen = client.post("/leads/export", form)
        assert chosen.status_code == 200, chosen.text
        assert _csv(chosen.content) == [
            ["Name", "Notes"],
            ["Émile Zola", "'-2+3+cmd|' /C calc'!A0"],
            ["Grace Hopper", ""],
            ["Ada Lovelace", ""],
        ]

        forged = client.post("/leads/export", {**form, "csrf_token": "forged"})
        assert forged.status_code == 403
        nothing = client.post("/leads/export", {"format": "csv"})
        assert nothing.status_code == 422 and "select at least one lead" in nothing.text
        bad = client.get("/leads/export", params={"columns": "colour", "format": "csv"})
        assert bad.status_code == 422 and "colour" in bad.text
        bad_format = client.post("/leads/export", {**form, "format": "pdf"})
        assert bad_format.status_code == 422 and "pdf" in bad_format.text
        bad_sort = client.post("/leads/export", {**form, "sort": "email"})
        assert bad_sort.status_code == 422 and "email" in bad_sort.text
        deleted = client.post("/leads/export", {**form, "include_deleted": "yes"})
        assert deleted.status_code == 422 and "include_deleted" in deleted.text
        client.close()
        anonymous = console.client(None).get("/leads/export")
        assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    finally:
        console.stop()
