"""GET /api/v1/leads/export on SQLite, PostgreSQL and MariaDB: what a
spreadsheet user gets back, read with the csv module and openpyxl."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from leadbase import context
from leadbase.db import Database
from leadbase.leads import export
from leadbase.leads import service as leads_service
from tests.api_clients import api_settings, signed_in

Auth = dict[str, dict[str, str]]
CALC = "=cmd|' /C calc'!A0"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def api(db_url: str) -> Iterator[tuple[TestClient, Auth, Database]]:
    database = Database(db_url, api_settings(db_url))
    users = {"ed@example.com": "editor", "vi@example.com": "viewer"}
    client, by_email = signed_in(database, users)
    yield client, {role: by_email[email] for email, role in users.items()}, database
    database.dispose()


def _add(database: Database, rows: list[dict[str, Any]]) -> list[str]:
    with context.acting_as("test:seed"), database.unit_of_work() as uow:
        results = leads_service.bulk_create(uow, rows, on_duplicate="allow")
    return [result.lead_id for result in results]


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark, for Excel"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _sheet(body: bytes) -> list[list[Any]]:
    workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    rows = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    return rows


HOSTILE = [
    {"full_name": CALC, "company_name": "+cmd|' /C calc'!A0", "country": "FR"},
    {"full_name": "Zed Minus", "company_name": "-2+3+cmd|' /C calc'!A0", "country": "FR"},
    {"full_name": "Ann At", "notes": "@SUM(1+1)*cmd|' /C calc'!A0", "country": "FR"},
]


def _seed(database: Database) -> list[str]:
    return _add(
        database,
        [
            *HOSTILE,
            {
                "full_name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": "+14155550100",
                "country": "FR",
                "tags": ["vip", "=HYPERLINK(1)"],
                "lead_score": 90,
                "notes": 'Said "hi", then\nleft',
            },
            {"full_name": "Émile Zola", "country": "FR", "lead_score": 40},
            {"full_name": "Grace Hopper", "country": "US", "lead_score": 80},
            {"full_name": "Alan Turing", "country": "GB"},
        ],
    )


COLUMNS = "full_name,company_name,notes,phone,tags,lead_score,country,created_at"


def test_a_filtered_list_comes_back_as_csv_in_its_order_with_formulas_defused(
    api: tuple[TestClient, Auth, Database],
) -> None:
    client, auth, database = api
    _seed(database)
    answer = client.get(
        "/api/v1/leads/export",
        params={"country": "FR", "sort": "-lead_score", "columns": COLUMNS},
        headers=auth["viewer"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="leads-\d{8}-\d{4}\.csv"', answer.headers["content-disposition"]
    )
    header, *rows = _csv(answer.content)
    assert header == [
        "Name",
        "Company",
        "Notes",
        "Phone",
        "Tags",
        "Score",
        "Country",
        "Created (UTC)",
    ]
    by_name = {row[0]: row for row in rows}
    # Only France; highest score first, the unscored after them.
    assert [row[0] for row in rows[:2]] == ["Ada Lovelace", "Émile Zola"]
    assert set(by_name) == {"Ada Lovelace", "Émile Zola", "'" + CALC, "Zed Minus", "Ann At"}
    assert {row[6] for row in rows} == {"FR"}
    ada = by_name["Ada Lovelace"]
    # RFC 4180 quoting round-trips a comma, quotes and a line break; the
    # score stays a number, an E.164 phone is left as it is, tags are
    # joined (and only a cell's start can make a formula).
    assert ada[2] == 'Said "hi", then\nleft'
    assert ada[3:6] == ["+14155550100", "vip, =HYPERLINK(1)", "90"]
    assert ISO_UTC.match(ada[7])
    # Every cell that starts like a formula gets a leading apostrophe.
    assert by_name["'" + CALC][1] == "'+cmd|' /C calc'!A0"
    assert by_name["Zed Minus"][1] == "'-2+3+cmd|' /C calc'!A0"
    assert by_name["Ann At"][2] == "'@SUM(1+1)*cmd|' /C calc'!A0"

    searched = client.get("/api/v1/leads/export", params={"q": "lovelace"}, headers=auth["viewer"])
    assert [row[0] for row in _csv(searched.content)[1:]] == ["Ada Lovelace"]
    by_name = client.get(
        "/api/v1/leads/export",
        params={"sort": "full_name", "columns": "id"},
        headers=auth["viewer"],
    )
    assert [row[0] for row in _csv(by_name.content)[1:]] == _listed(client, auth, "full_name")


def _listed(client: TestClient, auth: Auth, sort: str, **filters: str) -> list[str]:
    """The ids GET /leads lists, in its order: the order an export keeps."""
    answer = client.get(
        "/api/v1/leads", params={"sort": sort, "limit": 500, **filters}, headers=auth["viewer"]
    )
    assert answer.json()["data"]["next_cursor"] is None
    return [item["id"] for item in answer.json()["data"]["items"]]


def test_the_same_export_as_xlsx(api: tuple[TestClient, Auth, Database]) -> None:
    client, auth, database = api
    _seed(database)
    answer = client.get(
        "/api/v1/leads/export",
        params={
            "format": "xlsx",
            "country": "FR",
            "sort": "full_name",
            "columns": "id," + COLUMNS + ",is_manual",
        },
        headers=auth["viewer"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == export.MEDIA_TYPES["xlsx"]
    assert answer.headers["content-disposition"].endswith('.xlsx"')
    header, *cells = _sheet(answer.content)
    assert header[:4] == ["Lead ID", "Name", "Company", "Notes"]
    assert [row[0] for row in cells] == _listed(client, auth, "full_name", country="FR")
    rows = {row[1]: row[1:] for row in cells}
    assert set(rows) == {"'" + CALC, "Ada Lovelace", "Ann At", "Zed Minus", "Émile Zola"}
    calc, ada, ann, zed = (rows[n] for n in ("'" + CALC, "Ada Lovelace", "Ann At", "Zed Minus"))
    assert calc[1] == "'+cmd|' /C calc'!A0" and zed[1] == "'-2+3+cmd|' /C calc'!A0"
    assert ann[2] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    # A number stays a number, a time a time (UTC).
    assert ada[3:6] == ["+14155550100", "vip, =HYPERLINK(1)", 90]
    assert ada[7].year >= 2026 and ada[8] is False


def test_a_selection_in_the_columns_asked_for(api: tuple[TestClient, Auth, Database]) -> None:
    client, auth, database = api
    ids = _seed(database)
    ada, zola, grace = ids[3], ids[4], ids[5]
    answer = client.get(
        "/api/v1/leads/export",
        params={
            "ids": f"{grace},{ada},no-such-lead",
            "columns": "lead_score,email,full_name,is_manual",
            "sort": "-lead_score",
        },
        headers=auth["editor"],
    )
    assert answer.status_code == 200, answer.text
    assert _csv(answer.content) == [
        ["Score", "Email", "Name", "Manual"],
        ["90", "ada@example.com", "Ada Lovelace", "false"],
        ["80", "", "Grace Hopper", "false"],
    ]
    repeated = client.get(
        "/api/v1/leads/export",
        params=[("ids", ada), ("ids", zola), ("columns", "full_name"), ("sort", "lead_score")],
        headers=auth["editor"],
    )
    # In the sort's order, not the order named: lowest score first.
    assert _csv(repeated.content)[1:] == [["Émile Zola"], ["Ada Lovelace"]]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def _refused(answer: Any, field: str) -> str:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["success"] is False and body["error"] == "validation_error"
    assert body["details"][0]["field"] in (field, f"query.{field}")
    message: str = body["message"]
    return message


def test_bad_requests_get_the_error_envelope_and_who_may_export(
    api: tuple[TestClient, Auth, Database],
) -> None:
    client, auth, database = api
    ids = _seed(database)
    url = "/api/v1/leads/export"
    viewer = auth["viewer"]
    assert "'colour'" in _refused(
        client.get(url, params={"columns": "full_name,colour"}, headers=viewer), "columns"
    )
    _refused(client.get(url, params={"format": "pdf"}, headers=viewer), "format")
    _refused(client.get(url, params={"sort": "email"}, headers=viewer), "sort")
    _refused(client.get(url, params={"ids": ids[0], "country": "FR"}, headers=viewer), "ids")
    # Short made-up ids: 10,001 real ones would not fit in a URL.
    too_many = ",".join(_base36(i) for i in range(export.MAX_SELECTION + 1))
    assert "10,000" in _refused(client.get(f"{url}?ids={too_many}", headers=viewer), "ids")
    _refused(client.get(url, params={"ids": "x" * 37}, headers=viewer), "ids")
    words = " ".join(f"w{i}" for i in range(10))
    _refused(client.get(url, params={"q": words}, headers=viewer), "q")

    nobody = client.get(url)
    assert nobody.status_code == 401 and nobody.json()["success"] is False
    assert client.get(url, headers={"Authorization": "Bearer junk"}).status_code == 401
    assert client.get(url, headers=viewer).status_code == 200


def test_an_export_reads_every_lead_in_order_across_its_pages(
    api: tuple[TestClient, Auth, Database], caplog: pytest.LogCaptureFixture
) -> None:
    """2,500 leads are three of the export's keyset pages (1,000 rows each):
    every lead comes back once, in the sort's order, also where a page ends
    among leads of the same score and where the scored leads give way to
    the unscored."""
    client, auth, database = api
    count = 2500
    assert export.PAGE_ROWS * 2 < count < export.PAGE_ROWS * 3
    scores = [None if i % 5 == 0 else i % 7 for i in range(count)]
    ids: list[str] = []
    for start in range(0, count, 1000):
        ids += _add(
            database,
            [
                {"full_name": f"Lead {i:04d}", "lead_score": scores[i]}
                for i in range(start, min(count, start + 1000))
            ],
        )
    caplog.set_level(logging.INFO, logger="leadbase.leads.export")
    answer = client.get(
        "/api/v1/leads/export",
        params={"sort": "-lead_score", "columns": "id,lead_score"},
        headers=auth["viewer"],
    )
    rows = _csv(answer.content)[1:]
    scored = sorted(
        ((score, lead_id) for lead_id, score in zip(ids, scores, strict=True) if score is not None),
        reverse=True,
    )
    unscored = sorted((lead_id for lead_id, s in zip(ids, scores, strict=True) if s is None))
    expected = [[lead_id, str(score)] for score, lead_id in scored]
    expected += [[lead_id, ""] for lead_id in reversed(unscored)]
    assert len(rows) == count
    assert rows == expected

    logged = [r.msg for r in caplog.records if r.name == "leadbase.leads.export"]
    assert len(logged) == 1
    line: Any = logged[0]
    assert line["event"] == "leads exported"
    assert (line["actor"], line["rows"], line["format"]) == ("user:vi@example.com", count, "csv")


def test_an_export_of_a_few_columns_keeps_every_lead_in_order_in_each_sort(
    api: tuple[TestClient, Auth, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export reads only the columns it writes (and the id and sort key
    its next page starts from), yet across pages of 4 rows every lead of
    the list comes back once, in the list's order, with its own values: by
    name (ties and unnamed leads), by score (ties and unscored leads), oldest
    first (leads created together), unfiltered, by a source of several
    spellings and with a tag too (SQLite's merged and windowed pages)."""
    monkeypatch.setattr(export, "PAGE_ROWS", 4)
    client, auth, database = api
    seeded = [
        {
            "full_name": f"Lead {i % 9}" if i % 6 else None,
            "email": f"lead{i}@example.com",
            "lead_score": [None, 5, 9, 5][i % 4],
            "source": ["apify", "Apify", "csv_import"][i % 3],
            "tags": ["vip"] if i % 2 else None,
        }
        for i in range(30)
    ]
    ids: list[str] = []
    for chunk in (seeded[:12], seeded[12:20], seeded[20:]):  # three moments of creation
        ids += _add(database, chunk)
    cells = {
        lead_id: [row["email"], "" if row["lead_score"] is None else str(row["lead_score"])]
        for lead_id, row in zip(ids, seeded, strict=True)
    }
    lists: list[dict[str, str]] = [{}, {"source": "apify"}, {"source": "apify", "tag": "vip"}]
    for sort in ("full_name", "-lead_score", "created_at"):
        for filters in lists:
            listed = _listed(client, auth, sort, **filters)
            assert len(listed) > 2 * export.PAGE_ROWS, filters
            answer = client.get(
                "/api/v1/leads/export",
                params={"sort": sort, "columns": "email,lead_score", **filters},
                headers=auth["viewer"],
            )
            assert answer.status_code == 200, answer.text
            header, *rows = _csv(answer.content)
            assert header == ["Email", "Score"]
            assert rows == [cells[lead_id] for lead_id in listed], (sort, filters)
    selection = client.get(
        "/api/v1/leads/export",
        params={"ids": ",".join(ids[:10]), "sort": "full_name", "columns": "email"},
        headers=auth["viewer"],
    )
    by_name = [i for i in _listed(client, auth, "full_name") if i in ids[:10]]
    assert _csv(selection.content)[1:] == [cells[lead_id][:1] for lead_id in by_name]


def test_cells_are_defused_but_numbers_are_not() -> None:
    assert export.neutralise("=1+1") == "'=1+1"
    assert export.neutralise("\tcmd") == "'\tcmd"
    assert export.neutralise("\r=cmd") == "'\r=cmd"
    assert export.neutralise("-5") == "-5" and export.neutralise("+33612345678") == "+33612345678"
    assert export.neutralise("-5+cmd") == "'-5+cmd"
    assert export.neutralise("Ada") == "Ada" and export.neutralise("") == ""
    assert export.parse_columns(" email , full_name,email") == ("email", "full_name")
    assert export.parse_columns(None) == export.DEFAULT_COLUMNS


def test_a_long_xlsx_export_goes_on_in_another_sheet(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past an XLSX sheet's 1,048,576 rows (here: 3, header included), the
    rows go on in sheet "Leads 2", under the header again."""
    monkeypatch.setattr(export, "XLSX_SHEET_ROWS", 3)
    database = Database(sqlite_url, api_settings(sqlite_url))
    try:
        _add(database, [{"full_name": f"Lead {i}"} for i in range(5)])
        wanted = export.Export(
            export.LeadSet(sort=export.Sort.parse("full_name")),
            columns=("full_name", "lead_score"),
            format="xlsx",
        )
        body = b"".join(export.start(database, wanted, "test:export"))
    finally:
        database.dispose()
    workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    sheets = {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in workbook.worksheets
    }
    workbook.close()
    header = ["Name", "Score"]
    assert sheets == {
        "Leads": [header, ["Lead 0", None], ["Lead 1", None]],
        "Leads 2": [header, ["Lead 2", None], ["Lead 3", None]],
        "Leads 3": [header, ["Lead 4", None]],
    }
