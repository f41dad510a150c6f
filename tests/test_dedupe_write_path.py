"""Duplicate policies on every write path: LeadDatabase, the API, updates,
enrichment's edits, quick-add; on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadbase.client import LeadDatabase
from leadbase.db import Database
from leadbase.dedupe.keys import match_keys
from leadbase.dedupe.matcher import Matcher
from leadbase.dedupe.rules import Rules
from leadbase.errors import ConflictError, DuplicateLeadError
from leadbase.models import DuplicateCluster
from tests.api_clients import api_settings, signed_in
from tests.helpers import counts

JANE = {
    "first_name": "Jane",
    "last_name": "Whitfield",
    "email": "jane.whitfield@acme-robotics.com",
    "phone": "+1 415 555 0134",
    "company_name": "Acme Robotics Inc.",
    "company_domain": "acme-robotics.com",
    "street": "12 Harbour Street",
    "city": "San Francisco",
    "postal_code": "94105",
}
# The same person typed again: a typo in the surname, the company without
# its legal form, a short street, no email and no phone (each alone would
# be an exact match).
JANE_AGAIN = {
    "first_name": "Jane",
    "last_name": "Whitfeld",
    "company_name": "Acme Robotics",
    "company_domain": "acme-robotics.com",
    "street": "12 Harbour St",
    "city": "San Francisco",
    "postal_code": "94105",
}


def clusters(leads: LeadDatabase) -> list[DuplicateCluster]:
    with leads.db.read_session() as session:
        return list(session.scalars(select(DuplicateCluster).order_by(DuplicateCluster.score)))


def test_fuzzy_duplicate_is_refused_merged_allowed_or_queued(leads: LeadDatabase) -> None:
    first = leads.add_lead(JANE)
    before = counts(leads)
    with pytest.raises(DuplicateLeadError) as caught:
        leads.add_lead(JANE_AGAIN, on_duplicate="reject")
    assert caught.value.existing_id == first
    assert caught.value.matched_on == "full_name" and caught.value.score is not None
    assert caught.value.reasons  # why: the scores of the fields that agree
    assert counts(leads) == before

    assert leads.add_lead(JANE_AGAIN, on_duplicate="merge") == first
    assert leads.count_leads() == 1

    queued = leads.add_lead(JANE_AGAIN, on_duplicate="review")
    assert queued != first
    [cluster] = clusters(leads)
    assert sorted(cluster.lead_ids) == sorted([first, queued])
    assert cluster.origin == "write" and cluster.status == "open"

    assert leads.add_lead(JANE_AGAIN, on_duplicate="allow") not in (first, queued)
    assert len(clusters(leads)) == 1  # allow looks nothing up


def test_exact_email_with_other_spelling_is_one_lead(leads: LeadDatabase) -> None:
    first = leads.add_lead({"full_name": "Sam Roe", "email": "sam.roe+crm@gmail.com"})
    again = leads.add_lead({"full_name": "Samuel Roe", "email": "SamRoe@googlemail.com"})
    assert again == first
    with pytest.raises(DuplicateLeadError) as caught:
        leads.add_lead({"email": "s.a.m.roe@gmail.com"}, on_duplicate="reject")
    assert caught.value.matched_on == "email" and caught.value.score == 1


def test_differing_emails_are_never_merged_on_a_shared_phone(leads: LeadDatabase) -> None:
    switchboard = "+1 212 555 0100"
    first = leads.add_lead(
        {"full_name": "Ann Lee", "email": "ann@globex.com", "phone": switchboard}
    )
    second = leads.add_lead(
        {"full_name": "Raj Patel", "email": "raj@globex.com", "phone": switchboard}
    )
    assert second != first
    assert all(cluster.action == "review" for cluster in clusters(leads))
    # Even the same name on the switchboard with another email is only a suggestion.
    third = leads.add_lead(
        {"full_name": "Ann Lee", "email": "a.lee@globex.com", "phone": switchboard}
    )
    assert third not in (first, second)
    [cluster] = [c for c in clusters(leads) if third in c.lead_ids]
    assert cluster.action == "review" and first in cluster.lead_ids
    assert any("email" in reason for reason in cluster.reasons)


def test_same_name_at_one_company_with_other_emails_goes_to_review(leads: LeadDatabase) -> None:
    first = leads.add_lead({**JANE, "email": "jane.whitfield@acme-robotics.com"})
    second = leads.add_lead({**JANE, "email": "jwhitfield@acme-robotics.com"})
    assert second != first  # colleagues can share a name; a person decides
    [cluster] = clusters(leads)
    assert cluster.action == "review"


def test_random_phones_do_not_merge_distinct_people(leads: LeadDatabase) -> None:
    """Leads with distinct emails keep apart whatever phones they share
    (the exact phone key used to fold 20,000 such leads into 19,983)."""
    rng = random.Random(7)
    phones = [f"+1 415 555 {n:04d}" for n in range(40)]
    rows = [
        {
            "full_name": f"Person {n}",
            "email": f"person{n}@example{n % 7}.com",
            "phone": rng.choice(phones),
        }
        for n in range(400)
    ]
    ids = leads.add_leads(rows, on_duplicate="merge")
    assert len(set(ids)) == 400
    assert leads.count_leads() == 400


def test_an_edit_to_another_leads_email_is_refused(leads: LeadDatabase) -> None:
    first = leads.add_lead({"full_name": "Ann Lee", "email": "ann@globex.com"})
    other = leads.add_lead({"full_name": "Bo Chen", "email": "bo@initech.com"})
    with pytest.raises(DuplicateLeadError) as caught:
        leads.update_lead(other, {"email": "ANN@globex.com"})
    assert caught.value.existing_id == first and caught.value.matched_on == "email"
    lead = leads.get_lead(other)
    assert lead is not None and lead["email"] == "bo@initech.com"


def test_an_edit_that_makes_a_fuzzy_duplicate_is_saved_and_queued(leads: LeadDatabase) -> None:
    first = leads.add_lead(JANE)
    other = leads.add_lead({"full_name": "Someone Else", "city": "Oslo"})
    leads.update_lead(other, JANE_AGAIN)
    lead = leads.get_lead(other)
    assert lead is not None and lead["last_name"] == "Whitfeld"
    [cluster] = clusters(leads)
    assert sorted(cluster.lead_ids) == sorted([first, other])
    assert cluster.action == "merge"  # a scan's `merge --auto` or a person merges it


def test_bad_policy_is_refused_and_changes_nothing(leads: LeadDatabase) -> None:
    before = counts(leads)
    with pytest.raises(Exception, match="on_duplicate"):
        leads.add_lead(JANE, on_duplicate="squash")  # type: ignore[arg-type]
    assert counts(leads) == before


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    database = Database(sqlite_url, api_settings(sqlite_url))
    client, by_email = signed_in(database, {"ed@example.com": "editor"})
    yield client, by_email["ed@example.com"]
    database.dispose()


def test_api_answers_a_fuzzy_duplicate_with_its_score_and_reasons(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, editor = api
    first = client.post("/api/v1/leads", json=JANE, headers=editor)
    assert first.status_code == 201
    refused = client.post("/api/v1/leads", json=JANE_AGAIN, headers=editor)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "duplicate" and "likely duplicate" in body["message"]
    [detail] = body["details"]
    assert detail["existing_id"] == first.json()["data"]["id"]
    assert 0 < detail["score"] <= 1 and len(detail["reasons"]) > 1

    queued = client.post("/api/v1/leads?on_duplicate=review", json=JANE_AGAIN, headers=editor)
    assert queued.status_code == 201
    bad = client.post("/api/v1/leads?on_duplicate=squash", json=JANE_AGAIN, headers=editor)
    assert bad.status_code == 422


def test_merged_leads_leave_lists_but_answer_by_id(leads: LeadDatabase) -> None:
    first = leads.add_lead(JANE)
    second = leads.add_lead(JANE_AGAIN, on_duplicate="allow")
    leads.merge_leads(first, [second])
    assert leads.count_leads() == 1
    assert [lead["id"] for lead in leads.get_all_leads()] == [first]
    merged = leads.get_lead(second)
    assert merged is not None and merged["merged_into_id"] == first
    with pytest.raises(ConflictError, match="unmerge"):
        leads.restore_lead(second)
    leads.unmerge_lead(first)
    assert leads.count_leads() == 2


def test_a_survivor_without_a_phone_takes_the_other_leads_phone(leads: LeadDatabase) -> None:
    keep = leads.add_lead({"full_name": "Ann Lee", "email": "ann@globex.com"})
    other = leads.add_lead(
        {"full_name": "Ann Lee", "phone": "+1 212 555 0100"}, on_duplicate="allow"
    )
    leads.merge_leads(keep, [other])
    survivor = leads.get_lead(keep)
    assert survivor is not None
    assert survivor["phone"] == "+12125550100" and not survivor["additional_phones"]
    assert survivor["email"] == "ann@globex.com"


def test_a_common_name_is_compared_with_its_newest_namesakes_only(leads: LeadDatabase) -> None:
    """A write reads at most ``max_block`` leads per blocking key, the newest:
    a name shared by thousands must not make each write compare them all."""
    rows = [
        {"full_name": "Ann Lee", "city": "Oslo", "street": f"{n} High Street"} for n in range(12)
    ]
    ids = leads.add_leads(rows, on_duplicate="allow")
    again = {"full_name": "Ann Lee", "city": "Oslo", "street": "11 High Street"}
    with leads.db.read_session() as session:
        matcher = Matcher(session, Rules(max_block=5))
        row = {**again, **match_keys(again)}
        matcher.prefetch([row])
        found = matcher.all(row)
    assert found and found[0].lead_id == ids[-1]
    assert 5 <= len(found) < 12  # every namesake in Oslo would be a candidate uncapped


def test_a_merged_leads_email_still_finds_its_survivor(leads: LeadDatabase) -> None:
    """Re-importing a lead that was merged away lands on the survivor, not
    on a new lead (through a chain of merges, too)."""
    first = leads.add_lead({"full_name": "Ann Lee", "email": "ann@globex.com"})
    second = leads.add_lead({"full_name": "Ann Lee", "email": "ann.lee@gmail.com"})
    third = leads.add_lead({"full_name": "A. Lee", "email": "alee@initech.com"})
    leads.merge_leads(second, [first])
    leads.merge_leads(third, [second])
    assert leads.add_lead({"email": "ANN@globex.com", "title": "CTO"}) == third
    with pytest.raises(DuplicateLeadError) as caught:
        leads.add_lead({"email": "ann@globex.com"}, on_duplicate="reject")
    assert caught.value.existing_id == third and caught.value.matched_on == "email"
    assert leads.count_leads() == 1
