"""Field normalisers. Each returns the canonical form or raises ValidationError.

Canonical forms are what duplicate detection compares, so two spellings of
the same address, number or profile end up equal.

The work behind each normaliser is memoised on the value alone (the field
name only labels the error), so a value seen before costs a dict lookup
wherever it appears in a batch.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from ipaddress import AddressValueError, IPv6Address
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, scheme_chars, urlsplit

import email_validator
import idna
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_domain_name
from nameparser import HumanName
from phonenumbers.phonemetadata import PhoneMetadata

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
# Values many leads share but most are rare (full names): big enough for the
# common ones, bounded well below _CACHE (each entry holds ~250 bytes).
_NAME_CACHE = 16384


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
        name, ascii_name = _email_domain_names(domain)
    except EmailNotValidError:
        return None
    normalized = f"{local}@{name}"
    for address in (text, normalized, f"{local}@{ascii_name}"):
        if len(address.encode("utf-8")) > EMAIL_MAX_LENGTH:
            return None
    return normalized.lower()


def _email_domain_names(domain: str) -> tuple[str, str]:
    """``validate_email_domain_name``'s domain and ASCII domain; raises
    EmailNotValidError."""
    test_env, global_only = email_validator.TEST_ENVIRONMENT, email_validator.GLOBALLY_DELIVERABLE
    if test_env or not global_only:  # not the options the memo is for (tests set them)
        return _validated_domain(domain, test_env, global_only)
    names = _email_domain(domain)
    return (names, names) if isinstance(names, str) else names


@lru_cache(maxsize=_CACHE)
def _email_domain(domain: str) -> str | tuple[str, str]:
    """The domain itself when both names are it (nearly always), so an
    entry holds one string: a million-row import meets ~40k domains."""
    names = _validated_domain(
        domain, email_validator.TEST_ENVIRONMENT, email_validator.GLOBALLY_DELIVERABLE
    )
    return domain if names == (domain, domain) else names


def _validated_domain(domain: str, test_env: bool, global_only: bool) -> tuple[str, str]:
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
    if not phonenumbers.is_possible_number(number) or not is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- phone validity ----------------------------------------------------------------
#
# phonenumbers.is_valid_number is most of a phone's cost (~100 µs): it finds
# the number's region by trying every region of its calling code (25 share
# +1) against each of up to eleven number-type patterns (each fetched
# from re's cache per call), then tries the winner's types once more.
# is_valid_number below walks the same steps over the same metadata, with
# each region's type patterns compiled once and joined, per length of
# number, into one alternation: a single fullmatch answers "is it of any
# type", as the chain of matches did. tests/test_phone_fast_path.py holds
# it equal to phonenumbers on thousands of numbers.

_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
_NON_GEO = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
_Matcher = Callable[[str], "re.Match[str] | None"]


def _never(_: str) -> None:
    return None


class _Types:
    """One region's metadata as the question ``_number_type_helper`` answers:
    is a national significant number of any type (not UNKNOWN)?"""

    def __init__(self, metadata: PhoneMetadata) -> None:
        general = metadata.general_desc
        self.general = _compiled(general)
        self.general_lengths = frozenset(general.possible_length) if general else frozenset()
        descs = [getattr(metadata, name) for name in _TYPE_DESCS]
        if not metadata.same_mobile_and_fixed_line_pattern:
            # Only then is mobile tried: with the fixed-line pattern, a
            # mobile number is already a fixed-line match.
            descs.append(metadata.mobile)
        self.descs = [d for d in descs if d is not None and d.national_number_pattern]
        self.by_length: dict[int, _Matcher] = {}

    def known(self, nsn: str) -> bool:
        length = len(nsn)
        if self.general is None or (self.general_lengths and length not in self.general_lengths):
            return False
        if not self.general(nsn):
            return False
        of_length = self.by_length.get(length)
        if of_length is None:
            of_length = self.by_length[length] = self._of_length(length)
        return of_length(nsn) is not None

    def _of_length(self, length: int) -> _Matcher:
        # A type with possible lengths is only tried on those lengths.
        patterns = [
            d.national_number_pattern
            for d in self.descs
            if not d.possible_length or length in d.possible_length
        ]
        if not patterns:
            return _never
        return re.compile("|".join(f"(?:{p})" for p in patterns)).fullmatch


def _compiled(desc: Any) -> _Matcher | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return re.compile(desc.national_number_pattern).fullmatch


class _Region:
    """What ``region_code_for_number`` reads of a region: the leading digits
    that claim a number for it, else its types."""

    def __init__(self, metadata: PhoneMetadata) -> None:
        pattern = metadata.leading_digits
        self.leading = re.compile(pattern).match if pattern is not None else None
        self.types = _types_of(metadata)


_types: dict[int, tuple[PhoneMetadata, _Types]] = {}
_regions: dict[str, _Region | None] = {}
# (calling code, region) -> the types is_valid_number_for_region checks;
# None where it says False whatever the number.
_valid_types: dict[tuple[int, str], _Types | None] = {}


def _types_of(metadata: PhoneMetadata) -> _Types:
    # Keyed by identity: phonenumbers loads each region's metadata once.
    found = _types.get(id(metadata))
    if found is None:
        found = _types.setdefault(id(metadata), (metadata, _Types(metadata)))
    return found[1]


def _region(region: str) -> _Region | None:
    if region not in _regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        _regions[region] = _Region(metadata) if metadata is not None else None
    return _regions[region]


def _valid_for_region(country_code: int, nsn: str, region: str) -> bool:
    """``phonenumbers.is_valid_number_for_region``."""
    key = (country_code, region)
    if key not in _valid_types:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
        other_code = region != _NON_GEO and (
            country_code != phonenumbers.country_code_for_valid_region(region)
        )
        _valid_types[key] = None if metadata is None or other_code else _types_of(metadata)
    types = _valid_types[key]
    return types is not None and types.known(nsn)


def is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number``: the same answer in a tenth of the time.

    Its region is the one ``region_code_for_number`` picks: the only region
    of its calling code, or the first in order whose leading digits begin
    the number or (a region without leading digits) whose types it fits.
    """
    country_code = number.country_code
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code or 0)
    if country_code is None or regions is None:
        return False
    nsn = phonenumbers.national_significant_number(number)
    if len(regions) == 1:
        return _valid_for_region(country_code, nsn, regions[0])
    for region in regions:
        found = _region(region)
        if found is None:
            continue
        if found.leading is not None:
            if found.leading(nsn):
                return _valid_for_region(country_code, nsn, region)
        elif found.types.known(nsn):
            return _valid_for_region(country_code, nsn, region)
    return False


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
    return value if host == value else host  # the key's string: one string per entry


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


# A word of a plain name, or one part of a hyphenated one: letters of any
# script ("Müller", "MacDonald", "Berners-Lee"), starting with a capital.
_NAME_PART = re.compile(r"[^\W\d_]{2,41}")
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


def _plain_word(word: str) -> bool:
    """A word nameparser takes as it is: no title, prefix, suffix or conjunction."""
    if word.lower() in _SPECIAL_WORDS:
        return False
    for part in word.split("-"):
        lower = part.lower()
        if (
            not part[:1].isupper()
            or not _NAME_PART.fullmatch(part)
            or lower in _SPECIAL_WORDS
            or _ROMAN_NUMERAL.match(lower)
        ):
            return False
    return True


@lru_cache(maxsize=_NAME_CACHE)
def split_name(full_name: str) -> tuple[str | None, str | None]:
    """(first, last). "Ada Lovelace" is split directly, as nameparser would:
    two plain capitalised words ("Zoë MacDonald", "Tim Berners-Lee") that
    are no title, prefix, suffix or conjunction. Anything else ("Dr. Jane
    van der Berg Jr.") goes through nameparser, at ~100 µs a name."""
    words = full_name.split(" ")
    if len(words) == 2 and _plain_word(words[0]) and _plain_word(words[1]):
        return words[0], words[1]
    name = HumanName(full_name)
    return clean_text(name.first) or None, clean_text(name.last) or None


# --- registered domains, company name keys, sort keys -----------------------------

# The public suffix snapshot shipped with tldextract, read here with the
# lookup tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None) makes
# (public suffixes only, no network): importing tldextract imports requests,
# ~17 MB of every process that keys a lead (tests/test_normalise.py holds
# the two equal).
_PRIVATE_SECTION = "// ===BEGIN PRIVATE DOMAINS==="
_SUFFIX_LINE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.UNICODE | re.MULTILINE)
_IPV4 = re.compile(
    r"^(?:(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.)"
    r"{3}(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])$",
    re.ASCII,
)
_SCHEME_CHARS = frozenset(scheme_chars)


class _Node:
    __slots__ = ("end", "matches")

    def __init__(self) -> None:
        self.matches: dict[str, _Node] = {}
        self.end = False


_suffixes: _Node | None = None
_suffixes_lock = threading.Lock()


def _suffix_trie() -> _Node:
    global _suffixes
    with _suffixes_lock:
        if _suffixes is None:
            spec = importlib.util.find_spec("tldextract")  # found, not imported
            assert spec is not None and spec.submodule_search_locations
            folder = Path(next(iter(spec.submodule_search_locations)))
            text = (folder / ".tld_set_snapshot").read_text(encoding="utf-8")
            public = text.partition(_PRIVATE_SECTION)[0]
            root = _Node()
            for match in _SUFFIX_LINE.finditer(public):
                node = root
                for label in reversed(match.group("suffix").split(".")):
                    node = node.matches.setdefault(label, _Node())
                node.end = True
            _suffixes = root
        return _suffixes


def _decode_punycode(label: str) -> str:
    lowered = label.lower()
    if lowered.startswith("xn--"):
        try:
            decoded: str = idna.decode(lowered)
            return decoded
        except (UnicodeError, IndexError):
            pass
    return lowered


def _suffix_index(labels: list[str]) -> int | None:
    """Where the public suffix starts in ``labels``; None: no suffix."""
    node = _suffix_trie()
    suffix_index = label_index = len(labels)
    for label in reversed(labels):
        decoded = _decode_punycode(label)
        if decoded in node.matches:
            label_index -= 1
            node = node.matches[decoded]
            if node.end:
                suffix_index = label_index
            continue
        if "*" in node.matches:
            return label_index if "!" + decoded in node.matches else label_index - 1
        break
    return None if suffix_index == len(labels) else suffix_index


def _schemeless(url: str) -> str:
    slashes = url.find("//")
    if slashes == 0:
        return url[2:]
    if slashes < 2 or url[slashes - 1] != ":" or set(url[: slashes - 1]) - _SCHEME_CHARS:
        return url
    return url[slashes + 2 :]


def _netloc(url: str) -> str:
    authority = _schemeless(url).partition("/")[0].partition("?")[0].partition("#")[0]
    host = authority.rpartition("@")[-1]
    if host and host[0] == "[":
        ipv6 = host.partition("]")
        if ipv6[1] == "]":
            return f"{ipv6[0]}]"
    return host.partition(":")[0].strip().rstrip(".\u3002\uff0e\uff61")


def _is_ipv6(text: str) -> bool:
    try:
        IPv6Address(text)
    except AddressValueError:
        return False
    return True


def _split_domain(url: str) -> tuple[str, str]:
    """tldextract's (domain, suffix) of ``url``."""
    netloc = _netloc(url).replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    if len(netloc) >= 4 and netloc[0] == "[" and netloc[-1] == "]" and _is_ipv6(netloc[1:-1]):
        return netloc, ""
    labels = netloc.split(".")
    index = _suffix_index(labels)
    if index is None:
        if len(labels) == 4 and netloc[0].isdecimal() and _IPV4.fullmatch(netloc):
            return netloc, ""
        return labels[-1], ""
    return (labels[index - 1] if index > 0 else ""), ".".join(labels[index:])


@lru_cache(maxsize=_CACHE)
def registered_domain(host: str) -> str | None:
    """``shop.acme.co.uk`` -> ``acme.co.uk``; None for hosts with no public suffix."""
    domain = _domain(host)
    if domain is None:
        return None
    name, suffix = _split_domain(domain)
    if not name or not suffix:
        return None
    registered = f"{name}.{suffix}"
    return host if registered == host else registered  # one string per entry


def name_from_domain(domain: str) -> str:
    """A placeholder name ("acme-labs.co.uk" -> "Acme Labs") until a better source says."""
    label = _split_domain(domain)[0] or domain
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


def sort_key(text: str | None) -> str | None:
    """What names sort by on every database: accents and case folded away
    ("Émile" -> "emile", "Łukasz" -> "lukasz"), so the order is the same
    whatever collation the database has. None for no name."""
    if not text:
        return None
    if text.isascii():  # nothing to fold but case: cheaper than a memo entry
        return text.lower()[:SORT_KEY_MAX]
    return _folded(text)


@lru_cache(maxsize=_NAME_CACHE)
def _folded(text: str) -> str:
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
