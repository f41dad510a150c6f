"""What enrichment found about a lead, in words, for its page.

The waterfall (enrichment/pipeline.py) records in ``enrichment_data``: the
fields each provider filled (``fields``: value, provider, at, confidence),
each step's status (``steps``), what the providers noticed without filling a
field (``flags``: MX, free-mail, disposable, role account, phone line type,
website status...), the company it learnt of (``company``), why a run
failed (``error``), and values the write path refused (``conflicts``,
``company_error``). This module turns that into the sentences a salesperson
reads ("Mail server found · work address · not disposable") and is
defensive: the API lets anyone store any JSON there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Each provider as the page names it.
PROVIDERS = {
    "email": "Email check",
    "phone": "Phone check",
    "company": "Company lookup",
    "website": "Website visit",
    "person": "Name from email",
    "webhook": "Webhook",
}
LINE_TYPES = {
    "fixed_line": "landline",
    "mobile": "mobile",
    "fixed_line_or_mobile": "landline or mobile",
    "toll_free": "toll-free",
    "premium_rate": "premium-rate",
    "shared_cost": "shared-cost",
    "voip": "internet (VoIP)",
    "personal_number": "personal",
    "pager": "pager",
    "uan": "company (UAN)",
    "voicemail": "voicemail",
}
STEP_FAILURES = {
    "error": "could not be reached",
    "timeout": "did not answer in time",
    "junk": "answered with unusable data",
    "circuit_open": "paused after repeated failures",
}
STATUS_WORDS = {
    "pending": "Not enriched yet",
    "in_progress": "Enriching now",
    "completed": "Enriched",
    "failed": "Enrichment failed",
}


@dataclass(frozen=True)
class Finding:
    """One sentence about the lead, and which provider it comes from."""

    topic: str  # "Email", "Phone", "Company", "Website"...
    text: str
    provider: str  # as the page names it
    ok: bool = True  # False: a failure or a warning sign


@dataclass(frozen=True)
class Filled:
    """A field a provider set, with its value."""

    field: str
    value: str
    provider: str
    at: str
    confidence: str


@dataclass(frozen=True)
class EnrichmentStory:
    status: str
    headline: str  # "Enriched", "Enrichment failed"...
    finished_at: str
    error: str
    findings: list[Finding]
    filled: list[Filled]
    notes: list[str]  # values not stored, company not linked

    @property
    def empty(self) -> bool:
        return not (self.findings or self.filled or self.notes or self.error)


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(text(item) for item in value)
    return str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def provider_name(provider: Any) -> str:
    name = text(provider)
    return PROVIDERS.get(name, name.replace("_", " ").capitalize() or "Unknown provider")


def email_finding(flags: Mapping[str, Any]) -> Finding | None:
    if "email_valid" not in flags:
        return None
    if flags["email_valid"] is False:
        reason = text(flags.get("email_error"))
        return Finding(
            "Email",
            "Not a valid address" + (f" ({reason})" if reason else ""),
            PROVIDERS["email"],
            ok=False,
        )
    parts: list[str] = []
    ok = True
    if flags.get("mx_ok") is True:
        parts.append("Mail server found")
    elif flags.get("mx_ok") is False:
        reason = text(flags.get("mx_reason"))
        parts.append("No mail server" + (f" ({reason})" if reason else ""))
        ok = False
    if "free_mail" in flags:
        parts.append("free-mail address" if flags["free_mail"] else "work address")
    if "disposable" in flags:
        parts.append("disposable" if flags["disposable"] else "not disposable")
        ok = ok and not flags["disposable"]
    if "role_account" in flags:
        parts.append("role account" if flags["role_account"] else "not a role account")
    sentence = " · ".join(parts) or "Valid address"
    return Finding("Email", sentence[0].upper() + sentence[1:], PROVIDERS["email"], ok=ok)


def phone_finding(flags: Mapping[str, Any]) -> Finding | None:
    if "phone_valid" not in flags:
        return None
    if not flags["phone_valid"]:
        return Finding("Phone", "Not a valid number", PROVIDERS["phone"], ok=False)
    kind = LINE_TYPES.get(text(flags.get("phone_line_type")), "")
    country = text(flags.get("phone_country"))
    sentence = "Valid " + (f"{kind} " if kind else "") + "number"
    if country and country != "001":
        sentence += f" ({country})"
    return Finding("Phone", sentence, PROVIDERS["phone"])


def company_finding(company: Mapping[str, Any]) -> Finding | None:
    domain, name = text(company.get("domain")), text(company.get("name"))
    if not domain and not name:
        return None
    shown = f"{name} ({domain})" if name and domain and name != domain else domain or name
    return Finding("Company", shown, PROVIDERS["company"])


def website_finding(flags: Mapping[str, Any], company: Mapping[str, Any]) -> Finding | None:
    if "website_status" not in flags:
        return None
    url, status = text(flags.get("website_url")), flags.get("website_status")
    if isinstance(status, int) and status >= 400:
        return Finding(
            "Website", f"Answered “{status}”, no home page ({url})", PROVIDERS["website"], ok=False
        )
    sentence = f"Reachable at {url}" if url else "Reachable"
    about = text(company.get("description")) or text(company.get("name"))
    if about:
        sentence += f", “{about}”"
    return Finding("Website", sentence, PROVIDERS["website"])


def step_findings(steps: Any, covered: set[str]) -> list[Finding]:
    """Failed steps in words ("Website: could not be reached (timeout)"), and
    steps that found nothing, for providers no other sentence covers."""
    found: list[Finding] = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        provider, status = text(step.get("provider")), text(step.get("status"))
        name = provider_name(provider)
        topic = name.split(" ")[0]
        if status in STEP_FAILURES:
            error = text(step.get("error"))
            sentence = STEP_FAILURES[status] + (f" ({error})" if error else "")
            found.append(Finding(topic, sentence[0].upper() + sentence[1:], name, ok=False))
        elif status == "no_data" and name not in covered:
            found.append(Finding(topic, "Nothing found", name))
    return found


def filled_fields(fields: Any, labels: Mapping[str, str]) -> list[Filled]:
    return [
        Filled(
            field=labels.get(str(name), str(name)),
            value=text(record.get("value")),
            provider=provider_name(record.get("provider")),
            at=text(record.get("at")),
            confidence=_percent(record.get("confidence")),
        )
        for name, record in _dict(fields).items()
        if isinstance(record, dict)
    ]


def _percent(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return f"{round(value * 100)} %"
    return text(value)


def notes_of(data: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Values the write path refused, in words."""
    notes = []
    conflicts = data.get("conflicts")
    for conflict in conflicts if isinstance(conflicts, list) else []:
        if isinstance(conflict, dict):
            label = labels.get(text(conflict.get("field")), text(conflict.get("field")))
            reason = (
                text(conflict.get("message"))
                if conflict.get("message")
                else "another lead already has it"
            )
            notes.append(f"{label} “{text(conflict.get('value'))}” was not kept: {reason}.")
    if data.get("company_error"):
        notes.append(f"The company could not be linked: {text(data['company_error'])}.")
    return notes


def story(lead: Mapping[str, Any], labels: Mapping[str, str]) -> EnrichmentStory:
    """What enrichment found about ``lead``, in words."""
    data = _dict(lead.get("enrichment_data"))
    flags, company = _dict(data.get("flags")), _dict(data.get("company"))
    findings = [
        finding
        for finding in (
            email_finding(flags),
            phone_finding(flags),
            company_finding(company),
            website_finding(flags, company),
        )
        if finding is not None
    ]
    covered = {f.provider for f in findings}
    findings += step_findings(data.get("steps"), covered)
    status = text(lead.get("enrichment_status"))
    return EnrichmentStory(
        status=status,
        headline=STATUS_WORDS.get(status, status.replace("_", " ").capitalize()),
        finished_at=text(data.get("finished_at")),
        error=text(data.get("error")),
        findings=findings,
        filled=filled_fields(data.get("fields"), labels),
        notes=notes_of(data, labels),
    )
