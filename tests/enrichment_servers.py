"""Local stand-ins for the internet the enrichment providers talk to.

``DnsServer``: a UDP DNS server on 127.0.0.1 answering from a dict (MX, A,
...), NXDOMAIN for names it does not know, SERVFAIL or silence for the names
told to fail. ``WebServer``: company homepages as real sites write them
(JSON-LD, Open Graph, footers with mailto:/tel:/LinkedIn links), redirects,
a huge page, slow pages, junk; and webhook endpoints that record what they
were sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from tests.emulators.base import QuietServer

# --- DNS -------------------------------------------------------------------------------

Records = Mapping[str, Mapping[str, list[str]]]


class DnsServer:
    def __init__(
        self,
        records: Records,
        *,
        silent: frozenset[str] = frozenset(),
        servfail: frozenset[str] = frozenset(),
        in_turn: Mapping[str, Sequence[Mapping[str, list[str]]]] | None = None,
    ) -> None:
        self.records = {name.lower().rstrip("."): dict(rr) for name, rr in records.items()}
        self.silent, self.servfail = silent, servfail
        # Names whose answers change: the n-th query of a type gets the n-th
        # record set (the last one repeats), as a rebinding attacker's does.
        self.in_turn = {
            name.lower().rstrip("."): list(sets) for name, sets in (in_turn or {}).items()
        }
        self._asked: dict[tuple[str, str], int] = {}
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._answer(wire)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.silent:
            return None  # the client waits out its timeout
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        records = self._records_for(name, rdtype)
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif rdtype in records:
            # TTL 0 for the changing names: nobody may cache them, as in rebinding.
            ttl = 0 if name in self.in_turn else 300
            response.answer.append(
                dns.rrset.from_text_list(question.name, ttl, "IN", rdtype, records[rdtype])
            )
        return response.to_wire()

    def _records_for(self, name: str, rdtype: str) -> Mapping[str, list[str]] | None:
        if name in self.in_turn:
            turn = self._asked[name, rdtype] = self._asked.get((name, rdtype), 0) + 1
            sets = self.in_turn[name]
            return sets[min(turn, len(sets)) - 1]
        return self.records.get(name)

    def asked(self, name: str, rdtype: str = "A") -> int:
        """How many times ``name`` was looked up for ``rdtype``."""
        return self.queries.count((name.lower(), rdtype))

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


# --- HTTP ------------------------------------------------------------------------------

ACME_HOME = """<!doctype html>
<html lang="en-US">
<head>
  <meta charset="utf-8">
  <title>Acme Robotics | Industrial robots that just work</title>
  <meta name="description" content="Short meta description.">
  <meta property="og:site_name" content="Acme Robotics (OG)">
  <meta property="og:description" content="OG description of Acme.">
  <meta property="og:locale" content="en_US">
  <link rel="stylesheet" href="/static/site.css">
  <script type="application/ld+json">
  {
    "@context": "https://schema.org",
    "@graph": [
      {"@type": "WebSite", "name": "Acme website", "url": "https://acmerobotics.io/"},
      {
        "@type": "Organization",
        "name": "Acme Robotics, Inc.",
        "url": "https://acmerobotics.io/",
        "description": "Acme Robotics builds collaborative robot arms for small factories.",
        "sameAs": [
          "https://twitter.com/acmerobotics",
          "https://www.linkedin.com/company/acme-robotics/"
        ],
        "address": {
          "@type": "PostalAddress",
          "streetAddress": "500 Howard St",
          "addressLocality": "San Francisco",
          "addressRegion": "CA",
          "addressCountry": "US"
        },
        "contactPoint": [
          {"@type": "ContactPoint", "telephone": "+1-415-555-0132", "contactType": "sales",
           "email": "sales@acmerobotics.io"}
        ]
      }
    ]
  }
  </script>
  <script>window.dataLayer = window.dataLayer || []; var x = "a@b";</script>
</head>
<body>
  <header><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>
  <main>
    <h1>Robots for the rest of us</h1>
    <p>Questions? Write to press@acmerobotics.io or call us.</p>
  </main>
  <footer>
    <a href="mailto:hello@acmerobotics.io?subject=Hi%20there">hello@acmerobotics.io</a>
    <a href="mailto:jobs@greenhouse.io">Careers</a>
    <a href="tel:+14155550199">+1 (415) 555-0199</a>
    <a href="tel:12">bad number</a>
    <a href="https://www.linkedin.com/in/ceo-person">Our CEO</a>
    <a href="https://www.linkedin.com/company/acme-robotics?trk=footer">LinkedIn</a>
    <p>&copy; 2026 Acme Robotics, Inc.</p>
  </footer>
</body>
</html>
"""

GLOBEX_HOME = """<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>Home \u2013 Globex Corporation</title>
<meta name="description" content="Globex: logistics software for hauliers across Europe.">
<meta property="og:locale" content="en_GB">
<script type="application/ld+json">{ this is : not json }</script>
</head>
<body>
<div class="footer">
  <p>Globex Corporation Ltd, 1 Canada Square, London</p>
  <a href="MAILTO:Info@Globex.co.uk">Info@Globex.co.uk</a>
  <a href="tel:020 7946 0958">020 7946 0958</a>
  <a href="https://uk.linkedin.com/company/globex-corp">Follow us</a>
</div>
</body>
</html>
"""

TITLE_ONLY = "<html><head><title>Welcome - Initech</title></head><body>Hi</body></html>"


class WebServer:
    """Serves ``/sites/<domain>/`` pages and ``/webhook/<name>`` endpoints."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.webhook_delays: dict[str, float] = {}
        self.redirects: dict[str, str] = {}  # path -> Location, for a test's own hops
        self.webhook_answers: dict[str, tuple[int, str, bytes]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as sent, no 40 ms stall

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(
                    {"method": "GET", "path": self.path, "headers": dict(self.headers)}
                )
                server.get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.requests.append(
                    {
                        "method": "POST",
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body) if body else None,
                    }
                )
                server.post(self)

        self._httpd = QuietServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url_for(self, domain: str) -> list[str]:
        return [f"{self.base}/sites/{domain}/"]

    def hits(self, prefix: str) -> int:
        return sum(1 for r in self.requests if r["path"].startswith(prefix))

    # -- pages ------------------------------------------------------------------------

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout tests make it)

    def get(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        site = path.removeprefix("/sites/").split("/", 1)[0]
        redirect = {
            "/sites/hops.com/": "/sites/hops.com/step-1",
            "/sites/hops.com/step-1": f"{self.base}/sites/hops.com/step-2",
            "/sites/hops.com/step-2": "/sites/acmerobotics.io/",
            "/sites/loop.com/": "/sites/loop.com/",
            "/sites/ftp.com/": "ftp://files.ftp.com/pub/",
            "/sites/metadata.com/": "http://169.254.169.254/latest/meta-data/",
        }
        redirect.update(self.redirects)
        if path in redirect:
            self._send(h, 302, headers={"Location": redirect[path]})
        elif site == "acmerobotics.io":
            self._send(h, 200, ACME_HOME.encode())
        elif site == "globex.co.uk":
            self._send(h, 200, GLOBEX_HOME.encode("cp1252"), "text/html; charset=windows-1252")
        elif site == "initech.com":
            self._send(h, 200, TITLE_ONLY.encode())
        elif site == "huge.com":
            head = b"<html><head><title>Huge Corp</title></head><body>"
            self._send(h, 200, head + b"<p>filler text</p>" * 200_000 + b"</body></html>")
        elif site == "slow.com":
            time.sleep(3)
            self._send(h, 200, TITLE_ONLY.encode())
        elif site == "drip.com":
            self._drip(h)
        elif site == "pdf.com":
            self._send(h, 200, b"%PDF-1.7 binary", "application/pdf")
        elif site == "binary.com":
            self._send(h, 200, bytes(range(256)) * 50)
        elif site == "gone.com":
            self._send(h, 404, b"<html><title>Not found</title></html>")
        elif site == "down.com":
            self._send(h, 503, b"maintenance")
        else:
            self._send(h, 404, b"no such site")

    @staticmethod
    def _drip(h: BaseHTTPRequestHandler) -> None:
        """A byte every 50 ms: never idle long enough for a read timeout."""
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "10000")
        h.end_headers()
        try:
            for _ in range(10000):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def post(self, h: BaseHTTPRequestHandler) -> None:
        name = h.path.removeprefix("/webhook/")
        if name == "slow":
            time.sleep(3)
        time.sleep(self.webhook_delays.get(name, 0.0))
        status, content_type, body = self.webhook_answers.get(name, (404, "text/plain", b"?"))
        self._send(h, status, body, content_type)

    def answer_webhook(self, name: str, answer: Any, status: int = 200, delay: float = 0.0) -> str:
        """Make ``/webhook/<name>`` answer ``answer``, after ``delay`` seconds."""
        body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.webhook_answers[name] = (status, "application/json", body)
        self.webhook_delays[name] = delay
        return f"{self.base}/webhook/{name}"

    def __enter__(self) -> WebServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def servers(records: Records) -> Iterator[tuple[DnsServer, WebServer]]:
    with DnsServer(records) as dns_server, WebServer() as web:
        yield dns_server, web
