"""The console on the app: every section's router, in the order they must
match, around the sign-in pages and assets of web.pages.

Its own module so that the sections can import web.pages (the shared page
helpers) without web.pages importing them back.
"""

from __future__ import annotations

from fastapi import FastAPI

from leadbase.web import (
    analytics,
    companies,
    duplicates,
    export,
    imports,
    lead_detail,
    leads_list,
    list_views,
    pages,
    quick_add,
    sync,
)
from leadbase.web import facets as facet_values


def install(app: FastAPI) -> None:
    pages.mount_assets(app)
    # Literal paths (/leads/quick-add, /leads/columns, /leads/export,
    # /leads/facets/{field}) before /leads/{lead_id}.
    sections = (quick_add.router, list_views.router, export.router, facet_values.router)
    for section in (
        *sections,
        leads_list.router,
        lead_detail.router,
        companies.router,
        duplicates.router,
        imports.router,
        sync.router,
        analytics.router,
    ):
        app.include_router(section)
