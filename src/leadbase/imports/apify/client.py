"""Reading Apify: runs, datasets and their items, through the official
``apify-client`` pointed at ``LEADBASE_APIFY_API_URL`` (the tests' emulator,
or https://api.apify.com by default).

This class owns the retries, not apify-client: its own are switched off
(``max_retries=0``) because they sleep with ``time.sleep`` on a fixed 0.5 s
base whatever the server says, while an import must honour ``Retry-After``,
keep a bound on its attempts and let the tests skip the waiting. Reads are
retried on 429, 5xx, dropped connections and timeouts; starting a run is
retried on 429 only (a 5xx or a cut connection may have started it already,
and a second run costs money).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from apify_client import ApifyClient
from apify_client.errors import (
    ApifyApiError,
    InvalidResponseBodyError,
    RateLimitError,
    ServerError,
)
from apify_client.http_clients import ImpitHttpClient

T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})
# The service holds a waitForFinish request at most 60 s; we ask for that much each poll.
WAIT_CHUNK_SECONDS = 60
# runs_since(): a run that started this long before `since` and finished after it is
# still found; one that ran longer is not (the listing is by start time).
RUN_LOOKBACK = timedelta(days=3)
RUNS_PAGE = 100
MAX_RETRY_AFTER_SECONDS = 120.0


class ApifyError(Exception):
    """An Apify call failed for good; the message is for the user."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    actor_id: str
    actor_name: str | None  # "username/name", best effort
    status: str
    dataset_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    item_count: int | None  # the default dataset's, best effort
    compute_units: Decimal | None
    cost_usd: Decimal | None
    input: dict[str, Any] | None  # the run's INPUT record, best effort


@dataclass(frozen=True)
class DatasetInfo:
    dataset_id: str
    name: str | None
    item_count: int | None  # may lag behind a running actor
    run_id: str | None  # the run that made it, if one did


class _HttpClient(ImpitHttpClient):
    """apify-client's own transport, keeping what its errors drop: the last Retry-After."""

    retry_after: str | None = None

    def send_request(self, **kwargs: Any) -> Any:
        response = super().send_request(**kwargs)
        if response.status_code == 429:
            self.retry_after = response.headers.get("retry-after")
        return response


class Apify:
    """One import's connection to Apify (not shared between threads: it keeps the
    last Retry-After it saw)."""

    def __init__(
        self,
        token: str | None,
        api_url: str | None,
        *,
        page_size: int = 1000,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        if page_size < 1 or max_attempts < 1:
            raise ValueError("page_size and max_attempts must be at least 1")
        self.token = token
        self.page_size = page_size
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._timeout = timeout
        self._backoff, self._max_backoff = backoff, max_backoff
        each = timedelta(seconds=timeout)
        self._http = _HttpClient(
            token=token,
            timeout_short=each,
            timeout_medium=each,
            timeout_long=each,
            timeout_max=max(each, timedelta(seconds=WAIT_CHUNK_SECONDS) + each),
            max_retries=0,
            user_agent_suffix="leadbase",
        )
        self._client = ApifyClient.with_custom_http_client(
            token, api_url=api_url or "https://api.apify.com", http_client=self._http
        )
        self._actor_names: dict[str, str | None] = {}

    @classmethod
    def from_settings(cls, **options: Any) -> Apify:
        """The client ``LEADBASE_APIFY_TOKEN`` and ``LEADBASE_APIFY_API_URL`` describe."""
        from leadbase.config import get_settings

        settings = get_settings()
        return cls(settings.apify_token, settings.apify_api_url, **options)

    # --- runs and datasets

    def run(self, run_id: str) -> RunInfo:
        run = self._call(f"Apify run {run_id}", self._client.run(run_id).get)
        if run is None:
            raise ApifyError(f"Apify run {run_id} not found", status=404, type="record-not-found")
        return self._info(run)

    def dataset(self, dataset_id: str) -> tuple[int | None, str | None]:
        """(item count, name) of a dataset; the count may lag behind a running actor."""
        found = self._call(f"Apify dataset {dataset_id}", self._client.dataset(dataset_id).get)
        if found is None:
            raise ApifyError(
                f"Apify dataset {dataset_id} not found", status=404, type="record-not-found"
            )
        return found.item_count, found.name

    def runs_since(self, actor: str, since: datetime | None) -> list[RunInfo]:
        """The actor's SUCCEEDED runs that finished after ``since`` (all if None), oldest first."""
        since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
        floor = since - RUN_LOOKBACK if since else None
        runs = self._client.actor(actor).runs()
        found: list[Any] = []
        offset = 0
        while True:
            listing = partial(
                runs.list,
                limit=RUNS_PAGE,
                offset=offset,
                desc=True,
                status="SUCCEEDED",
                started_after=floor,
            )
            page = self._call(f"runs of Apify actor {actor}", listing)
            for short in page.items:
                done = short.finished_at
                if short.status == "SUCCEEDED" and (since is None or (done and done > since)):
                    found.append(short)
            offset += len(page.items)
            oldest = page.items[-1].started_at if page.items else None
            if len(page.items) < RUNS_PAGE or (floor and oldest and oldest < floor):
                break
        found.sort(key=lambda r: r.finished_at or r.started_at)
        return [self.run(short.id) for short in found]

    def start_run(self, actor: str, run_input: dict[str, Any] | None, *, wait: bool) -> RunInfo:
        """Start a run of ``actor``; with ``wait``, return once it has ended (any final status)."""
        start = partial(self._client.actor(actor).start, run_input=run_input)
        run = self._call(f"starting Apify actor {actor}", start, idempotent=False)
        if wait:
            run = self._wait(run.id)
        return self._info(run)

    def items(
        self, dataset_id: str, *, offset: int = 0
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """The dataset's items from ``offset`` on, a page at a time: (offset of the page's
        first item, items). ``items[i]`` is the dataset's item number ``offset + i``: empty
        items stay in as ``{}`` (skipping them would shift the offsets a resume relies on);
        hidden ``#fields`` are left out. A failed page is fetched again at the same offset,
        so no item is skipped or repeated."""
        dataset = self._client.dataset(dataset_id)
        timeout = timedelta(seconds=self._timeout)
        while True:
            fetch = partial(
                dataset.list_items,
                offset=offset,
                limit=self.page_size,
                skip_hidden=True,
                timeout=timeout,
            )
            page = self._call(f"items {offset}.. of Apify dataset {dataset_id}", fetch)
            if page.items:
                yield offset, page.items
            offset += len(page.items)
            if len(page.items) < self.page_size:
                return

    def dataset_info(self, dataset_id: str) -> DatasetInfo:
        """A dataset by id or name: its id, name, item count and the run that made it."""
        found = self._call(f"Apify dataset {dataset_id}", self._client.dataset(dataset_id).get)
        if found is None:
            raise ApifyError(
                f"Apify dataset {dataset_id} not found", status=404, type="record-not-found"
            )
        return DatasetInfo(found.id, found.name, found.item_count, found.act_run_id)

    def recent_runs(self, actor: str, *, limit: int = 50) -> list[RunInfo]:
        """The actor's latest runs of any status, newest first, as one listing
        shows them: no item count, input or compute units (a request each)."""
        listing = partial(self._client.actor(actor).runs().list, limit=limit, desc=True)
        page = self._call(f"runs of Apify actor {actor}", listing)
        return [
            RunInfo(
                run_id=short.id,
                actor_id=short.act_id,
                actor_name=self._actor_name(short.act_id),
                status=str(short.status),
                dataset_id=short.default_dataset_id,
                started_at=short.started_at,
                finished_at=short.finished_at,
                item_count=None,
                compute_units=None,
                cost_usd=_decimal(short.usage_total_usd),
                input=None,
            )
            for short in page.items
        ]

    # --- internals

    def _wait(self, run_id: str) -> Any:
        poll = partial(
            self._client.run(run_id).wait_for_finish,
            wait_duration=timedelta(seconds=WAIT_CHUNK_SECONDS),
            timeout=timedelta(seconds=WAIT_CHUNK_SECONDS + self._timeout),
        )
        while True:
            run = self._call(f"waiting for Apify run {run_id}", poll)
            if run is None:
                raise ApifyError(f"Apify run {run_id} not found", status=404)
            if run.status in TERMINAL_STATUSES:
                return run

    def _info(self, run: Any) -> RunInfo:
        dataset_id = run.default_dataset_id
        return RunInfo(
            run_id=run.id,
            actor_id=run.act_id,
            actor_name=self._actor_name(run.act_id),
            status=str(run.status),
            dataset_id=dataset_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            item_count=self._best_effort(lambda: self.dataset(dataset_id)[0]),
            compute_units=_decimal(run.stats.compute_units if run.stats else None),
            cost_usd=_decimal(run.usage_total_usd),
            input=self._best_effort(lambda: self._input(run.default_key_value_store_id)),
        )

    def _actor_name(self, actor_id: str) -> str | None:
        if actor_id not in self._actor_names:
            actor = self._best_effort(
                lambda: self._call("Apify actor", self._client.actor(actor_id).get)
            )
            name = f"{actor.username}/{actor.name}" if actor is not None else None
            self._actor_names[actor_id] = name
        return self._actor_names[actor_id]

    def _input(self, store_id: str) -> dict[str, Any] | None:
        record = self._call(
            "the run's input", partial(self._client.key_value_store(store_id).get_record, "INPUT")
        )
        value = record.get("value") if record else None
        return value if isinstance(value, dict) else None

    def _best_effort(self, read: Callable[[], T]) -> T | None:
        """A detail worth having but not worth failing for; a refused token still fails."""
        try:
            return read()
        except ApifyError as exc:
            if exc.status in (401, 403):
                raise
            return None

    def _call(self, what: str, request: Callable[[], T], *, idempotent: bool = True) -> T:
        """``request()`` with retries: 429 (Retry-After, else backoff), and for reads 5xx,
        dropped connections and timeouts. At most ``max_attempts`` tries."""
        for attempt in range(1, self.max_attempts + 1):
            self._http.retry_after = None
            try:
                return request()
            except RateLimitError as exc:
                failure: Exception = exc
                delay = self._retry_after() or self._delay(attempt)
            except ServerError as exc:
                if not idempotent:
                    raise self._error(what, exc) from exc
                failure, delay = exc, self._delay(attempt)
            except ApifyApiError as exc:
                raise self._error(what, exc) from exc
            except Exception as exc:
                if not (idempotent and self._transient(exc)):
                    raise
                failure, delay = exc, self._delay(attempt)
            if attempt == self.max_attempts:
                raise self._gave_up(what, failure) from failure
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transient(self, exc: Exception) -> bool:
        return (
            self._http.is_retryable_transport_error(exc)
            or self._http.is_timeout_error(exc)
            # a body cut short that still parsed as far as the client read it
            or isinstance(exc, InvalidResponseBodyError)
        )

    def _delay(self, attempt: int) -> float:
        return float(min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))

    def _retry_after(self) -> float | None:
        raw = self._http.retry_after
        if raw is None:
            return None
        try:
            return min(max(float(raw), 0.0), MAX_RETRY_AFTER_SECONDS)
        except ValueError:
            return None  # an HTTP date: rare enough to back off instead

    def _error(self, what: str, exc: ApifyApiError) -> ApifyError:
        status, kind, message = exc.status_code, exc.type, exc.message
        if status == 401 and not self.token:
            text = f"{what}: no Apify token; set LEADBASE_APIFY_TOKEN ({message})"
        elif status == 401:
            text = f"{what}: Apify refused the token ({message}); check LEADBASE_APIFY_TOKEN"
        elif status == 403:
            text = f"{what}: the Apify token may not do this ({message})"
        elif status == 404:
            text = f"{what}: not found on Apify ({message})"
        else:
            text = f"{what}: Apify answered {status} {kind or ''}: {message}".replace("  ", " ")
        return ApifyError(text, status=status, type=kind)

    def _gave_up(self, what: str, exc: Exception) -> ApifyError:
        if isinstance(exc, ApifyApiError):
            reason = f"{exc.status_code} {exc.type or ''}".strip()
            status: int | None = exc.status_code
        else:
            reason, status = f"{type(exc).__name__}: {exc}", None
        return ApifyError(
            f"{what}: gave up after {self.max_attempts} attempts (last: {reason})", status=status
        )


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))
