"""`leadbase migrate-json DIR`: seed 004's lead JSON files, in every shape the
agents wrote them, into the database; re-run, --validate, --dry-run, a broken
file; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase.cli import app
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.models import MigrationLog, SalesLead
from tests import dbs

runner = CliRunner()

# --- the folder the agents left -------------------------------------------------------

MARIE_ID = "6f1c2a9e-3b7d-4e51-9c0a-1d2e3f4a5b6c"


def seed_004_leads() -> list[dict[str, Any]]:
    """The shared leads file in seed 004's own columns."""
    return [
        {
            "id": MARIE_ID,
            "uuid": MARIE_ID,
            "full_name": "Marie Tremblay",
            "linkedin_url": "https://www.linkedin.com/in/marie-tremblay/",
            "email": "marie.tremblay@cloudnord.ca",
            "company": "CloudNord",
            "title": "VP Engineering",
            "location": "Montreal, Canada",
            "industry": "Software",
            "company_size": "51-200",
            "verified": True,
            "enriched": True,
            "needs_enrichment": False,
            "status": "enriched",
            "source": "linkedin_scraper",
            "scraped_at": "2024-01-15T10:30:00Z",
            "enriched_at": "2024-01-16 08:00:00",
            "airtable_id": "recA1b2C3d4E5f6G7",
            "airtable_synced": True,
            "raw_data": {"connections": 500, "headline": "Building data platforms"},
        },
        {
            "id": "b2c3d4e5-0000-4000-8000-000000000002",
            "full_name": "Jean-Philippe Roy",
            "linkedin_url": "linkedin.com/in/jproy",
            "email": None,
            "company": "Roy & Fils Inc.",
            "title": "Owner",
            "location": "Quebec City, QC, Canada",
            "verified": "false",
            "enriched": False,
            "status": "ready_for_outreach",
            "scraped_at": "15/01/2024",
            "airtable_id": None,
        },
        {
            "id": "c3d4e5f6-0000-4000-8000-000000000003",
            "full_name": "Guy Lafleur",
            "status": "new",
            "scraped_at": "last tuesday",
        },
    ]


def scraper_leads() -> dict[str, Any]:
    """The LinkedIn scraper's output: camelCase, an object holding the array."""
    return {
        "scrapedAt": 1705312200000,
        "query": "CTO Montreal",
        "count": 3,
        "leads": [
            {
                # Marie again: her LinkedIn URL spelled another way, a phone she lacked.
                "fullName": "Marie Tremblay",
                "linkedinUrl": "https://linkedin.com/in/marie-tremblay",
                "jobTitle": "VP of Engineering",
                "companyName": "CloudNord",
                "phoneNumber": "+1 514 555 0142",
                "status": "contacted",
                "scrapedAt": 1705312200000,
            },
            {
                "fullName": "Sophie Nguyen",
                "linkedinUrl": "https://www.linkedin.com/in/sophie-nguyen-42",
                "jobTitle": "CTO",
                "company": {"name": "Pixelfab", "domain": "pixelfab.io", "size": "11-50"},
                "location": {"city": "Laval", "country": "Canada"},
                "status": "Meeting Booked",
                "createdAt": "Jan 20, 2024",
            },
            {
                "name": "Omar Haddad",
                "linkedin": "https://www.linkedin.com/in/omarhaddad",
                "email": "omar@haddad-conseil.fr",
                "phone": "call me after 5",
                "company": "Haddad Conseil",
                "location": "Paris, France",
                "status": "mystery-stage",
            },
        ],
    }


def enricher_leads() -> dict[str, Any]:
    """The enricher's cache: leads keyed by their (short) id."""
    return {
        "17": {
            "name": "Sophie Nguyen",
            "emails": ["sophie@pixelfab.io", "s.nguyen@gmail.com"],
            "company": {"name": "Pixelfab", "website": "https://pixelfab.io"},
            "enriched": "yes",
        },
        "18": {
            "first_name": "Lena",
            "last_name": "Fischer",
            "email": "lena.fischer@brightwerk.de",
            "company": "Brightwerk GmbH",
            "website": "brightwerk.de",
            "phone": 4930123456,
            "tags": "fintech; berlin",
            "status": "Closed Won",
            "updated_at": "2024-02-01T09:15:00+01:00",
        },
    }


def write_folder(root: Path) -> Path:
    """A folder like the agents' shared one, every shape and a few bad apples."""

    def put(relative: str, content: Any) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        path.write_text(text, encoding="utf-8")

    put("shared/leads.json", seed_004_leads())
    put("scraper/output/linkedin_2024-01-15.json", scraper_leads())
    put("enricher/cache.json", enricher_leads())
    put(
        "enricher/last_lead.json",
        {
            "full_name": "Ana Costa",
            "email": "ana.costa@verdemar.pt",
            "company": "Verdemar",
            "title": "Head of Growth",
            "location": "Lisbon, Portugal",
        },
    )
    lines = [
        json.dumps({"full_name": "Tom Becker", "email": "tom@beckerlogistik.de", "status": "lost"}),
        "",
        '{"full_name": "Broken Line", "email": ',
        json.dumps({"company": "Nameless Corp", "industry": "Retail"}),
        json.dumps({"full_name": "Priya Shah", "email": "not-an-email", "title": "CFO"}),
        json.dumps({"email": "also@not@valid"}),
    ]
    put("daily/2024-01-16.ndjson", "\n".join(lines) + "\n")
    put("config/agent_config.json", {"agent_name": "scraper", "max_leads": 50, "dry": False})
    put("campaigns/state.json", [{"campaign": "Q1 outreach", "sent": 120, "opened": 48}])
    put("broken/partial_write.json", '[{"full_name": "Half Written", "email": "half@')
    put(".cache/leads.json", [{"full_name": "Hidden Person", "email": "hidden@example.com"}])
    return root


LEAD_FILES = {
    "shared/leads.json",
    "scraper/output/linkedin_2024-01-15.json",
    "enricher/cache.json",
    "enricher/last_lead.json",
    "daily/2024-01-16.ndjson",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    if request.param == "sqlite":
        found = dbs.fresh_sqlite(sqlite_template, tmp_path)
    else:
        found = request.getfixturevalue("_server_urls")("postgresql")
        dbs.empty_all_tables(found)
    monkeypatch.setenv("LEADBASE_DATABASE_URL", found)
    get_settings.cache_clear()
    return found


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["migrate-json", *args])
    assert result.exit_code == code, result.output
    return result.stdout


def rows(url: str, model: Any) -> list[Any]:
    database = Database(url)
    try:
        with database.read_session() as session:
            found = list(session.scalars(select(model)))
            session.expunge_all()
            return found
    finally:
        database.dispose()


def count(url: str, model: Any) -> int:
    database = Database(url)
    try:
        with database.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        database.dispose()


def by_name(url: str) -> dict[str, SalesLead]:
    return {lead.full_name: lead for lead in rows(url, SalesLead)}


def latest_logs(url: str) -> dict[str, MigrationLog]:
    found: dict[str, MigrationLog] = {}
    for entry in sorted(rows(url, MigrationLog), key=lambda e: e.id):
        found[entry.source_file] = entry
    return found
