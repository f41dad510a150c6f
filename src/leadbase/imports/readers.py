"""Lead files as rows: CSV/TSV, JSON, NDJSON and XLSX, sniffed, then streamed.

``sniff`` finds what a file is (format, encoding, delimiter, headers) and
``read_rows`` streams it as ``(row_number, {header: value})``, memory flat
whatever the size: CSV through the csv module, XLSX through openpyxl's
read-only mode, JSON through the C decoder on a sliding buffer (no file is
read whole).

Messy files are the rule, not the exception:

- encoding: a BOM says it (UTF-8, UTF-16 as Excel's "Unicode text" saves);
  else strict UTF-8 if the whole file decodes; else cp1252 (Excel on
  Windows), or Latin-1 when a byte cp1252 leaves undefined shows up.
- delimiter: the one of ``, ; TAB |`` that splits the first rows into the
  same number (> 1) of cells; Excel's ``sep=;`` first line is honoured.
- headers: stripped, white space folded, an empty one named "Column N", a
  repeated one numbered: "Email", "Email (2)".
- rows: blank rows skipped (but counted, so a row number points at the
  record in the file); a row shorter than the header has None for the
  missing cells (exports trim trailing empty cells); a row longer than the
  header is accepted when the extra cells are empty (a trailing delimiter)
  and REJECTED otherwise, as an error row: extra values mostly mean a
  delimiter inside an unquoted value, which shifts every later cell, and
  importing shifted data is worse than asking for the row to be fixed.
- an error row is ``(row_number, {"__error__": reason, "__raw__": text})``:
  the import rejects that row and goes on. ``__raw__`` (the record as it
  was, for the rejects file) is an addition to the contract's shape.

Values: text stripped, empty -> None. XLSX cells become text as a CSV
would hold them: whole numbers "123" (phones, postcodes), dates
"YYYY-MM-DD" (a datetime at exactly midnight counts as a date: read-only
mode does not show the cell's format), other datetimes ISO, booleans
"TRUE"/"FALSE". JSON values are kept as they are (numbers stay numbers,
nested objects and lists stay nested); only top-level text is stripped.
CSV and XLSX rows hold every header; JSON rows hold the keys they have (an
object with no value, {} or all nulls, is a blank row).

JSON shapes: a top-level array of objects; an object holding one such array
(``{"leads": [...], "total": 2}``: the first member that is an array whose
first element is an object; the other members are ignored); or one object,
which is one row. A single lead object that holds a list of objects
(``{"name": ..., "jobs": [{...}]}``) reads as that list: such a file should
be an array of one object. NDJSON: one object per line; a line that is not
a JSON object is an error row, the rest goes on. Broken JSON syntax inside
an array cannot be skipped safely: it raises ``ReadError`` with the row
number it stopped at.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import re
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

ERROR = "__error__"
RAW = "__raw__"
FORMATS = ("csv", "tsv", "json", "ndjson", "xlsx")
DELIMITERS = (",", ";", "\t", "|")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
# Read in pieces this large (bytes, or characters for JSON): large enough
# that the per-piece cost vanishes, small enough to keep memory flat.
CHUNK = 1 << 20
# The delimiter is judged on the first records of this much text.
SAMPLE_CHARS = 64 * 1024
SAMPLE_RECORDS = 50
# JSON headers: the keys of the first records, in order of appearance. A key
# first seen later still reaches the lead's raw_data (or a field, when the
# mapping file names it).
SNIFF_RECORDS = 1000
# One JSON record larger than this means a broken file, not a lead.
MAX_JSON_RECORD = 16 * CHUNK
# Bytes cp1252 leaves undefined: a file holding one is Latin-1.
CP1252_HOLES = re.compile(b"[\x81\x8d\x8f\x90\x9d]")
SEP_LINE = re.compile(r"sep=(.)\r?\n?")
SEP_LINE_CHARS = 8
DUPLICATE_SUFFIX = " ({})"
NON_SPACE = re.compile(r"\S")
SPACES = re.compile(r"\s+")
# Floats beyond this are not exact integers: leave them in float notation.
EXACT_FLOAT = 2**53
JSON_DECODER = json.JSONDecoder()
EMPTY = object()

Rows = Generator[tuple[int, dict[str, Any]], None, None]


@dataclass(frozen=True)
class FileShape:
    """What was sniffed: shown by --show-mapping and kept with the import run."""

    format: str  # "csv" | "tsv" | "json" | "ndjson" | "xlsx"
    encoding: str | None  # None for XLSX
    delimiter: str | None  # CSV/TSV only
    headers: list[str]  # de-duplicated: "Email", "Email (2)"


class ReadError(Exception):
    """A file that cannot be read at all (or, in JSON, past a point)."""

    def __init__(self, message: str, row_number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row_number = row_number

    def __str__(self) -> str:
        if self.row_number is None:
            return self.message
        return f"row {self.row_number}: {self.message}"


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sniff(
    path: Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> FileShape:
    """The file's format, encoding, delimiter and headers. Given values are
    taken as they are (checked, not second-guessed)."""
    _check_readable(path)
    if format is not None and format not in FORMATS:
        raise ReadError(f"unknown format {format!r}: one of {', '.join(FORMATS)}")
    if delimiter is not None and len(delimiter) != 1:
        raise ReadError(f"a delimiter is one character, not {delimiter!r}")
    if format == "xlsx" or (format is None and _is_zip(path)):
        return FileShape("xlsx", None, None, _xlsx_headers(path))
    _refuse_binary(path)
    if encoding is None:
        encoding = detect_encoding(path)
    else:
        _check_encoding(encoding)
    try:
        return _sniff_text(path, format, encoding, delimiter)
    except UnicodeDecodeError as error:
        raise _not_encoded(encoding, error, None) from None


def _sniff_text(path: Path, format: str | None, encoding: str, delimiter: str | None) -> FileShape:
    if format is None:
        format = _text_format(path, encoding)
    if format in ("json", "ndjson"):
        return FileShape(format, encoding, None, _json_headers(path, encoding, format))
    if delimiter is None:
        delimiter = _sniff_delimiter(path, encoding, prefer_tab=format == "tsv")
    headers = _csv_headers(path, encoding, delimiter)
    return FileShape("tsv" if delimiter == "\t" else "csv", encoding, delimiter, headers)


def read_rows(path: Path, shape: FileShape, *, start_after: int = 0) -> Rows:
    """``(row_number, row)`` for every non-blank data row after ``start_after``.

    Row numbers are 1-based and count data records (blank ones included)
    after the header row; JSON arrays count elements, NDJSON counts lines.
    """
    _check_readable(path)
    if shape.format == "xlsx":
        return _xlsx_rows(path, shape.headers, start_after)
    encoding = shape.encoding or "utf-8"
    if shape.format == "json":
        return _json_rows(path, encoding, start_after)
    if shape.format == "ndjson":
        return _ndjson_rows(path, encoding, start_after)
    return _csv_rows(path, encoding, shape.delimiter or ",", shape.headers, start_after)


# --- what the file is ----------------------------------------------------------


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ReadError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise ReadError(f"{path.name} is empty")


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _refuse_binary(path: Path) -> None:
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ReadError(
            f"{path.name} is an old Excel (.xls) workbook: save it as .xlsx or CSV first"
        )


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ReadError(f"unknown encoding {encoding!r}") from None


def detect_encoding(path: Path) -> str:
    """BOM, else strict UTF-8 over the whole file, else cp1252 or Latin-1."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        # The whole file, not a sample: one accented name on row 900,000 of
        # an otherwise ASCII cp1252 file must not stop the import there.
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        f.seek(0)
        while chunk := f.read(CHUNK):
            if CP1252_HOLES.search(chunk):
                return "latin-1"
    return "cp1252"


def _text_format(path: Path, encoding: str) -> str:
    """JSON or NDJSON by the first character (whatever the extension says:
    .json files are often NDJSON), else CSV/TSV by the extension."""
    by_extension = EXTENSIONS.get(path.suffix.lower(), "csv")
    if by_extension == "xlsx":
        raise ReadError(f"{path.name} is not an XLSX workbook (no ZIP container)")
    with path.open(encoding=encoding, errors="replace") as f:
        # Lines read with a limit: a minified JSON file is one line of any size.
        first_line = ""
        while not first_line.strip():
            first_line = f.readline(MAX_JSON_RECORD)
            if not first_line:
                raise ReadError(f"{path.name} holds only blank lines")
        start = first_line.lstrip()[:1]
        if start == "[":
            return "json"
        if start == "{":
            second = f.readline(SAMPLE_CHARS)
            while second and not second.strip():
                second = f.readline(SAMPLE_CHARS)
            return "ndjson" if second and _is_json_object(first_line) else "json"
    if by_extension in ("json", "ndjson"):
        raise ReadError(f"{path.name} is not JSON: it starts with {first_line[:40]!r}")
    return by_extension


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


# --- CSV / TSV -----------------------------------------------------------------


def _open_csv(path: Path, encoding: str) -> IO[str]:
    """The file as text, past Excel's ``sep=;`` line if it has one."""
    f = path.open(encoding=encoding, newline="")
    if not SEP_LINE.fullmatch(f.readline(SEP_LINE_CHARS)):
        f.seek(0)
    return f


def _sep_line_delimiter(path: Path, encoding: str) -> str | None:
    with path.open(encoding=encoding, newline="") as f:
        match = SEP_LINE.fullmatch(f.readline(SEP_LINE_CHARS))
    return match.group(1) if match else None


def _sniff_delimiter(path: Path, encoding: str, *, prefer_tab: bool) -> str:
    """The delimiter that cuts the first records into the most rows of the
    header's width (> 1 cell); ties go to the comma (the tab for .tsv)."""
    declared = _sep_line_delimiter(path, encoding)
    if declared is not None:
        return declared
    with _open_csv(path, encoding) as f:
        sample = f.read(SAMPLE_CHARS)
        complete = not f.read(1)
    order = ("\t", *(d for d in DELIMITERS if d != "\t")) if prefer_tab else DELIMITERS
    best, best_score = order[0], (0, 0)
    for candidate in order:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=candidate) if any(r)]
        except csv.Error:
            continue
        if not complete and len(records) > 1:
            records = records[:-1]  # the sample may cut the last record short
        records = records[:SAMPLE_RECORDS]
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(len(r) == width for r in records), width)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _csv_headers(path: Path, encoding: str, delimiter: str) -> list[str]:
    with _open_csv(path, encoding) as f:
        try:
            for cells in csv.reader(f, delimiter=delimiter):
                if _has_value(cells):
                    return clean_headers(cells)
        except csv.Error as error:
            raise ReadError(f"cannot read the header row: {error}") from None
    raise ReadError(f"{path.name} has no header row")


def _has_value(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def clean_headers(cells: list[Any]) -> list[str]:
    """Stripped, white space folded, "Column N" for an empty one, and a
    repeated header numbered ("Email", "Email (2)") so every column has a
    name of its own."""
    headers: list[str] = []
    taken: set[str] = set()
    for position, cell in enumerate(cells, start=1):
        text = SPACES.sub(" ", str(cell).replace("\ufeff", "")).strip() if cell else ""
        name = text or f"Column {position}"
        if name in taken:
            n = 2
            while f"{name}{DUPLICATE_SUFFIX.format(n)}" in taken:
                n += 1
            name = f"{name}{DUPLICATE_SUFFIX.format(n)}"
        taken.add(name)
        headers.append(name)
    return headers


def _csv_rows(
    path: Path, encoding: str, delimiter: str, headers: list[str], start_after: int
) -> Rows:
    width = len(headers)
    with _open_csv(path, encoding) as f:
        reader = csv.reader(f, delimiter=delimiter)
        if not _skip_header(reader):
            return
        row_number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise _not_encoded(encoding, error, row_number) from None
            except csv.Error as error:
                row_number += 1
                if row_number > start_after:
                    yield row_number, {ERROR: f"cannot parse the row: {error}", RAW: ""}
                continue
            row_number += 1
            if row_number <= start_after:
                continue
            # The common case first, with as few objects made as can be:
            # this loop runs a million times in a large import.
            values = [cell.strip() or None for cell in cells]
            if values.count(None) == len(values):
                continue
            if len(values) == width:
                yield row_number, dict(zip(headers, values, strict=True))
            else:
                row = _cells_row(values, headers)
                yield row_number, row or _overflow(cells, headers, _csv_text(cells, delimiter))


def _not_encoded(encoding: str, error: UnicodeDecodeError, rows_read: int | None) -> ReadError:
    """A given encoding that the file breaks (a sniffed one was checked whole).
    Text is decoded ahead of the rows: the bad byte is at or after the row."""
    where = "" if rows_read is None else f" after row {rows_read}"
    return ReadError(
        f"the file is not {encoding} ({error.reason}){where}: give its encoding,"
        " or let it be sniffed"
    )


def _skip_header(reader: Iterator[list[str]]) -> bool:
    try:
        for cells in reader:
            if _has_value(cells):
                return True
    except csv.Error as error:
        raise ReadError(f"cannot read the header row: {error}") from None
    return False


def _csv_text(cells: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(cells)
    return out.getvalue()


def _cells_row(cells: list[Any], headers: list[str]) -> dict[str, Any] | None:
    """Cells as ``{header: value}``; None when values overflow the header."""
    width = len(headers)
    if len(cells) > width:
        if any(cell is not None and str(cell).strip() for cell in cells[width:]):
            return None
        cells = cells[:width]
    values = [cell.strip() or None if isinstance(cell, str) else cell for cell in cells]
    if len(values) < width:
        values.extend([None] * (width - len(values)))
    return dict(zip(headers, values, strict=True))


def _overflow(cells: list[Any], headers: list[str], raw: str) -> dict[str, Any]:
    return {
        ERROR: f"the row has {len(cells)} cells but the header has {len(headers)} columns"
        " (a delimiter inside an unquoted value?)",
        RAW: raw,
    }


# --- XLSX ----------------------------------------------------------------------


def _open_workbook(path: Path) -> Any:
    import openpyxl  # here: a CSV import need not load it

    try:
        with warnings.catch_warnings():
            # "Workbook contains no default style": noise about files from other tools.
            warnings.simplefilter("ignore", UserWarning)
            return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # zipfile, XML and KeyError from a broken workbook
        raise ReadError(f"cannot open {path.name} as an XLSX workbook: {error}") from None


def _sheet_rows(workbook: Any) -> Iterator[tuple[Any, ...]]:
    """The first sheet's rows as values, a missing row as an empty tuple."""
    sheet = workbook.worksheets[0]
    # Some writers record a wrong sheet size ("A1"); read-only mode would
    # trust it and cut every row to one cell.
    sheet.reset_dimensions()
    rows: Iterator[tuple[Any, ...]] = sheet.iter_rows(values_only=True)
    return rows


def _xlsx_headers(path: Path) -> list[str]:
    workbook = _open_workbook(path)
    try:
        for values in _sheet_rows(workbook):
            cells = [xlsx_value(v) for v in values]
            if any(cell is not None for cell in cells):
                return clean_headers(_trim(cells))
    finally:
        workbook.close()
    raise ReadError(f"{path.name}: the first sheet has no header row")


def _trim(cells: list[Any]) -> list[Any]:
    """Without trailing empty cells (formatted but empty columns)."""
    end = len(cells)
    while end and cells[end - 1] is None:
        end -= 1
    return cells[:end]


def _xlsx_rows(path: Path, headers: list[str], start_after: int) -> Rows:
    workbook = _open_workbook(path)
    try:
        yield from _xlsx_sheet_rows(workbook, headers, start_after)
    except ReadError:
        raise
    except Exception as error:  # a sheet broken past its first rows
        raise ReadError(f"cannot read {path.name}: {error!r}") from None
    finally:
        workbook.close()


def _xlsx_sheet_rows(workbook: Any, headers: list[str], start_after: int) -> Rows:
    rows = _sheet_rows(workbook)
    for values in rows:  # up to the header row
        if any(xlsx_value(v) is not None for v in values):
            break
    for row_number, values in enumerate(rows, start=1):
        if row_number <= start_after:
            continue
        cells = [xlsx_value(v) for v in values]
        if any(cell is not None for cell in cells):
            row = _cells_row(cells, headers)
            yield row_number, row or _overflow(cells, headers, _xlsx_text(cells))


def _xlsx_text(cells: list[Any]) -> str:
    return _csv_text(["" if cell is None else str(cell) for cell in cells], ",")


def xlsx_value(value: Any) -> Any:
    """A cell as the text a CSV export of it would hold (None when empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < EXACT_FLOAT:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip() or None


# --- JSON and NDJSON -------------------------------------------------------------


def _json_headers(path: Path, encoding: str, format: str) -> list[str]:
    rows = _json_rows(path, encoding, 0) if format == "json" else _ndjson_rows(path, encoding, 0)
    seen: dict[str, None] = {}
    count = 0
    try:
        for count, (_, row) in enumerate(rows, start=1):
            if ERROR not in row:
                seen.update(dict.fromkeys(row))
            if count >= SNIFF_RECORDS:
                break
    except ReadError:
        # Broken further on: read_rows stops there, after the good rows.
        if not count:
            raise
    finally:
        rows.close()
    return list(seen)


def _json_row(value: Any, raw: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        if raw is None:
            raw = json.dumps(value, default=str)
        return {ERROR: f"a JSON {type(value).__name__}, not an object", RAW: raw}
    return {key: (v.strip() or None) if isinstance(v, str) else v for key, v in value.items()}


def _blank(row: dict[str, Any]) -> bool:
    """An object with nothing in it ({} or only nulls): a blank row."""
    return all(value is None for value in row.values())


def _ndjson_rows(path: Path, encoding: str, start_after: int) -> Rows:
    with path.open(encoding=encoding) as f:
        for line_number, line in enumerate(_lines(f, encoding), start=1):
            if line_number <= start_after or not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as error:
                yield line_number, {ERROR: f"not valid JSON: {error}", RAW: line.rstrip("\r\n")}
                continue
            row = _json_row(value, line.rstrip("\r\n"))
            if not _blank(row):
                yield line_number, row


def _lines(f: IO[str], encoding: str) -> Iterator[str]:
    number = 0
    try:
        for number, line in enumerate(f, start=1):  # noqa: B007 (read in the handler)
            yield line
    except UnicodeDecodeError as error:
        raise _not_encoded(encoding, error, number) from None


def _json_rows(path: Path, encoding: str, start_after: int) -> Rows:
    with path.open(encoding=encoding) as f:
        stream = _JsonStream(f, encoding)
        if stream.peek() not in ("[", "{"):
            raise ReadError("the JSON holds neither an array nor an object")
        records = _json_records(stream)
        row_number = 0
        while True:
            try:
                value = next(records)
            except StopIteration:
                break
            except ReadError as error:
                # Past broken syntax nothing can be trusted: stop, saying where.
                error.row_number = row_number + 1
                raise
            row_number += 1
            if row_number > start_after:
                row = _json_row(value)
                if not _blank(row):
                    yield row_number, row
        if stream.peek():
            raise ReadError(f"unexpected text after the JSON value, at character {stream.where()}")


def _json_records(stream: _JsonStream) -> Iterator[Any]:
    if stream.peek() == "[":
        stream.pos += 1
        yield from stream.array_items()
    else:
        yield from _object_records(stream)


def _object_records(stream: _JsonStream) -> Iterator[Any]:
    """The records of the first member that is an array of objects, or the
    object itself as the one record."""
    stream.pos += 1
    members: dict[str, Any] = {}
    found = False
    for key in stream.object_keys():
        if found or stream.peek() != "[":
            members[key] = stream.value()
            continue
        stream.pos += 1
        items = stream.array_items()
        first = next(items, EMPTY)
        if isinstance(first, dict):
            found = True
            yield first
            yield from items
        else:
            members[key] = [] if first is EMPTY else [first, *items]
    if not found:
        yield members


class _JsonStream:
    """JSON values read one at a time from a text file: the C decoder
    (``raw_decode``) on a buffer refilled a piece at a time, so an array of
    a million objects never sits in memory."""

    def __init__(self, f: IO[str], encoding: str) -> None:
        self.f = f
        self.encoding = encoding
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the buffer's front
        self.eof = False

    def where(self) -> int:
        return self.consumed + self.pos

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.f.read(CHUNK)
        except UnicodeDecodeError as error:
            raise _not_encoded(self.encoding, error, None) from None
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            match = NON_SPACE.search(self.buf, self.pos)
            if match:
                self.pos = match.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self._fill():
                return ""

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = JSON_DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as error:
                # Most often the value runs on past the buffer: read on.
                if len(self.buf) - self.pos < MAX_JSON_RECORD and self._fill():
                    continue
                raise ReadError(
                    f"invalid JSON near character {self.consumed + error.pos}: {error.msg}"
                ) from None
            # A number (or true/false/null) at the buffer's end may go on.
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            self.pos = end
            return value

    def _separator(self, close: str, what: str) -> bool:
        """Past a "," (True: another item follows) or the closing bracket."""
        char = self.peek()
        if char == ",":
            self.pos += 1
            return True
        if char == close:
            self.pos += 1
            return False
        raise ReadError(
            f"invalid JSON at character {self.where()}: expected ',' or '{close}' {what}"
        )

    def array_items(self) -> Iterator[Any]:
        """The items of an array whose "[" was just read."""
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            if not self._separator("]", "in an array"):
                return

    def object_keys(self) -> Iterator[str]:
        """The keys of an object whose "{" was just read; the caller reads
        each member's value before asking for the next key."""
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str) or self.peek() != ":":
                raise ReadError(f"invalid JSON at character {self.where()}: expected a key")
            self.pos += 1
            yield key
            if not self._separator("}", "in an object"):
                return
