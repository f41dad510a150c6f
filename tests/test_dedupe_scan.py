"""The matcher (a write's fuzzy lookup) and the whole-database scan, on each database."""

from __future__ import annotations

from typing import Any

from leadbase.client import LeadDatabase
from leadbase.dedupe.keys import match_keys
from leadbase.dedupe.matcher import Matcher
from leadbase.dedupe.rules import Rules
from leadbase.leads.service import clean_input

RULES = Rules()


def incoming(data: dict[str, Any]) -> dict[str, Any]:
    """A row as the write path hands it to the matcher: normalised, keys set."""
    row = clean_input(data)
    return {**row, **match_keys(row)}


def test_matcher_finds_stored_and_batch_candidates(leads: LeadDatabase) -> None:
    bob, colleague, other = leads.add_leads(
        [
            {"full_name": "Robert Miller", "company_name": "Acme Inc.", "email": "bob@acme.com"},
            {"full_name": "Mary Jones", "company_name": "Acme Inc."},
            {"full_name": "Robert Miller", "company_name": "Globex"},
        ],
        on_duplicate="allow",
    )
    leads.delete_lead(other)
    rows = [
        incoming({"full_name": "Bob Miller", "company_name": "ACME"}),
        incoming({"full_name": "Mary Jones", "company_name": "Acme GmbH"}),
        incoming({"full_name": "Marie Jones", "company_name": "Acme"}),
    ]
    with leads.db.read_session() as session:
        matcher = Matcher(session, RULES)
        matcher.prefetch(rows)
        first = matcher.best(rows[0])
        assert first is not None and first.lead_id == bob
        assert first.verdict.action == "merge"
        assert [c.lead_id for c in matcher.all(rows[0])] == [bob]  # the deleted one is no match
        assert matcher.best(rows[0], exclude_id=bob) is None
        second = matcher.best(rows[1])
        assert second is not None and second.lead_id == colleague
        # A row of the batch becomes a candidate for the rows after it.
        matcher.add("batch-row-1", rows[1])
        found = matcher.all(rows[2])
        assert {c.lead_id for c in found} == {colleague, "batch-row-1"}
        assert found[0].verdict.score >= found[-1].verdict.score


def test_matcher_skips_dismissed_pairs(leads: LeadDatabase) -> None:
    from leadbase.dedupe.repository import add_dismissals

    a, b = leads.add_leads(
        [
            {"full_name": "Ann Lee", "company_name": "Acme", "phone": "+14155550100"},
            {"full_name": "Anne Lee", "company_name": "Acme", "phone": "+14155550100"},
        ],
        on_duplicate="allow",
    )
    with leads.db.unit_of_work() as uow:
        add_dismissals(uow.session, [a, b], actor="test")
    with leads.db.read_session() as session:
        row = {"id": a, **incoming({"full_name": "Ann Lee", "company_name": "Acme"})}
        matcher = Matcher(session, RULES)
        matcher.prefetch([row])
        assert matcher.best(row, exclude_id=a) is None
        found = matcher.best(row)
        assert found is not None and found.lead_id in (a, b)
