"""Console: the lead page's "Log activity" form.

An editor records a call, an email, a meeting... against the lead: its
kind (the usual ones, or another typed in), when it happened (UTC; empty:
now), its outcome and a note (kept in the event's data as ``note``). It goes
through ``activities.service`` in a unit of work acting as the signed-in
user, like every console write, and shows on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from leadbase.activities import service
from leadbase.activities.schemas import ACTIVITY_TYPES, MAX_OUTCOME, USUAL_OUTCOMES
from leadbase.db import UnitOfWork
from leadbase.errors import ValidationError
from leadbase.web import forms

KEY = "activity"  # ?edit=activity opens the form
OTHER = "other"
TYPES = (*ACTIVITY_TYPES, OTHER)
OUTCOMES = USUAL_OUTCOMES
MAX_NOTE = 4000
LABELS = {
    "activity_type": "Activity",
    "activity_other": "Other activity",
    "activity_at": "When (UTC)",
    "activity_outcome": "Outcome",
    "activity_note": "Activity note",
}
# Inputs with a hint below them.
HINTED = frozenset({"activity_other", "activity_at"})
# The service's field -> the form's input that holds it.
_INPUT_OF = {
    "event_type": "activity_type",
    "occurred_at": "activity_at",
    "outcome": "activity_outcome",
    "data": "activity_note",
}


@dataclass
class ActivityForm:
    """The form as typed, and what was wrong with it."""

    kind: str = "call"
    other: str = ""
    at: str = ""  # a datetime-local value: YYYY-MM-DDTHH:MM
    outcome: str = ""
    note: str = ""
    errors: forms.FormErrors = field(default_factory=forms.FormErrors)

    @classmethod
    def from_form(cls, form: FormData) -> ActivityForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(
            kind=text("activity_type") or "call",
            other=text("activity_other"),
            at=text("activity_at"),
            outcome=text("activity_outcome"),
            note=text("activity_note"),
        )

    def described_by(self, name: str) -> str:
        return self.errors.described_by(name, hint=name in HINTED)

    def event_type(self) -> str:
        return self.other if self.kind == OTHER else self.kind

    def check(self) -> forms.FormErrors:
        """Every mistake the form can see before the service does."""
        errors: dict[str, str] = {}
        if self.kind == OTHER and not self.other:
            errors["activity_other"] = "Say what kind of activity it was"
        if self.at:
            try:
                datetime.fromisoformat(self.at)
            except ValueError:
                errors["activity_at"] = "Enter a date and time like 2026-03-01 14:30"
        if len(self.outcome) > MAX_OUTCOME:
            errors["activity_outcome"] = f"Keep the outcome to {MAX_OUTCOME} characters"
        if len(self.note) > MAX_NOTE:
            errors["activity_note"] = f"Keep the note to {MAX_NOTE:,} characters"
        return forms.FormErrors(errors)

    def refused(self, exc: ValidationError) -> forms.FormErrors:
        """The service's refusal, at the input it is about."""
        name = _INPUT_OF.get(exc.field.split(".")[0], "")
        if self.kind == OTHER and name == "activity_type":
            name = "activity_other"
        message = str(exc.details[0]["message"]) if exc.details else exc.message
        if not name:
            return forms.FormErrors(general=message)
        return forms.FormErrors({name: message[:1].upper() + message[1:]})

    def record(self, uow: UnitOfWork, lead_id: str) -> None:
        service.add_event(
            uow,
            lead_id,
            self.event_type(),
            occurred_at=self.at or None,
            outcome=self.outcome or None,
            data={"note": self.note} if self.note else None,
            source="console",
        )


def context(form: ActivityForm | None, *, opened: bool) -> dict[str, Any]:
    """What the form's template needs. Like a section, the form opens on
    request (``?edit=activity``): the page reads first."""
    return {
        "activity": form or ActivityForm(),
        "activity_open": opened or form is not None,
        "activity_types": TYPES,
        "activity_outcomes": OUTCOMES,
        "activity_labels": LABELS,
    }
