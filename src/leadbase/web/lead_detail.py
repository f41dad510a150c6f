"""Console: one lead's page, /leads/{id}.

A record page, read first: who the lead is, their company, how to reach
them, status, score and tags, notes, what enrichment found (in words) and a
timeline of what happened. Editors open one section at a time to edit it
(``?edit=contact``); the lead's internals (provider and job ids, raw data)
are behind "Details for admins", for admins, read-only. Edits, soft delete
and restore go through ``leads.service`` in a unit of work acting as the
signed-in user, so the audit trail names them with their ip and browser.

An edit sends only the fields the user changed from what the form showed:
each input has a hidden ``was.<field>`` twin holding the value it was
rendered with, so an untouched field is never rewritten. The form also
carries the lead's version (a stale one is a ConflictError: the page shows
the other change and lets the user reload or overwrite) and the last audit
entry the user saw, which is how the page finds what that other change was.
Every bad field is reported at once, in plain words (web/forms.py), before
anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import quote

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from leadbase.activities.schemas import AUDIT_ACTION
from leadbase.audit import repository as audit_repository
from leadbase.companies import repository as companies_repository
from leadbase.errors import ConflictError, DuplicateLeadError, NotFoundError, ValidationError
from leadbase.http import support as http_support
from leadbase.leads import repository, service
from leadbase.leads.schemas import IDENTITY_FIELDS, LeadInput, LeadStatus
from leadbase.models import LeadEvent, LeadSource
from leadbase.web import (
    forms,
    lead_activity,
    lead_duplicates,
    lead_enrichment,
    lead_timeline,
    rendering,
)
from leadbase.web.lead_duplicates import LeadDuplicates
from leadbase.web.lead_timeline import Change, HistoryItem, display
from leadbase.web.session import ConsoleUser, Editor, SignedIn

router = APIRouter(include_in_schema=False)

# --- the sections: which lead fields each shows, and how -------------------------

Kind = Literal["text", "email", "tel", "url", "textarea", "select", "checkbox", "list"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: Kind = "text"
    options: tuple[str, ...] = ()
    hint: str = ""
    format: str = ""  # the plain message for a value of the wrong form
    item: str = ""  # for a list: what each item is (email, tel)

    @property
    def rule(self) -> forms.FieldRule:
        return forms.FieldRule(self.label, self.format)


@dataclass(frozen=True)
class Section:
    key: str  # ?edit=<key>
    title: str
    fields: tuple[FormField, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


LIST_HINT = "Separate several with commas."

# The fields people edit, section by section. Internals (INTERNAL_FIELDS) and
# structured data (JSON_FIELDS) are shown to admins, the score
# (SCORED_FIELDS) to everyone, none edited here; a test checks the four
# together cover LeadInput.
SECTIONS: tuple[Section, ...] = (
    Section(
        "person",
        "Person",
        (
            FormField("full_name", "Full name"),
            FormField("first_name", "First name"),
            FormField("last_name", "Last name"),
            FormField("title", "Job title"),
        ),
    ),
    Section(
        "contact",
        "Contact",
        (
            FormField("email", "Email", "email", format=forms.EMAIL),
            FormField("email_verified", "Email verified", "checkbox"),
            FormField("phone", "Phone", "tel", format=forms.PHONE),
            FormField("phone_verified", "Phone verified", "checkbox"),
            FormField("linkedin_url", "LinkedIn", "url", format=forms.LINKEDIN),
            FormField(
                "additional_emails",
                "Other emails",
                "list",
                hint=LIST_HINT,
                format=forms.EMAIL,
                item="email",
            ),
            FormField(
                "additional_phones",
                "Other phones",
                "list",
                hint=LIST_HINT,
                format=forms.PHONE,
                item="tel",
            ),
        ),
    ),
    Section(
        "company",
        "Company",
        (
            FormField("company_name", "Company"),
            FormField(
                "company_domain", "Company website", format=forms.DOMAIN, hint="Like acme.com."
            ),
            FormField("industry", "Industry"),
        ),
    ),
    Section(
        "status",
        "Status & tags",
        (
            FormField("lead_status", "Status", "select", get_args(LeadStatus)),
            FormField("tags", "Tags", "list", hint=LIST_HINT),
            FormField("source", "Source"),
            FormField("verified", "Verified", "checkbox"),
            FormField("is_manual", "Manual / test lead", "checkbox"),
        ),
    ),
    Section("notes", "Notes", (FormField("notes", "Notes", "textarea"),)),
    Section(
        "address",
        "Address",
        (
            FormField("street", "Street"),
            FormField("address_line2", "Address line 2"),
            FormField("city", "City"),
            FormField("state", "State or region"),
            FormField("postal_code", "Postal code"),
            FormField("country", "Country"),
        ),
    ),
)
SECTION_BY_KEY = {section.key: section for section in SECTIONS}
FORM_FIELDS: dict[str, FormField] = {f.name: f for s in SECTIONS for f in s.fields}
RULES: dict[str, forms.FieldRule] = {name: f.rule for name, f in FORM_FIELDS.items()}
# Bookkeeping of imports and enrichment: read-only, for admins.
INTERNAL_FIELDS = (
    ("company_id", "Company id"),
    ("enrichment_status", "Enrichment status"),
    ("enrichment_task_id", "Enrichment task id"),
    ("provider_name", "Provider"),
    ("external_id", "External id"),
    ("actor_id", "Apify actor id"),
    ("run_id", "Apify run id"),
    ("dataset_id", "Apify dataset id"),
)
# Set by the scoring jobs, shown to everyone in the score card
# (_detail_score.html), never typed in: the next rescore would replace it.
SCORED_FIELDS = (("lead_score", "Score"),)
# Structured fields, written by the API and the enrichment and scoring jobs.
JSON_FIELDS = (
    ("enrichment_data", "Enrichment provenance"),
    ("score_explanation", "Score explanation"),
    ("raw_data", "Raw data"),
)
# What only admins see, in the timeline's changes as in the details.
ADMIN_ONLY = frozenset(name for name, _ in INTERNAL_FIELDS + JSON_FIELDS)
LABELS: dict[str, str] = {
    **{name: f.label for name, f in FORM_FIELDS.items()},
    **dict(INTERNAL_FIELDS),
    **dict(SCORED_FIELDS),
    **dict(JSON_FIELDS),
    "is_deleted": "Deleted",
}
ORIGINAL_PREFIX = "was."
TIMELINE_SHOWN = 100  # newest first; the API's history has the rest
NOTICES = {
    "saved": "Saved.",
    "unchanged": "Nothing to save: no field was changed.",
    "deleted": "",  # the deleted banner says it, once
    "restored": "Lead restored.",
    "unmerged": "Merge undone: the merged leads are back on their own.",
    "activity": "Activity logged.",
}
IDENTITY_MESSAGE = "Keep a name, an email, a phone or a LinkedIn address: a lead needs one of them."


def shown(form_field: FormField, value: Any) -> str:
    """A stored value as its input shows it."""
    if form_field.kind == "checkbox":
        return "true" if value else ""
    if value is None:
        return ""
    if form_field.kind == "list":
        return ", ".join(str(item) for item in value)
    return str(value)


def typed(form_field: FormField, raw: str) -> Any:
    """What the user typed, as the value to store (the service validates it)."""
    raw = raw.replace("\r\n", "\n")  # browsers send a textarea's lines as CRLF
    if form_field.kind == "checkbox":
        return raw == "true"
    if form_field.kind == "list":
        return [part.strip() for part in raw.split(",") if part.strip()] or None
    if form_field.kind in ("textarea", "select"):
        return raw if raw.strip() else None
    return raw.strip() or None


# --- what a post carries ---------------------------------------------------------


@dataclass
class Submission:
    """A section's form as posted: what each input held, and held when rendered."""

    values: dict[str, str]
    originals: dict[str, str]
    version: int | None
    seen_seq: int
    section: str

    @classmethod
    def from_form(cls, form: FormData) -> Submission:
        values: dict[str, str] = {}
        originals: dict[str, str] = {}
        for name in FORM_FIELDS:
            original = form.get(ORIGINAL_PREFIX + name)
            if not isinstance(original, str):
                continue  # not on the form that was posted: leave the field alone
            value = form.get(name)  # an unticked checkbox sends nothing
            values[name] = value if isinstance(value, str) else ""
            originals[name] = original
        section = form.get("section")
        if not isinstance(section, str) or section not in SECTION_BY_KEY:
            section = _section_of(values)
        return cls(values, originals, _int_or_none(form.get("version")), _seen_seq(form), section)

    def changes(self) -> dict[str, Any]:
        """The fields the user changed, as values to store."""
        changed: dict[str, Any] = {}
        for name, raw in self.values.items():
            form_field = FORM_FIELDS[name]
            new = typed(form_field, raw)
            if new != typed(form_field, self.originals[name]):
                changed[name] = new
        return changed


def _section_of(values: Mapping[str, str]) -> str:
    """The section a post without one edits: that of its first field."""
    for section in SECTIONS:
        if any(name in values for name in section.names):
            return section.key
    return SECTIONS[0].key


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _seen_seq(form: FormData) -> int:
    return _int_or_none(form.get("seen_seq")) or 0


# --- checking a post: every bad field at once --------------------------------------


def _normalises(changes: Mapping[str, Any]) -> Callable[[str, Any], None]:
    """A check of one field through the service's own normalisers (the phone
    with the country typed beside it, which decides its region)."""

    def check(name: str, value: Any) -> None:
        given = {name: value}
        if name in ("phone", "additional_phones") and isinstance(changes.get("country"), str):
            given["country"] = changes["country"]
        service.clean_input(given)

    return check


def check_changes(changes: Mapping[str, Any]) -> forms.FormErrors:
    """Every field of ``changes`` the write path would refuse, in plain words.
    First the schema over them all, then each remaining field's normaliser."""
    errors = forms.schema_errors(LeadInput, changes, RULES)
    errors.update(forms.check_each(changes, _normalises(changes), RULES, skip=set(errors)))
    return forms.FormErrors(errors).ordered(FORM_FIELDS)


def refusal(exc: ValidationError | DuplicateLeadError, section: Section) -> forms.FormErrors:
    """What the service refused past the form's own checks, in plain words."""
    if isinstance(exc, DuplicateLeadError):
        name = exc.matched_on if exc.matched_on in FORM_FIELDS else ""
        label = LABELS.get(exc.matched_on, exc.matched_on).lower()
        message = f"Another lead already has this {label}."
        return forms.FormErrors({name: message} if name else {}, "" if name else message)
    if "at least one of" in exc.message:
        target = next((n for n in IDENTITY_FIELDS if n in section.names), "")
        if target:
            return forms.FormErrors({target: IDENTITY_MESSAGE})
        return forms.FormErrors(general=IDENTITY_MESSAGE)
    name = exc.field.split(".", 1)[0]
    if name in FORM_FIELDS:
        rule = RULES[name]
        return forms.FormErrors({name: rule.format or f"{rule.label}: {forms.reason(exc)}"})
    return forms.FormErrors(general=exc.message)


# --- reading a lead's page -------------------------------------------------------


@dataclass(frozen=True)
class LeadRecord:
    """Everything the page shows of a lead, read in one transaction."""

    lead: dict[str, Any]
    history: list[HistoryItem]  # oldest first
    events: list[LeadEvent]  # oldest first
    sources: list[LeadSource]
    company: dict[str, Any] | None  # the linked company: id, name, domain
    duplicates: LeadDuplicates = field(default_factory=LeadDuplicates)

    @property
    def last_seq(self) -> int:
        return self.history[-1].seq if self.history else 0

    def changes_after(self, seq: int) -> list[Change]:
        """Fields the entries after ``seq`` changed: each from its value
        then to its value now (a field changed and changed back is left out)."""
        first_old: dict[str, Any] = {}
        last_new: dict[str, Any] = {}
        for entry in self.history:
            if entry.seq <= seq:
                continue
            for name, (old, new) in entry.changes.items():
                first_old.setdefault(name, old)
                last_new[name] = new
        return [
            Change(LABELS.get(name, name), display(first_old[name]), display(new), name)
            for name, new in last_new.items()
            if first_old[name] != new
        ]


def read_lead(request: Request, lead_id: str, merged_from: str | None = None) -> LeadRecord:
    with http_support.database(request).read_session() as session:
        row = repository.row_by_id(session, lead_id, include_deleted=True)
        if row is None:
            raise NotFoundError(f"lead {lead_id} not found")
        lead = dict(row)
        company = None
        if lead.get("company_id"):
            found = companies_repository.get(session, lead["company_id"], include_deleted=True)
            if found is not None:
                company = {"id": found.id, "name": found.name, "domain": found.domain}
        entries = audit_repository.entries_for(session, "lead", lead_id)
        return LeadRecord(
            lead=lead,
            history=[
                lead_timeline.history_item(entry, LABELS)
                for entry in entries
                # An activity shows as itself, from its lead_events row.
                if entry.action != AUDIT_ACTION
            ],
            events=list(repository.events_for(session, lead_id)),
            sources=list(repository.sources_for(session, lead_id)),
            company=company,
            duplicates=lead_duplicates.read(session, lead, merged_from),
        )


def safe_link(url: Any) -> str | None:
    """A URL as a link only when it is plain http(s): never javascript:."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


def iso(value: datetime | str | None) -> str:
    """A time for ``<time datetime>``: ISO 8601 in UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        at = value
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def steps_of(data: Any) -> list[dict[str, str]]:
    """The waterfall's steps, for admins: a list of step records, or {provider: status}."""
    steps = data.get("steps") if isinstance(data, dict) else None
    if isinstance(steps, dict):
        return [{"provider": str(k), "status": lead_enrichment.text(v)} for k, v in steps.items()]
    if not isinstance(steps, list):
        return []
    keys = ("provider", "status", "error", "ms", "attempts")
    return [
        {key: lead_enrichment.text(step.get(key)) for key in keys}
        for step in steps
        if isinstance(step, dict)
    ]


def phone_text(value: Any) -> str:
    """A stored (E.164) number as people read it: ``+44 20 7946 0958``."""
    text = str(value or "")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def initials(name: str) -> str:
    letters = [part[0] for part in name.split() if part[:1].isalnum()]
    return "".join(letters[:1] + letters[1:][-1:]).upper() or "?"


# --- the form's state ------------------------------------------------------------


@dataclass
class FormState:
    """What an open section's form shows: each input's value and its ``was.``
    twin, the version and audit entry it was built on, and any messages."""

    values: dict[str, str]
    originals: dict[str, str]
    version: int
    seen_seq: int
    errors: forms.FormErrors = field(default_factory=forms.FormErrors)
    duplicate_of: str = ""  # the lead that already holds a value the user typed

    @classmethod
    def fresh(cls, record: LeadRecord) -> FormState:
        values = {name: shown(f, record.lead.get(name)) for name, f in FORM_FIELDS.items()}
        return cls(values, dict(values), record.lead["version"], record.last_seq)

    @classmethod
    def retry(cls, record: LeadRecord, sent: Submission) -> FormState:
        """The form as posted (typed values kept), to correct and send again."""
        state = cls.fresh(record)
        state.values.update(sent.values)
        state.originals.update(sent.originals)
        state.version = sent.version if sent.version is not None else state.version
        state.seen_seq = sent.seen_seq
        return state

    @classmethod
    def rebased(cls, record: LeadRecord, sent: Submission) -> FormState:
        """After a stale edit: the user's changed fields keep what they typed
        (and what they started from, so Overwrite sends exactly them); the
        rest show the lead as it is now. Version and history are today's."""
        state = cls.fresh(record)
        for name in sent.changes():
            state.values[name] = sent.values[name]
            state.originals[name] = sent.originals[name]
        return state

    def described_by(self, name: str) -> str:
        return self.errors.described_by(name, hint=bool(FORM_FIELDS[name].hint))


# --- pages -------------------------------------------------------------------------


@dataclass
class View:
    """How the page is shown: which section is open, and what to say."""

    editing: str = ""  # the open section's key
    form: FormState | None = None
    status_code: int = 200
    notice: str = ""
    unsaved: str = ""  # what a delete by someone else kept from being saved
    conflict: list[Change] | None = None
    activity: lead_activity.ActivityForm | None = None  # the Log activity form, refused


def _page(request: Request, user: ConsoleUser, record: LeadRecord, view: View) -> Response:
    lead = record.lead
    can_edit = user.can_edit and not lead["is_deleted"]
    editing = view.editing if can_edit and view.editing in SECTION_BY_KEY else ""
    name = lead.get("full_name") or lead.get("email") or "(no name)"
    is_admin = user.role == "admin"
    hidden = frozenset() if is_admin else ADMIN_ONLY
    timeline = lead_timeline.timeline(record.history, record.events, LABELS, hidden)
    conflict = view.conflict
    if conflict is not None:
        conflict = [change for change in conflict if change.name not in hidden]
    return rendering.render(
        request,
        "leads/detail.html",
        {
            "user": user,
            "lead": lead,
            "name": name,
            "initials": initials(str(name)),
            "company": record.company,
            "sections": SECTIONS,
            "editing": editing,
            "can_edit": can_edit,
            "is_admin": is_admin,
            "form": view.form or FormState.fresh(record),
            "internal_fields": [(label, lead.get(n)) for n, label in INTERNAL_FIELDS],
            "json_fields": [(label, lead.get(n)) for n, label in JSON_FIELDS],
            "timeline": timeline[:TIMELINE_SHOWN],
            "older": max(0, len(timeline) - TIMELINE_SHOWN),
            "sources": record.sources,
            "enrichment": lead_enrichment.story(lead, LABELS),
            "steps": steps_of(lead.get("enrichment_data")),
            "labels": LABELS,
            "filled": lambda names: any(lead.get(name) for name in names),
            "notice": view.notice,
            "unsaved": view.unsaved,
            "conflict": conflict,
            "shown": shown,
            "safe_link": safe_link,
            "iso": iso,
            "phone_text": phone_text,
            "who": lead_timeline.who,
            "pretty_json": _pretty_json,
            "duplicates": record.duplicates,
            **lead_activity.context(view.activity, opened=view.editing == lead_activity.KEY),
        },
        status_code=view.status_code,
    )


def _pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@router.get("/leads/{lead_id}")
async def lead_page(
    request: Request,
    user: SignedIn,
    lead_id: str,
    notice: str | None = None,
    edit: str | None = None,
    merged_from: str | None = None,
    follow: str | None = None,
) -> Response:
    """The lead; a merged lead's page goes on to the lead it was merged into
    (``follow=no`` shows the merged record itself)."""
    record = await run_in_threadpool(read_lead, request, lead_id, merged_from)
    into = record.lead.get("merged_into_id")
    if into and follow != "no":
        target = f"/leads/{quote(into, safe='')}?merged_from={quote(lead_id, safe='')}"
        return RedirectResponse(target, status_code=303)
    view = View(editing=edit or "", notice=NOTICES.get(notice or "", ""))
    return _page(request, user, record, view)


def _back(lead_id: str, notice: str, section: str = "") -> RedirectResponse:
    anchor = f"#section-{section}" if section else ""
    return RedirectResponse(
        f"/leads/{quote(lead_id, safe='')}?notice={notice}{anchor}", status_code=303
    )


def _save(
    request: Request, user: ConsoleUser, lead_id: str, changes: dict[str, Any], version: int | None
) -> None:
    with http_support.writing(request, user.principal) as uow:
        service.update(uow, lead_id, changes, expected_version=version)


async def _refused(
    request: Request,
    user: ConsoleUser,
    lead_id: str,
    sent: Submission,
    errors: forms.FormErrors,
    *,
    duplicate_of: str = "",
) -> Response:
    """The section again, as typed, with every message; nothing was written."""
    record = await run_in_threadpool(read_lead, request, lead_id)
    form = FormState.retry(record, sent)
    form.errors, form.duplicate_of = errors, duplicate_of
    view = View(editing=sent.section, form=form, status_code=422)
    return _page(request, user, record, view)


@router.post("/leads/{lead_id}")
async def save_lead(request: Request, user: Editor, lead_id: str) -> Response:
    """Apply the fields the user changed, at the version the form was built on."""
    sent = Submission.from_form(await request.form())
    if sent.version is None:
        lost = forms.FormErrors(general="The form lost its version: reload the page.")
        return await _refused(request, user, lead_id, sent, lost)
    changes = sent.changes()
    if not changes:
        return _back(lead_id, "unchanged", sent.section)
    errors = check_changes(changes)
    if errors:
        return await _refused(request, user, lead_id, sent, errors)
    try:
        await run_in_threadpool(_save, request, user, lead_id, changes, sent.version)
    except ConflictError:
        record = await run_in_threadpool(read_lead, request, lead_id)
        view = View(
            editing=sent.section,
            form=FormState.rebased(record, sent),
            status_code=409,
            conflict=record.changes_after(sent.seen_seq),
        )
        return _page(request, user, record, view)
    except NotFoundError:
        # Deleted while the user typed (a lead that never was stays a 404).
        record = await run_in_threadpool(read_lead, request, lead_id)
        view = View(status_code=409, unsaved=_unsaved(sent))
        return _page(request, user, record, view)
    except (ValidationError, DuplicateLeadError) as exc:
        existing = exc.existing_id if isinstance(exc, DuplicateLeadError) else ""
        refused = refusal(exc, SECTION_BY_KEY[sent.section])
        return await _refused(request, user, lead_id, sent, refused, duplicate_of=existing)
    return _back(lead_id, "saved", sent.section)


def _unsaved(sent: Submission) -> str:
    """What the user typed, so a delete by someone else loses none of it."""
    return "; ".join(
        f"{LABELS.get(name, name)}: {display(value)}" for name, value in sent.changes().items()
    )


def _delete(request: Request, user: ConsoleUser, lead_id: str) -> None:
    with http_support.writing(request, user.principal) as uow:
        service.soft_delete(uow, lead_id)


def _restore(request: Request, user: ConsoleUser, lead_id: str) -> None:
    with http_support.writing(request, user.principal) as uow:
        service.restore(uow, lead_id)


@router.post("/leads/{lead_id}/delete")
async def delete_lead(request: Request, user: Editor, lead_id: str) -> Response:
    """Soft delete: the lead leaves lists and searches; Restore brings it back."""
    await run_in_threadpool(_delete, request, user, lead_id)
    return _back(lead_id, "deleted")


@router.post("/leads/{lead_id}/restore")
async def restore_lead(request: Request, user: Editor, lead_id: str) -> Response:
    await run_in_threadpool(_restore, request, user, lead_id)
    return _back(lead_id, "restored")


def _log_activity(
    request: Request, user: ConsoleUser, lead_id: str, form: lead_activity.ActivityForm
) -> None:
    with http_support.writing(request, user.principal) as uow:
        form.record(uow, lead_id)


@router.post("/leads/{lead_id}/activity")
async def log_activity(request: Request, user: Editor, lead_id: str) -> Response:
    """Record an activity against the lead (the Log activity form)."""
    form = lead_activity.ActivityForm.from_form(await request.form())
    form.errors = form.check()
    if not form.errors:
        try:
            await run_in_threadpool(_log_activity, request, user, lead_id, form)
        except ValidationError as exc:
            form.errors = form.refused(exc)
        except ConflictError as exc:  # merged since the page was shown
            form.errors = forms.FormErrors(general=exc.message)
    if form.errors:
        record = await run_in_threadpool(read_lead, request, lead_id)
        return _page(request, user, record, View(status_code=422, activity=form))
    return RedirectResponse(
        f"/leads/{quote(lead_id, safe='')}?notice=activity#timeline-heading", status_code=303
    )
