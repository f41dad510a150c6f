"""The console tests' world: a real leadbase server (uvicorn, on a free port,
in a thread of the test process) and Debian's Chromium driven by Playwright.

Fixtures (loaded by conftest.py as a plugin):
- ``console_factory(**settings)`` → a started ConsoleServer on a fresh
  migrated SQLite file, with an admin, an editor and a viewer; ``console`` is
  one with default settings (no job threads);
- ``page``: a fresh browser context and page; when the test ends its last
  screen is saved as ``test-results/<test>/final.png``, and the test fails if
  the page logged a script error or a CSP violation;
- ``shot(page, name)``: a named screenshot in the same folder.

Chromium missing: the tests skip with the reason, except under CI=true,
where they fail (`make install` installs it).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from leadbase import context
from leadbase.auth import service as auth_service
from leadbase.config import Settings
from leadbase.db import Database
from leadbase.leads import service as leads_service
from tests.app_pool import AppPool

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
USERS = {
    "admin": "admin@example.com",
    "editor": "editor@example.com",
    "viewer": "viewer@example.com",
}
# The machine's network is closed: without these Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Servers borrow their apps (tests/app_pool.py); an app goes back when its
# server stops, never to two running servers at once.
_POOL = AppPool()


class ConsoleServer:
    """leadbase serving the API and console on 127.0.0.1:<free port>."""

    def __init__(self, database_url: str, **settings: Any) -> None:
        values: dict[str, Any] = {
            "database_url": database_url,
            "secret_key": "console-test-secret-key-0123456789abcdef",
            "jobs_in_server": False,
            "job_poll_seconds": 0.1,
            # Tests sign in many times from one address.
            "login_rate_limit": "1000/minute",
            "mutation_rate_limit": "100000/minute",
        }
        values.update(settings)
        self.settings = Settings(**values)
        self.database = Database(database_url, self.settings)
        with context.acting_as("test:setup"), self.database.unit_of_work() as uow:
            for role, email in USERS.items():
                auth_service.create_user(uow.session, email, PASSWORD, role)
        self._app = _POOL.lend(self.settings, self.database)
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""

    def start(self) -> ConsoleServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the console server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self.database.dispose()
        _POOL.give_back(self._app)

    # --- seeding and signing in -------------------------------------------------

    def add_leads(self, rows: list[dict[str, Any]], actor: str = "test:seed") -> list[str]:
        """Leads created through the write path; their ids, in order."""
        with context.acting_as(actor), self.database.unit_of_work() as uow:
            results = leads_service.bulk_create(uow, rows)
        return [result.lead_id for result in results]

    def sign_in(self, page: Any, role: str = "editor") -> None:
        page.goto(f"{self.url}/login")
        page.get_by_label("Email").fill(USERS[role])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/leads.*"))

    def client(self, role: str | None = "editor") -> SignedInClient:
        """An HTTP client signed in to the console (no browser), for checks of
        headers, markup and refused posts."""
        return SignedInClient(self, role)


class SignedInClient:
    def __init__(self, server: ConsoleServer, role: str | None) -> None:
        self.http = httpx.Client(
            base_url=server.url, headers={"Accept": "text/html"}, follow_redirects=False
        )
        self.csrf_token = ""
        if role is not None:
            form = self.http.get("/login")
            token = _csrf_in(form.text)
            answer = self.http.post(
                "/login",
                data={"email": USERS[role], "password": PASSWORD, "csrf_token": token},
            )
            assert answer.status_code == 303, answer.text
            self.csrf_token = _csrf_in(self.http.get("/leads").text)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """A form post carrying the session's CSRF token (unless data names one)."""
        form = {"csrf_token": self.csrf_token, **(data or {})}
        return self.http.post(path, data=form, **kwargs)

    def close(self) -> None:
        self.http.close()


def _csrf_in(html: str) -> str:
    found = re.search(r'name="csrf[-_]token" (?:content|value)="([^"]+)"', html)
    return found.group(1) if found else ""


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture
def console_factory(
    sqlite_url: str,
) -> Iterator[Callable[..., ConsoleServer]]:
    started: list[ConsoleServer] = []

    def make(**settings: Any) -> ConsoleServer:
        server = ConsoleServer(sqlite_url, **settings).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def console(console_factory: Callable[..., ConsoleServer]) -> ConsoleServer:
    return console_factory()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (`make install` as root installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def output_dir(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    folder = request.config.rootpath / "test-results" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    browser_context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    browser_context.set_default_timeout(10_000)
    new_page = browser_context.new_page()
    problems: list[str] = []
    new_page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    new_page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield new_page
    try:
        new_page.screenshot(path=str(output_dir(request) / "final.png"), full_page=True)
    finally:
        browser_context.close()
    assert not problems, problems


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    def take(target_page: Any, name: str) -> Path:
        path = output_dir(request) / f"{name}.png"
        target_page.screenshot(path=str(path), full_page=True)
        return path

    return take
