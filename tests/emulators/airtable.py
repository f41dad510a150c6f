"""An Airtable Web API emulator: what the real ``pyairtable`` client talks to in the tests.

It follows /work/shared/reference/airtable-apify-contracts.md (Airtable part) and
what pyairtable 3.5 sends (api/api.py, api/table.py, api/params.py):

- ``/v0/{base}/{table}`` with the table given by name (URL-quoted) or id: list
  (``pageSize`` <= 100, ``maxRecords``, ``offset`` as an opaque
  ``itr.../rec...``, ``fields[]``, ``sort[i][field|direction]``, ``view``,
  ``returnFieldsByFieldId``, ``recordMetadata[]``, ``filterByFormula``), the
  same as ``POST .../listRecords`` with a JSON body (pyairtable's fallback for
  URLs of 16,000+ characters); get, create (one, or a batch of <= 10),
  update with PATCH (merge) or PUT (replace) one or a batch, ``performUpsert``
  (``fieldsToMergeOn``: no match creates, one updates, more fail), delete one
  or ``?records[]=`` (<= 10). A batch is all or nothing, as on the service.
- ``/v0/meta/bases/{base}/tables`` (``Table.schema()``), ``/v0/meta/bases``,
  ``/v0/meta/whoami``.
- Records: ``rec`` + 14 characters, ``createdTime`` in ms, empty values
  (``""``, ``[]``, ``false``, ``null``) left out of ``fields``, and a last
  modified time per record from a clock that never gives two writes the same
  millisecond, so ``IS_AFTER(LAST_MODIFIED_TIME(), '...')`` cursors are exact.
  A write that changes no value leaves the modified time alone.
- ``filterByFormula``: a small formula language, enough for what the sync
  and pyairtable.formulas write (see ``_Formula``); anything else is a 422
  ``INVALID_FILTER_BY_FORMULA`` rather than a silent wrong answer.
- Error bodies ``{"error": {"type", "message"}}`` (a bare ``{"error":
  "NOT_FOUND"}`` for an unknown path), the types the contract lists.
- A per-base rate limit: at most ``rate_limit`` requests in any rolling
  ``rate_window`` seconds by arrival time, a 429 ``RATE_LIMIT_REACHED`` past
  it, and ``penalty_seconds`` of 429s after one (the service's 30 s).

Faults are injected at run time, each for the next ``times`` requests whose
path contains ``path`` (and of ``method``, if given), as in the Apify
emulator: ``fail`` (429 with or without Retry-After, 5xx), ``slow``,
``drop`` (connection cut before the headers or mid-body, with the write
applied or not), and ``reject_record`` (a 422 ``INVALID_VALUE_FOR_COLUMN``
for any write request holding a matching record; the whole batch fails).

``user_create``/``user_update``/``user_delete`` change the data as a person in
the Airtable UI would: no HTTP, no rate limit, the modified time bumped.

Start one with the ``airtable_emulator`` fixture (tests/conftest.py), or
``with AirtableEmulator.running() as emu:`` anywhere else.

The HTTP plumbing it shares with the Apify emulator (server, replies, drop
cuts, fault matching) is in tests/emulators/base.py.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import unquote

from tests.emulators.base import (
    ApiError,
    Emulator,
    EmulatorHandler,
    Incoming,
    bearer_token,
    flag,
    iso,
    parse_time,
    random_chars,
)
from tests.emulators.base import Fault as _BaseFault

DEFAULT_TOKEN = "patLeadbaseEmulator.0000000000000000"
DEFAULT_BASE_ID = "appLeadbaseTest01"
DEFAULT_TABLE = "Leads"
MAX_PAGE_SIZE = 100
MAX_RECORDS_PER_REQUEST = 10
MAX_ITERATORS = 1000  # live list offsets kept; the oldest are forgotten past it

# The Airtable field names of mapping.DEFAULT_MAPPING (contract-14.md), with types.
# "Full Name" is the primary field, as the first column of a table is.
DEFAULT_FIELDS: dict[str, str] = {
    "Full Name": "singleLineText",
    "First Name": "singleLineText",
    "Last Name": "singleLineText",
    "Email": "email",
    "Phone": "phoneNumber",
    "Title": "singleLineText",
    "Company": "singleLineText",
    "Company Domain": "singleLineText",
    "LinkedIn": "url",
    "City": "singleLineText",
    "State": "singleLineText",
    "Country": "singleLineText",
    "Postal Code": "singleLineText",
    "Street": "singleLineText",
    "Industry": "singleLineText",
    "Tags": "multipleSelects",
    "Status": "singleSelect",
    "Score": "number",
    "Notes": "multilineText",
    "Leadbase ID": "singleLineText",
}
# The table the sync expects (leadbase.sync.airtable.mapping): the default
# fields and a read-only "Last Modified" (the pull's cursor, last-modified-wins).
SYNC_FIELDS: dict[str, str] = {**DEFAULT_FIELDS, "Last Modified": "lastModifiedTime"}
# The choices a fresh table's select fields start with (leads.schemas.LeadStatus).
DEFAULT_CHOICES: dict[str, list[str]] = {
    "Status": ["new", "contacted", "qualified", "converted", "lost"],
}

TEXT_TYPES = frozenset(
    {"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber"}
)
NUMBER_TYPES = frozenset({"number", "currency", "percent", "rating", "duration"})
SELECT_TYPES = frozenset({"singleSelect", "multipleSelects"})
# Computed by Airtable: shown on records, never written.
COMPUTED_TYPES = frozenset(
    {"lastModifiedTime", "createdTime", "autoNumber", "formula", "rollup", "lookup", "count"}
)
# Options pyairtable's schema models require for these types (models/schema.py).
_DEFAULT_OPTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "number": lambda: {"precision": 0},
    "currency": lambda: {"precision": 2, "symbol": "$"},
    "percent": lambda: {"precision": 0},
    "rating": lambda: {"max": 5, "icon": "star", "color": "yellowBright"},
    "checkbox": lambda: {"color": "greenBright", "icon": "check"},
    "singleSelect": lambda: {"choices": []},
    "multipleSelects": lambda: {"choices": []},
    "date": lambda: {"dateFormat": {"name": "iso", "format": "YYYY-MM-DD"}},
    "lastModifiedTime": lambda: {"isValid": True, "referencedFieldIds": []},
    "createdTime": lambda: {"isValid": True},
}


def new_id(prefix: str) -> str:
    """An id shaped like the service's: a 3-letter prefix and 14 letters and digits."""
    return prefix + random_chars(14)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


# --- state -----------------------------------------------------------------------------


@dataclass
class Field:
    id: str
    name: str
    type: str
    options: dict[str, Any] | None = None

    def choice_names(self) -> list[str]:
        return [c["name"] for c in (self.options or {}).get("choices", [])]

    def add_choice(self, name: str) -> None:
        assert self.options is not None
        self.options["choices"].append({"id": new_id("sel"), "name": name, "color": "blueLight2"})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.options is not None:
            body["options"] = copy.deepcopy(self.options)
        return body


@dataclass
class Record:
    id: str
    created: datetime
    modified: datetime
    fields: dict[str, Any] = field(default_factory=dict)  # by field name, no empty values


@dataclass
class Table:
    id: str
    name: str
    base_id: str
    fields: list[Field]
    view_id: str = field(default_factory=lambda: new_id("viw"))
    records: dict[str, Record] = field(default_factory=dict)  # insertion = creation order
    # performUpsert's lookups: {merge field names: {values: record ids}}, kept up to
    # date by every write (the bench upserts 10k records; a scan each was 17 ms).
    indexes: dict[tuple[str, ...], dict[tuple[Any, ...], list[str]]] = field(default_factory=dict)

    def field(self, key: str) -> Field | None:
        """A field by name or by id (writes and fields[] accept either)."""
        for f in self.fields:
            if key in (f.name, f.id):
                return f
        return None

    def matches(self, names: tuple[str, ...], key: tuple[Any, ...]) -> list[str]:
        """Ids of the records whose fields ``names`` hold ``key`` (see _merge_value)."""
        index = self.indexes.get(names)
        if index is None:
            index = self.indexes[names] = {}
            for record in self.records.values():
                index.setdefault(_merge_key(record, names), []).append(record.id)
        return index.get(key, [])

    def insert(self, record: Record) -> None:
        self.records[record.id] = record
        self._index(record)

    def delete(self, record_id: str) -> None:
        self._unindex(self.records.pop(record_id))

    def set_fields(self, record: Record, fields: dict[str, Any]) -> None:
        self._unindex(record)
        record.fields = fields
        self._index(record)

    def _index(self, record: Record) -> None:
        for names, index in self.indexes.items():
            index.setdefault(_merge_key(record, names), []).append(record.id)

    def _unindex(self, record: Record) -> None:
        for names, index in self.indexes.items():
            index[_merge_key(record, names)].remove(record.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "primaryFieldId": self.fields[0].id if self.fields else None,
            "fields": [f.to_json() for f in self.fields],
            "views": [
                {
                    "id": self.view_id,
                    "name": "Grid view",
                    "type": "grid",
                    "visibleFieldIds": [f.id for f in self.fields],
                }
            ],
        }


FieldSpec = Mapping[str, str] | Iterable[str | tuple[str, str]]


def _make_fields(spec: FieldSpec) -> list[Field]:
    """Fields from {name: type}, (name, type) pairs, or bare names (single line text)."""
    pairs: list[tuple[str, str]] = []
    if isinstance(spec, Mapping):
        pairs = list(spec.items())
    else:
        for item in spec:
            pairs.append((item, "singleLineText") if isinstance(item, str) else item)
    fields = []
    for name, type_ in pairs:
        f = Field(new_id("fld"), name, type_, _options_for(type_))
        for choice in DEFAULT_CHOICES.get(name, []) if type_ in SELECT_TYPES else []:
            f.add_choice(choice)
        fields.append(f)
    return fields


def _options_for(type_: str) -> dict[str, Any] | None:
    make = _DEFAULT_OPTIONS.get(type_)
    return make() if make else None


# --- faults and the request log --------------------------------------------------------


@dataclass
class Fault(_BaseFault):
    """``kind``: "fail", "slow", "drop" or "reject"."""

    error_type: str | None = None  # fail: the error body's type (by default, the status's)
    # drop: cut mid-body (after_bytes of it) or, by default, before the headers;
    # applied: the request is processed first (the write happens, its answer is lost).
    after_body: bool = False
    applied: bool = True
    match: dict[str, Any] | None = None  # reject: fields (and/or "id") a record must hold

    @property
    def cuts_before_headers(self) -> bool:
        return not self.after_body


@dataclass(frozen=True)
class Request:
    """One request as the emulator answered it.

    ``query`` holds the last value of each query parameter (``params`` all of
    them: ``fields[]``, ``records[]``); ``body`` the parsed JSON body (or None);
    ``at`` the arrival time on the emulator's clock (``time.monotonic`` unless
    one was given); ``status`` 0 when the connection was cut before the request
    was processed; ``fault`` "fail", "slow", "drop", "reject", "rate_limit" or None.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float
    body: Any = None
    params: dict[str, list[str]] = field(default_factory=dict)
    fault: str | None = None


class _PathNotFound(ApiError):
    """The service's generic 404, for a path it has no route for: a bare error name."""

    def __init__(self) -> None:
        super().__init__(404, "NOT_FOUND")

    def body(self) -> Any:
        return {"error": "NOT_FOUND"}


class _Rejected(ApiError):
    """The 422 a reject_record fault answers (told apart in the request log)."""


_FAULT_ERROR_TYPES = {
    401: "AUTHENTICATION_REQUIRED",
    403: "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
    404: "NOT_FOUND",
    422: "INVALID_REQUEST_UNKNOWN",
    429: "RATE_LIMIT_REACHED",
    500: "SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "RETRIABLE_ERROR",
    504: "GATEWAY_TIMEOUT",
}


def _rate_limit_error() -> ApiError:
    return ApiError(
        429,
        "RATE_LIMIT_REACHED",
        "Rate limit exceeded. Please try again later",
    )


# --- the emulator ----------------------------------------------------------------------


class AirtableEmulator(Emulator[Fault]):
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        base_id: str = DEFAULT_BASE_ID,
        table: str = DEFAULT_TABLE,
        fields: FieldSpec = DEFAULT_FIELDS,
        rate_limit: int | None = 5,
        rate_window: float = 1.0,
        penalty_seconds: float = 0.0,
        strict_choices: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.token = token
        self.base_id = base_id
        self.table_name = table
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.penalty_seconds = penalty_seconds
        # As the service: without typecast, a select value that is not yet a choice
        # is a 422 INVALID_MULTIPLE_CHOICE_OPTIONS (typecast=True adds the choice).
        self.strict_choices = strict_choices
        self.clock = clock
        self.tables: dict[str, Table] = {}  # by table id
        self._requests: list[Request] = []
        self._arrivals: dict[str, deque[float]] = {}  # base -> accepted arrival times
        self._penalty_until: dict[str, float] = {}
        self._rate_limited = 0
        self._iterators: OrderedDict[str, tuple[str, list[str], int | None]] = OrderedDict()
        self._last_ms = 0  # the modified-time clock's last tick (ms since the epoch)
        self.table_id = self.add_table(table, fields, base_id=base_id)

    # -- tables and fields

    def add_table(
        self, name: str, fields: FieldSpec = DEFAULT_FIELDS, *, base_id: str | None = None
    ) -> str:
        """Another table (in this base, or another base: a base exists once it has a table)."""
        table = Table(new_id("tbl"), name, base_id or self.base_id, _make_fields(fields))
        with self.lock:
            self.tables[table.id] = table
        return table.id

    def add_field(
        self,
        name: str,
        type: str = "singleLineText",
        *,
        options: dict[str, Any] | None = None,
        table: str | None = None,
    ) -> str:
        """A new column (as a person adds one in the UI); returns its field id."""
        with self.lock:
            t = self._table_named(table)
            if t.field(name) is not None:
                raise ValueError(f"field {name!r} exists")
            f = Field(
                new_id("fld"), name, type, options if options is not None else _options_for(type)
            )
            t.fields.append(f)
            return f.id

    def remove_field(self, name: str, *, table: str | None = None) -> None:
        """Delete a column: its values go with it, as in Airtable."""
        with self.lock:
            t = self._table_named(table)
            f = t.field(name)
            if f is None:
                raise KeyError(name)
            t.fields.remove(f)
            t.indexes.clear()
            for record in t.records.values():
                record.fields.pop(f.name, None)

    def fields(self, *, table: str | None = None) -> dict[str, str]:
        """{field name: type} of a table, in column order."""
        with self.lock:
            return {f.name: f.type for f in self._table_named(table).fields}

    # -- "user edits": a person in the Airtable UI (no HTTP, no rate limit)

    def user_create(
        self, fields: Mapping[str, Any], *, table: str | None = None, at: datetime | None = None
    ) -> str:
        with self.lock:
            t = self._table_named(table)
            values = self._clean_fields(t, fields, typecast=True)
            return self._create(t, values, at=at).id

    def user_update(
        self, record_id: str, fields: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        """PATCH-like: the fields given change, a None (or empty) value clears one."""
        with self.lock:
            t, record = self._find_record(record_id)
            values = self._clean_fields(t, fields, typecast=True)
            self._write(t, record, values, replace=False, at=at)

    def user_delete(self, record_id: str) -> None:
        with self.lock:
            t, record = self._find_record(record_id)
            t.delete(record.id)

    # -- inspection

    def records(self, *, table: str | None = None) -> dict[str, dict[str, Any]]:
        """{record id: {"id", "createdTime", "fields"}}: a copy, in creation order."""
        with self.lock:
            t = self._table_named(table)
            return {r.id: self._record_json(t, r) for r in t.records.values()}

    def modified_at(self, record_id: str) -> datetime:
        with self.lock:
            return self._find_record(record_id)[1].modified

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    def count(
        self, method: str | None = None, status: int | None = None, path: str | None = None
    ) -> int:
        with self.lock:
            return sum(
                1
                for r in self._requests
                if (method is None or r.method == method)
                and (status is None or r.status == status)
                and (path is None or path in r.path)
            )

    @property
    def rate_limited(self) -> int:
        """How many 429s the rate limit answered (injected 429s not counted)."""
        with self.lock:
            return self._rate_limited

    def expire_offsets(self) -> None:
        """Forget every list offset: a client paging on gets a 422
        LIST_RECORDS_ITERATOR_NOT_AVAILABLE, as after the service expires one."""
        with self.lock:
            self._iterators.clear()

    # -- faults

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        error_type: str | None = None,
    ) -> Fault:
        """The next ``times`` matching requests get ``status`` (a 429 burst: status=429)."""
        fault = Fault(
            "fail",
            times,
            path,
            method,
            status=status,
            retry_after=retry_after,
            error_type=error_type,
        )
        return self._inject(fault)

    def slow(
        self,
        seconds: float,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """The next ``times`` matching requests are answered ``seconds`` late."""
        return self._inject(Fault("slow", times, path, method, delay=seconds))

    def drop(
        self,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        after_body: bool = False,
        after_bytes: int | None = None,
        applied: bool = True,
    ) -> Fault:
        """The next ``times`` matching requests lose their connection: before the status
        line (default) or, with ``after_body``, partway through the body. ``applied``
        (default): the request is processed first, so a write happens and its answer is
        lost; ``applied=False``: cut before anything is done."""
        fault = Fault(
            "drop",
            times,
            path,
            method,
            after_body=after_body,
            after_bytes=after_bytes,
            applied=applied,
        )
        return self._inject(fault)

    def reject_record(self, match: Mapping[str, Any], *, times: int | None = None) -> Fault:
        """Write requests (create, update, upsert) holding a record that matches get a
        422 INVALID_VALUE_FOR_COLUMN and change nothing (the service fails the whole
        batch). ``match``: field values the record has once written (and/or "id").
        ``times``: how many requests to reject (None: every one, until clear_faults())."""
        return self._inject(Fault("reject", times, match=dict(match)))

    # -- admission: auth, base, rate limit (under the lock, at arrival)

    def _admit(self, method: str, path: str, headers: dict[str, str], at: float) -> Fault | None:
        """The fault this request gets, or raises the error it is answered with."""
        with self.lock:
            fault = self.take_fault(method, path)
            if fault is not None and fault.kind == "fail":
                return fault
            if fault is not None and fault.kind == "drop" and not fault.applied:
                return fault
            self._check_token(headers)
            base = _base_of(path)
            if base is not None:
                if not any(t.base_id == base for t in self.tables.values()):
                    raise _no_model()
                self._check_rate(base, at)
            return fault

    def _check_token(self, headers: dict[str, str]) -> None:
        token = bearer_token(headers) or ""
        if token != self.token:
            raise ApiError(
                401,
                "AUTHENTICATION_REQUIRED",
                "Authentication required" if not token else "Invalid authentication token",
            )

    def _check_rate(self, base: str, at: float) -> None:
        if self.rate_limit is None:
            return
        if at < self._penalty_until.get(base, float("-inf")):
            self._rate_limited += 1
            raise _rate_limit_error()
        arrivals = self._arrivals.setdefault(base, deque())
        while arrivals and arrivals[0] <= at - self.rate_window:
            arrivals.popleft()
        if len(arrivals) >= self.rate_limit:
            self._rate_limited += 1
            if self.penalty_seconds > 0:
                self._penalty_until[base] = at + self.penalty_seconds
            raise _rate_limit_error()
        arrivals.append(at)

    # -- the API

    def handle(
        self, method: str, path: str, params: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        """(status, JSON body) for one admitted request."""
        parts = [unquote(p) for p in path.split("/") if p]
        with self.lock:
            match parts:
                case ["v0", "meta", "whoami"] if method == "GET":
                    return 200, {"id": "usrLeadbaseEmu001", "scopes": _SCOPES}
                case ["v0", "meta", "bases"] if method == "GET":
                    bases = sorted({t.base_id for t in self.tables.values()})
                    return 200, {
                        "bases": [
                            {"id": b, "name": f"Base {b}", "permissionLevel": "create"}
                            for b in bases
                        ]
                    }
                case ["v0", "meta", "bases", base, "tables"] if method == "GET":
                    tables = [t.to_json() for t in self.tables.values() if t.base_id == base]
                    return 200, {"tables": tables}
                case ["v0", base, table_ref] if method == "GET":
                    return 200, self._list(self._table(base, table_ref), _query_options(params))
                case ["v0", base, table_ref, "listRecords"] if method == "POST":
                    return 200, self._list(self._table(base, table_ref), _body_options(body))
                case ["v0", base, table_ref] if method == "POST":
                    return 200, self._create_request(self._table(base, table_ref), body)
                case ["v0", base, table_ref] if method in ("PATCH", "PUT"):
                    return 200, self._update_request(self._table(base, table_ref), method, body)
                case ["v0", base, table_ref] if method == "DELETE":
                    return 200, self._delete_batch(self._table(base, table_ref), params)
                case ["v0", base, table_ref, record_id] if method == "GET":
                    t = self._table(base, table_ref)
                    by_id = flag(params.get("returnFieldsByFieldId", [""])[-1])
                    return 200, self._record_json(t, self._record(t, record_id), by_id=by_id)
                case ["v0", base, table_ref, record_id] if method in ("PATCH", "PUT"):
                    t = self._table(base, table_ref)
                    return 200, self._update_one(t, self._record(t, record_id), method, body)
                case ["v0", base, table_ref, record_id] if method == "DELETE":
                    t = self._table(base, table_ref)
                    t.delete(self._record(t, record_id).id)
                    return 200, {"id": record_id, "deleted": True}
        raise _PathNotFound()

    def _table(self, base: str, ref: str) -> Table:
        for t in self.tables.values():
            if t.base_id == base and ref in (t.id, t.name):
                return t
        # What a personal access token gets for a base or table it cannot see.
        raise _no_model()

    def _table_named(self, name: str | None) -> Table:
        if name is None:
            return self.tables[self.table_id]
        for t in self.tables.values():
            if name in (t.id, t.name):
                return t
        raise KeyError(name)

    def _record(self, t: Table, record_id: str) -> Record:
        record = t.records.get(record_id)
        if record is None:
            raise ApiError(
                404, "MODEL_ID_NOT_FOUND", f'Could not find a record with ID "{record_id}".'
            )
        return record

    def _find_record(self, record_id: str) -> tuple[Table, Record]:
        for t in self.tables.values():
            if record_id in t.records:
                return t, t.records[record_id]
        raise KeyError(record_id)

    # -- list

    def _list(self, t: Table, options: dict[str, Any]) -> dict[str, Any]:
        page_size = _int_option(options, "pageSize", MAX_PAGE_SIZE)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ApiError(
                422, "INVALID_REQUEST_UNKNOWN", f"pageSize must be between 1 and {MAX_PAGE_SIZE}"
            )
        view = options.get("view")
        if view is not None and view not in ("Grid view", t.view_id):
            raise ApiError(422, "VIEW_NAME_NOT_FOUND", f'Could not find view "{view}"')
        cell_format = options.get("cellFormat", "json")
        if cell_format != "json":
            raise ApiError(
                422,
                "INVALID_REQUEST_UNKNOWN",
                f"cellFormat {cell_format!r}: the emulator serves json",
            )
        wanted = options.get("fields")
        shown: set[str] | None = None
        if wanted is not None:
            shown = {self._known_field(t, name).name for name in wanted}
        by_id = flag(options.get("returnFieldsByFieldId"))
        offset = options.get("offset")
        if offset:
            found = self._iterators.get(offset)
            if found is None or found[0] != t.id:
                raise ApiError(
                    422,
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "The list records iterator is not available (expired or unknown offset)",
                )
            _, ids, remaining = found
            del self._iterators[offset]
        else:
            ids = self._matching_ids(t, options)
            max_records = options.get("maxRecords")
            remaining = int(max_records) if max_records not in (None, "") else None
        # A record deleted since the first page is skipped, as the service does.
        ids = [i for i in ids if i in t.records]
        take = page_size if remaining is None else min(page_size, remaining)
        page, rest = ids[:take], ids[take:]
        if remaining is not None:
            remaining -= len(page)
        records = []
        for record_id in page:
            body = self._record_json(t, t.records[record_id], by_id=by_id, shown=shown)
            if "commentCount" in options.get("recordMetadata", []):
                body["commentCount"] = 0
            records.append(body)
        answer: dict[str, Any] = {"records": records}
        if rest and (remaining is None or remaining > 0):
            token = f"itr{new_id('')}/{rest[0]}"
            self._iterators[token] = (t.id, rest, remaining)
            while len(self._iterators) > MAX_ITERATORS:
                self._iterators.popitem(last=False)
            answer["offset"] = token
        return answer

    def _matching_ids(self, t: Table, options: dict[str, Any]) -> list[str]:
        records = list(t.records.values())
        formula = options.get("filterByFormula")
        if formula:
            test = _Formula(formula, t).compile()
            records = [r for r in records if _truthy(test(r))]
        for key in reversed(options.get("sort") or []):
            f = self._known_field(t, key.get("field", ""))
            direction = key.get("direction", "asc")
            if direction not in ("asc", "desc"):
                raise ApiError(
                    422, "INVALID_REQUEST_UNKNOWN", f"Invalid sort direction {direction!r}"
                )
            # Stable sorts, last key first: ties keep creation order.
            records.sort(key=partial(_sort_key, f), reverse=direction == "desc")
        return [r.id for r in records]

    def _known_field(self, t: Table, name: str) -> Field:
        f = t.field(name)
        if f is None:
            raise ApiError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
        return f

    # -- writes

    def _create_request(self, t: Table, body: Any) -> dict[str, Any]:
        body = _object(body)
        typecast = bool(body.get("typecast"))
        by_id = bool(body.get("returnFieldsByFieldId"))
        if "records" not in body:
            values = self._clean_fields(t, _object(body.get("fields", {})), typecast=typecast)
            self._check_rejects(t, [(None, values)])
            return self._record_json(t, self._create(t, values), by_id=by_id)
        items = _batch(body.get("records"), "create")
        prepared = [
            (None, self._clean_fields(t, _object(_object(i).get("fields", {})), typecast=typecast))
            for i in items
        ]
        self._check_rejects(t, prepared)
        created = [self._create(t, values) for _, values in prepared]
        return {"records": [self._record_json(t, r, by_id=by_id) for r in created]}

    def _update_one(self, t: Table, record: Record, method: str, body: Any) -> dict[str, Any]:
        body = _object(body)
        values = self._clean_fields(
            t, _object(body.get("fields", {})), typecast=bool(body.get("typecast"))
        )
        self._check_rejects(t, [(record, values)])
        self._write(t, record, values, replace=method == "PUT")
        return self._record_json(t, record, by_id=bool(body.get("returnFieldsByFieldId")))

    def _update_request(self, t: Table, method: str, body: Any) -> dict[str, Any]:
        body = _object(body)
        typecast = bool(body.get("typecast"))
        by_id = bool(body.get("returnFieldsByFieldId"))
        replace = method == "PUT"
        items = [_object(i) for i in _batch(body.get("records"), "update")]
        upsert = body.get("performUpsert")
        merge_on: list[Field] = []
        if upsert is not None:
            names = _object(upsert).get("fieldsToMergeOn")
            if not isinstance(names, list) or not 1 <= len(names) <= 3:
                raise ApiError(
                    422, "INVALID_REQUEST_UNKNOWN", "fieldsToMergeOn must list 1 to 3 field names"
                )
            merge_on = [self._known_field(t, str(n)) for n in names]
        # Everything is checked before anything is written: a batch is all or nothing.
        plan: list[tuple[Record | None, dict[str, Any]]] = []
        seen: set[str] = set()
        keys_new: set[tuple[Any, ...]] = set()
        merge_names = tuple(f.name for f in merge_on)
        for item in items:
            values = self._clean_fields(t, _object(item.get("fields", {})), typecast=typecast)
            if "id" in item:
                record = t.records.get(str(item["id"]))
                if record is None:
                    raise ApiError(
                        422,
                        "ROW_DOES_NOT_EXIST",
                        f"Record ID {item['id']} does not exist in this table",
                    )
            elif upsert is not None:
                key = tuple(_merge_value(values.get(f.name)) for f in merge_on)
                if any(v is None for v in key):
                    raise ApiError(
                        422,
                        "INVALID_RECORDS",
                        "Every record must have a value for each field of fieldsToMergeOn",
                    )
                found = [t.records[i] for i in t.matches(merge_names, key)]
                if len(found) > 1:
                    raise ApiError(
                        422,
                        "INVALID_RECORDS",
                        f"{len(found)} records match the fieldsToMergeOn values {list(key)!r}; "
                        "an upsert needs at most one",
                    )
                record = found[0] if found else None
                if record is None:
                    if key in keys_new:
                        raise ApiError(
                            422,
                            "INVALID_RECORDS",
                            f"Two records of the request merge on {list(key)!r}",
                        )
                    keys_new.add(key)
            else:
                raise ApiError(422, "INVALID_RECORDS", "Every record to update needs an id")
            if record is not None:
                if record.id in seen:
                    raise ApiError(422, "INVALID_RECORDS", f"Record {record.id} appears twice")
                seen.add(record.id)
            plan.append((record, values))
        self._check_rejects(t, plan)
        out, created, updated = [], [], []
        for record, values in plan:
            if record is None:
                record = self._create(t, values)
                created.append(record.id)
            else:
                self._write(t, record, values, replace=replace)
                updated.append(record.id)
            out.append(self._record_json(t, record, by_id=by_id))
        answer: dict[str, Any] = {"records": out}
        if upsert is not None:
            answer["createdRecords"], answer["updatedRecords"] = created, updated
        return answer

    def _delete_batch(self, t: Table, params: dict[str, list[str]]) -> dict[str, Any]:
        ids = params.get("records[]", []) or params.get("records", [])
        if not ids:
            raise ApiError(422, "INVALID_RECORDS", "Give the records to delete as records[]=recId")
        if len(ids) > MAX_RECORDS_PER_REQUEST:
            raise ApiError(
                422,
                "INVALID_RECORDS",
                f"You can delete up to {MAX_RECORDS_PER_REQUEST} records per request",
            )
        for record_id in ids:
            if record_id not in t.records:
                raise ApiError(
                    422, "ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table"
                )
        for record_id in ids:
            t.delete(record_id)
        return {"records": [{"id": i, "deleted": True} for i in ids]}

    def _check_rejects(
        self, t: Table, plan: Sequence[tuple[Record | None, dict[str, Any]]]
    ) -> None:
        for fault in self.faults:
            if fault.kind != "reject" or not fault.matches("", "") or not fault.match:
                continue
            for record, values in plan:
                merged = {**(record.fields if record else {}), **values}
                if all(
                    (record is not None and record.id == v) if k == "id" else merged.get(k) == v
                    for k, v in fault.match.items()
                ):
                    fault.use()
                    name = next((k for k in fault.match if k != "id"), t.fields[0].name)
                    raise _Rejected(
                        422,
                        "INVALID_VALUE_FOR_COLUMN",
                        f'Field "{name}" cannot accept the provided value',
                    )

    def _clean_fields(
        self, t: Table, fields: Mapping[str, Any], *, typecast: bool
    ) -> dict[str, Any]:
        """Field values by field name, checked and converted as the service does;
        None marks a value to clear (empty values are not stored)."""
        out: dict[str, Any] = {}
        for key, value in fields.items():
            f = self._known_field(t, key)
            if f.type in COMPUTED_TYPES:
                raise ApiError(
                    422,
                    "INVALID_VALUE_FOR_COLUMN",
                    f'Field "{f.name}" cannot accept a value because the field is computed',
                )
            out[f.name] = (
                None if _is_empty(value) else _convert(f, value, typecast, self.strict_choices)
            )
        return out

    def _tick(self, at: datetime | None = None) -> datetime:
        """The next modified time: never the same millisecond twice, never backwards."""
        if at is not None:
            at = at if at.tzinfo else at.replace(tzinfo=UTC)  # naive means UTC
            ms = int(at.timestamp() * 1000)
            self._last_ms = max(self._last_ms, ms)
            return at.astimezone(UTC)
        ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = ms
        return datetime.fromtimestamp(ms / 1000, UTC)

    def _create(self, t: Table, values: dict[str, Any], *, at: datetime | None = None) -> Record:
        record_id = new_id("rec")
        while record_id in t.records:
            record_id = new_id("rec")
        now = self._tick(at)
        record = Record(record_id, now, now, {k: v for k, v in values.items() if v is not None})
        t.insert(record)
        return record

    def _write(
        self,
        t: Table,
        record: Record,
        values: dict[str, Any],
        *,
        replace: bool,
        at: datetime | None = None,
    ) -> None:
        new = {} if replace else dict(record.fields)
        for name, value in values.items():
            if value is None:
                new.pop(name, None)
            else:
                new[name] = value
        if new != record.fields:
            t.set_fields(record, new)
            record.modified = self._tick(at)

    def _record_json(
        self,
        t: Table,
        record: Record,
        *,
        by_id: bool = False,
        shown: set[str] | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for f in t.fields:
            if shown is not None and f.name not in shown:
                continue
            if f.type == "lastModifiedTime":
                value: Any = iso(record.modified)
            elif f.type == "createdTime":
                value = iso(record.created)
            else:
                value = record.fields.get(f.name)
            if not _is_empty(value):
                fields[f.id if by_id else f.name] = copy.deepcopy(value)
        return {"id": record.id, "createdTime": iso(record.created), "fields": fields}


_SCOPES = ["data.records:read", "data.records:write", "schema.bases:read"]


def _no_model() -> ApiError:
    return ApiError(
        403,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "Invalid permissions, or the requested model was not found. Check that both your "
        "user and your token have the required permissions, and that the model names "
        "and/or ids are correct.",
    )


def _base_of(path: str) -> str | None:
    """The base a request is about (what the rate limit counts per), if any."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4 and parts[:3] == ["v0", "meta", "bases"]:
        return parts[3]
    if len(parts) >= 3 and parts[0] == "v0" and parts[1] != "meta":
        return parts[1]
    return None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(422, "INVALID_REQUEST_UNKNOWN", "Invalid request: expected a JSON object")
    return value


def _batch(value: Any, verb: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ApiError(422, "INVALID_RECORDS", f"Give at least one record to {verb}")
    if len(value) > MAX_RECORDS_PER_REQUEST:
        raise ApiError(
            422,
            "INVALID_RECORDS",
            f"You can {verb} up to {MAX_RECORDS_PER_REQUEST} records per request "
            f"({len(value)} given)",
        )
    return value


def _int_option(options: dict[str, Any], name: str, default: int) -> int:
    value = options.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(422, "INVALID_REQUEST_UNKNOWN", f"{name} must be an integer") from None


_SORT_PARAM = re.compile(r"sort\[(\d+)\]\[(field|direction)\]")


def _query_options(params: dict[str, list[str]]) -> dict[str, Any]:
    """A GET list's query string as the same options a listRecords body gives."""
    options: dict[str, Any] = {}
    sorts: dict[int, dict[str, str]] = {}
    for key, values in params.items():
        if key in ("fields[]", "fields"):
            options["fields"] = values
        elif key == "recordMetadata[]":
            options["recordMetadata"] = values
        elif m := _SORT_PARAM.fullmatch(key):
            sorts.setdefault(int(m.group(1)), {})[m.group(2)] = values[-1]
        else:
            options[key] = values[-1]
    if sorts:
        options["sort"] = [sorts[i] for i in sorted(sorts)]
    return options


def _body_options(body: Any) -> dict[str, Any]:
    return dict(_object(body)) if body is not None else {}


def _convert(f: Field, value: Any, typecast: bool, strict_choices: bool) -> Any:
    """A written value as the field stores it, or a 422 as the service gives."""

    def bad() -> ApiError:
        return ApiError(
            422,
            "INVALID_VALUE_FOR_COLUMN",
            f'Field "{f.name}" cannot accept the provided value: {value!r}',
        )

    if f.type in TEXT_TYPES:
        if isinstance(value, str):
            return value
        if typecast and isinstance(value, (int, float, bool)):
            return str(value)
        raise bad()
    if f.type in NUMBER_TYPES:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if typecast and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise bad() from None
            return int(number) if number.is_integer() and "." not in value else number
        raise bad()
    if f.type == "checkbox":
        if isinstance(value, bool):
            return value
        if typecast:
            return bool(value)
        raise bad()
    if f.type in SELECT_TYPES:
        multiple = f.type == "multipleSelects"
        if multiple and typecast and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        names = value if multiple else [value]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad()
        for name in names:
            if name not in f.choice_names():
                if strict_choices and not typecast:
                    raise ApiError(
                        422,
                        "INVALID_MULTIPLE_CHOICE_OPTIONS",
                        f'Insufficient permissions to create new select option ""{name}"" '
                        f'in field "{f.name}" (send typecast=true to add it)',
                    )
                f.add_choice(name)
        return list(dict.fromkeys(names)) if multiple else value
    return value  # dates and other types: stored as given


def _merge_value(value: Any) -> Any:
    """What performUpsert compares: lists by their items, empty as missing."""
    if _is_empty(value):
        return None
    return tuple(value) if isinstance(value, list) else value


def _merge_key(record: Record, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_merge_value(record.fields.get(name)) for name in names)


def _sort_key(f: Field, record: Record) -> tuple[int, Any]:
    value = record.fields.get(f.name)
    if _is_empty(value):
        return (0, "")  # blanks first ascending, as the service
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, list):
        return (2, ", ".join(map(str, value)).lower())
    return (2, str(value).lower())


def _truthy(value: Any) -> bool:
    return isinstance(value, datetime) or bool(value)


# --- filterByFormula -------------------------------------------------------------------


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<field>\{(?:\\.|[^}\\])*\})
      | (?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>!=|<=|>=|=|<|>|&|\(|\)|,)
    )""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")

Value = Any
Compiled = Callable[[Record], Value]


class _Formula:
    """A parser for the part of Airtable's formula language the sync needs.

    Literals ('text', "text", numbers), {Field Name} (with \\} escapes),
    comparisons = != < > <= >=, & (concatenation), parentheses, and the
    functions AND, OR, NOT, IS_AFTER, IS_BEFORE, LAST_MODIFIED_TIME() (of the
    whole record), CREATED_TIME(), RECORD_ID(), DATETIME_PARSE(text), TRUE(),
    FALSE(), BLANK(), LOWER, UPPER, TRIM. Anything else is a 422: the
    emulator refuses what it would answer wrongly.
    """

    def __init__(self, text: str, table: Table) -> None:
        self.text, self.table = text, table
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise self.error(f"unexpected {text[pos:].strip()[:20]!r}")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.pos = 0

    def error(self, why: str) -> ApiError:
        return ApiError(
            422,
            "INVALID_FILTER_BY_FORMULA",
            f"The formula for filtering records is invalid: {why} (in {self.text[:200]!r})",
        )

    def compile(self) -> Compiled:
        expr = self.comparison()
        if self.pos != len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.pos][1]!r}")
        return expr

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise self.error(f"expected {value or 'more'}")
        self.pos += 1
        return token

    def comparison(self) -> Compiled:
        left = self.concat()
        token = self.peek()
        if token and token[0] == "op" and token[1] in _COMPARE:
            self.pos += 1
            right = self.concat()
            compare = _COMPARE[token[1]]
            return lambda r: compare(left(r), right(r))
        return left

    def concat(self) -> Compiled:
        parts = [self.primary()]
        while (token := self.peek()) and token == ("op", "&"):
            self.pos += 1
            parts.append(self.primary())
        if len(parts) == 1:
            return parts[0]
        return lambda r: "".join(_text(p(r)) for p in parts)

    def primary(self) -> Compiled:
        kind, value = self.take()
        if kind == "op" and value == "(":
            inner = self.comparison()
            self.take(")")
            return inner
        if kind == "str":
            text = _ESCAPE.sub(r"\1", value[1:-1])
            return lambda r: text
        if kind == "num":
            number = float(value) if "." in value else int(value)
            return lambda r: number
        if kind == "field":
            name = _ESCAPE.sub(r"\1", value[1:-1])
            f = self.table.field(name)
            if f is None:
                raise self.error(f"unknown field names: {name}")
            return partial(_field_value, f)
        if kind == "name":
            return self.call(value.upper())
        raise self.error(f"unexpected {value!r}")

    def call(self, name: str) -> Compiled:
        self.take("(")
        args: list[Compiled] = []
        if self.peek() != ("op", ")"):
            args.append(self.comparison())
            while self.peek() == ("op", ","):
                self.pos += 1
                args.append(self.comparison())
        self.take(")")
        arity = _ARITY.get(name)
        if arity is None:
            raise self.error(f"the emulator does not know {name}()")
        if not arity[0] <= len(args) <= arity[1]:
            raise self.error(f"{name}() takes {arity[0]}..{arity[1]} arguments")
        match name:
            case "AND":
                return lambda r: int(all(_truthy(a(r)) for a in args))
            case "OR":
                return lambda r: int(any(_truthy(a(r)) for a in args))
            case "NOT":
                return lambda r: int(not _truthy(args[0](r)))
            case "IS_AFTER" | "IS_BEFORE":
                after = name == "IS_AFTER"
                return lambda r: self.date_order(args[0](r), args[1](r), after)
            case "LAST_MODIFIED_TIME":
                return lambda r: r.modified
            case "CREATED_TIME":
                return lambda r: r.created
            case "RECORD_ID":
                return lambda r: r.id
            case "DATETIME_PARSE":
                return lambda r: self.to_time(args[0](r))
            case "TRUE":
                return lambda r: 1
            case "FALSE":
                return lambda r: 0
            case "BLANK":
                return lambda r: None
            case "LOWER":
                return lambda r: _text(args[0](r)).lower()
            case "UPPER":
                return lambda r: _text(args[0](r)).upper()
            case _:  # TRIM
                return lambda r: _text(args[0](r)).strip()

    def to_time(self, value: Value) -> datetime | None:
        if value is None or value == "" or isinstance(value, datetime):
            return value or None
        try:
            return parse_time(str(value))
        except ValueError:
            # The service makes this an #ERROR; a bad cursor is a bug worth a loud 422.
            raise self.error(f"not a date: {value!r}") from None

    def date_order(self, left: Value, right: Value, after: bool) -> int:
        a, b = self.to_time(left), self.to_time(right)
        if a is None or b is None:
            return 0
        return int(a > b if after else a < b)


_ARITY: dict[str, tuple[int, int]] = {
    "AND": (1, 10_000),
    "OR": (1, 10_000),
    "NOT": (1, 1),
    "IS_AFTER": (2, 2),
    "IS_BEFORE": (2, 2),
    "LAST_MODIFIED_TIME": (0, 0),  # of given fields: not emulated
    "CREATED_TIME": (0, 0),
    "RECORD_ID": (0, 0),
    "DATETIME_PARSE": (1, 1),
    "TRUE": (0, 0),
    "FALSE": (0, 0),
    "BLANK": (0, 0),
    "LOWER": (1, 1),
    "UPPER": (1, 1),
    "TRIM": (1, 1),
}


def _field_value(f: Field, record: Record) -> Value:
    """A field as a formula sees it: lists joined, checkboxes 1/0, blanks None."""
    if f.type == "lastModifiedTime":
        return record.modified
    if f.type == "createdTime":
        return record.created
    value = record.fields.get(f.name)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or None
    if isinstance(value, bool):
        return int(value)
    return None if _is_empty(value) else value


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _coerce(a: Value, b: Value) -> tuple[Any, Any]:
    """Two formula values made comparable, as Airtable's loose typing does."""
    if isinstance(a, datetime) or isinstance(b, datetime):
        try:
            ta = a if isinstance(a, datetime) else parse_time(_text(a))
            tb = b if isinstance(b, datetime) else parse_time(_text(b))
            return ta, tb
        except ValueError:
            return _text(a), _text(b)
    numeric = (int, float)
    if isinstance(a, numeric) or isinstance(b, numeric):
        try:
            return float(a or 0), float(b or 0)
        except (TypeError, ValueError):
            return _text(a), _text(b)
    return _text(a), _text(b)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Value, Value], int]:
    def compare(a: Value, b: Value) -> int:
        x, y = _coerce(a, b)
        return int(op(x, y))

    return compare


_COMPARE: dict[str, Callable[[Value, Value], int]] = {
    "=": _compare(lambda x, y: x == y),
    "!=": _compare(lambda x, y: x != y),
    "<": _compare(lambda x, y: x < y),
    ">": _compare(lambda x, y: x > y),
    "<=": _compare(lambda x, y: x <= y),
    ">=": _compare(lambda x, y: x >= y),
}


# --- HTTP ------------------------------------------------------------------------------


class _Handler(EmulatorHandler):
    emulator: AirtableEmulator

    def do_PATCH(self) -> None:
        self.serve()  # Airtable's update that merges (PUT replaces)

    def serve(self) -> None:
        at = self.emulator.clock()
        incoming = self.read_request()
        body: Any = None
        fault: Fault | None = None
        headers: dict[str, str] = {}
        try:
            body = _json_body(incoming.raw)
            fault = self.emulator._admit(self.command, incoming.path, incoming.headers, at)
            status, headers, payload = self._answer(incoming, body, fault)
            fault_name = fault.kind if fault else None
        except ApiError as exc:
            status, payload = exc.status, exc.body()
            fault_name = _fault_name(exc, fault)
        self._log(at, incoming, body, status, fault_name)
        if fault is not None and fault.kind == "drop" and not fault.applied:
            return self.cut()
        self.send_reply(status, headers, payload, fault)

    def _answer(
        self, incoming: Incoming, body: Any, fault: Fault | None
    ) -> tuple[int, dict[str, str], Any]:
        """(status, extra headers, JSON body) of an admitted request."""
        if fault is not None and fault.kind == "fail":
            return fault.status, _retry_after(fault), _fault_error(fault).body()
        if fault is not None and fault.kind == "drop" and not fault.applied:
            return 0, {}, None  # the connection is cut before anything is done
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)  # outside the lock: other requests go on
        status, payload = self.emulator.handle(self.command, incoming.path, incoming.params, body)
        return status, {}, payload

    def _log(
        self, at: float, incoming: Incoming, body: Any, status: int, fault: str | None
    ) -> None:
        request = Request(
            self.command, incoming.path, incoming.query, status, at, body, incoming.params, fault
        )
        with self.emulator.lock:
            self.emulator._requests.append(request)


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(
            422, "INVALID_REQUEST_UNKNOWN", "Invalid request: body is not JSON"
        ) from None


def _fault_error(fault: Fault) -> ApiError:
    """What a fail fault answers: the status's error type, unless the test named one."""
    type_ = fault.error_type or _FAULT_ERROR_TYPES.get(fault.status, "SERVER_ERROR")
    return ApiError(fault.status, type_, f"Emulated {fault.status}")


def _retry_after(fault: Fault) -> dict[str, str]:
    return {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}


def _fault_name(exc: ApiError, fault: Fault | None) -> str | None:
    """What the request log says of a request answered with an error."""
    if exc.type == "RATE_LIMIT_REACHED":
        return "rate_limit"
    if isinstance(exc, _Rejected):
        return "reject"
    return fault.kind if fault else None


AirtableEmulator.handler = _Handler  # set here: the handler is defined after the emulator
