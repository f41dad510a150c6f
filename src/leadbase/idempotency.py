"""Idempotency-Key on POST. (Filled in by the idempotency work.)"""

from __future__ import annotations

from fastapi import FastAPI

from leadbase.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Middleware replaying the first response to a repeated Idempotency-Key."""
