"""The rule score on hand-made leads: every rule's points and reason, and
the rules file (defaults, a team's own, bad files named by key)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadbase.scoring import engine
from leadbase.scoring.facts import Activity, LeadFacts
from leadbase.scoring.rules import RulesError, default_rules, load

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RULES = default_rules()


def facts(
    employees: int | None = None,
    company_country: str | None = None,
    company_industry: str | None = None,
    activities: list[tuple[str, str | None, int, Any]] | None = None,
    **fields: Any,
) -> LeadFacts:
    """A lead with these fields; activities as (type, outcome, days ago, data)."""
    activity = Activity()
    for event_type, outcome, days, data in activities or []:
        activity.add(event_type, outcome, NOW - timedelta(days=days), data)
    return LeadFacts("lead-1", fields, employees, company_country, company_industry, activity)


def point(rule: str, lead: LeadFacts) -> tuple[int, str]:
    found = engine.RULES[rule](lead, RULES, NOW)
    assert found.rule == rule
    return found.points, found.reason


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Chief Executive Officer", (20, "C-level title (Chief Executive Officer)")),
        ("CEO & Founder", (20, "C-level title (CEO & Founder)")),
        ("VP Sales", (16, "VP title (VP Sales)")),
        ("Head of Growth", (16, "VP title (Head of Growth)")),
        ("Director of Marketing", (12, "Director title (Director of Marketing)")),
        ("Engineering Manager", (8, "Manager title (Engineering Manager)")),
        ("Senior Engineer", (3, "Individual contributor title (Senior Engineer)")),
        ("Intern", (0, "title not ranked (Intern)")),
        ("Vpn admin", (0, "title not ranked (Vpn admin)")),  # words, not letters
        (None, (0, "no title")),
    ],
)
def test_title_seniority(title: str | None, expected: tuple[int, str]) -> None:
    assert point("title_seniority", facts(title=title)) == expected


@pytest.mark.parametrize(
    ("employees", "expected"),
    [
        (None, (0, "company size unknown")),
        (5, (2, "5 employees (1-10)")),
        (50, (5, "50 employees (11-50)")),
        (120, (8, "120 employees (51-200)")),
        (1000, (10, "1,000 employees (201-1,000)")),
        (25000, (12, "25,000 employees (1,001+)")),
        (0, (0, "0 employees (no band)")),
    ],
)
def test_company_size(employees: int | None, expected: tuple[int, str]) -> None:
    assert point("company_size", facts(employees)) == expected


def test_target_countries_by_code_or_name_else_the_company() -> None:
    assert point("target_countries", facts(country="Germany")) == (8, "target country (Germany)")
    assert point("target_countries", facts(country="us")) == (8, "target country (us)")
    assert point("target_countries", facts(country="Brazil")) == (
        0,
        "not a target country (Brazil)",
    )
    assert point("target_countries", facts(company_country="GB")) == (8, "target country (GB)")
    assert point("target_countries", facts()) == (0, "country unknown")


def test_target_industries_as_words_else_the_company() -> None:
    assert point("target_industries", facts(industry="Computer Software")) == (
        8,
        "target industry (Computer Software)",
    )
    assert point("target_industries", facts(company_industry="SaaS")) == (
        8,
        "target industry (SaaS)",
    )
    assert point("target_industries", facts(industry="Agriculture")) == (
        0,
        "not a target industry (Agriculture)",
    )
    assert point("target_industries", facts()) == (0, "industry unknown")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "ada@acme.io"}, (4, "business domain (+4)")),
        (
            {"email": "ada@acme.io", "email_verified": True},
            (10, "verified (+6), business domain (+4)"),
        ),
        ({"email": "ada@gmail.com"}, (-3, "free mail (-3)")),
        ({"email": "ada@mailinator.com"}, (-15, "disposable (-15)")),
        ({"email": "info@acme.io"}, (0, "business domain (+4), role account (-4)")),
        (
            {"email": "sales@gmail.com", "verified": True},
            (-1, "verified (+6), free mail (-3), role account (-4)"),
        ),
        ({}, (-5, "no email")),
    ],
)
def test_email_quality(fields: dict[str, Any], expected: tuple[int, str]) -> None:
    assert point("email_quality", facts(**fields)) == expected


def test_completeness_in_proportion_to_the_fields_filled() -> None:
    assert point("completeness", facts()) == (0, "0 of 10 fields filled")
    half = facts(full_name="Ada", title="CTO", email="a@b.io", phone="+331", country="FR")
    assert point("completeness", half) == (5, "5 of 10 fields filled")
    full = facts(
        **dict.fromkeys(RULES.completeness.fields, "x"),
    )
    assert point("completeness", full) == (10, "10 of 10 fields filled")


def test_source() -> None:
    assert point("source", facts(source="referral")) == (8, "source referral")
    assert point("source", facts(source="apify")) == (0, "source apify")
    assert point("source", facts(source="carrier pigeon")) == (
        0,
        "source carrier pigeon (not ranked)",
    )
    assert point("source", facts()) == (0, "no source")


def test_engagement_recency_frequency_kinds_outcomes_and_page_views() -> None:
    assert point("engagement", facts()) == (0, "no activities")
    one_old_email = facts(activities=[("email", None, 200, None)])
    assert point("engagement", one_old_email) == (
        2,
        "last activity 200 days ago (+0); 1 activities (+1); email (+1)",
    )
    busy = facts(
        activities=[
            ("demo", "meeting_set", 1, None),
            ("meeting", "connected", 3, None),
            ("call", "no_answer", 10, None),
            ("web_visit", None, 0, {"page": "/pricing", "page_views": 4}),
            ("web_visit", None, 0, {"page": "/docs"}),  # no page_views: one view
            ("note", None, 0, None),  # counts, gives no kind points
        ]
    )
    assert point("engagement", busy) == (
        10 + 5 + 12 + 7 + 2,
        "last activity today (+10); 6 activities (+5); call, demo, meeting, web visit (+12); "
        "outcomes: connected, meeting set (+7); 5 page views (+2)",
    )
    recent = facts(activities=[("call", "unsubscribed", 20, None), ("call", None, 21, None)])
    assert point("engagement", recent) == (
        6 + 3 + 2 - 10,
        "last activity 20 days ago (+6); 2 activities (+3); call (+2); "
        "outcomes: unsubscribed (-10)",
    )


def test_status() -> None:
    assert point("status", facts(lead_status="qualified")) == (10, "status qualified")
    assert point("status", facts(lead_status="lost")) == (-30, "status lost")
    assert point("status", facts()) == (0, "status new")


def test_the_score_is_the_sum_kept_within_0_and_100_with_every_rule_explained() -> None:
    lead = facts(
        120,
        title="VP Sales",
        email="ada@acme.io",
        email_verified=True,
        country="US",
        industry="Software",
        source="referral",
        lead_status="qualified",
        activities=[("demo", "meeting_set", 2, None)],
    )
    result = engine.score(lead, RULES, NOW)
    by_rule = {p.rule: p.points for p in result.points}
    assert list(by_rule) == list(engine.RULES)
    assert by_rule == {
        "title_seniority": 16,
        "company_size": 8,
        "target_countries": 8,
        "target_industries": 8,
        "email_quality": 10,
        "completeness": 4,
        "source": 8,
        "engagement": 10 + 1 + 8 + 5,
        "status": 10,
    }
    assert result.score == sum(by_rule.values()) == 96
    bad = facts(email="x@mailinator.com", lead_status="lost")
    assert engine.score(bad, RULES, NOW).score == 0


# --- the rules file --------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_rules_file_changes_only_what_it_names(tmp_path: Path) -> None:
    toml = write(
        tmp_path,
        "rules.toml",
        '[target_countries]\ncountries = ["BR"]\npoints = 30\n\n[status]\nenabled = false\n',
    )
    rules = load(toml)
    assert rules.target_countries.countries == ["BR"] and rules.target_countries.points == 30
    assert rules.title_seniority == RULES.title_seniority
    assert rules.digest != RULES.digest
    result = engine.score(facts(country="Brazil", lead_status="qualified"), rules, NOW)
    assert "status" not in {p.rule for p in result.points}
    assert {p.rule: p.points for p in result.points}["target_countries"] == 30

    as_json = write(
        tmp_path,
        "rules.json",
        json.dumps(
            {"target_countries": {"countries": ["BR"], "points": 30}, "status": {"enabled": False}}
        ),
    )
    assert load(as_json).digest == rules.digest  # the same rules, the same digest
    assert load(None).digest == RULES.digest


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[title_seniority]\nunknown = 500\n", "title_seniority.unknown", "less than or equal"),
        (
            "[engagement]\nrecency = [{within_days = 7, points = 1},"
            " {within_days = 0, points = 1}]\n",
            "engagement.recency[1].within_days",
            "greater than or equal to 1",
        ),
        ("[colour]\nred = 1\n", "colour", "unknown rule 'colour'"),
        ("status = 3\n", "status", "must be a table"),
        ('[source]\npoints = {api = "lots"}\n', "source.points.api", "valid integer"),
        ('[completeness]\nfields = ["shoe_size"]\n', "completeness.fields", "shoe_size"),
        (
            "[company_size]\nbands = [{min = 10, max = 5, points = 1}]\n",
            "company_size.bands",
            "below its min",
        ),
        ("[email_quality]\nverifed = 5\n", "email_quality.verifed", "Extra inputs"),
        ("[status\n", "rules", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load(write(tmp_path, "bad.toml", text))
    assert caught.value.field == key
    assert message in caught.value.message


def test_unreadable_and_non_object_files(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load(tmp_path / "missing.toml")
    with pytest.raises(RulesError, match="not valid JSON"):
        load(write(tmp_path, "bad.json", "{"))
    with pytest.raises(RulesError, match="must hold an object"):
        load(write(tmp_path, "list.json", "[1]"))
