"""FastAPI application factory. The HTTP API proper arrives with its own issue;
this serves liveness and the error envelope every route will share."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from leadbase import __version__
from leadbase.errors import LeadbaseError


def envelope_error(exc: LeadbaseError) -> JSONResponse:
    body: dict[str, Any] = {
        "success": False,
        "error": exc.code,
        "message": exc.message,
        "details": exc.details,
    }
    return JSONResponse(body, status_code=exc.status_code)


def create_app() -> FastAPI:
    app = FastAPI(title="leadbase", version=__version__, openapi_url="/openapi.json")

    @app.exception_handler(LeadbaseError)
    def _domain_error(_request: Request, exc: LeadbaseError) -> JSONResponse:
        return envelope_error(exc)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness: the process answers. No auth, no database."""
        return {"success": True, "data": {"status": "ok", "version": __version__}}

    return app
