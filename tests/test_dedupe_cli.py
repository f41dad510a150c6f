"""`leadbase dedupe scan|merge|rekey` on each database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from leadbase.cli import app
from leadbase.client import LeadDatabase
from leadbase.config import get_settings
from leadbase.duplicates import service as duplicates_service
from leadbase.models import DuplicateCluster, SalesLead

runner = CliRunner()

PEOPLE = [
    # Two spellings of one person at one company: a merge.
    {"full_name": "Robert Miller", "company_name": "Acme Inc.", "phone": "+14155550101"},
    {"full_name": "Bob Miller", "company_name": "ACME", "phone": "+14155550101"},
    # Same name and company, different emails: only for review.
    {"full_name": "Maria Garcia", "company_name": "Globex", "email": "maria@globex.com"},
    {"full_name": "Maria Garcia", "company_name": "Globex", "email": "mgarcia@globex.com"},
    # Nobody like them.
    {"full_name": "Ada Lovelace", "company_name": "Analytical Engines"},
]


@pytest.fixture
def stored(db_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[LeadDatabase, list[str]]:
    monkeypatch.setenv("LEADBASE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    client = LeadDatabase(db_url, actor="test:alice")
    ids = client.add_leads(PEOPLE, on_duplicate="allow")
    yield client, ids
    client.close()


def stored_clusters(client: LeadDatabase) -> dict[tuple[str, ...], DuplicateCluster]:
    with client.db.read_session() as session:
        rows = session.scalars(select(DuplicateCluster)).all()
    return {tuple(sorted(row.lead_ids)): row for row in rows}


def test_scan_json_prints_and_stores_clusters(stored: tuple[LeadDatabase, list[str]]) -> None:
    client, ids = stored
    result = runner.invoke(app, ["dedupe", "scan", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(line) == {"lead_ids", "score", "reasons", "action"} for line in lines)
    by_ids = {tuple(sorted(line["lead_ids"])): line for line in lines}
    bob = tuple(sorted(ids[:2]))
    maria = tuple(sorted(ids[2:4]))
    assert set(by_ids) == {bob, maria}
    assert by_ids[bob]["action"] == "merge" and by_ids[bob]["score"] >= 0.9
    assert "same phone" in by_ids[bob]["reasons"]
    assert by_ids[maria]["action"] == "review"
    assert "different emails" in by_ids[maria]["reasons"]
    rows = stored_clusters(client)
    assert set(rows) == {bob, maria}
    assert rows[bob].origin == "scan" and rows[bob].status == "open"


def test_rescan_keeps_a_dismissed_cluster_dismissed(
    stored: tuple[LeadDatabase, list[str]],
) -> None:
    client, ids = stored
    assert runner.invoke(app, ["dedupe", "scan"]).exit_code == 0
    maria = tuple(sorted(ids[2:4]))
    with client.db.unit_of_work() as uow:
        duplicates_service.dismiss_cluster(uow, stored_clusters(client)[maria].id)
    result = runner.invoke(app, ["dedupe", "scan"])
    assert result.exit_code == 0, result.output
    assert "1 clusters (1 merge, 0 review), 0 new" in result.stdout
    rows = stored_clusters(client)
    assert rows[maria].status == "dismissed"
    # A third Maria joins neither of the two dismissed ones into a cluster with the other.
    client.add_leads(
        [{"full_name": "Maria Garcia", "company_name": "Globex"}], on_duplicate="allow"
    )
    result = runner.invoke(app, ["dedupe", "scan", "--json"])
    for line in result.stdout.splitlines():
        assert not set(maria) <= set(json.loads(line)["lead_ids"])


def test_merge_auto_merges_the_merge_clusters_only(
    stored: tuple[LeadDatabase, list[str]],
) -> None:
    client, ids = stored
    assert runner.invoke(app, ["dedupe", "scan"]).exit_code == 0
    result = runner.invoke(app, ["dedupe", "merge", "--auto"])
    assert result.exit_code == 0, result.output
    assert "1 clusters merged, 0 skipped" in result.stdout
    with client.db.read_session() as session:
        merged = dict(session.execute(select(SalesLead.id, SalesLead.merged_into_id)).all())
    assert merged[ids[1]] == ids[0]  # the older lead survives
    assert merged[ids[0]] is None and merged[ids[2]] is None and merged[ids[3]] is None
    rows = stored_clusters(client)
    assert rows[tuple(sorted(ids[:2]))].status == "merged"
    assert rows[tuple(sorted(ids[2:4]))].status == "open"
    # Nothing left to merge.
    again = runner.invoke(app, ["dedupe", "merge", "--auto"])
    assert "0 clusters merged" in again.stdout


def test_merge_needs_auto(stored: tuple[LeadDatabase, list[str]]) -> None:
    result = runner.invoke(app, ["dedupe", "merge"])
    assert result.exit_code != 0


def test_rekey_restores_stale_keys(stored: tuple[LeadDatabase, list[str]]) -> None:
    client, ids = stored
    with client.db.read_session() as session:
        before = dict(session.execute(select(SalesLead.id, SalesLead.key_name)).all())
    with client.db.unit_of_work() as uow:
        uow.session.execute(
            update(SalesLead).where(SalesLead.id.in_(ids[:3])).values(key_name="stale")
        )
    result = runner.invoke(app, ["dedupe", "rekey"])
    assert result.exit_code == 0, result.output
    assert "5 leads re-keyed, 3 changed" in result.stdout
    with client.db.read_session() as session:
        after = session.execute(select(SalesLead.id, SalesLead.key_name, SalesLead.version)).all()
    assert {lead_id: key for lead_id, key, _ in after} == before
    assert {version for _, _, version in after} == {1}  # derived keys bump no version


def test_merge_auto_skips_a_cluster_changed_since_the_scan(
    stored: tuple[LeadDatabase, list[str]],
) -> None:
    client, ids = stored
    assert runner.invoke(app, ["dedupe", "scan"]).exit_code == 0
    client.delete_lead(ids[1])  # one of the two Millers is gone
    result = runner.invoke(app, ["dedupe", "merge", "--auto"])
    assert result.exit_code == 1
    assert "0 clusters merged, 1 skipped" in result.stdout
    assert "fewer than two of its leads are still active" in result.output
