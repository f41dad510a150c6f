"""The HTTP plumbing the service emulators share.

An emulator is a real HTTP server on 127.0.0.1 (a free port) served from a
thread, so the tests drive it with the services' own clients. This module
holds what does not depend on the service: starting and stopping the
server, reading a request off the socket, writing a reply (or cutting the
connection for a ``drop`` fault), the fault record and its matching, the
error exception, ids and times. Each emulator keeps what is its service's:
routes, data, error types and bodies, the request log's shape.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# The faults taken by the next matching requests (others, such as Airtable's
# reject_record, match on what a request holds and are checked by the emulator).
PER_REQUEST_FAULTS = ("fail", "slow", "drop")
_ALPHABET = string.ascii_letters + string.digits


def random_chars(length: int) -> str:
    """Letters and digits, as the services' ids are made of."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def iso(moment: datetime) -> str:
    """A time as both services write one: UTC, milliseconds, a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO date or date-time as the services read one; naive means UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bearer_token(headers: dict[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (None without one)."""
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def flag(value: Any) -> bool:
    """A boolean option as sent in a query string (1/true) or a JSON body."""
    return value is True or str(value).lower() in ("1", "true")


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client
    goes away mid-connection (a worker the test kills, a kept-alive
    connection dropped): the test sees that from the client's side."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class ApiError(Exception):
    """An error answer: its status and the ``{"error": {"type", "message"}}`` body."""

    def __init__(self, status: int, type_: str, message: str = "") -> None:
        super().__init__(message or type_)
        self.status, self.type, self.message = status, type_, message

    def body(self) -> Any:
        return {"error": {"type": self.type, "message": self.message}}


@dataclass
class Fault:
    """A fault injected into the next ``times`` requests whose path contains
    ``path`` (and of ``method``, if given). Each emulator subclasses it with its
    own options and says where a ``drop`` cuts (``cuts_before_headers``)."""

    kind: str  # "fail" | "slow" | "drop", and what the emulator adds
    times: int | None  # None: every matching request, until clear_faults()
    path: str | None = None
    method: str | None = None
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    # drop: how many bytes of the body go out before the cut (None: half of it).
    after_bytes: int | None = None
    hits: int = 0

    @property
    def cuts_before_headers(self) -> bool:
        raise NotImplementedError

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.times is None or self.times > 0)
            and (self.path is None or self.path in path)
            and (self.method is None or self.method == method)
        )

    def use(self) -> None:
        self.hits += 1
        if self.times is not None:
            self.times -= 1


@dataclass(frozen=True)
class Incoming:
    """A request as read off the socket: header names lower-cased, the body raw."""

    path: str
    params: dict[str, list[str]]  # every value of each query parameter
    headers: dict[str, str]
    raw: bytes

    @property
    def query(self) -> dict[str, str]:
        """The last value of each query parameter."""
        return {name: values[-1] for name, values in self.params.items()}


class EmulatorHandler(BaseHTTPRequestHandler):
    """Reads requests and writes replies; a subclass's ``serve`` answers one."""

    emulator: Emulator[Any]  # set per server by Emulator.start
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle and delayed ACKs
    # hold every keep-alive answer ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read the emulator's request log instead

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def do_PUT(self) -> None:
        self.serve()

    def do_DELETE(self) -> None:
        self.serve()

    def serve(self) -> None:
        raise NotImplementedError

    def read_request(self) -> Incoming:
        split = urlsplit(self.path)
        params = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Incoming(split.path, params, headers, self._read_body(headers))

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunks()
        length = int(headers.get("content-length", 0) or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunks(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def send_api_error(self, exc: ApiError) -> None:
        self.send_reply(exc.status, {}, exc.body())

    def send_reply(
        self, status: int, headers: dict[str, str], payload: Any, fault: Fault | None = None
    ) -> None:
        """A JSON payload (raw bytes as they are), JSON typed unless a Content-Type is given."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        content_type = headers.get("Content-Type", JSON_CONTENT_TYPE)
        extra = {name: value for name, value in headers.items() if name != "Content-Type"}
        self.send_bytes(status, {"Content-Type": content_type, **extra}, data, fault)

    def encode_body(self, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        """The hook for a Content-Encoding of the reply (none here)."""
        return headers, body

    def send_bytes(
        self, status: int, headers: dict[str, str], body: bytes, fault: Fault | None = None
    ) -> None:
        """Write the reply, or as much of it as a ``drop`` fault lets out."""
        headers, body = self.encode_body(headers, body)
        drop = fault if fault is not None and fault.kind == "drop" else None
        if drop is not None and drop.cuts_before_headers:
            return self.cut()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if drop is not None:
                return self._send_part(body, drop)
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): nothing to answer

    def _send_part(self, body: bytes, drop: Fault) -> None:
        sent = len(body) // 2 if drop.after_bytes is None else drop.after_bytes
        self.wfile.write(body[:sent])
        self.wfile.flush()
        self.cut()

    def cut(self) -> None:
        """Close the connection the way a crashed proxy does: no more bytes, no goodbye."""
        self.close_connection = True
        with suppress(OSError):
            self.wfile.flush()
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


FaultT = TypeVar("FaultT", bound=Fault)


class Emulator(Generic[FaultT]):
    """A service emulator's server lifecycle and fault list; subclasses name
    their ``handler`` (an EmulatorHandler subclass) and add the routes."""

    handler: ClassVar[type[EmulatorHandler]]

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults: list[FaultT] = []
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    @contextmanager
    def running(cls, **options: Any) -> Iterator[Self]:
        emulator = cls(**options)
        emulator.start()
        try:
            yield emulator
        finally:
            emulator.stop()

    def start(self) -> None:
        handler = type("Handler", (self.handler,), {"emulator": self})
        self._server = QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll: stop() (the fixture's teardown) waits for one.
        serve = partial(self._server.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The root URL to give the service's client (the client appends the API version)."""
        assert self._server is not None, "the emulator is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _inject(self, fault: FaultT) -> FaultT:
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> FaultT | None:
        """The first per-request fault matching this request, used up by one; or None."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in PER_REQUEST_FAULTS and fault.matches(method, path):
                    fault.use()
                    return fault
        return None
