"""A lead payload validated and normalised, with its match keys: the part
of the write path that needs no database.

Apart from ``leads.service`` so that the import's reader process
(``imports.pipeline``) can import it without the ORM, the services and
everything they import: its start and its memory are the reader's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from leadbase.config import get_settings
from leadbase.dedupe import normalise as norm
from leadbase.dedupe.keys import match_keys
from leadbase.leads.schemas import TEXT_FIELDS, LeadInput
from leadbase.validation import parse


def _phone_region(values: Mapping[str, Any]) -> str:
    country = values.get("country")
    if isinstance(country, str) and len(country) == 2 and country.isalpha():
        return country.upper()
    return get_settings().default_phone_region


def _normalise(
    given: dict[str, Any], prefix: str = "", current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Canonical forms of the fields a caller gave (and only those), in
    place: ``given`` is clean_input's own fresh dict."""
    clean = given
    for field in TEXT_FIELDS:
        if field in clean:
            clean[field] = norm.clean_text(clean[field])
    if clean.get("email"):
        clean["email"] = norm.normalise_email(clean["email"], f"{prefix}email")
    if clean.get("additional_emails"):
        emails = [
            norm.normalise_email(e, f"{prefix}additional_emails.{i}")
            for i, e in enumerate(clean["additional_emails"])
        ]
        clean["additional_emails"] = list(dict.fromkeys(emails)) or None
    if clean.get("phone"):
        clean["phone"] = norm.normalise_phone(
            clean["phone"], _phone_region(clean), f"{prefix}phone"
        )
    if clean.get("additional_phones"):
        region = _phone_region(clean)
        phones = [
            norm.normalise_phone(p, region, f"{prefix}additional_phones.{i}")
            for i, p in enumerate(clean["additional_phones"])
        ]
        clean["additional_phones"] = list(dict.fromkeys(phones)) or None
    if clean.get("company_domain"):
        clean["company_domain"] = norm.normalise_domain(
            clean["company_domain"], f"{prefix}company_domain"
        )
    if clean.get("linkedin_url"):
        clean["linkedin_url"] = norm.normalise_linkedin_url(
            clean["linkedin_url"], f"{prefix}linkedin_url"
        )
    if "tags" in clean and clean["tags"] is not None:
        clean["tags"] = list(dict.fromkeys(t.strip() for t in clean["tags"] if t.strip())) or None
    _fill_names(clean, current)
    return clean


NAME_PART_MAX = 100  # first_name and last_name columns


def _joined(first: str | None, last: str | None) -> str | None:
    return " ".join(part for part in (first, last) if part) or None


def _fill_names(clean: dict[str, Any], current: Mapping[str, Any] | None = None) -> None:
    """Derive the name fields a caller left out from those it gave.

    A full name alone gives first and last. First and/or last alone give the
    full name, joined with the stored other half on an update, and only when
    the stored full name was itself the two halves joined (or empty): a
    full name someone typed ("Ada, Countess of Lovelace") is theirs.
    """
    full, first, last = clean.get("full_name"), clean.get("first_name"), clean.get("last_name")
    if full and "first_name" not in clean and "last_name" not in clean:
        first_part, last_part = norm.split_name(full)
        # A full name may run to 255 characters, its halves to 100.
        clean["first_name"] = first_part[:NAME_PART_MAX] if first_part else first_part
        clean["last_name"] = last_part[:NAME_PART_MAX] if last_part else last_part
    elif (first or last) and "full_name" not in clean:
        if current is None:
            clean["full_name"] = _joined(first, last)
            return
        stored = current.get("full_name")
        if stored and stored != _joined(current.get("first_name"), current.get("last_name")):
            return
        clean["full_name"] = _joined(
            clean.get("first_name", current.get("first_name")),
            clean.get("last_name", current.get("last_name")),
        )


def clean_input(
    data: Any, *, prefix: str = "", full: bool = False, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Validate one lead payload; return its normalised given fields.

    ``full`` (a PUT) returns every field, defaults included, so omitted
    fields are reset rather than left as they were.
    """
    model = parse(LeadInput, data, prefix=prefix)
    given = model.model_dump() if full else model.model_dump(exclude_unset=True)
    return _normalise(given, prefix, current)


class Prepared(NamedTuple):
    """A lead payload validated and normalised (``clean_input``) with its
    match keys: the per-row work of ``import_rows`` that needs no database,
    so an import may do it ahead, in another process, while it writes."""

    clean: dict[str, Any]
    keys: dict[str, str | None]


def prepare_row(data: Any) -> Prepared:
    """``import_rows``' validation of one row, done ahead; raises ValidationError."""
    clean = clean_input(data)
    return Prepared(clean, match_keys(clean))
