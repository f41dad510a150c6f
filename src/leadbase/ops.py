"""Ops: /ready, /metrics, structured request logs. (Filled in by the ops work.)"""

from __future__ import annotations

from fastapi import FastAPI

from leadbase.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Routes and middleware for readiness, metrics and request logs."""
