"""Rate limits and request size limits. (Filled in by the limits work.)"""

from __future__ import annotations

from fastapi import FastAPI, Request

from leadbase.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Middleware that must wrap every request (body size)."""


def limit_mutations(request: Request) -> None:
    """Router dependency: mutating requests are limited per principal."""
