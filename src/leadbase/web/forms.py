"""Console forms: every bad field at once, each in plain words.

The service stops at the first error and speaks to programs ("Input should
be less than or equal to 100"). A form speaks to people, and should say
everything wrong with what they typed in one go, at each field. This module
is the console's one place for that:

- ``schema_errors`` runs a Pydantic model over what was typed and keeps the
  full error list (the API's ``validation.parse`` keeps only the first for
  its message), one plain message per field;
- ``plain_message`` turns one Pydantic error kind into words;
- ``FormErrors`` is what a page renders: messages by field, one message
  about no field, and the ``aria-describedby`` ids of each input; the
  ``_form_errors.html`` macros draw the summary (linking to each bad field)
  and the message at a field.

A field may carry its own *format* message ("Enter an email address like
name@example.com"): it replaces the library's words for every error about
the value's form (a bad email, a score of 101), while errors about length
keep their own message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic import BaseModel

from leadbase.errors import ValidationError

# Format messages shared by every form that asks for these kinds of value.
EMAIL = "Enter an email address like name@example.com"
PHONE = "Enter a phone number with its country code, like +44 20 7946 0958"
DOMAIN = "Enter a website or domain like example.com"
LINKEDIN = "Enter a LinkedIn profile address like https://www.linkedin.com/in/name"
URL = "Enter a web address like https://example.com"

# Pydantic error kinds about length: they keep their own words even when the
# field has a format message.
_LENGTH_KINDS = frozenset({"string_too_long", "string_too_short", "too_long", "too_short"})


def plain_message(kind: str, label: str, ctx: Mapping[str, Any] | None = None) -> str:
    """One Pydantic error kind, in words a person reads next to the field."""
    ctx = ctx or {}
    if kind == "string_too_long":
        return f"{label} can be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"{label}: at most {ctx.get('max_length')} items"
    if kind in ("string_too_short", "too_short", "missing"):
        return f"{label} cannot be empty"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{label} is a whole number"
    if kind in ("less_than_equal", "less_than"):
        return f"{label} can be at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{label} must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("literal_error", "enum"):
        return f"Choose one of: {ctx.get('expected', 'the options offered')}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{label} is yes or no"
    if kind == "extra_forbidden":
        return f"{label} is not a field of this form"
    return f"{label} is not valid"


@dataclass(frozen=True)
class FieldRule:
    """How a form names a field and, optionally, what its value must look like."""

    label: str
    format: str = ""  # the plain message for a value of the wrong form

    def message(self, kind: str, ctx: Mapping[str, Any] | None = None) -> str:
        if self.format and kind not in _LENGTH_KINDS:
            return self.format
        return plain_message(kind, self.label, ctx)


Rules = Mapping[str, FieldRule]


def _rule(rules: Rules, name: str) -> FieldRule:
    return rules.get(name) or FieldRule(name.replace("_", " ").capitalize())


def _item_prefix(data: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    """For an error at one item of a list field: the item, in quotes."""
    if len(loc) > 1 and isinstance(loc[1], int):
        items = data.get(str(loc[0]))
        if isinstance(items, list) and loc[1] < len(items):
            return f"“{items[loc[1]]}”: "
    return ""


def schema_errors(model: type[BaseModel], data: Mapping[str, Any], rules: Rules) -> dict[str, str]:
    """Every field of ``data`` the model refuses, each with its first message."""
    try:
        model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(err["loc"])
            name = str(loc[0]) if loc else ""
            message = _item_prefix(data, loc) + _rule(rules, name).message(
                err["type"], err.get("ctx")
            )
            errors.setdefault(name, message)
        return errors
    return {}


def check_each(
    data: Mapping[str, Any],
    check: Callable[[str, Any], None],
    rules: Rules,
    skip: Iterable[str] = (),
) -> dict[str, str]:
    """Run ``check(name, value)`` on each field on its own (a normaliser, say,
    that stops at its first error), so every field gets its say; a refusal
    (a ValidationError) becomes the field's format message."""
    errors: dict[str, str] = {}
    skipped = set(skip)
    for name, value in data.items():
        if name in skipped:
            continue
        try:
            check(name, value)
        except ValidationError as exc:
            path = exc.field.split(".")
            loc: tuple[Any, ...] = (
                (name, int(path[1])) if len(path) > 1 and path[1].isdigit() else (name,)
            )
            rule = _rule(rules, name)
            errors[name] = _item_prefix(data, loc) + (rule.format or f"{rule.label}: {reason(exc)}")
    return errors


def reason(exc: ValidationError) -> str:
    """A refusal's reason without the field name in front."""
    first = exc.details[0] if exc.details else {}
    return str(first.get("message") or exc.message)


@dataclass
class FormErrors:
    """What a form shows after a refused post."""

    fields: dict[str, str] = field(default_factory=dict)  # field name -> message
    general: str = ""  # about no one field

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __getitem__(self, name: str) -> str:
        return self.fields[name]

    def summary(self, labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(input id, label, message) for each bad field, in the form's order."""
        return [
            (input_id(name), labels.get(name, name), message)
            for name, message in self.fields.items()
        ]

    def described_by(self, name: str, *, hint: bool = False) -> str:
        """The ids an input's ``aria-describedby`` names: its error, its hint."""
        ids = [f"{input_id(name)}-error"] if name in self.fields else []
        if hint:
            ids.append(f"{input_id(name)}-hint")
        return " ".join(ids)

    def ordered(self, names: Iterable[str]) -> FormErrors:
        """The same errors, fields in ``names``' order (the form's), others last."""
        order = {name: i for i, name in enumerate(names)}
        fields = dict(sorted(self.fields.items(), key=lambda kv: order.get(kv[0], len(order))))
        return FormErrors(fields, self.general)


def input_id(name: str) -> str:
    """The id of a field's input: the error summary links to it."""
    return f"f-{name}"
