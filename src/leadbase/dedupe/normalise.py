"""Field normalisers. Each returns the canonical form or raises ValidationError.

Canonical forms are what duplicate detection compares, so two spellings of
the same address, number or profile end up equal.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from nameparser import HumanName

from leadbase.errors import ValidationError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_LINKEDIN_HOST = re.compile(r"^(?:[a-z]{2,3}\.|www\.)?linkedin\.com$")
_LINKEDIN_PATH = re.compile(r"^/(in|company|pub|school|showcase)/([^/?#]+)")
_SPACES = re.compile(r"\s+")


def clean_text(value: str | None) -> str | None:
    """Trim, fold runs of white space; empty becomes None."""
    if value is None:
        return None
    folded = _SPACES.sub(" ", value).strip()
    return folded or None


@lru_cache(maxsize=65536)
def normalise_email(value: str, field: str = "email") -> str:
    """RFC 5322 syntax check (no DNS); lower-cased for comparison and storage."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(field, f"not a valid email address ({exc})") from None
    return result.normalized.lower()


@lru_cache(maxsize=65536)
def normalise_phone(value: str, region: str = "US", field: str = "phone") -> str:
    """E.164 (``+14155550123``); numbers without ``+`` are read in ``region``."""
    try:
        number = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, f"not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ValidationError(field, f"not a valid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def normalise_domain(value: str, field: str = "domain") -> str:
    """A fully qualified domain name, lower-case, without scheme, path or ``www.``.

    Pasted URLs (``https://www.Acme.com/about``) are accepted: people paste them.
    """
    text = value.strip().lower()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(field, f"not a valid domain name: {value!r}") from None
    labels = host.split(".")
    if (
        len(host) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise ValidationError(field, f"not a valid domain name: {value!r}")
    return host


@lru_cache(maxsize=65536)
def normalise_linkedin_url(value: str, field: str = "linkedin_url") -> str:
    """``https://www.linkedin.com/in/<slug>``: https, www, no query, no slash."""
    text = value.strip()
    parts = urlsplit(text if "//" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    match = _LINKEDIN_PATH.match(parts.path)
    if not _LINKEDIN_HOST.match(host) or not match:
        raise ValidationError(field, f"not a LinkedIn profile or company URL: {value!r}")
    kind, slug = match.group(1), match.group(2).lower()
    return f"https://www.linkedin.com/{kind}/{slug}"


def split_name(full_name: str) -> tuple[str | None, str | None]:
    name = HumanName(full_name)
    return clean_text(name.first) or None, clean_text(name.last) or None
