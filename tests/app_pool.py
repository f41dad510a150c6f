"""Apps lent to tests, reused when idle.

A new app builds its routes on its first request (~0.5 s, several times
that under coverage). An idle app whose settings match is given the next
borrower's database, settings and fresh rate limits instead: every request
(and the lifespan) reads them from app.state.
"""

from __future__ import annotations

from fastapi import FastAPI

from leadbase.config import Settings
from leadbase.db import Database
from leadbase.http import ratelimit
from leadbase.http.app import create_app


class AppPool:
    def __init__(self) -> None:
        self._apps: dict[str, list[FastAPI]] = {}
        self._lent: set[int] = set()

    def lend(self, settings: Settings, database: Database) -> FastAPI:
        """An app on ``database`` that no borrower holds, made if need be."""
        if settings.admin_email is not None:  # create_app bootstraps the admin
            return create_app(settings, database)
        key = settings.model_dump_json(exclude={"database_url", "data_dir"})
        free = [app for app in self._apps.get(key, []) if id(app) not in self._lent]
        if free:
            app = free[0]
            app.state.settings = settings
            app.state.database = database
            app.state.limits = ratelimit.AppLimits.from_settings(settings)
        else:
            app = create_app(settings, database)
            self._apps.setdefault(key, []).append(app)
        self._lent.add(id(app))
        return app

    def give_back(self, app: FastAPI) -> None:
        self._lent.discard(id(app))

    def give_back_all(self) -> None:
        self._lent.clear()
