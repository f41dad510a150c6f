"""Console sign-in, sign-out, CSRF, roles, error pages, and the design tokens."""

from __future__ import annotations

import json
import re
from typing import Any

from leadbase.web import rendering
from tests.browser import PASSWORD, USERS, ConsoleServer


def test_sign_in_and_out_in_the_browser(console: ConsoleServer, page: Any, shot: Any) -> None:
    page.goto(f"{console.url}/leads?is_manual=true")
    # Not signed in: the page sends the browser to sign in, and back after.
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.get_by_label("Email").fill(USERS["editor"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    shot(page, "wrong-password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/leads\?is_manual=true$"))
    assert USERS["editor"] in page.get_by_test_id("signed-in-as").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "leadbase_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(f"{console.url}/leads")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))


def test_a_session_is_the_apis_refresh_token_and_logout_revokes_it(
    console: ConsoleServer,
) -> None:
    client = console.client("viewer")
    token = client.http.cookies["leadbase_session"]
    assert client.get("/leads").status_code == 200
    # Without the CSRF token, signing out is refused and the session lives on.
    refused = client.http.post("/logout", data={})
    assert refused.status_code == 403 and "reload the page" in refused.text
    assert client.get("/leads").status_code == 200
    assert client.post("/logout").status_code == 303
    # The old cookie no longer signs anyone in, nor refreshes an API token.
    client.http.cookies.set("leadbase_session", token)
    assert client.get("/leads").headers["location"].startswith("/login?next=/leads")
    api = client.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": token}, headers={"Accept": "*/*"}
    )
    assert api.status_code == 401
    client.close()


def test_the_login_form_needs_its_csrf_token_and_redirects_only_on_site(
    console: ConsoleServer,
) -> None:
    client = console.client(None)
    forged = client.http.post(
        "/login", data={"email": USERS["admin"], "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403 and "leadbase_session" not in client.http.cookies
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.http.post(
        "/login",
        data={
            "email": USERS["admin"],
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": "//evil.example.com/",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/leads"
    client.close()


def test_console_pages_answer_html_and_the_api_keeps_its_envelope(
    console: ConsoleServer,
) -> None:
    client = console.client("editor")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "There is no such page." in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    csp = missing.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    api = client.http.get("/api/v1/nope", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert client.get("/").headers["location"] == "/leads"
    css = client.get("/assets/tokens.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "--color-text: #1f2328;" in css.text
    client.close()


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_text_colour_pair_of_the_tokens_has_4_5_to_1_contrast() -> None:
    tokens = rendering.load_tokens()
    colours = tokens["color"]
    assert len(tokens["contrast"]) >= 15
    for foreground, background in tokens["contrast"]:
        ratio = contrast(colours[foreground], colours[background])
        assert ratio >= 4.5, f"{foreground} on {background}: {ratio:.2f}"
    # The checker itself: black on white is 21:1, a light grey on white fails.
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert contrast("#aaaaaa", "#ffffff") < 4.5


def test_tokens_become_css_variables(tmp_path: Any) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"color": {"ink": "#000"}, "space": {"2": "8px"}}))
    css = rendering.tokens_css(rendering.load_tokens(path))
    assert css == ":root {\n  --color-ink: #000;\n  --space-2: 8px;\n}\n"
