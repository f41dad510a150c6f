"""An Apify API emulator: what `apify-client` talks to in the tests.

It follows /work/shared/reference/airtable-apify-contracts.md (Apify part):
actors under both ``/v2/acts/{id}`` (client 2.x) and ``/v2/actors/{id}``
(client >= 3.0.3), ``user/name`` ids sent as ``user~name``; the run
lifecycle (READY -> RUNNING -> SUCCEEDED or the status told) with
``waitForFinish`` long polls (at most 60 s, as the service); runs of an actor
listed with ``limit/offset/desc/status/startedAfter/startedBefore``; dataset
items as a bare JSON array with the five ``X-Apify-Pagination-*`` headers and
``offset/limit/desc/clean/skipEmpty/skipHidden/fields/omit``; gzip request
bodies, gzip responses when asked for; ``{"error": {"type", "message"}}``
error shapes; a token check on every request.

Faults are injected at run time, each for the next ``times`` requests whose
path contains ``path`` (and of ``method``, if given): a status storm
(``fail``: 429 with or without Retry-After, 5xx), a slow answer (``slow``),
a connection dropped mid-body or before the headers (``drop``). Delays are
the test's to choose, so they can stay short.

Start one with the ``apify_emulator`` fixture (tests/conftest.py), or
``with ApifyEmulator.running() as emulator:`` anywhere else (a subprocess CLI
test can point at ``emulator.url``: it is a real port on 127.0.0.1).

The HTTP plumbing it shares with the Airtable emulator (server, replies, drop
cuts, fault matching) is in tests/emulators/base.py.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.emulators.base import (
    ApiError,
    Emulator,
    EmulatorHandler,
    bearer_token,
    flag,
    iso,
    parse_time,
    random_chars,
)
from tests.emulators.base import Fault as _BaseFault

DEFAULT_TOKEN = "apify_api_test_token"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})
STATUSES = (
    "READY",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMING-OUT",
    "TIMED-OUT",
    "ABORTING",
    "ABORTED",
)
NO_LIMIT = 999_999_999_999  # what the service puts in X-Apify-Pagination-Limit without a limit
MAX_WAIT_SECONDS = 60


def new_id() -> str:
    """An id shaped like the service's: 17 letters and digits."""
    return random_chars(17)


# --- state -----------------------------------------------------------------------------

Items = Sequence[dict[str, Any]] | Callable[[dict[str, Any] | None], Sequence[dict[str, Any]]]


@dataclass
class Actor:
    id: str
    username: str
    name: str
    # What a run started through the API scrapes: a list, or a function of the run's input.
    items: Items = ()
    # Seconds from start to the final status; None: the run stays RUNNING until finish_run().
    run_seconds: float | None = 0.05
    final_status: str = "SUCCEEDED"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def full_name(self) -> str:
        return f"{self.username}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": USER_ID,
            "name": self.name,
            "username": self.username,
            "title": self.name.replace("-", " ").title(),
            "isPublic": True,
            "createdAt": iso(self.created_at),
            "modifiedAt": iso(self.created_at),
            "stats": {"totalRuns": 0},
            "versions": [],
            "defaultRunOptions": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024},
        }


@dataclass
class Dataset:
    id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    act_id: str | None = None
    act_run_id: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        clean = sum(1 for item in self.items if _clean_item(item))
        return {
            "id": self.id,
            "name": self.name,
            "userId": USER_ID,
            "createdAt": iso(self.created_at),
            "modifiedAt": iso(datetime.now(UTC)),
            "accessedAt": iso(datetime.now(UTC)),
            "itemCount": len(self.items),
            "cleanItemCount": clean,
            "actId": self.act_id,
            "actRunId": self.act_run_id,
            "consoleUrl": f"https://console.apify.com/storage/datasets/{self.id}",
            "generalAccess": "FOLLOW_USER_SETTING",
            "stats": {"readCount": 0, "writeCount": len(self.items)},
        }


@dataclass
class Run:
    id: str
    actor: Actor
    dataset: Dataset
    started_at: datetime
    status: str = "READY"
    finished_at: datetime | None = None
    input: dict[str, Any] | None = None
    kvs_id: str = field(default_factory=new_id)
    request_queue_id: str = field(default_factory=new_id)
    build_id: str = field(default_factory=new_id)
    compute_units: float | None = None
    usage_usd: float | None = None
    origin: str = "API"
    timeout_secs: int = 3600
    memory_mbytes: int = 1024
    max_items: int | None = None
    # Set while the run goes on by itself: when it ends, with what status and items.
    finish_at: float | None = None
    final_status: str = "SUCCEEDED"
    pending_items: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"inputBodyLen": len(json.dumps(self.input or {}))}
        if self.compute_units is not None:
            stats["computeUnits"] = self.compute_units
        end = self.finished_at or datetime.now(UTC)
        stats["runTimeSecs"] = max(0.0, (end - self.started_at).total_seconds())
        body: dict[str, Any] = {
            "id": self.id,
            "actId": self.actor.id,
            "userId": USER_ID,
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at) if self.finished_at else None,
            "status": self.status,
            "statusMessage": _status_message(self.status),
            "meta": {"origin": self.origin, "userAgent": "ApifyClient"},
            "stats": stats,
            "options": {
                "build": "latest",
                "timeoutSecs": self.timeout_secs,
                "memoryMbytes": self.memory_mbytes,
                "diskMbytes": self.memory_mbytes * 2,
                **({"maxItems": self.max_items} if self.max_items is not None else {}),
            },
            "buildId": self.build_id,
            "buildNumber": "0.0.1",
            "exitCode": 0 if self.status == "SUCCEEDED" else None,
            "generalAccess": "FOLLOW_USER_SETTING",
            "defaultKeyValueStoreId": self.kvs_id,
            "defaultDatasetId": self.dataset.id,
            "defaultRequestQueueId": self.request_queue_id,
            "usageTotalUsd": self.usage_usd if self.usage_usd is not None else 0.0,
        }
        return body

    def to_short_json(self) -> dict[str, Any]:
        full = self.to_json()
        return {key: full[key] for key in SHORT_RUN_KEYS}


def _status_message(status: str) -> str:
    return {"READY": "Starting", "RUNNING": "Running"}.get(status, f"Run {status.lower()}")


USER_ID = "emuUser0000000001"
# What a run looks like in a listing (RunListItem).
SHORT_RUN_KEYS = [
    "id",
    "actId",
    "userId",
    "status",
    "startedAt",
    "finishedAt",
    "buildId",
    "buildNumber",
    "meta",
    "usageTotalUsd",
    "defaultKeyValueStoreId",
    "defaultDatasetId",
    "defaultRequestQueueId",
]


# --- faults ----------------------------------------------------------------------------


@dataclass
class Fault(_BaseFault):
    """``kind``: "fail", "slow" or "drop"."""

    # drop: cut the connection before the status line (by default, mid-body).
    before_headers: bool = False

    @property
    def cuts_before_headers(self) -> bool:
        return self.before_headers


@dataclass(frozen=True)
class Request:
    """One request as the emulator received it (body already gunzipped)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_encoding: str | None


# --- the emulator ----------------------------------------------------------------------


class ApifyEmulator(Emulator[Fault]):
    def __init__(
        self,
        *,
        tokens: Sequence[str] = (DEFAULT_TOKEN,),
        gzip_responses: bool = True,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
    ) -> None:
        super().__init__()
        self.tokens = set(tokens)
        self.token = next(iter(tokens), DEFAULT_TOKEN)
        self.gzip_responses = gzip_responses
        self.max_wait_seconds = max_wait_seconds
        self.actors: dict[str, Actor] = {}
        self.runs: dict[str, Run] = {}
        self.datasets: dict[str, Dataset] = {}
        self.requests: list[Request] = []

    # -- state set-up

    def add_actor(
        self,
        full_name: str = "compass/crawler-google-places",
        *,
        items: Items = (),
        run_seconds: float | None = 0.05,
        final_status: str = "SUCCEEDED",
        actor_id: str | None = None,
    ) -> Actor:
        username, _, name = full_name.partition("/")
        actor = Actor(
            id=actor_id or new_id(),
            username=username,
            name=name,
            items=items,
            run_seconds=run_seconds,
            final_status=final_status,
        )
        with self.lock:
            self.actors[actor.id] = actor
        return actor

    def add_dataset(
        self,
        items: Sequence[dict[str, Any]] = (),
        *,
        name: str | None = None,
        dataset_id: str | None = None,
    ) -> Dataset:
        dataset = Dataset(id=dataset_id or new_id(), items=list(items), name=name)
        with self.lock:
            self.datasets[dataset.id] = dataset
        return dataset

    def add_run(
        self,
        actor: Actor,
        *,
        items: Sequence[dict[str, Any]] = (),
        status: str = "SUCCEEDED",
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        input: dict[str, Any] | None = None,
        compute_units: float | None = 0.0123,
        usage_usd: float | None = 0.0049,
        origin: str = "WEB",
    ) -> Run:
        """A run that already happened (or is going on, for a non-final status)."""
        started = started_at or datetime.now(UTC) - timedelta(minutes=5)
        if finished_at is None and status in TERMINAL:
            finished_at = started + timedelta(seconds=42)
        run_id = new_id()
        dataset = Dataset(id=new_id(), items=list(items), act_id=actor.id, act_run_id=run_id)
        run = Run(
            id=run_id,
            actor=actor,
            dataset=dataset,
            started_at=started,
            status=status,
            finished_at=finished_at,
            input=input,
            compute_units=compute_units,
            usage_usd=usage_usd,
            origin=origin,
        )
        with self.lock:
            self.datasets[dataset.id] = dataset
            self.runs[run.id] = run
        return run

    def finish_run(
        self, run_id: str, status: str = "SUCCEEDED", items: Sequence[dict[str, Any]] = ()
    ) -> None:
        """End a run started with run_seconds=None (or end one early)."""
        with self.lock:
            run = self.runs[run_id]
            run.dataset.items.extend([*run.pending_items, *items])
            run.pending_items = []
            run.status, run.finished_at, run.finish_at = status, datetime.now(UTC), None

    # -- faults

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """The next ``times`` matching requests get ``status`` (429 storm: status=429)."""
        return self._inject(
            Fault("fail", times, path, method, status=status, retry_after=retry_after)
        )

    def slow(
        self, delay: float, *, times: int = 1, path: str | None = None, method: str | None = None
    ) -> Fault:
        """The next ``times`` matching requests are answered after ``delay`` seconds."""
        return self._inject(Fault("slow", times, path, method, delay=delay))

    def drop(
        self,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        after_bytes: int | None = None,
        before_headers: bool = False,
    ) -> Fault:
        """The next ``times`` matching requests have their connection cut mid-body."""
        fault = Fault(
            "drop", times, path, method, after_bytes=after_bytes, before_headers=before_headers
        )
        return self._inject(fault)

    def requests_to(self, path_part: str, method: str | None = None) -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.requests
                if path_part in r.path and (method is None or r.method == method)
            ]

    # -- the API

    def handle(self, request: Request) -> tuple[int, dict[str, str], Any]:
        """(status, extra headers, JSON body or raw bytes) for one request."""
        self._check_token(request)
        parts = [unquote(p) for p in request.path.split("/") if p]
        if not parts or parts[0] != "v2":
            raise ApiError(404, "page-not-found", f"Page not found: {request.path}")
        route = parts[1:]
        with self.lock:
            return self._route(request, route)

    def _check_token(self, request: Request) -> None:
        bearer = bearer_token(request.headers)
        # Without the header, the service takes the token from the query string.
        token = bearer if bearer is not None else request.query.get("token")
        if not token:
            raise ApiError(401, "token-not-provided", "Authentication token was not provided")
        if token not in self.tokens:
            raise ApiError(
                401,
                "user-or-token-not-found",
                "User was not found or authentication token is not valid",
            )

    def _route(self, request: Request, route: list[str]) -> tuple[int, dict[str, str], Any]:
        method, q = request.method, request.query
        match route:
            case ["acts" | "actors", actor_ref]:
                return 200, {}, {"data": self._actor(actor_ref).to_json()}
            case ["acts" | "actors", actor_ref, "runs"] if method == "POST":
                return self._start_run(self._actor(actor_ref), request)
            case ["acts" | "actors", actor_ref, "runs"]:
                runs = [r for r in self.runs.values() if r.actor.id == self._actor(actor_ref).id]
                return 200, {}, {"data": self._list_runs(runs, q)}
            case ["acts" | "actors", actor_ref, "runs", "last", *rest]:
                run = self._last_run(self._actor(actor_ref), q.get("status"))
                return self._run_route(run, rest, request)
            case ["actor-runs"]:
                return 200, {}, {"data": self._list_runs(list(self.runs.values()), q)}
            case ["actor-runs", run_id, *rest]:
                return self._run_route(self._run(run_id), rest, request)
            case ["datasets", dataset_id]:
                return 200, {}, {"data": self._dataset(dataset_id).to_json()}
            case ["datasets", dataset_id, "items"] if method == "POST":
                return self._push_items(self._dataset(dataset_id), request)
            case ["datasets", dataset_id, "items"]:
                return self._items(self._dataset(dataset_id), q)
            case ["key-value-stores", kvs_id, "records", "INPUT"]:
                owner = next((r for r in self.runs.values() if r.kvs_id == kvs_id), None)
                if owner is None or owner.input is None:
                    raise ApiError(404, "record-not-found", "Record was not found")
                return 200, {"Content-Type": "application/json; charset=utf-8"}, owner.input
        raise ApiError(404, "page-not-found", f"Page not found: {request.path}")

    def _run_route(
        self, run: Run, rest: list[str], request: Request
    ) -> tuple[int, dict[str, str], Any]:
        match rest:
            case []:
                return 200, {}, {"data": self._wait(run, request.query).to_json()}
            case ["abort"] if request.method == "POST":
                if run.status not in TERMINAL:
                    run.status, run.finished_at, run.finish_at = "ABORTED", datetime.now(UTC), None
                return 200, {}, {"data": run.to_json()}
            case ["dataset"]:
                return 200, {}, {"data": run.dataset.to_json()}
            case ["dataset", "items"]:
                return self._items(run.dataset, request.query)
            case ["log"]:
                return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"emulated run log\n"
        raise ApiError(404, "page-not-found", f"Page not found: {request.path}")

    def _actor(self, ref: str) -> Actor:
        ref = ref.replace("~", "/")
        for actor in self.actors.values():
            if ref in (actor.id, actor.full_name):
                return actor
        raise ApiError(404, "record-not-found", "Actor was not found")

    def _run(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise ApiError(404, "record-not-found", "Actor run was not found")
        self._tick(run)
        return run

    def _dataset(self, dataset_id: str) -> Dataset:
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            dataset = next((d for d in self.datasets.values() if d.name == dataset_id), None)
        if dataset is None:
            raise ApiError(404, "record-not-found", "Dataset was not found")
        return dataset

    def _tick(self, run: Run) -> None:
        """Move a run along its lifecycle: READY, RUNNING, then its final status."""
        if run.status in TERMINAL:
            return
        if run.finish_at is None or time.monotonic() < run.finish_at:
            if run.status == "READY":
                run.status = "RUNNING"  # seen once as READY, by the start's answer
            return
        items = run.pending_items
        if run.max_items is not None:
            items = items[: run.max_items]
        run.dataset.items.extend(items)
        run.pending_items, run.finish_at = [], None
        run.status, run.finished_at = run.final_status, datetime.now(UTC)

    def _wait(self, run: Run, query: dict[str, str]) -> Run:
        wait = min(float(query.get("waitForFinish", 0) or 0), self.max_wait_seconds)
        deadline = time.monotonic() + wait
        while run.status not in TERMINAL and time.monotonic() < deadline:
            # Let the other request threads in while this one long-polls.
            self.lock.release()
            try:
                time.sleep(0.005)
            finally:
                self.lock.acquire()
            self._tick(run)
        return run

    def _start_run(self, actor: Actor, request: Request) -> tuple[int, dict[str, str], Any]:
        q = request.query
        run_input: dict[str, Any] | None = None
        if request.body:
            try:
                run_input = json.loads(request.body)
            except ValueError as exc:
                raise ApiError(400, "invalid-input", f"Input is not valid JSON: {exc}") from exc
        run_id = new_id()
        dataset = Dataset(id=new_id(), act_id=actor.id, act_run_id=run_id)
        items = actor.items(run_input) if callable(actor.items) else actor.items
        run = Run(
            id=run_id,
            actor=actor,
            dataset=dataset,
            started_at=datetime.now(UTC),
            input=run_input,
            compute_units=0.01,
            usage_usd=0.004,
            origin="API",
            final_status=actor.final_status,
            pending_items=[dict(item) for item in items],
            timeout_secs=int(q.get("timeout", 3600)),
            memory_mbytes=int(q.get("memory", 1024)),
            max_items=int(q["maxItems"]) if "maxItems" in q else None,
        )
        if not 128 <= run.memory_mbytes <= 32768:
            raise ApiError(400, "invalid-value", "memory must be between 128 and 32768 megabytes")
        if actor.run_seconds is not None:
            run.finish_at = time.monotonic() + actor.run_seconds
        self.datasets[dataset.id] = dataset
        self.runs[run.id] = run
        if "waitForFinish" in q:
            self._wait(run, q)
        return 201, {}, {"data": run.to_json()}

    def _list_runs(self, runs: list[Run], q: dict[str, str]) -> dict[str, Any]:
        for run in runs:
            self._tick(run)
        wanted = set(q["status"].split(",")) if q.get("status") else None
        after = parse_time(q["startedAfter"]) if q.get("startedAfter") else None
        before = parse_time(q["startedBefore"]) if q.get("startedBefore") else None
        chosen = [
            r
            for r in runs
            if (wanted is None or r.status in wanted)
            and (after is None or r.started_at >= after)
            and (before is None or r.started_at <= before)
        ]
        desc = flag(q.get("desc"))
        chosen.sort(key=lambda r: r.started_at, reverse=desc)
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 1000))
        page = chosen[offset : offset + limit]
        return {
            "total": len(chosen),
            "offset": offset,
            "limit": limit,
            "desc": desc,
            "count": len(page),
            "items": [r.to_short_json() for r in page],
        }

    def _last_run(self, actor: Actor, status: str | None) -> Run:
        runs = [r for r in self.runs.values() if r.actor.id == actor.id]
        for run in runs:
            self._tick(run)
        runs = [r for r in runs if status is None or r.status == status]
        if not runs:
            raise ApiError(404, "record-not-found", "Actor run was not found")
        return max(runs, key=lambda r: r.started_at)

    def _items(self, dataset: Dataset, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        fmt = q.get("format", "json")
        if fmt != "json":
            raise ApiError(
                400, "invalid-parameter", f"format {fmt!r} is not served by the emulator"
            )
        desc = flag(q.get("desc"))
        clean = flag(q.get("clean"))
        skip_empty = clean or flag(q.get("skipEmpty"))
        skip_hidden = clean or flag(q.get("skipHidden"))
        offset = int(q.get("offset", 0) or 0)
        limit = int(q["limit"]) if q.get("limit") else NO_LIMIT
        ordered = dataset.items[::-1] if desc else dataset.items
        scanned = ordered[offset : offset + limit]
        fields = [f for f in q.get("fields", "").split(",") if f]
        omit = {f for f in q.get("omit", "").split(",") if f}
        out: list[dict[str, Any]] = []
        for item in scanned:
            shown = _clean_item(item) if skip_hidden else dict(item)
            if skip_empty and not _clean_item(item):
                continue
            if fields:
                shown = {f: shown[f] for f in fields if f in shown}
            out.append({k: v for k, v in shown.items() if k not in omit})
        headers = {
            "X-Apify-Pagination-Total": str(len(dataset.items)),
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": str(limit),
            # Rows scanned for this page (what the client's next offset builds on),
            # which clean/skipEmpty can leave above the number of items returned.
            "X-Apify-Pagination-Count": str(len(scanned)),
            "X-Apify-Pagination-Desc": "true" if desc else "false",
        }
        return 200, headers, out

    def _push_items(self, dataset: Dataset, request: Request) -> tuple[int, dict[str, str], Any]:
        try:
            payload = json.loads(request.body)
        except ValueError as exc:
            raise ApiError(400, "invalid-payload", f"Body is not valid JSON: {exc}") from exc
        dataset.items.extend(payload if isinstance(payload, list) else [payload])
        return 201, {}, b""


def _clean_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("#")}


# --- HTTP ------------------------------------------------------------------------------


class _Handler(EmulatorHandler):
    emulator: ApifyEmulator

    def serve(self) -> None:
        try:
            request = self._read()
        except ApiError as exc:
            return self.send_api_error(exc)
        with self.emulator.lock:
            self.emulator.requests.append(request)
        fault = self.emulator.take_fault(request.method, request.path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "fail":
            return self._send_fault_status(fault)
        try:
            status, headers, payload = self.emulator.handle(request)
        except ApiError as exc:
            return self.send_api_error(exc)
        self.send_reply(status, headers, payload, fault)

    def _read(self) -> Request:
        incoming = self.read_request()
        encoding = incoming.headers.get("content-encoding")
        body = _decode(incoming.raw, encoding)
        return Request(
            self.command, incoming.path, incoming.query, incoming.headers, body, encoding
        )

    def _send_fault_status(self, fault: Fault) -> None:
        headers: dict[str, str] = {}
        if fault.status == 429:
            error = {"type": "rate-limit-exceeded", "message": "You have exceeded the rate limit"}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
        else:
            error = {"type": "internal-server-error", "message": "Internal server error (emulated)"}
        self.send_reply(fault.status, headers, {"error": error})

    def encode_body(self, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        """Gzip a reply worth it when the client accepts it, as the service does."""
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if self.emulator.gzip_responses and accepts_gzip and len(body) > 256:
            return {**headers, "Content-Encoding": "gzip"}, gzip.compress(body, compresslevel=1)
        return headers, body


def _decode(raw: bytes, encoding: str | None) -> bytes:
    """A request body with its Content-Encoding undone (the client gzips large ones)."""
    if not encoding or encoding == "identity":
        return raw
    if encoding == "gzip":
        try:
            return gzip.decompress(raw)
        except OSError as exc:
            raise ApiError(400, "invalid-payload", f"Body is not valid gzip: {exc}") from exc
    raise ApiError(415, "unsupported-content-encoding", f"Content-Encoding {encoding!r}")


ApifyEmulator.handler = _Handler  # set here: the handler is defined after the emulator
