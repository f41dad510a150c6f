"""`leadbase migrate-json DIR`: seed 004's lead JSON files, in every shape the
agents wrote them, into the database; re-run, --validate, --dry-run, a broken
file; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadbase import audit
from leadbase.cli import app
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.db import Database
from leadbase.errors import ValidationError
from leadbase.imports import migrate_json
from leadbase.models import AuditLog, LeadSource, MigrationLog, SalesLead

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


@pytest.fixture
def url(env_db_url: str) -> str:
    return env_db_url


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


# --- reading the old system's values (no database) ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:30:00Z", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-02-01T09:15:00+01:00", datetime(2024, 2, 1, 8, 15, tzinfo=UTC)),
        ("2024-01-16 08:00:00", datetime(2024, 1, 16, 8, 0, tzinfo=UTC)),
        ("2024-01-16 08:00:00.123456", datetime(2024, 1, 16, 8, 0, 0, 123456, tzinfo=UTC)),
        ("15/01/2024", datetime(2024, 1, 15, tzinfo=UTC)),
        ("01/31/2024", datetime(2024, 1, 31, tzinfo=UTC)),  # only month-first parses
        ("15.01.2024", datetime(2024, 1, 15, tzinfo=UTC)),
        ("Jan 20, 2024", datetime(2024, 1, 20, tzinfo=UTC)),
        ("20 January 2024", datetime(2024, 1, 20, tzinfo=UTC)),
        (1705312200, datetime(2024, 1, 15, 9, 50, tzinfo=UTC)),
        (1705312200000, datetime(2024, 1, 15, 9, 50, tzinfo=UTC)),
        ("1705312200", datetime(2024, 1, 15, 9, 50, tzinfo=UTC)),
        ("last tuesday", None),
        ("", None),
        (True, None),
        (42, None),
    ],
)
def test_dates_in_the_formats_the_agents_wrote(text: Any, expected: datetime | None) -> None:
    assert migrate_json.parse_date(text) == expected


def test_statuses_locations_and_flags() -> None:
    assert migrate_json.lead_status("Meeting Booked") == "qualified"
    assert migrate_json.lead_status("ready_for_outreach") == "new"
    assert migrate_json.lead_status("Closed Won") == "converted"
    assert migrate_json.lead_status("not-interested") == "lost"
    assert migrate_json.lead_status("mystery-stage") is None
    assert migrate_json.split_location("Montreal, Canada") == {
        "city": "Montreal",
        "country": "Canada",
    }
    assert migrate_json.split_location("Quebec City, QC, Canada") == {
        "city": "Quebec City",
        "state": "QC",
        "country": "Canada",
    }
    assert migrate_json.split_location("Greater London") == {"city": "Greater London"}
    assert [migrate_json.to_bool(v) for v in (True, "yes", "FALSE", 0, "", "maybe")] == [
        True,
        True,
        False,
        False,
        False,
        None,
    ]


def test_each_shape_is_found_and_non_leads_are_told_apart(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "agents")
    files = migrate_json.find_files(root)
    relative = {path.relative_to(root).as_posix() for path in files}
    # The hidden folder is not searched.
    assert relative == LEAD_FILES | {
        "config/agent_config.json",
        "campaigns/state.json",
        "broken/partial_write.json",
    }
    read = {f.relative: migrate_json.read_lead_file(f.path, root) for f in map(_read(root), files)}
    assert {name: (f.kind, f.shape, len(f.leads)) for name, f in read.items()} == {
        "shared/leads.json": ("leads", "array", 3),
        "scraper/output/linkedin_2024-01-15.json": ("leads", "object with 'leads'", 3),
        "enricher/cache.json": ("leads", "keyed by id", 2),
        "enricher/last_lead.json": ("leads", "one lead", 1),
        "daily/2024-01-16.ndjson": ("leads", "ndjson", 5),
        "config/agent_config.json": ("not_leads", "object", 0),
        "campaigns/state.json": ("not_leads", "array", 0),
        "broken/partial_write.json": ("broken", "invalid JSON", 0),
    }
    assert [lead.old_id for lead in read["enricher/cache.json"].leads] == ["17", "18"]
    assert "not valid JSON" in (read["broken/partial_write.json"].reason or "")


def test_ndjson_in_a_json_file_and_windows_text(tmp_path: Path) -> None:
    lines = [{"name": "Zoë Ångström", "email": "zoe@example.se"}, {"name": "Bo Ek"}]
    ndjson = tmp_path / "export.json"
    ndjson.write_text("\n".join(json.dumps(line) for line in lines))
    cp1252 = tmp_path / "windows.json"
    cp1252.write_bytes(json.dumps(lines, ensure_ascii=False).encode("cp1252"))
    utf16 = tmp_path / "powershell.json"
    utf16.write_bytes(json.dumps(lines, ensure_ascii=False).encode("utf-16"))  # with its BOM

    as_ndjson = migrate_json.read_lead_file(ndjson, tmp_path)
    as_cp1252 = migrate_json.read_lead_file(cp1252, tmp_path)

    assert (as_ndjson.kind, as_ndjson.shape, len(as_ndjson.leads)) == ("leads", "ndjson", 2)
    assert as_cp1252.kind == "leads"
    assert as_cp1252.leads[0].record == lines[0]
    assert migrate_json.read_lead_file(utf16, tmp_path).leads[0].record == lines[0]


def test_a_lead_holding_a_list_and_a_wrapper_with_a_name(tmp_path: Path) -> None:
    profile = {
        "fullName": "Nadia Benali",
        "linkedinUrl": "https://www.linkedin.com/in/nadia-benali",
        "experience": [{"name": "Acme", "title": "Engineer"}, {"name": "Globex"}],
    }
    campaign = {
        "name": "Q1 Montreal",
        "owner_email": "ops@example.com",
        "leads": [{"name": "Ann A"}, {"name": "Bob B"}],
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    (tmp_path / "campaign.json").write_text(json.dumps(campaign))
    (tmp_path / "empty.json").write_text("[]")

    read = {p.name: migrate_json.read_lead_file(p, tmp_path) for p in tmp_path.iterdir()}

    assert (read["profile.json"].shape, len(read["profile.json"].leads)) == ("one lead", 1)
    assert (read["campaign.json"].shape, len(read["campaign.json"].leads)) == (
        "object with 'leads'",
        2,
    )
    assert read["campaign.json"].scrape_params == {
        "name": "Q1 Montreal",
        "owner_email": "ops@example.com",
    }
    assert (read["empty.json"].kind, read["empty.json"].reason) == ("not_leads", "an empty array")


def test_an_empty_folder_and_a_missing_one(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "nothing to do" in invoke(str(tmp_path / "empty"))
    result = runner.invoke(app, ["migrate-json", str(tmp_path / "nowhere")])
    assert result.exit_code != 0


def _read(root: Path) -> Any:
    return lambda path: migrate_json.read_lead_file(path, root)


def test_a_camel_case_record_with_a_company_object(tmp_path: Path) -> None:
    record = scraper_leads()["leads"][1]
    source = migrate_json.SourceLead(1, None, record)
    mapped = migrate_json.to_lead(source, "scraper/out.json")
    lead = mapped.lead
    assert lead["full_name"] == "Sophie Nguyen"
    assert lead["linkedin_url"] == "https://www.linkedin.com/in/sophie-nguyen-42"
    assert lead["title"] == "CTO"
    assert (lead["company_name"], lead["company_domain"]) == ("Pixelfab", "pixelfab.io")
    assert (lead["city"], lead["country"]) == ("Laval", "Canada")
    assert lead["lead_status"] == "qualified"
    assert lead["raw_data"] == {
        "company": {"size": "11-50"},
        "status": "Meeting Booked",
        "createdAt": "2024-01-20T00:00:00+00:00",
    }
    assert lead["provider_name"] == "json_migration"
    assert lead["external_id"].startswith("sha256:")  # no id: a digest of the record
    assert mapped.warnings == []


def test_old_ids_short_ones_scoped_by_their_file() -> None:
    short = migrate_json.SourceLead(0, "17", {"name": "A"})
    long = migrate_json.SourceLead(0, MARIE_ID, {"name": "A"})
    assert migrate_json.external_id(short, "enricher/cache.json") == "enricher/cache.json#17"
    assert migrate_json.external_id(long, "enricher/cache.json") == MARIE_ID


def test_bad_values_are_kept_in_raw_data_not_the_lead_lost() -> None:
    record = {"name": "Omar Haddad", "email": "omar@haddad.fr", "phone": "call me after 5"}
    mapped = migrate_json.to_lead(migrate_json.SourceLead(0, None, record), "x.json")
    clean = migrate_json.cleaned(mapped)
    assert "phone" not in clean and clean["email"] == "omar@haddad.fr"
    assert mapped.lead["raw_data"]["invalid_phone"] == "call me after 5"
    assert any("phone kept in raw_data" in w for w in mapped.warnings)
    # An email that is the lead's only identity is no salvage: the lead fails.
    alone = migrate_json.to_lead(migrate_json.SourceLead(0, None, {"email": "a@b@c"}), "x.json")
    with pytest.raises(ValidationError, match="email"):
        migrate_json.cleaned(alone)


# --- migrating into the database -------------------------------------------------------


def snapshot(url: str) -> dict[str, Any]:
    return {
        "leads": sorted((lead.id, lead.version, lead.updated_at) for lead in rows(url, SalesLead)),
        "audit": count(url, AuditLog),
    }


def test_migrate_a_folder_of_inconsistent_files_then_rerun(url: str, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "agents")

    output = invoke(str(root), code=1)  # the broken file and 3 bad records: exit 1

    assert "9 migrated as new, 2 merged, 0 unchanged, 3 failed" in output
    assert "config/agent_config.json: skipped: an object that holds no leads" in output
    assert "broken/partial_write.json: failed: not valid JSON" in output
    assert "daily/2024-01-16.ndjson #4: failed: full_name: a lead needs at least one" in output
    leads = by_name(url)
    assert set(leads) == {
        "Marie Tremblay",
        "Jean-Philippe Roy",
        "Guy Lafleur",
        "Sophie Nguyen",
        "Omar Haddad",
        "Lena Fischer",
        "Ana Costa",
        "Tom Becker",
        "Priya Shah",
    }
    marie = leads["Marie Tremblay"]  # in two files: one lead, the gaps filled
    assert marie.email == "marie.tremblay@cloudnord.ca" and marie.phone == "+15145550142"
    assert marie.linkedin_url == "https://www.linkedin.com/in/marie-tremblay"
    assert marie.verified is True and marie.raw_data["airtable_id"] == "recA1b2C3d4E5f6G7"
    sophie = leads["Sophie Nguyen"]
    assert sophie.email == "sophie@pixelfab.io"
    assert sophie.additional_emails == ["s.nguyen@gmail.com"]
    assert sophie.linkedin_url == "https://www.linkedin.com/in/sophie-nguyen-42"
    assert sophie.enrichment_status == "completed"
    jp = leads["Jean-Philippe Roy"]
    assert (jp.city, jp.state, jp.country) == ("Quebec City", "QC", "Canada")
    lena = leads["Lena Fischer"]
    assert lena.lead_status == "converted" and lena.tags == ["fintech", "berlin"]
    assert lena.company_domain == "brightwerk.de" and lena.raw_data["id"] == "18"
    assert leads["Tom Becker"].lead_status == "lost"
    assert leads["Priya Shah"].raw_data["invalid_email"] == "not-an-email"

    sources = rows(url, LeadSource)
    assert {s.source_type for s in sources} == {"json_migration"}
    marie_sources = {
        (s.source_name, s.extra_metadata["index"]) for s in sources if s.lead_id == marie.id
    }
    assert marie_sources == {
        ("shared/leads.json", 0),
        ("scraper/output/linkedin_2024-01-15.json", 0),
    }
    scraped = {s.source_name: s.scraped_at for s in sources if s.lead_id == marie.id}
    assert scraped["shared/leads.json"] == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    # The scraper's file: its leads share the run's time and query.
    (omar,) = [s for s in sources if s.lead_id == leads["Omar Haddad"].id]
    assert omar.scraped_at == datetime(2024, 1, 15, 9, 50, tzinfo=UTC)
    assert omar.scrape_params == {"query": "CTO Montreal", "count": 3}

    logs = latest_logs(url)
    assert {name: (e.status, e.leads_migrated, e.leads_failed) for name, e in logs.items()} == {
        "shared/leads.json": ("completed", 3, 0),
        "scraper/output/linkedin_2024-01-15.json": ("completed", 3, 0),
        "enricher/cache.json": ("completed", 2, 0),
        "enricher/last_lead.json": ("completed", 1, 0),
        "daily/2024-01-16.ndjson": ("partial", 2, 3),
        "config/agent_config.json": ("skipped", 0, 0),
        "campaigns/state.json": ("skipped", 0, 0),
        "broken/partial_write.json": ("failed", 0, 0),
    }
    details = json.loads(logs["daily/2024-01-16.ndjson"].error_details or "{}")
    assert [f["index"] for f in details["failures"]] == [3, 4, 6]

    data = get_settings().data_dir
    (copied,) = (data / "migration-backup").glob("*/")
    assert (copied / "shared/leads.json").read_bytes() == (root / "shared/leads.json").read_bytes()
    assert (copied / "broken/partial_write.json").is_file()
    assert len(list((data / "backups").glob("before-migrate-json-*"))) == 1
    report = json.loads(next((data / "migration-backup").glob("*-report.json")).read_text())
    assert report["totals"]["created"] == 9 and report["totals"]["failed"] == 3
    with Database(url).read_session() as session:
        assert audit.verify(session).ok

    before = snapshot(url)
    again = invoke(str(root), code=1)

    assert "0 migrated as new, 0 merged, 11 unchanged, 3 failed" in again
    assert snapshot(url) == before  # no lead written, no audit entry
    logs = latest_logs(url)
    assert logs["shared/leads.json"].status == "unchanged"
    assert logs["enricher/cache.json"].leads_migrated == 2
    assert count(url, MigrationLog) == 16  # one row per file per run
    assert len(list((data / "migration-backup").glob("*-report.json"))) == 2


def test_validate_finds_every_source_lead_or_says_which_not(url: str, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "agents")
    invoke(str(root), code=1)

    output = invoke(str(root), "--validate", code=1)

    assert "broken/partial_write.json: not valid JSON" in output
    assert "daily/2024-01-16.ndjson #4: names no person" in output
    assert "11 of 14 source leads found in the database; 4 not found" in output

    (root / "broken/partial_write.json").unlink()
    daily = (root / "daily/2024-01-16.ndjson").read_text().splitlines()
    (root / "daily/2024-01-16.ndjson").write_text("\n".join([daily[0], daily[4]]) + "\n")
    output = invoke(str(root), "--validate")
    assert "11 of 11 source leads found in the database; 0 not found" in output

    # Found by name and company alone: Lena, as another agent spelled her.
    (root / "crm.json").write_text(
        json.dumps([{"name": "Lena Fischer", "company": "Brightwerk GmbH"}])
    )
    output = invoke(str(root), "--validate")
    assert "12 of 12 source leads found" in output

    # A lead the migration never saw (another agent wrote it since).
    (root / "late.json").write_text(json.dumps([{"name": "Zoe Late", "company": "Newco"}]))
    output = invoke(str(root), "--validate", code=1)
    assert "late.json #0: Zoe Late: not in the database" in output


def test_dry_run_changes_nothing(url: str, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "agents")

    output = invoke(str(root), "--dry-run", code=1)

    assert "dry run, nothing changed" in output
    assert "9 migrated as new, 2 merged, 0 unchanged, 3 failed" in output
    assert count(url, SalesLead) == 0 and count(url, MigrationLog) == 0
    assert count(url, AuditLog) == 0
    assert not (get_settings().data_dir / "migration-backup").exists()


def test_merges_into_leads_already_in_the_database(url: str, tmp_path: Path) -> None:
    client = LeadDatabase(url)
    try:
        existing = client.add_lead(
            {"full_name": "Marie Tremblay", "email": "marie.tremblay@cloudnord.ca", "title": "CTO"}
        )
    finally:
        client.close()
    root = tmp_path / "agents"
    root.mkdir()
    (root / "leads.json").write_text(json.dumps(seed_004_leads()[:1]))

    output = invoke(str(root))

    assert "0 migrated as new, 1 merged, 0 unchanged, 0 failed" in output
    marie = by_name(url)["Marie Tremblay"]
    assert marie.id == existing
    assert marie.title == "CTO"  # a merge fills gaps, it does not overwrite
    assert marie.linkedin_url == "https://www.linkedin.com/in/marie-tremblay"


def test_a_file_the_database_refuses_is_failed_and_the_others_go_on(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    root = tmp_path / "agents"
    root.mkdir()
    (root / "a.json").write_text(json.dumps([{"name": "Ann A", "email": "ann@a.example"}]))
    (root / "b.json").write_text(json.dumps([{"name": "Bob B", "email": "bob@b.example"}]))
    real = migrate_json.leads_service.import_rows

    def failing(uow: Any, leads: Any, **kwargs: Any) -> Any:
        if kwargs["sources"][0]["source_name"] == "a.json":
            raise RuntimeError("disk full")
        return real(uow, leads, **kwargs)

    monkeypatch.setattr(migrate_json.leads_service, "import_rows", failing)

    output = invoke(str(root), code=1)

    assert "a.json: failed: not migrated: RuntimeError: disk full" in output
    assert set(by_name(sqlite_url)) == {"Bob B"}
    logs = latest_logs(sqlite_url)
    assert (logs["a.json"].status, logs["a.json"].leads_failed) == ("failed", 1)
    assert logs["b.json"].status == "completed"


def test_a_file_larger_than_a_batch(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    root = tmp_path / "agents"
    root.mkdir()
    people = [
        {"fullName": f"Person {i:04d}", "email": f"person{i}@example{i % 7}.com", "id": i}
        for i in range(1200)
    ]
    people.append(dict(people[10]))  # the same record again, a batch later: one lead
    (root / "big.json").write_text(json.dumps({"data": people}))

    output = invoke(str(root))

    assert "1200 migrated as new, 0 merged, 1 unchanged, 0 failed" in output
    assert count(sqlite_url, SalesLead) == 1200
    again = invoke(str(root))
    assert "0 migrated as new, 0 merged, 1201 unchanged, 0 failed" in again


def test_the_data_folder_inside_dir_is_not_migrated_again(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`leadbase migrate-json .` from the project folder: ./data holds the
    copies of the files the first run made; the second run must not read them."""
    monkeypatch.setenv("LEADBASE_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    root = tmp_path / "project"
    write_folder(root)
    monkeypatch.setenv("LEADBASE_DATA_DIR", str(root / "data"))
    get_settings.cache_clear()
    invoke(str(root), code=1)
    assert (root / "data/migration-backup").is_dir()

    again = invoke(str(root), code=1)

    assert "8 files (2 without leads, 1 failed): 14 leads" in again
    assert not [line for line in again.splitlines() if line.startswith("data/")]
