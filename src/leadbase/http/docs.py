"""/docs (Swagger UI) and /redoc (ReDoc), served by leadbase itself.

FastAPI's own pages load their scripts from a CDN (and ReDoc its fonts from
Google), so on a closed network they were blank. The assets here come from a
registry package (``fastapi-offline``, pinned in pyproject.toml) and are
served from ``/docs/assets/``; the pages start them from a static script
rather than an inline one, so they run under a Content-Security-Policy as
strict as the console's: scripts from this origin only.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import PlainTextResponse

ASSETS_PATH = "/docs/assets"
PAGES = ("/docs", "/redoc")
# Scripts from this origin only, as on the console. Swagger UI draws its
# icons from data: URIs; ReDoc runs its search in a blob: worker and writes
# its styles into <style> elements (styled-components), which needs
# 'unsafe-inline' for styles, never for scripts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; "
    "img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'"
)

# Starts Swagger UI on the page's OpenAPI document: the page names it in a
# data attribute, since no inline script may pass it.
_SWAGGER_INIT = """\
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""

_REDOC_INIT = """\
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, {}, root);
});
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/static/logo.svg" type="image/svg+xml">
{styles}
</head>
<body>
<div id="{root}" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/{bundle}"></script>
<script src="{assets}/{init}"></script>
</body>
</html>
"""


@cache
def _package_assets() -> Path:
    """The folder of the pinned package's Swagger UI and ReDoc builds."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def _page(app: FastAPI, *, title: str, root: str, bundle: str, init: str, css: str = "") -> str:
    styles = f'<link rel="stylesheet" href="{ASSETS_PATH}/{css}">' if css else ""
    return _PAGE.format(
        title=escape(title),
        styles=styles,
        root=root,
        openapi_url=escape(app.openapi_url or "/openapi.json"),
        assets=ASSETS_PATH,
        bundle=bundle,
        init=init,
    )


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (create the app with docs_url=None
    and redoc_url=None, so FastAPI's CDN pages are not mounted)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        body = _page(
            app,
            title=f"{app.title} — API",
            root="swagger-ui",
            bundle="swagger-ui-bundle.js",
            init="swagger-init.js",
            css="swagger-ui.css",
        )
        return HTMLResponse(body)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        body = _page(
            app,
            title=f"{app.title} — API reference",
            root="redoc",
            bundle="redoc.standalone.js",
            init="redoc-init.js",
        )
        return HTMLResponse(body)

    # Literal routes before the mount: the two start-up scripts are ours.
    @app.get(f"{ASSETS_PATH}/swagger-init.js", include_in_schema=False)
    async def swagger_init() -> PlainTextResponse:
        return _script(_SWAGGER_INIT)

    @app.get(f"{ASSETS_PATH}/redoc-init.js", include_in_schema=False)
    async def redoc_init() -> PlainTextResponse:
        return _script(_REDOC_INIT)

    @app.get(f"{ASSETS_PATH}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> PlainTextResponse:
        return _script(_redoc_bundle())

    app.mount(ASSETS_PATH, StaticFiles(directory=_package_assets()), name="docs-assets")


# ReDoc's sidebar shows a logo from its makers' CDN: offline and under the
# CSP it fails, so it is our own mark instead.
_REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
LOGO_PATH = "/static/logo.svg"


@cache
def _redoc_bundle() -> str:
    source = (_package_assets() / "redoc.standalone.js").read_text(encoding="utf-8")
    return source.replace(_REDOC_CDN_LOGO, LOGO_PATH)


def _script(source: str) -> PlainTextResponse:
    return PlainTextResponse(
        source,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )
