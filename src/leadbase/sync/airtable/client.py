"""pyairtable, paced to the base's rate limit and retried on our own terms.

Airtable allows 5 requests a second per base and answers a 429 past it,
then wants 30 s of quiet. pyairtable's default retry (urllib3, 0.1 s
backoff, POSTs too) would hammer it, so the Api is built without one and
its HTTP session is swapped for :class:`PacedSession`: every request,
page reads included, waits its turn in the base's :class:`Pacer` (at most
``rate`` requests in any rolling second, per process) and is retried here:
a 429 after its ``Retry-After`` (else 30 s), a 5xx, a timeout or a dropped
connection after an exponential, jittered pause, ``max_attempts`` tries in
all. Retrying a write is safe because pushes upsert on the lead id
(``mapping.ID_FIELD``) and patch by record id.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from pyairtable import Api, Table

from leadbase.errors import LeadbaseError

RATE_LIMIT_PAUSE_SECONDS = 30.0
# A little over a second: our clock and the service's need not agree on
# where a window starts, and a 429 costs 30 s.
WINDOW_MARGIN_SECONDS = 0.05
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class AirtableError(LeadbaseError):
    """Airtable refused a request, or could not be reached after every try."""

    status_code = 502
    code = "airtable_error"

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind


class Pacer:
    """At most ``rate`` sends in any rolling window of ``count / rate`` seconds."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.count = max(1, int(rate))
        self.window = self.count / rate + WINDOW_MARGIN_SECONDS
        self._sent: deque[float] = deque(maxlen=self.count)
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self) -> float:
        """Block until a request may go; returns the seconds waited."""
        with self._lock:
            waited = 0.0
            if len(self._sent) == self.count:
                delay = self._sent[0] + self.window - self._clock()
                if delay > 0:
                    self._sleep(delay)
                    waited = delay
            self._sent.append(self._clock())
            return waited

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (after a 429): the window is filled ahead."""
        with self._lock:
            until = self._clock() + seconds
            self._sent.extend([until - self.window] * self.count)


_PACERS: dict[tuple[str, str, float], Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(api_url: str, base_id: str, rate: float) -> Pacer:
    """The process's one pacer of a base: every client of it shares the budget."""
    with _PACERS_LOCK:
        key = (api_url, base_id, rate)
        if key not in _PACERS:
            _PACERS[key] = Pacer(rate)
        return _PACERS[key]


@dataclass
class RequestStats:
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    waited_seconds: float = 0.0

    def as_counts(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
        }

    def since(self, before: Mapping[str, int]) -> dict[str, int]:
        """What was counted after ``before`` (an earlier ``as_counts()``): one
        run's share of a client that several runs share."""
        return {name: value - before.get(name, 0) for name, value in self.as_counts().items()}


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    rate_limit_pause: float = RATE_LIMIT_PAUSE_SECONDS
    backoff_base: float = BACKOFF_BASE_SECONDS
    backoff_max: float = BACKOFF_MAX_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep)

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random pause up to base * 2^(attempt-1), capped."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return default


class PacedSession(requests.Session):
    """A requests session that waits its turn and retries as the module says."""

    def __init__(self, pacer: Pacer, policy: RetryPolicy, stats: RequestStats) -> None:
        super().__init__()
        self.pacer = pacer
        self.policy = policy
        self.stats = stats

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        attempt = 0
        while True:
            attempt += 1
            self.stats.waited_seconds += self.pacer.wait()
            self.stats.requests += 1
            try:
                response = super().request(method, url, *args, **kwargs)
            except RETRYABLE_ERRORS as exc:
                if attempt >= self.policy.max_attempts:
                    raise AirtableError(
                        f"Airtable could not be reached after {attempt} tries: {exc}"
                    ) from exc
                self._pause(self.policy.backoff(attempt))
                continue
            pause = self._pause_for(response, attempt)
            if pause is None:
                return response
            self._pause(pause)

    def _pause_for(self, response: requests.Response, attempt: int) -> float | None:
        """How long to wait before trying again, or None: the answer stands."""
        if response.status_code == 429:
            self.stats.rate_limited += 1
            pause = _retry_after(response, self.policy.rate_limit_pause)
            self.pacer.hold(pause)
        elif response.status_code >= 500:
            pause = self.policy.backoff(attempt)
        else:
            return None
        return None if attempt >= self.policy.max_attempts else pause

    def _pause(self, seconds: float) -> None:
        self.stats.retries += 1
        self.policy.sleep(seconds)


def _raised(exc: requests.HTTPError) -> AirtableError:
    response = exc.response
    status = response.status_code if response is not None else None
    kind, message = None, str(exc)
    try:
        error = response.json().get("error") if response is not None else None
    except ValueError:
        error = None
    if isinstance(error, dict):
        kind = error.get("type")
        message = f"Airtable answered {status} {kind}: {error.get('message', '')}".rstrip(": ")
    elif isinstance(error, str):
        kind, message = error, f"Airtable answered {status} {error}"
    return AirtableError(message, status=status, kind=kind)


class AirtableClient:
    """One table of one base, as the sync uses it. Every method raises
    :class:`AirtableError` for an answer that is not a success."""

    def __init__(
        self,
        *,
        token: str,
        base_id: str,
        table: str,
        api_url: str | None = None,
        rate: float = 5.0,
        policy: RetryPolicy | None = None,
        timeout: int = 30,
        pacer: Pacer | None = None,
    ) -> None:
        endpoint = api_url or "https://api.airtable.com"
        self.base_id = base_id
        self.table_name = table
        self.stats = RequestStats()
        self.policy = policy or RetryPolicy()
        self.api = Api(
            token, endpoint_url=endpoint, retry_strategy=None, timeout=(timeout, timeout)
        )
        paced = pacer or pacer_for(endpoint, base_id, rate)
        self.api.session = PacedSession(paced, self.policy, self.stats)
        self.api.api_key = token  # sets the Authorization header on the new session
        self.table: Table = self.api.table(base_id, table)

    def _call(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except requests.HTTPError as exc:
            raise _raised(exc) from exc

    def field_types(self) -> dict[str, str]:
        """The table's fields as ``{name: type}`` (the metadata API)."""
        try:
            schema = self._call(lambda: self.table.schema(force=True))
        except KeyError:  # pyairtable: the base's schema has no table of that name
            raise AirtableError(
                f"the base has no table {self.table_name!r}", status=404, kind="TABLE_NOT_FOUND"
            ) from None
        # f.type is pyairtable's FieldType (a str enum): its value is the name.
        return {f.name: str(getattr(f.type, "value", f.type)) for f in schema.fields}

    def pages(
        self, *, formula: str | None = None, fields: Sequence[str] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The table's records a page (≤100) at a time."""
        options: dict[str, Any] = {"page_size": 100}
        if formula:
            options["formula"] = formula
        if fields:
            options["fields"] = list(fields)
        pages = self.table.iterate(**options)
        while True:
            page = self._call(lambda: next(pages, None))
            if page is None:
                return
            yield [dict(record) for record in page]

    def upsert(self, records: Sequence[dict[str, Any]], key_field: str) -> dict[str, Any]:
        """Create or update up to 10 records matched on ``key_field``."""
        result = self._call(
            lambda: self.table.batch_upsert(list(records), key_fields=[key_field], typecast=True)
        )
        return dict(result)

    def update(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """PATCH up to 10 records (``{"id", "fields"}``): fields not sent are kept."""
        batch: list[Any] = list(records)
        result = self._call(lambda: self.table.batch_update(batch, typecast=True))
        return [dict(record) for record in result]

    def delete(self, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        result = self._call(lambda: self.table.batch_delete(list(record_ids)))
        return [dict(record) for record in result]

    def get(self, record_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._call(lambda: self.table.get(record_id)))
        except AirtableError as exc:
            if exc.status == 404:
                return None
            raise
