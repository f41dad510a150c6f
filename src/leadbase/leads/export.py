"""Leads as a file: CSV or XLSX of a list (its filters, search and sort) or
of a selection of leads, streamed.

The rows come from the list's own keyset pages (``repository.filtered_page``,
or ``searched`` + ``page``: what GET /api/v1/leads and the console list run),
``PAGE_ROWS`` at a time, each page in a short read session of its own: memory
stays flat whatever the count, and a slow download holds no connection or
transaction between pages.

Cells are written for spreadsheets: a text cell that starts like a formula
(``= + - @``, tab, carriage return) gets a leading apostrophe (OWASP's advice
against CSV injection), so a lead named ``=cmd|' /C calc'!A0`` is text, never
a formula. Numbers of numeric columns (score, version) stay numbers, and so
does text that is only a signed number (an E.164 phone, +14155550100): as a
formula it could only evaluate to itself.
"""

from __future__ import annotations

import csv
import io
import operator
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Literal

import xlsxwriter
from sqlalchemy import RowMapping
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from leadbase import logs
from leadbase.db import Database
from leadbase.errors import ValidationError
from leadbase.leads import listing, repository
from leadbase.leads.repository import Position, Sort

log = logs.get_logger(__name__)

Format = Literal["csv", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMATS: tuple[Format, ...] = ("csv", "xlsx")

# Rows read per keyset page: large enough that the two queries of a page
# cost little per row, small enough to keep memory flat.
PAGE_ROWS = 1000
# A selection is named id by id; past this, export the filtered list instead.
MAX_SELECTION = 10_000
ID_LENGTH = 36
XLSX_CHUNK = 64 * 1024
# An XLSX sheet holds 1,048,576 rows; a longer export goes on in another sheet.
XLSX_SHEET_ROWS = 1_048_576

# Every column an export may have, in the order a "choose columns" menu
# lists them, with the header each gets. Raw JSON (raw_data, enrichment_data,
# score_explanation) is left to the API.
COLUMNS: dict[str, str] = {
    "id": "Lead ID",
    "full_name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "email_verified": "Email verified",
    "phone": "Phone",
    "phone_verified": "Phone verified",
    "additional_emails": "Other emails",
    "additional_phones": "Other phones",
    "title": "Title",
    "company_name": "Company",
    "company_domain": "Company domain",
    "company_id": "Company ID",
    "linkedin_url": "LinkedIn",
    "street": "Street",
    "address_line2": "Address line 2",
    "city": "City",
    "state": "State",
    "postal_code": "Postal code",
    "country": "Country",
    "industry": "Industry",
    "lead_status": "Status",
    "lead_score": "Score",
    "tags": "Tags",
    "notes": "Notes",
    "source": "Source",
    "provider_name": "Provider",
    "external_id": "External ID",
    "actor_id": "Apify actor",
    "run_id": "Apify run",
    "dataset_id": "Apify dataset",
    "is_manual": "Manual",
    "enrichment_status": "Enrichment",
    "verified": "Verified",
    "version": "Version",
    "created_at": "Created (UTC)",
    "updated_at": "Updated (UTC)",
    "created_by": "Created by",
    "updated_by": "Updated by",
    "is_deleted": "Deleted",
    "deleted_at": "Deleted (UTC)",
    "deleted_by": "Deleted by",
    "merged_into_id": "Merged into",
}
DEFAULT_COLUMNS: tuple[str, ...] = (
    "full_name",
    "email",
    "phone",
    "title",
    "company_name",
    "company_domain",
    "country",
    "city",
    "lead_status",
    "lead_score",
    "tags",
    "source",
    "enrichment_status",
    "created_at",
    "updated_at",
)
NUMBER_COLUMNS = frozenset({"lead_score", "version"})
BOOL_COLUMNS = frozenset(
    {"email_verified", "phone_verified", "is_manual", "verified", "is_deleted"}
)
TIME_COLUMNS = frozenset({"created_at", "updated_at", "deleted_at"})
LIST_COLUMNS = frozenset({"additional_emails", "additional_phones", "tags"})
MAX_COLUMNS = len(COLUMNS)


# --- what to export -------------------------------------------------------------------


@dataclass(frozen=True)
class LeadSet:
    """Which leads, in which order: a list's filters, search and sort, or
    (``ids``) a selection, in that sort too."""

    filters: dict[str, Any] = field(default_factory=dict)
    q: str | None = None
    tag: str | None = None
    include_deleted: bool = False
    sort: Sort = field(default_factory=lambda: Sort.parse("-created_at"))
    ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Export:
    leads: LeadSet
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    format: Format = "csv"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def filename(self, now: datetime | None = None) -> str:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return f"leads-{moment:%Y%m%d-%H%M}.{self.format}"

    @property
    def content_disposition(self) -> str:
        return f'attachment; filename="{self.filename()}"'


def _split(values: str | Iterable[str] | None) -> list[str]:
    """``a,b`` or repeated values (or both), trimmed, blanks dropped."""
    if values is None:
        return []
    given = [values] if isinstance(values, str) else list(values)
    return [part.strip() for value in given for part in value.split(",") if part.strip()]


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def parse_columns(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """The columns asked for, in order (the default set when none are).
    An unknown one is a ValidationError naming it."""
    names = _split(values)
    if not names:
        return DEFAULT_COLUMNS
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise ValidationError(
            "columns",
            f"unknown column {_quoted(unknown[0])}; columns are: {', '.join(COLUMNS)}",
        )
    return tuple(dict.fromkeys(names))


def parse_format(value: str | None) -> Format:
    if not value or value == "csv":
        return "csv"
    if value == "xlsx":
        return "xlsx"
    raise ValidationError("format", f"{_quoted(value)} is not a format: csv or xlsx")


def parse_ids(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """A selection's lead ids, each once, at most MAX_SELECTION of them."""
    ids = list(dict.fromkeys(_split(values)))
    if len(ids) > MAX_SELECTION:
        raise ValidationError(
            "ids",
            f"at most {MAX_SELECTION:,} selected leads; to export more, export the "
            "filtered list instead of a selection",
        )
    bad = next((lead_id for lead_id in ids if len(lead_id) > ID_LENGTH), None)
    if bad is not None:
        raise ValidationError("ids", f"{_quoted(bad)} is not a lead id")
    return tuple(ids)


# --- reading the leads, a keyset page at a time ---------------------------------------------


def _read_page(
    db: Database,
    leads: LeadSet,
    after: Position | None,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[RowMapping]:
    """A page of ``leads``: only ``columns`` of each (with the id and the
    sort's key, for the next page's position) when given, else all."""
    with db.read_session() as session:
        if leads.ids is not None:
            query = repository.filtered(
                {"id": list(leads.ids)}, include_deleted=leads.include_deleted
            )
            return repository.page(
                session, query, sort=leads.sort, after=after, limit=limit, columns=columns
            )
        wanted = listing.resolve(
            session,
            leads.filters,
            q=leads.q,
            tag=leads.tag,
            include_deleted=leads.include_deleted,
        )
        return listing.page(
            session, wanted, sort=leads.sort, after=after, limit=limit, columns=columns
        )


def pages(
    db: Database,
    leads: LeadSet,
    *,
    first: list[RowMapping] | None = None,
    columns: Sequence[str] | None = None,
) -> Iterator[list[RowMapping]]:
    """The leads in sort order, PAGE_ROWS at a time (``first``: the first
    page, already read), of only ``columns`` (and the id and sort key) when
    given."""
    if leads.ids == ():
        return
    rows = first if first is not None else _read_page(db, leads, None, PAGE_ROWS, columns)
    while rows:
        yield rows
        if len(rows) < PAGE_ROWS:
            return
        last = rows[-1]
        after = Position(last[leads.sort.key], last["id"])
        rows = _read_page(db, leads, after, PAGE_ROWS, columns)


# --- cells ----------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(_FORMULA_START)


def _is_signed_number(text: str) -> bool:
    """+14155550100, -5, +1.5: a sign and digits (an E.164 phone is one)."""
    digits = text[1:].replace(".", "", 1)
    return text[0] in "+-" and digits.isascii() and digits.isdigit()


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it: an apostrophe
    before anything that starts like a formula."""
    if text.startswith(_FORMULA_START) and not _is_signed_number(text):
        return "'" + text
    return text


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC, to the second: 2026-12-02T06:45:01Z."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is C; strftime costs three times as much a cell.
    return value.isoformat(timespec="seconds")[:19] + "Z"


def _text_cell(value: Any) -> str:
    if value is None:
        return ""
    return neutralise(value if isinstance(value, str) else str(value))


def _list_cell(value: Any) -> str:
    return neutralise(", ".join(str(item) for item in value)) if value else ""


def _bool_cell(value: Any) -> str:
    return "" if value is None else ("true" if value else "false")


def _time_cell(value: Any) -> str:
    return "" if value is None else iso_utc(value)


def _special_cell(column: str) -> Callable[[Any], str] | None:
    """How a CSV cell of ``column`` is written; None: as it is, but for the
    formula check of text (the csv module writes None as "" and an int as
    its digits)."""
    if column in BOOL_COLUMNS:
        return _bool_cell
    if column in TIME_COLUMNS:
        return _time_cell
    if column in LIST_COLUMNS:
        return _list_cell
    return None


def headers(columns: Sequence[str]) -> list[str]:
    return [COLUMNS[column] for column in columns]


def _values(columns: Sequence[str]) -> Callable[[RowMapping], tuple[Any, ...]]:
    if len(columns) == 1:
        only = columns[0]
        return lambda row: (row[only],)
    getter: Callable[[RowMapping], tuple[Any, ...]] = operator.itemgetter(*columns)
    return getter


def csv_rows(columns: Sequence[str], rows: Iterable[RowMapping]) -> list[list[Any]]:
    """The rows' cells as the csv module is to write them. The cost of an
    export is mostly here, so text cells take a fast path: only those that
    start with a formula character are looked at again."""
    values_of = _values(columns)
    text = [i for i, c in enumerate(columns) if c not in NUMBER_COLUMNS and not _special_cell(c)]
    special = [(i, f) for i, c in enumerate(columns) if (f := _special_cell(c)) is not None]
    first = _FORMULA_FIRST
    out = []
    for row in rows:
        values = list(values_of(row))
        for i in text:
            value = values[i]
            if value and value[0] in first:
                values[i] = neutralise(value)
        for i, convert in special:
            values[i] = convert(values[i])
        out.append(values)
    return out


# --- CSV --------------------------------------------------------------------------------------

BOM = "\ufeff"


def csv_chunks(columns: Sequence[str], row_pages: Iterable[list[RowMapping]]) -> Iterator[bytes]:
    """UTF-8 with a byte order mark (Excel then reads it as UTF-8), RFC 4180:
    CRLF line ends, fields quoted when they hold a comma, quote or line
    break. One chunk for the header, then one a page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(headers(columns))
    yield buffer.getvalue().encode("utf-8")
    for rows in row_pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_rows(columns, rows))
        yield buffer.getvalue().encode("utf-8")


# --- XLSX -------------------------------------------------------------------------------------

Writer = Callable[[Any, int, int, Any], None]


class _Sheets:
    """Worksheets of one workbook written row by row (constant_memory: each
    row goes to a temporary file as it is written), a new sheet when one is
    full."""

    def __init__(self, workbook: Any, columns: Sequence[str]) -> None:
        self.workbook = workbook
        self.columns = columns
        self.header = workbook.add_format({"bold": True})
        self.time = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.writers = [self._writer(column) for column in columns]
        self.sheet: Any = None
        self.row = XLSX_SHEET_ROWS
        self.sheets = 0

    def _writer(self, column: str) -> Writer:
        if column in NUMBER_COLUMNS:
            return lambda sheet, r, c, v: sheet.write_number(r, c, v)
        if column in BOOL_COLUMNS:
            return lambda sheet, r, c, v: sheet.write_boolean(r, c, bool(v))
        if column in TIME_COLUMNS:
            time_format = self.time
            return lambda sheet, r, c, v: sheet.write_datetime(
                r, c, v.astimezone(UTC).replace(tzinfo=None), time_format
            )
        convert = _list_cell if column in LIST_COLUMNS else _text_cell
        # write_string: a cell is text even when it looks like a formula.
        return lambda sheet, r, c, v: sheet.write_string(r, c, convert(v))

    def next_sheet(self) -> None:
        self.sheets += 1
        self.sheet = self.workbook.add_worksheet(
            "Leads" if self.sheets == 1 else f"Leads {self.sheets}"
        )
        self.sheet.freeze_panes(1, 0)
        for index, label in enumerate(headers(self.columns)):
            self.sheet.write_string(0, index, label, self.header)
        self.row = 1

    def add(self, row: RowMapping) -> None:
        if self.row >= XLSX_SHEET_ROWS:
            self.next_sheet()
        for index, (column, write) in enumerate(zip(self.columns, self.writers, strict=True)):
            value = row[column]
            if value is not None and value != "" and value != []:
                write(self.sheet, self.row, index, value)
        self.row += 1


def xlsx_chunks(columns: Sequence[str], row_pages: Iterable[list[RowMapping]]) -> Iterator[bytes]:
    """The workbook is built in an anonymous temporary file (gone when
    closed, whatever happens), then sent in chunks: a ZIP's directory comes
    at its end, so nothing can be sent before the last row is written."""
    with tempfile.TemporaryFile() as file:
        _write_workbook(file, columns, row_pages)
        file.seek(0)
        while chunk := file.read(XLSX_CHUNK):
            yield chunk


def _write_workbook(
    file: IO[bytes], columns: Sequence[str], row_pages: Iterable[list[RowMapping]]
) -> None:
    workbook = xlsxwriter.Workbook(
        file,
        {
            "constant_memory": True,
            # Text stays text: no formulas, numbers or links made from it.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    try:
        sheets = _Sheets(workbook, columns)
        sheets.next_sheet()
        for rows in row_pages:
            for row in rows:
                sheets.add(row)
    finally:
        workbook.close()


# --- the whole export ---------------------------------------------------------------------------


async def response(db: Database, export: Export, actor: str) -> StreamingResponse:
    """The file as a download. The first page is read before anything is
    sent, so a bad search still gets its 422."""
    chunks = await run_in_threadpool(start, db, export, actor)
    return StreamingResponse(
        chunks,
        media_type=export.media_type,
        headers={"Content-Disposition": export.content_disposition, "Cache-Control": "no-store"},
    )


def start(db: Database, export: Export, actor: str) -> Iterator[bytes]:
    """The export's bytes, as ``actor`` asked for them. Reads the first page
    now, so a bad request (a search of too many words) fails here, before
    any byte is sent; the rest is read as the caller iterates. One log line
    when it ends (or stops: the client went away)."""
    first = (
        []
        if export.leads.ids == ()
        else _read_page(db, export.leads, None, PAGE_ROWS, export.columns)
    )
    return _logged(db, export, first, actor)


def _logged(db: Database, export: Export, first: list[RowMapping], actor: str) -> Iterator[bytes]:
    # Only the columns written: decoding the JSON ones (raw_data...) took
    # more than half of an export's time.
    counted = _Counted(pages(db, export.leads, first=first, columns=export.columns))
    started = ended = time.perf_counter()
    completed = False
    try:
        chunks = csv_chunks if export.format == "csv" else xlsx_chunks
        for chunk in chunks(export.columns, counted):
            # A download the client abandons is only closed when collected:
            # its time is up to its last chunk.
            ended = time.perf_counter()
            yield chunk
        completed = True
    finally:
        log.info(
            "leads exported" if completed else "lead export stopped",
            actor=actor,
            rows=counted.rows,
            format=export.format,
            columns=len(export.columns),
            selection=export.leads.ids is not None,
            seconds=round(ended - started, 3),
        )


class _Counted:
    """The pages, counting their rows as they pass."""

    def __init__(self, row_pages: Iterator[list[RowMapping]]) -> None:
        self.row_pages = row_pages
        self.rows = 0

    def __iter__(self) -> Iterator[list[RowMapping]]:
        for rows in self.row_pages:
            self.rows += len(rows)
            yield rows
