"""Field normalisers. Each returns the canonical form or raises ValidationError.

Canonical forms are what duplicate detection compares, so two spellings of
the same address, number or profile end up equal.

The work behind each normaliser is memoised on the value alone (the field
name only labels the error), so a value seen before costs a dict lookup
wherever it appears in a batch.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

import email_validator
import phonenumbers
import tldextract
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_domain_name
from nameparser import HumanName

from leadbase.errors import ValidationError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_LINKEDIN_HOST = re.compile(r"^(?:[a-z]{2,3}\.|www\.)?linkedin\.com$")
_LINKEDIN_PATH = re.compile(r"^/(in|company|pub|school|showcase)/([^/?#]+)")
_SPACES = re.compile(r"\s+")
_CACHE = 65536
# Values nearly every lead has its own of (emails, phones, LinkedIn URLs):
# a big cache of them would only hold memory (a million-row import's RSS);
# a small one still serves a batch that names a lead twice.
_UNIQUE_CACHE = 4096


def clean_text(value: str | None) -> str | None:
    """Trim, fold runs of white space; empty becomes None."""
    if value is None:
        return None
    if "  " in value or not value.isprintable():
        # A printable string holds no white space but U+0020, so without a
        # double space there is nothing to fold: only the ends to trim.
        value = _SPACES.sub(" ", value)
    return value.strip() or None


def normalise_email(value: str, field: str = "email") -> str:
    """RFC 5322 syntax check (no DNS); lower-cased for comparison and storage."""
    try:
        return _email(value)
    except EmailNotValidError as exc:
        raise ValidationError(field, f"not a valid email address ({exc})") from None


@lru_cache(maxsize=_UNIQUE_CACHE)
def _email(value: str) -> str:
    text = value.strip()
    return _plain_email(text) or validate_email(text, check_deliverability=False).normalized.lower()


def _plain_email(text: str) -> str | None:
    """``validate_email`` for the common ``dot-atom@domain`` shape, with the
    domain's validation memoised; None means "ask validate_email", which
    then also words any error.

    An ASCII dot-atom local part cannot be quoted, hide a display name or
    change under NFC, so ``validate_email`` would take it as it is, check
    the domain with ``validate_email_domain_name`` (the call memoised here,
    with the same options) and then the three lengths checked below.
    """
    local, at, domain = text.partition("@")
    if not at or not domain or domain.startswith("[") or not DOT_ATOM_TEXT.match(local):
        return None
    try:
        name, ascii_name = _email_domain(
            domain, email_validator.TEST_ENVIRONMENT, email_validator.GLOBALLY_DELIVERABLE
        )
    except EmailNotValidError:
        return None
    normalized = f"{local}@{name}"
    for address in (text, normalized, f"{local}@{ascii_name}"):
        if len(address.encode("utf-8")) > EMAIL_MAX_LENGTH:
            return None
    return normalized.lower()


@lru_cache(maxsize=_CACHE)
def _email_domain(domain: str, test_env: bool, global_only: bool) -> tuple[str, str]:
    info = validate_email_domain_name(
        domain, test_environment=test_env, globally_deliverable=global_only
    )
    return info["domain"], info["ascii_domain"]


def normalise_phone(value: str, region: str = "US", field: str = "phone") -> str:
    """E.164 (``+14155550123``); numbers without ``+`` are read in ``region``."""
    try:
        e164 = _phone(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, f"not a phone number ({exc})") from None
    if e164 is None:
        raise ValidationError(field, f"not a valid phone number: {value!r}")
    return e164


@lru_cache(maxsize=_UNIQUE_CACHE)
def _phone(value: str, region: str) -> str | None:
    number = phonenumbers.parse(value, region.upper())
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_domain(value: str, field: str = "domain") -> str:
    """A fully qualified domain name, lower-case, without scheme, path or ``www.``.

    Pasted URLs (``https://www.Acme.com/about``) are accepted: people paste them.
    """
    host = _domain(value)
    if host is None:
        raise ValidationError(field, f"not a valid domain name: {value!r}")
    return host


def _split(url: str) -> SplitResult | None:
    """urlsplit, or None where it raises (an unbalanced "[" reads as a bad IPv6 host)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


@lru_cache(maxsize=_CACHE)
def _domain(value: str) -> str | None:
    text = value.strip().lower()
    parts = _split(text if "//" in text else f"//{text}")
    if parts is None:
        return None
    host = parts.hostname or ""
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = host.split(".")
    if (
        len(host) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        return None
    return host


def normalise_linkedin_url(value: str, field: str = "linkedin_url") -> str:
    """``https://www.linkedin.com/in/<slug>``: https, www, no query, no slash."""
    url = _linkedin_url(value)
    if url is None:
        raise ValidationError(field, f"not a LinkedIn profile or company URL: {value!r}")
    return url


@lru_cache(maxsize=_UNIQUE_CACHE)
def _linkedin_url(value: str) -> str | None:
    text = value.strip()
    parts = _split(text if "//" in text else f"https://{text}")
    if parts is None:
        return None
    host = (parts.hostname or "").lower()
    match = _LINKEDIN_PATH.match(parts.path)
    if not _LINKEDIN_HOST.match(host) or not match:
        return None
    kind, slug = match.group(1), match.group(2).lower()
    return f"https://www.linkedin.com/{kind}/{slug}"


_PLAIN_WORD = re.compile(r"^[A-Z][a-z]{1,40}$")
_ROMAN_NUMERAL = re.compile(r"^[ivxlcdm]+$")  # nameparser reads "Vi", "Ix" as suffixes


def _special_words() -> frozenset[str]:
    """Every word nameparser treats as more than a plain first or last name."""
    from nameparser.config import CONSTANTS

    words: set[str] = set()
    for vocabulary in (
        CONSTANTS.titles,
        CONSTANTS.prefixes,
        CONSTANTS.suffix_acronyms,
        CONSTANTS.suffix_not_acronyms,
        CONSTANTS.conjunctions,
        CONSTANTS.first_name_titles,
        CONSTANTS.bound_first_names,
        CONSTANTS.non_first_name_prefixes,
    ):
        words.update(str(word).lower() for word in vocabulary)
    return frozenset(words)


_SPECIAL_WORDS = _special_words()


@lru_cache(maxsize=_CACHE)
def split_name(full_name: str) -> tuple[str | None, str | None]:
    """(first, last). "Ada Lovelace" is split directly, as nameparser would:
    two plain capitalised words that are no title, prefix, suffix or
    conjunction. Anything else ("Dr. Jane van der Berg Jr.") goes through
    nameparser, at ~100 µs a name."""
    words = full_name.split(" ")
    if (
        len(words) == 2
        and all(_PLAIN_WORD.match(word) for word in words)
        and not any(
            word.lower() in _SPECIAL_WORDS or _ROMAN_NUMERAL.match(word.lower()) for word in words
        )
    ):
        return words[0], words[1]
    name = HumanName(full_name)
    return clean_text(name.first) or None, clean_text(name.last) or None


# --- registered domains, company name keys, sort keys -----------------------------

_extractor: tldextract.TLDExtract | None = None
_extractor_lock = threading.Lock()


def _extract() -> tldextract.TLDExtract:
    """The public suffix snapshot shipped with tldextract: no network, no cache directory."""
    global _extractor
    with _extractor_lock:
        if _extractor is None:
            _extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        return _extractor


@lru_cache(maxsize=_CACHE)
def registered_domain(host: str) -> str | None:
    """``shop.acme.co.uk`` -> ``acme.co.uk``; None for hosts with no public suffix."""
    domain = _domain(host)
    if domain is None:
        return None
    parts = _extract()(domain)
    if not parts.domain or not parts.suffix:
        return None
    return f"{parts.domain}.{parts.suffix}"


def name_from_domain(domain: str) -> str:
    """A placeholder name ("acme-labs.co.uk" -> "Acme Labs") until a better source says."""
    label = _extract()(domain).domain or domain
    return " ".join(word.capitalize() for word in label.replace("_", "-").split("-") if word)


# Letters Unicode gives no decomposition to a base letter, spelled as a
# reader of the language would sort them (DIN 5007, Nordic and Polish use).
_UNDECOMPOSED = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Þ": "Th",
        "þ": "th",
        "Ħ": "H",
        "ħ": "h",
        "Ŧ": "T",
        "ŧ": "t",
        "\u0131": "i",  # dotless i
        "Ŀ": "L",
        "ŀ": "l",
        "Ŋ": "N",
        "ŋ": "n",
        "ĸ": "q",
        "Ə": "E",
        "ə": "e",
    }
)
SORT_KEY_MAX = 255


@lru_cache(maxsize=_CACHE)
def sort_key(text: str | None) -> str | None:
    """What names sort by on every database: accents and case folded away
    ("Émile" -> "emile", "Łukasz" -> "lukasz"), so the order is the same
    whatever collation the database has. None for no name."""
    if not text:
        return None
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Characters that are only marks fold to nothing: keep them as they are,
    # so a name never sorts among the leads without one.
    key = folded.casefold() or text.casefold()
    return key[:SORT_KEY_MAX]


# Words that say what kind of legal entity a company is, not which company:
# "Acme, Inc." and "ACME Inc" and "Acme GmbH" are one name.
LEGAL_SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "pllc",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "ev",
        "sa",
        "sas",
        "sasu",
        "sarl",
        "eurl",
        "sca",
        "sl",
        "slu",
        "srl",
        "spa",
        "sapa",
        "bv",
        "nv",
        "vof",
        "cv",
        "ab",
        "oy",
        "oyj",
        "as",
        "asa",
        "aps",
        "kk",
        "pty",
        "pvt",
        "pte",
        "bhd",
        "sdn",
        "nl",
        "se",
    ]
)
_NAME_WORDS = re.compile(r"[^\W_]+")
_JOINED_PUNCTUATION = re.compile("(?<=\\w)[.'\u2019](?=\\w)")


@lru_cache(maxsize=_CACHE)
def company_name_key(name: str | None) -> str | None:
    """The key companies are found by when there is no domain to go by:
    folded like ``sort_key``, "&" read as "and", punctuation dropped
    ("S.A." = "SA"), and trailing legal-form words left out. None when no
    word remains; a name that is only legal words ("SA") keeps them."""
    folded = sort_key(name)
    if folded is None:
        return None
    folded = _JOINED_PUNCTUATION.sub("", folded.replace("&", " and "))
    words = _NAME_WORDS.findall(folded)
    core = list(words)
    while len(core) > 1 and core[-1] in LEGAL_SUFFIXES:
        core.pop()
    return " ".join(core)[:SORT_KEY_MAX] or None
