"""imports.readers on messy real-world files: encodings, delimiters, quoted
newlines, blank rows, duplicate headers, short and long rows, Excel cells,
JSON shapes, resume, and memory that stays flat."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from leadbase.imports import readers
from leadbase.imports.readers import ERROR, RAW, FileShape, ReadError, read_rows, sniff


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def rows(path: Path, **sniff_args: Any) -> list[tuple[int, dict[str, Any]]]:
    return list(read_rows(path, sniff(path, **sniff_args)))


# --- encodings --------------------------------------------------------------------


def test_cp1252_with_semicolons(tmp_path: Path) -> None:
    # Excel on a French Windows: semicolons, cp1252 (the euro sign is 0x80).
    path = write(tmp_path / "leads.csv", "Nom;Société;Prix\r\nJosé Müller;Café €;3,5\r\n", "cp1252")
    shape = sniff(path)
    assert shape == FileShape("csv", "cp1252", ";", ["Nom", "Société", "Prix"])
    assert list(read_rows(path, shape)) == [
        (1, {"Nom": "José Müller", "Société": "Café €", "Prix": "3,5"})
    ]


def test_latin1_when_a_byte_cp1252_leaves_undefined(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", b"name,note\nJos\xe9,a\x81b\n")
    assert sniff(path).encoding == "latin-1"
    assert rows(path)[0][1] == {"name": "José", "note": "a\x81b"}


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", "\ufeffEmail,Name\nzoë@example.com,Zoë\n")
    shape = sniff(path)
    assert shape.encoding == "utf-8-sig"
    assert shape.headers == ["Email", "Name"]  # no BOM glued to the first header
    assert rows(path) == [(1, {"Email": "zoë@example.com", "Name": "Zoë"})]


def test_utf16_tab_text_as_excel_saves_unicode_text(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.txt", "Name\tCity\r\nŁukasz\tKraków\r\n", "utf-16")
    shape = sniff(path)
    assert (shape.format, shape.encoding, shape.delimiter) == ("tsv", "utf-16", "\t")
    assert rows(path) == [(1, {"Name": "Łukasz", "City": "Kraków"})]


def test_the_whole_file_decides_the_encoding(tmp_path: Path) -> None:
    # UTF-8 for megabytes, then one cp1252 byte: not UTF-8.
    body = "name,city\n" + "Ann,Paris\n" * 150_000
    path = write(tmp_path / "leads.csv", body.encode() + "Zoë,Göteborg\n".encode("cp1252"))
    assert sniff(path).encoding == "cp1252"
    assert rows(path)[-1] == (150_001, {"name": "Zoë", "city": "Göteborg"})


# --- delimiters and CSV structure ---------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_sniffed(tmp_path: Path, delimiter: str) -> None:
    # Values hold the other delimiters, unquoted where the dialect allows.
    others = "".join(d for d in ",;|" if d != delimiter)
    lines = [delimiter.join(["Name", "Company", "Email"])]
    lines += [delimiter.join([f'"Doe{others} Jane"', f"Acme {i}", f"j{i}@x.io"]) for i in range(5)]
    path = write(tmp_path / "leads.csv", "\n".join(lines) + "\n")
    shape = sniff(path)
    assert shape.delimiter == delimiter
    assert shape.format == ("tsv" if delimiter == "\t" else "csv")
    assert rows(path)[0][1] == {
        "Name": f"Doe{others} Jane",
        "Company": "Acme 0",
        "Email": "j0@x.io",
    }


def test_delimiter_sniffed_when_rows_outgrow_the_sample(tmp_path: Path) -> None:
    notes = "word " * 20_000  # 100 KB: the sample holds the header and part of a row
    path = write(tmp_path / "leads.csv", f"Name;Notes\nAnn;{notes}\nBob;{notes}\n")
    assert sniff(path).delimiter == ";"


def test_excel_sep_line(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", "sep=|\nName|Email\nAnn|a@x.io\n")
    shape = sniff(path)
    assert (shape.delimiter, shape.headers) == ("|", ["Name", "Email"])
    assert rows(path) == [(1, {"Name": "Ann", "Email": "a@x.io"})]


def test_tsv_extension_prefers_tab_for_one_column(tmp_path: Path) -> None:
    assert sniff(write(tmp_path / "one.tsv", "Email\na@x.io\n")).delimiter == "\t"
    assert sniff(write(tmp_path / "one.csv", "Email\na@x.io\n")).delimiter == ","


def test_quoted_newlines_delimiters_and_quotes(tmp_path: Path) -> None:
    content = (
        'Name,Notes,Email\r\n"Doe, Jane","line one\r\nline two ""quoted""",jane@x.io\r\n'
        "Bob,plain,bob@x.io\r\n"
    )
    path = write(tmp_path / "leads.csv", content)
    assert rows(path) == [
        (1, {"Name": "Doe, Jane", "Notes": 'line one\r\nline two "quoted"', "Email": "jane@x.io"}),
        (2, {"Name": "Bob", "Notes": "plain", "Email": "bob@x.io"}),
    ]


def test_blank_rows_skipped_but_counted(tmp_path: Path) -> None:
    content = "\n\nName,Email\n\nAnn,a@x.io\n,\n  ,  \nBob,b@x.io\n\n"
    path = write(tmp_path / "leads.csv", content)
    assert sniff(path).headers == ["Name", "Email"]
    assert [n for n, _ in rows(path)] == [2, 5]  # row numbers point at the records


def test_headers_repeated_empty_and_spaced(tmp_path: Path) -> None:
    content = ' Email ,Email,,"Job\n Title",Email (2),Email\na,b,c,d,e,f\n'
    path = write(tmp_path / "leads.csv", content)
    headers = ["Email", "Email (2)", "Column 3", "Job Title", "Email (2) (2)", "Email (3)"]
    assert sniff(path).headers == headers
    assert rows(path) == [(1, dict(zip(headers, "abcdef", strict=True)))]


def test_values_stripped_and_empty_is_none(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", "a,b,c\n  x  ,\u00a0, \n")
    assert rows(path) == [(1, {"a": "x", "b": None, "c": None})]


def test_short_rows_padded_long_rows_with_values_rejected(tmp_path: Path) -> None:
    content = "Name,Email,Phone\nAnn\nBob,b@x.io,1,,\nDoe, Jane,j@x.io,2\n"
    path = write(tmp_path / "leads.csv", content)
    assert rows(path) == [
        (1, {"Name": "Ann", "Email": None, "Phone": None}),
        (2, {"Name": "Bob", "Email": "b@x.io", "Phone": "1"}),  # trailing empties: fine
        (
            3,
            {
                ERROR: "the row has 4 cells but the header has 3 columns"
                " (a delimiter inside an unquoted value?)",
                RAW: "Doe, Jane,j@x.io,2",
            },
        ),
    ]


def test_one_bad_row_in_1000(tmp_path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Email", "Company"])
    for i in range(1, 1001):
        writer.writerow([f"Lead {i}", f"l{i}@x.io", f"Co {i}"])
    lines = out.getvalue().splitlines(keepends=True)
    lines[500] = "Lead 500,l500@x.io,Acme, Inc.\r\n"  # data row 500
    path = write(tmp_path / "leads.csv", "".join(lines))
    got = rows(path)
    assert len(got) == 1000
    errors = [(n, row) for n, row in got if ERROR in row]
    assert errors == [(500, {ERROR: errors[0][1][ERROR], RAW: "Lead 500,l500@x.io,Acme, Inc."})]
    assert got[500] == (501, {"Name": "Lead 501", "Email": "l501@x.io", "Company": "Co 501"})


def test_a_row_the_csv_module_cannot_parse_is_an_error_row(tmp_path: Path) -> None:
    huge = "x" * 200_000  # over csv.field_size_limit()
    path = write(tmp_path / "leads.csv", f'a,b\n1,2\n3,"{huge}"\n4,5\n')
    got = rows(path)
    assert got[0] == (1, {"a": "1", "b": "2"})
    assert got[1][0] == 2 and "cannot parse the row" in got[1][1][ERROR]
    assert got[2] == (3, {"a": "4", "b": "5"})


def test_a_header_the_csv_module_cannot_parse(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", '"' + "x" * 200_000 + '"\n1\n')
    with pytest.raises(ReadError, match="cannot read the header row"):
        sniff(path)
    shape = FileShape("csv", "utf-8", ",", ["x"])
    with pytest.raises(ReadError, match="cannot read the header row"):
        list(read_rows(path, shape))


def test_start_after_skips_rows_and_keeps_numbers(tmp_path: Path) -> None:
    content = "n\n" + "".join(f"{i}\n" if i % 4 else "\n" for i in range(1, 21))
    path = write(tmp_path / "leads.csv", content)
    shape = sniff(path)
    everything = list(read_rows(path, shape))
    resumed = list(read_rows(path, shape, start_after=9))
    assert resumed == [(n, row) for n, row in everything if n > 9]
    assert resumed[0] == (10, {"n": "10"})
    assert list(read_rows(path, shape, start_after=100)) == []


def test_given_values_are_used(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.dat", "a;b\n1;2\n", "utf-16")
    shape = sniff(path, format="csv", encoding="utf-16", delimiter=";")
    assert shape == FileShape("csv", "utf-16", ";", ["a", "b"])
    forced = sniff(write(tmp_path / "x.csv", "a;b\n1;2\n"), delimiter=",")
    assert forced.headers == ["a;b"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("leads.csv", "name\n" + "Ann\n" * 50_000 + "Zoë\n"),
        ("leads.ndjson", '{"name": "Ann"}\n' * 5000 + '{"name": "Zoë"}\n'),
        ("leads.json", "[" + '{"name": "Ann"},' * 5000 + '{"name": "Zoë"}]'),
    ],
)
def test_a_wrong_given_encoding_stops_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str
) -> None:
    monkeypatch.setattr(readers, "CHUNK", 4096)
    monkeypatch.setattr(readers, "SNIFF_RECORDS", 10)
    path = write(tmp_path / name, content, "cp1252")
    shape = sniff(path, encoding="utf-8")  # the bad byte is past what sniff reads
    with pytest.raises(ReadError, match=r"the file is not utf-8 .*give its encoding"):
        list(read_rows(path, shape))
    assert len(rows(path)) == content.count("Ann") + 1  # sniffed: cp1252
    small = write(tmp_path / name, content.replace("Ann", "Zoë"), "cp1252")
    with pytest.raises(ReadError, match=r"the file is not utf-8 \(invalid continuation byte\)"):
        sniff(small, encoding="utf-8")


def test_xlsx_broken_past_its_header(tmp_path: Path) -> None:
    path = workbook(tmp_path / "good.xlsx", [["Name"], *[[f"Lead {i}"] for i in range(50)]])
    broken = tmp_path / "leads.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"Lead 40", b"Lead 40<").replace(b"</sheetData>", b"")
            target.writestr(item, data)
    shape = sniff(broken)
    with pytest.raises(ReadError, match=r"cannot read leads\.xlsx"):
        list(read_rows(broken, shape))


def test_file_sha256(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", b"a,b\n1,2\n" * 1000)
    assert readers.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("missing.csv", None, {}, "no such file"),
        ("empty.csv", b"", {}, "is empty"),
        ("blank.csv", b"\n\n  \n", {}, "only blank lines"),
        ("commas.csv", b",,\n,,\n", {}, "no header row"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", {}, "old Excel (.xls)"),
        ("fake.xlsx", b"Name\nAnn\n", {}, "not an XLSX workbook"),
        ("broken.xlsx", b"PK\x03\x04garbage", {}, "cannot open broken.xlsx"),
        ("text.json", b"Name,Email\n", {}, "is not JSON"),
        ("a.csv", b"a\n", {"format": "parquet"}, "unknown format"),
        ("a.csv", b"a\n", {"encoding": "klingon"}, "unknown encoding"),
        ("a.csv", b"a\n", {"delimiter": ";;"}, "one character"),
        ("scalar.json", b"42", {"format": "json"}, "neither an array nor an object"),
    ],
)
def test_files_that_cannot_be_read(
    tmp_path: Path, name: str, content: bytes | None, args: dict[str, Any], message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReadError, match=re.escape(message)) as caught:
        rows(path, **args)
    assert caught.value.row_number is None


# --- XLSX ---------------------------------------------------------------------------


def workbook(path: Path, sheet_rows: list[list[Any]], *, date_format: bool = True) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for r, values in enumerate(sheet_rows, start=1):
        for c, value in enumerate(values, start=1):
            if value is not None:
                cell = sheet.cell(row=r, column=c, value=value)
                if isinstance(value, dt.date) and date_format:
                    cell.number_format = "yyyy-mm-dd"
    book.create_sheet("Other").append(["not", "read"])
    book.save(path)
    return path


def test_xlsx_cells_read_as_a_csv_would_hold_them(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "leads.xlsx",
        [
            [],  # a blank row before the header
            ["Name", "Phone", "Zip", "Signed", "Met", "Score", "Active", "Name"],
            [" Ann ", 33612345678.0, 75001, dt.date(2024, 3, 5), dt.datetime(2024, 3, 5, 14, 30)],
            [],
            ["Bob", "+1 415", "02134", dt.datetime(2023, 12, 31), None, 4.5, True, "again"],
        ],
    )
    shape = sniff(path)
    headers = ["Name", "Phone", "Zip", "Signed", "Met", "Score", "Active", "Name (2)"]
    assert shape == FileShape("xlsx", None, None, headers)
    assert rows(path) == [
        (
            1,
            {
                "Name": "Ann",
                "Phone": "33612345678",
                "Zip": "75001",
                "Signed": "2024-03-05",
                "Met": "2024-03-05T14:30:00",
                "Score": None,
                "Active": None,
                "Name (2)": None,
            },
        ),
        (
            3,
            {
                "Name": "Bob",
                "Phone": "+1 415",
                "Zip": "02134",
                "Signed": "2023-12-31",
                "Met": None,
                "Score": "4.5",
                "Active": "TRUE",
                "Name (2)": "again",
            },
        ),
    ]
    assert [n for n, _ in read_rows(path, shape, start_after=1)] == [3]


def test_xlsx_long_row_and_formatted_empty_columns(tmp_path: Path) -> None:
    path = workbook(tmp_path / "leads.xlsx", [["Name", "Email"], ["Ann", "a@x.io", "extra"]])
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    sheet["F1"].number_format = "0.00"  # a styled but empty header cell
    book.save(path)
    assert sniff(path).headers == ["Name", "Email"]
    [(number, row)] = rows(path)
    assert number == 1 and "3 cells but the header has 2" in row[ERROR]
    assert row[RAW] == "Ann,a@x.io,extra"


def test_xlsx_with_a_wrong_recorded_size(tmp_path: Path) -> None:
    # Some writers record the sheet as "A1"; read-only mode would cut rows to one cell.
    path = workbook(tmp_path / "good.xlsx", [["Name", "Email"], ["Ann", "a@x.io"]])
    broken = tmp_path / "leads.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(rb'<dimension ref="[^"]+"', b'<dimension ref="A1"', data)
                assert count == 1
            target.writestr(item, data)
    assert rows(broken) == [(1, {"Name": "Ann", "Email": "a@x.io"})]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("  ", None),
        (7, "7"),
        (-0.0, "0"),
        (1e20, "1e+20"),
        (float("nan"), "nan"),
        (0.1, "0.1"),
        (False, "FALSE"),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 2, 29, 0, 0, 1), "2024-02-29T00:00:01"),
        (dt.time(9, 5), "09:05:00"),
        (dt.timedelta(hours=36), "1 day, 12:00:00"),
    ],
)
def test_xlsx_value(value: Any, text: str | None) -> None:
    assert readers.xlsx_value(value) == text


def test_xlsx_without_a_header(tmp_path: Path) -> None:
    path = workbook(tmp_path / "empty.xlsx", [[]])
    with pytest.raises(ReadError, match="no header row"):
        sniff(path)


# --- JSON and NDJSON ------------------------------------------------------------------


def test_json_array(tmp_path: Path) -> None:
    data = [
        {"name": " Ann ", "email": "", "phone": 33612345678, "tags": ["a", "b"]},
        {"name": "Bob", "company": {"name": "Acme", "size": 10}, "score": 4.5, "ok": True},
        "not an object",
    ]
    path = write(tmp_path / "leads.json", json.dumps(data, indent=2))
    shape = sniff(path)
    assert shape == FileShape(
        "json", "utf-8", None, ["name", "email", "phone", "tags", "company", "score", "ok"]
    )
    assert rows(path) == [
        (1, {"name": "Ann", "email": None, "phone": 33612345678, "tags": ["a", "b"]}),
        (2, {"name": "Bob", "company": {"name": "Acme", "size": 10}, "score": 4.5, "ok": True}),
        (3, {ERROR: "a JSON str, not an object", RAW: '"not an object"'}),
    ]


def test_json_object_holding_the_array(tmp_path: Path) -> None:
    document = {
        "exported": "2024-01-01",
        "filters": {"tags": ["x"]},
        "ids": [1, 2],
        "leads": [{"name": "Ann"}, {"name": "Bob"}],
        "total": 2,
        "more": [{"ignored": True}],
    }
    path = write(tmp_path / "export.json", json.dumps(document))
    assert sniff(path).headers == ["name"]
    assert rows(path) == [(1, {"name": "Ann"}), (2, {"name": "Bob"})]


def test_json_single_object(tmp_path: Path) -> None:
    lead = {"name": "Ann", "tags": ["a", "b"], "none": [], "nulls": [None, 1], "n": None}
    path = write(tmp_path / "lead.json", json.dumps(lead))
    assert rows(path) == [(1, lead)]
    assert rows(write(tmp_path / "empty.json", "[]")) == []
    assert rows(write(tmp_path / "blank.json", "{ }")) == []
    # Empty objects are blank rows: skipped, counted.
    path = write(tmp_path / "blanks.json", '[{}, {"a": null, "b": " "}, {"a": 1}]')
    assert rows(path) == [(3, {"a": 1})]


def test_json_broken_mid_array_stops_with_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.json", '[{"a": 1}, {"a": 2}, {"a": 3,, }, {"a": 4}]')
    shape = sniff(path)
    got: list[int] = []
    with pytest.raises(ReadError, match="invalid JSON") as caught:
        got.extend(n for n, _ in read_rows(path, shape))
    assert got == [1, 2]
    assert caught.value.row_number == 3
    assert str(caught.value).startswith("row 3: invalid JSON")
    for broken in ('[{"a": 1} {"a": 2}]', '{"a" 1}', '[{"a": 1}] trailing', '{"a": 1, 2: 3}'):
        with pytest.raises(ReadError, match="JSON"):
            rows(write(tmp_path / "broken.json", broken), format="json")


def test_json_streams_through_small_buffers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A buffer of 7 characters: values, strings, numbers and keys cut everywhere.
    monkeypatch.setattr(readers, "CHUNK", 7)
    data = [
        {"name": f"Lead {i} é", "n": i * 1001, "f": 1.25, "x": None, "l": [i, {"k": True}]}
        for i in range(50)
    ]
    for document in (data, {"meta": {"v": 12345}, "items": data, "end": 123456789}):
        path = write(tmp_path / "leads.json", json.dumps(document, ensure_ascii=False))
        assert [row for _, row in rows(path)] == data
    monkeypatch.setattr(readers, "MAX_JSON_RECORD", 70)
    with pytest.raises(ReadError, match="invalid JSON"):
        rows(write(tmp_path / "cut.json", '[{"a": "' + "x" * 500))


def test_ndjson_with_one_bad_line(tmp_path: Path) -> None:
    content = '{"name": "Ann"}\n\n{"name": "Bob", \n[1, 2]\n{"name": " Cy ", "n": 3}\n'
    path = write(tmp_path / "leads.ndjson", content)
    shape = sniff(path)
    assert shape == FileShape("ndjson", "utf-8", None, ["name", "n"])
    got = list(read_rows(path, shape))
    assert got[0] == (1, {"name": "Ann"})
    assert got[1][0] == 3 and got[1][1][ERROR].startswith("not valid JSON")
    assert got[1][1][RAW] == '{"name": "Bob", '
    assert got[2] == (4, {ERROR: "a JSON list, not an object", RAW: "[1, 2]"})
    assert got[3] == (5, {"name": "Cy", "n": 3})
    assert [n for n, _ in read_rows(path, shape, start_after=3)] == [4, 5]


def test_ndjson_named_json_and_jsonl(tmp_path: Path) -> None:
    content = '{"a": 1}\n{"a": 2}\n'
    assert sniff(write(tmp_path / "items.json", content)).format == "ndjson"
    assert sniff(write(tmp_path / "items.jsonl", content)).format == "ndjson"
    # One pretty-printed object over several lines is JSON, not NDJSON.
    assert sniff(write(tmp_path / "one.json", '{\n  "a": 1\n}\n')).format == "json"


def test_json_start_after(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.json", json.dumps([{"i": i} for i in range(1, 11)]))
    assert [row["i"] for _, row in read_rows(path, sniff(path), start_after=7)] == [8, 9, 10]


def test_json_headers_from_the_first_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "SNIFF_RECORDS", 2)
    path = write(tmp_path / "leads.json", json.dumps([{"a": 1}, {"b": 2, "a": 3}, {"c": 4}]))
    assert sniff(path).headers == ["a", "b"]


def test_json_in_cp1252_with_bom_and_latin(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.json", '[{"name": "Zoë"}]', "cp1252")
    assert sniff(path).encoding == "cp1252"
    assert rows(path) == [(1, {"name": "Zoë"})]
    path = write(tmp_path / "bom.json", '\ufeff[{"name": "Zoë"}]')
    assert rows(path) == [(1, {"name": "Zoë"})]


# --- volume -----------------------------------------------------------------------------


@pytest.mark.slow
def test_200k_rows_read_with_flat_memory(tmp_path: Path) -> None:
    # About 3 s: tracemalloc makes every allocation ten times dearer.
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("Name,Email,Phone\n")
        f.writelines(f"Ann {i},ann{i}@example.com,+3361234{i:04d}\n" for i in range(200_000))
    shape = sniff(path)
    tracemalloc.start()
    try:
        numbers = [0, 0]  # rows seen, last row number
        for number, _row in read_rows(path, shape):
            numbers = [numbers[0] + 1, number]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert numbers == [200_000, 200_000]
    assert path.stat().st_size > 8_000_000
    assert peak < 1_000_000, f"peak {peak:,} bytes"  # about 40 KB measured


def test_large_json_array_streams_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as f:
        f.write('{"leads": [')
        f.write(
            ",".join(
                json.dumps({"name": f"Lead {i}", "email": f"l{i}@x.io"}) for i in range(40_000)
            )
        )
        f.write("]}")
    shape = sniff(path)
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_rows(path, shape))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert peak < 8_000_000, f"peak {peak:,} bytes"
