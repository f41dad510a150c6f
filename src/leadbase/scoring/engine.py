"""The rule score: a lead's facts and the rules in, 0..100 and each rule's
points with the reason out. Pure: no database, no clock (``now`` is given)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from leadbase.enrichment.providers.email import (
    domain_of,
    is_disposable,
    is_free_mail,
    is_role_account,
)
from leadbase.leads.facets import country_code
from leadbase.scoring import rules as rules_module
from leadbase.scoring.facts import LeadFacts
from leadbase.scoring.rules import Rules


@dataclass(frozen=True)
class Point:
    rule: str
    points: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "points": self.points, "reason": self.reason}


@dataclass(frozen=True)
class RuleScore:
    score: int
    points: tuple[Point, ...]


def clamp(total: float) -> int:
    return max(0, min(100, round(total)))


def score(facts: LeadFacts, rules: Rules, now: datetime) -> RuleScore:
    """Every enabled rule's points and reason, and their sum kept within 0..100."""
    points = tuple(
        rule(facts, rules, now) for name, rule in RULES.items() if getattr(rules, name).enabled
    )
    return RuleScore(clamp(sum(p.points for p in points)), points)


# --- the rules -----------------------------------------------------------------------


@cache
def _word_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])")


def _has_word(text: str, phrase: str) -> bool:
    return _word_pattern(phrase).search(text) is not None


def title_seniority(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.title_seniority
    title = (facts.get("title") or "").strip()
    if not title:
        return Point("title_seniority", rule.unknown, "no title")
    folded = title.lower()
    for level in rule.levels:
        word = next((w for w in level.keywords if _has_word(folded, w)), None)
        if word is not None:
            return Point("title_seniority", level.points, f"{level.name} title ({title})")
    return Point("title_seniority", rule.unknown, f"title not ranked ({title})")


def company_size(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.company_size
    employees = facts.employee_count
    if employees is None:
        return Point("company_size", rule.unknown, "company size unknown")
    for band in rule.bands:
        if band.min <= employees and (band.max is None or employees <= band.max):
            span = f"{band.min:,}-{band.max:,}" if band.max is not None else f"{band.min:,}+"
            return Point("company_size", band.points, f"{employees:,} employees ({span})")
    return Point("company_size", rule.unknown, f"{employees:,} employees (no band)")


def _country(value: str) -> str:
    return country_code(value) or value.strip().upper()


@cache
def _targets(countries: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_country(c) for c in countries)


def target_countries(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.target_countries
    given = facts.get("country") or facts.company_country
    if not given:
        return Point("target_countries", rule.unknown, "country unknown")
    code = _country(given)
    if code in _targets(tuple(rule.countries)):
        return Point("target_countries", rule.points, f"target country ({given})")
    return Point("target_countries", rule.other, f"not a target country ({given})")


def target_industries(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.target_industries
    given = facts.get("industry") or facts.company_industry
    if not given:
        return Point("target_industries", rule.unknown, "industry unknown")
    folded = given.lower()
    if any(_has_word(folded, target) for target in rule.industries):
        return Point("target_industries", rule.points, f"target industry ({given})")
    return Point("target_industries", rule.other, f"not a target industry ({given})")


def email_quality(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.email_quality
    email = facts.get("email")
    if not email:
        return Point("email_quality", rule.missing, "no email")
    domain = domain_of(email)
    found: list[tuple[int, str]] = []
    if facts.get("email_verified") or facts.get("verified"):
        found.append((rule.verified, "verified"))
    if is_disposable(domain):
        found.append((rule.disposable, "disposable"))
    elif is_free_mail(domain):
        found.append((rule.free_mail, "free mail"))
    else:
        found.append((rule.business, "business domain"))
    if is_role_account(email):
        found.append((rule.role_account, "role account"))
    reason = ", ".join(f"{what} ({points:+d})" for points, what in found)
    return Point("email_quality", sum(points for points, _ in found), reason)


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {}) and value is not False


def completeness(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.completeness
    have = [name for name in rule.fields if _filled(facts.get(name))]
    total = len(rule.fields)
    points = round(rule.points * len(have) / total)
    return Point("completeness", points, f"{len(have)} of {total} fields filled")


def source(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    rule = rules.source
    given = facts.get("source")
    if not given:
        return Point("source", rule.other, "no source")
    if given in rule.points:
        return Point("source", rule.points[given], f"source {given}")
    return Point("source", rule.other, f"source {given} (not ranked)")


def _days_ago(at: datetime, now: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0, (now - at).days)


def engagement(facts: LeadFacts, rules: Rules, now: datetime) -> Point:
    rule = rules.engagement
    activity = facts.activity
    if not activity.count:
        return Point("engagement", 0, "no activities")
    parts: list[tuple[int, str]] = []
    assert activity.last_at is not None  # a lead with activities has a last one
    days = _days_ago(activity.last_at, now)
    recent = next((band for band in rule.recency if days <= band.within_days), None)
    when = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
    parts.append((recent.points if recent else 0, f"last activity {when}"))
    often = next((band for band in rule.frequency if activity.count >= band.at_least), None)
    parts.append((often.points if often else 0, f"{activity.count} activities"))
    kinds = sorted(kind for kind in activity.by_type if rule.kinds.get(kind))
    if kinds:
        total = min(rule.kinds_cap, sum(rule.kinds[kind] for kind in kinds))
        parts.append((total, ", ".join(k.replace("_", " ") for k in kinds)))
    outcomes = sorted(o for o in activity.by_outcome if rule.outcomes.get(o))
    if outcomes:
        total = min(rule.outcomes_cap, sum(rule.outcomes[o] for o in outcomes))
        parts.append((total, "outcomes: " + ", ".join(o.replace("_", " ") for o in outcomes)))
    views = rule.page_views
    if views.points and activity.page_views >= views.at_least:
        parts.append((views.points, f"{activity.page_views} page views"))
    reason = "; ".join(f"{what} ({points:+d})" for points, what in parts)
    return Point("engagement", sum(points for points, _ in parts), reason)


def status(facts: LeadFacts, rules: Rules, _now: datetime) -> Point:
    given = facts.get("lead_status") or "new"
    return Point("status", rules.status.points.get(given, 0), f"status {given}")


RULES: dict[str, Callable[[LeadFacts, Rules, datetime], Point]] = {
    "title_seniority": title_seniority,
    "company_size": company_size,
    "target_countries": target_countries,
    "target_industries": target_industries,
    "email_quality": email_quality,
    "completeness": completeness,
    "source": source,
    "engagement": engagement,
    "status": status,
}
assert tuple(RULES) == rules_module.RULE_NAMES
