"""/docs and /redoc work offline, under a CSP, and offer "Authorize"."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.browser import ConsoleServer


def _offline(page: Any, server: ConsoleServer) -> list[str]:
    """Refuse every request that leaves the server; returns what was refused."""
    refused: list[str] = []

    def route(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return refused


def test_openapi_declares_the_bearer_scheme(console: ConsoleServer) -> None:
    # The first request builds the document (~0.7 s for 60 paths, several
    # seconds on a busy 2-core runner): a content test, not a latency one.
    document = httpx.get(f"{console.url}/openapi.json", timeout=30).json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    leads = document["paths"]["/api/v1/leads"]["get"]
    assert {"bearerAuth": []} in leads["security"]
    # Signing in needs no token.
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]


def test_docs_pages_load_only_their_own_assets(console: ConsoleServer) -> None:
    for path in ("/docs", "/redoc"):
        answer = httpx.get(f"{console.url}{path}", timeout=30)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-eval" not in policy
        sources = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
        assert sources and all(source.startswith("/") for source in sources), sources
        for source in sources:
            assert httpx.get(f"{console.url}{source}", timeout=30).status_code == 200, source


def test_swagger_ui_renders_offline_and_authorizes(
    console: ConsoleServer, page: Any, shot: Any
) -> None:
    refused = _offline(page, console)
    page.goto(f"{console.url}/docs")
    page.get_by_text("/api/v1/leads/{lead_id}", exact=False).first.wait_for()
    authorize = page.get_by_role("button", name=re.compile("Authorize"))
    authorize.first.click()
    page.get_by_text("bearerAuth", exact=False).first.wait_for()
    shot(page, "swagger")
    assert refused == []


def test_redoc_renders_offline(console: ConsoleServer, page: Any) -> None:
    refused = _offline(page, console)
    page.goto(f"{console.url}/redoc")
    page.get_by_role("heading", name=re.compile("leadbase")).first.wait_for()
    page.get_by_text("bearerAuth", exact=False).first.wait_for()
    assert refused == []
    # ReDoc's page is long: a full-page screenshot of it at the fixture's
    # teardown can outlast its timeout on a busy machine.
    page.goto("about:blank")
