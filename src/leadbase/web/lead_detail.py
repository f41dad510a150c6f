"""Console: one lead's page, /leads/{id}.

Every field of the lead (a form for editors, a read-only list for viewers),
its audit trail and timeline, its sources, and where enrichment found each
value. Edits, soft delete and restore go through ``leads.service`` in a unit
of work acting as the signed-in user, so the audit trail names them with
their ip and browser.

An edit sends only the fields the user changed from what the form showed:
each input has a hidden ``was.<field>`` twin holding the value it was
rendered with, so an untouched field is never rewritten. The form also
carries the lead's version (a stale one is a ConflictError: the page shows
the other change and lets the user reload or overwrite) and the last audit
entry the user saw, which is how the page finds what that other change was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from leadbase import http_support
from leadbase.audit import repository as audit_repository
from leadbase.errors import ConflictError, DuplicateLeadError, NotFoundError, ValidationError
from leadbase.leads import repository, service
from leadbase.leads.schemas import EnrichmentStatus, HistoryEntry, LeadStatus
from leadbase.models import AuditLog, LeadEvent, LeadSource
from leadbase.web import rendering
from leadbase.web.session import ConsoleUser, Editor, SignedIn

router = APIRouter(include_in_schema=False)

# --- the form: which input shows each lead field ---------------------------------

Kind = Literal["text", "email", "tel", "url", "textarea", "select", "checkbox", "list", "number"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: Kind = "text"
    options: tuple[str, ...] = ()
    hint: str = ""


def _f(name: str, label: str, kind: Kind = "text", hint: str = "") -> FormField:
    return FormField(name, label, kind, hint=hint)


LIST_HINT = "Separate several with commas."

# Every writable field of LeadInput except the JSON ones below, grouped as
# the page shows them. A test checks the two together cover LeadInput.
SECTIONS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    (
        "Person",
        (
            _f("full_name", "Full name"),
            _f("first_name", "First name"),
            _f("last_name", "Last name"),
            _f("title", "Job title"),
        ),
    ),
    (
        "Contact",
        (
            _f("email", "Email", "email"),
            _f("email_verified", "Email verified", "checkbox"),
            _f("phone", "Phone", "tel"),
            _f("phone_verified", "Phone verified", "checkbox"),
            _f("additional_emails", "Additional emails", "list", LIST_HINT),
            _f("additional_phones", "Additional phones", "list", LIST_HINT),
            _f("linkedin_url", "LinkedIn URL", "url"),
        ),
    ),
    (
        "Company",
        (
            _f("company_name", "Company name"),
            _f("company_domain", "Company domain"),
            _f("company_id", "Company id", hint="The id of a company in leadbase."),
            _f("industry", "Industry"),
        ),
    ),
    (
        "Address",
        (
            _f("street", "Street"),
            _f("address_line2", "Address line 2"),
            _f("city", "City"),
            _f("state", "State or region"),
            _f("postal_code", "Postal code"),
            _f("country", "Country"),
        ),
    ),
    (
        "Status",
        (
            FormField("lead_status", "Lead status", "select", get_args(LeadStatus)),
            _f("lead_score", "Lead score", "number", "0 to 100."),
            _f("verified", "Verified", "checkbox"),
            _f("is_manual", "Manual / test lead", "checkbox"),
            _f("tags", "Tags", "list", LIST_HINT),
            _f("notes", "Notes", "textarea"),
        ),
    ),
    (
        "Source and enrichment",
        (
            _f("source", "Source"),
            _f("provider_name", "Provider"),
            _f("external_id", "External id"),
            _f("actor_id", "Apify actor id"),
            _f("run_id", "Run id"),
            _f("dataset_id", "Dataset id"),
            FormField(
                "enrichment_status", "Enrichment status", "select", get_args(EnrichmentStatus)
            ),
            _f("enrichment_task_id", "Enrichment task id"),
        ),
    ),
)
FORM_FIELDS: dict[str, FormField] = {f.name: f for _, fields in SECTIONS for f in fields}
# Structured fields: shown as JSON on the page, changed by the API and the
# enrichment and scoring jobs, not typed into a form.
JSON_FIELDS = (
    ("enrichment_data", "Enrichment data"),
    ("score_explanation", "Score explanation"),
    ("raw_data", "Raw data"),
)
ORIGINAL_PREFIX = "was."
NOTICES = {
    "saved": "Saved.",
    "unchanged": "Nothing to save: no field was changed.",
    "deleted": "Lead deleted. It no longer shows in lists; Restore brings it back.",
    "restored": "Lead restored.",
}
MAX_SHOWN = 500  # characters of one value in the history; the API has the rest


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
    if form_field.kind == "number":
        if not raw.strip():
            return None
        try:
            return int(raw.strip())
        except ValueError:
            raise ValidationError(form_field.name, "must be a whole number from 0 to 100") from None
    if form_field.kind in ("textarea", "select"):
        return raw if raw.strip() else None
    return raw.strip() or None


# --- what a post carries ---------------------------------------------------------


@dataclass
class Submission:
    """An edit form as posted: what each input held, and held when rendered."""

    values: dict[str, str]
    originals: dict[str, str]
    version: int | None
    seen_seq: int

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
        return cls(values, originals, _int_or_none(form.get("version")), _seen_seq(form))

    def changes(self) -> dict[str, Any]:
        """The fields the user changed, as values to store."""
        changed: dict[str, Any] = {}
        for name, raw in self.values.items():
            form_field = FORM_FIELDS[name]
            new = typed(form_field, raw)
            if new != typed(form_field, self.originals[name]):
                changed[name] = new
        return changed


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _seen_seq(form: FormData) -> int:
    return _int_or_none(form.get("seen_seq")) or 0


# --- reading a lead's page -------------------------------------------------------


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


class HistoryItem(HistoryEntry):
    """An audit entry, and its changes as the page shows them."""

    shown: list[Change]


@dataclass(frozen=True)
class LeadRecord:
    """Everything the page shows of a lead, read in one transaction."""

    lead: dict[str, Any]
    history: list[HistoryItem]  # oldest first
    timeline: list[LeadEvent]  # oldest first
    sources: list[LeadSource]

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
            Change(name, display(first_old[name]), display(new))
            for name, new in last_new.items()
            if first_old[name] != new
        ]


def display(value: Any) -> str:
    """One value as the history shows it (empty string: nothing)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        text = ", ".join(display(item) for item in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def _history_item(entry: AuditLog) -> HistoryItem:
    audit = HistoryEntry.from_audit(entry)
    shown = [Change(name, display(old), display(new)) for name, (old, new) in audit.changes.items()]
    return HistoryItem(**dict(audit), shown=shown)


def read_lead(request: Request, lead_id: str) -> LeadRecord:
    with http_support.database(request).read_session() as session:
        row = repository.row_by_id(session, lead_id, include_deleted=True)
        if row is None:
            raise NotFoundError(f"lead {lead_id} not found")
        entries = audit_repository.entries_for(session, "lead", lead_id)
        return LeadRecord(
            lead=dict(row),
            history=[_history_item(entry) for entry in entries],
            timeline=list(repository.events_for(session, lead_id)),
            sources=list(repository.sources_for(session, lead_id)),
        )


# --- enrichment provenance -------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    field: str
    value: str
    provider: str
    at: str
    confidence: str


@dataclass(frozen=True)
class Enrichment:
    status: str
    error: str
    fields: list[Provenance]
    steps: list[dict[str, str]]
    notes: list[str]  # conflicts and company errors the job recorded
    finished_at: str


def _text(value: Any) -> str:
    return "" if value is None else display(value)


def enrichment_of(lead: Mapping[str, Any]) -> Enrichment:
    """What enrichment recorded, read defensively: the API lets anyone put
    any JSON in enrichment_data."""
    data = lead.get("enrichment_data")
    data = data if isinstance(data, dict) else {}
    fields = data.get("fields")
    provenance = [
        Provenance(
            field=str(name),
            value=_text(record.get("value")),
            provider=_text(record.get("provider")),
            at=_text(record.get("at")),
            confidence=_text(record.get("confidence")),
        )
        for name, record in (fields.items() if isinstance(fields, dict) else [])
        if isinstance(record, dict)
    ]
    return Enrichment(
        status=str(lead.get("enrichment_status") or ""),
        error=_text(data.get("error")),
        fields=provenance,
        steps=_steps(data.get("steps")),
        notes=_enrichment_notes(data),
        finished_at=_text(data.get("finished_at")),
    )


def _steps(steps: Any) -> list[dict[str, str]]:
    """The waterfall's steps: a list of step records, or {provider: status}."""
    if isinstance(steps, dict):
        return [{"provider": str(k), "status": _text(v)} for k, v in steps.items()]
    if not isinstance(steps, list):
        return []
    keys = ("provider", "status", "error", "ms", "attempts")
    return [{key: _text(step.get(key)) for key in keys} for step in steps if isinstance(step, dict)]


def _enrichment_notes(data: Mapping[str, Any]) -> list[str]:
    notes = []
    conflicts = data.get("conflicts")
    for conflict in conflicts if isinstance(conflicts, list) else []:
        if isinstance(conflict, dict):
            reason = conflict.get("message") or (
                f"another lead holds it: {conflict.get('existing_id')}"
            )
            notes.append(
                f"{_text(conflict.get('field'))} {_text(conflict.get('value'))} not stored: "
                f"{_text(reason)}"
            )
    if data.get("company_error"):
        notes.append(f"company not linked: {_text(data['company_error'])}")
    return notes


def safe_link(url: Any) -> str | None:
    """A source's URL as a link only when it is plain http(s): never javascript:."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


# --- the form's state ------------------------------------------------------------


@dataclass
class FormState:
    """What the edit form shows: each input's value and its ``was.`` twin,
    the version and audit entry it was built on, and any messages."""

    values: dict[str, str]
    originals: dict[str, str]
    version: int
    seen_seq: int
    errors: dict[str, str] = field(default_factory=dict)
    error: str = ""  # a message about no one field
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
        ids = []
        if name in self.errors:
            ids.append(f"f-{name}-error")
        if FORM_FIELDS[name].hint:
            ids.append(f"f-{name}-hint")
        return " ".join(ids)


def field_errors(exc: ValidationError | DuplicateLeadError) -> tuple[dict[str, str], str]:
    """Messages by form field, and what names no field on the form."""
    errors: dict[str, str] = {}
    loose: list[str] = []
    if isinstance(exc, DuplicateLeadError):
        name = "external_id" if "+" in exc.matched_on else exc.matched_on
        message = f"another lead already has this {exc.matched_on}: {exc.existing_id}"
        items = [(name, message)]
    else:
        items = [(str(d.get("field", "")), str(d.get("message", ""))) for d in exc.details]
    for path, message in items:
        name = path.split(".", 1)[0]
        if name in FORM_FIELDS and not (name == "full_name" and "at least one" in message):
            errors.setdefault(name, message)
        else:
            loose.append(f"{path}: {message}")
    return errors, "; ".join(loose)


# --- pages -------------------------------------------------------------------------


def _page(
    request: Request,
    user: ConsoleUser,
    record: LeadRecord,
    form: FormState,
    *,
    status_code: int = 200,
    notice: str = "",
    warning: str = "",
    conflict: list[Change] | None = None,
) -> Response:
    lead = record.lead
    return rendering.render(
        request,
        "leads/detail.html",
        {
            "user": user,
            "lead": lead,
            "name": lead.get("full_name") or lead.get("email") or "(no name)",
            "sections": SECTIONS,
            "json_fields": [(name, label, lead.get(name)) for name, label in JSON_FIELDS],
            "form": form,
            "readonly": not user.can_edit or bool(lead["is_deleted"]),
            "history": list(reversed(record.history)),
            "timeline": list(reversed(record.timeline)),
            "sources": record.sources,
            "enrichment": enrichment_of(lead),
            "notice": notice,
            "warning": warning,
            "conflict": conflict,
            "shown": shown,
            "display": display,
            "safe_link": safe_link,
            "pretty_json": _pretty_json,
        },
        status_code=status_code,
    )


def _pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@router.get("/leads/{lead_id}")
async def lead_page(
    request: Request, user: SignedIn, lead_id: str, notice: str | None = None
) -> Response:
    record = await run_in_threadpool(read_lead, request, lead_id)
    return _page(
        request, user, record, FormState.fresh(record), notice=NOTICES.get(notice or "", "")
    )


def _back(lead_id: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/leads/{quote(lead_id, safe='')}?notice={notice}", status_code=303)


def _save(
    request: Request, user: ConsoleUser, lead_id: str, changes: dict[str, Any], version: int | None
) -> None:
    with http_support.writing(request, user.principal) as uow:
        service.update(uow, lead_id, changes, expected_version=version)


@router.post("/leads/{lead_id}")
async def save_lead(request: Request, user: Editor, lead_id: str) -> Response:
    """Apply the fields the user changed, at the version the form was built on."""
    sent = Submission.from_form(await request.form())
    try:
        if sent.version is None:
            raise ValidationError("version", "the form lost its version; reload the page")
        changes = sent.changes()
        if not changes:
            return _back(lead_id, "unchanged")
        await run_in_threadpool(_save, request, user, lead_id, changes, sent.version)
    except ConflictError:
        record = await run_in_threadpool(read_lead, request, lead_id)
        return _page(
            request,
            user,
            record,
            FormState.rebased(record, sent),
            status_code=409,
            conflict=record.changes_after(sent.seen_seq),
        )
    except NotFoundError:
        # Deleted while the user typed (a lead that never was stays a 404).
        record = await run_in_threadpool(read_lead, request, lead_id)
        return _page(
            request,
            user,
            record,
            FormState.fresh(record),
            status_code=409,
            warning=_deleted_meanwhile(record, sent),
        )
    except (ValidationError, DuplicateLeadError) as exc:
        record = await run_in_threadpool(read_lead, request, lead_id)
        form = FormState.retry(record, sent)
        form.errors, form.error = field_errors(exc)
        if isinstance(exc, DuplicateLeadError):
            form.duplicate_of = exc.existing_id
        return _page(request, user, record, form, status_code=422)
    return _back(lead_id, "saved")


def _deleted_meanwhile(record: LeadRecord, sent: Submission) -> str:
    """What the user typed, so a delete by someone else loses none of it."""
    lead = record.lead
    typed = "; ".join(f"{name}: {display(value)}" for name, value in sent.changes().items())
    return (
        f"{lead.get('deleted_by') or 'Someone'} deleted this lead at "
        f"{rendering.format_time(lead.get('deleted_at'))} while you were editing it, so "
        f"your changes were not saved ({typed}). Restore it to edit it again."
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
