"""Match keys: what duplicate detection looks leads up by.

``match_keys`` derives, from a lead's normalised fields, the values stored in
the ``key_*`` columns (``models.lead.MATCH_KEY_COLUMNS``): exact keys that
say "same person" on their own (a canonical email) and blocking keys that
only say "worth comparing" (a phonetic name code, a company name key, a
postcode with a street number), so a fuzzy lookup reads a few candidates
through an index and never the whole table.

Pure functions of the lead's fields: the write path and migration 0009 call
them; change them and the stored keys need ``leadbase dedupe rekey``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jellyfish

from leadbase.dedupe import normalise as norm

# The fields the keys are derived from: a change to any of them re-keys the lead.
KEY_SOURCE_FIELDS = frozenset(
    {
        "email",
        "company_domain",
        "full_name",
        "first_name",
        "last_name",
        "company_name",
        "street",
        "postal_code",
        "city",
    }
)

# Providers that ignore dots in the local part ("j.doe" = "jdoe").
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Free-mail domains name no employer: no company domain comes from them.
FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "fastmail.com",
        "zoho.com",
    }
)
# Short forms of first names and the name they stand for: "Bob Smith" and
# "Robert Smith" share their name key, so a lookup finds one from the other.
# Short forms of more than one common name ("Chris", "Alex", "Pat") are left
# out: they would make strangers look alike.
_NICKNAME_GROUPS = {
    "abigail": "abby abbie gail",
    "albert": "al bertie",
    "alexander": "alec xander",
    "alexandra": "alexa lexi",
    "alfred": "alf alfie fred",
    "andrew": "andy drew",
    "anthony": "tony ant",
    "barbara": "barb babs",
    "benjamin": "ben benny benji",
    "catherine": "cathy cat kate katie kathy",
    "charles": "charlie chuck chas",
    "christina": "chrissy tina",
    "christopher": "kit topher",
    "daniel": "dan danny",
    "david": "dave davy",
    "deborah": "deb debbie",
    "donald": "don donny",
    "douglas": "doug",
    "edward": "ed eddie ted teddy ned",
    "elizabeth": "liz lizzie beth betty betsy eliza libby",
    "frances": "fanny",
    "francis": "frank frankie",
    "frederick": "freddie freddy",
    "gregory": "greg",
    "harold": "hal",
    "henry": "harry hank",
    "jacob": "jake",
    "james": "jim jimmy jamie",
    "janet": "jan",
    "jennifer": "jen jenny jenn",
    "jessica": "jess jessie",
    "john": "johnny jack",
    "jonathan": "jonny",
    "joseph": "joe joey",
    "joshua": "josh",
    "katherine": "kath",
    "kenneth": "ken kenny",
    "lawrence": "larry",
    "leonard": "leo len lenny",
    "margaret": "maggie meg peggy marge madge",
    "matthew": "matt",
    "michael": "mike mick mikey",
    "nathaniel": "nate",
    "nicholas": "nick nicky",
    "patricia": "patty trish tricia",
    "patrick": "paddy",
    "peter": "pete",
    "philip": "phil",
    "rebecca": "becky becca",
    "richard": "rick ricky dick rich",
    "robert": "bob bobby rob robbie bert",
    "ronald": "ron ronnie",
    "samuel": "sam sammy",
    "stephen": "steve stevie steven",
    "susan": "sue susie",
    "theodore": "theo",
    "thomas": "tom tommy",
    "timothy": "tim timmy",
    "victoria": "vicky tori",
    "walter": "walt wally",
    "william": "bill billy will willy liam",
    "zachary": "zach zack",
}
NICKNAMES = {short: full for full, shorts in _NICKNAME_GROUPS.items() for short in shorts.split()}
_WORD = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_KEY_MAX = 64


@lru_cache(maxsize=4096)  # one per lead: a small cache (see normalise._UNIQUE_CACHE)
def canonical_email(email: str | None) -> str | None:
    """``J.Doe+news@GoogleMail.com`` -> ``jdoe@gmail.com``: case and plus-tags
    dropped everywhere, dots only where the provider ignores them."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        domain = _DOTLESS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"


def company_domain_key(company_domain: str | None, email: str | None) -> str | None:
    """The registered domain of the company: its own domain, else a work email's."""
    if company_domain:
        return norm.registered_domain(company_domain)
    if email and "@" in email:
        domain = norm.registered_domain(email.rpartition("@")[2])
        if domain and domain not in FREE_MAIL:
            return domain
    return None


@lru_cache(maxsize=65536)
def letters(word: str | None) -> str | None:
    """A name word folded for comparison: accents and case gone, only letters."""
    folded = norm.sort_key(word)
    if not folded:
        return None
    return "".join(_WORD.findall(folded)) or None


@lru_cache(maxsize=65536)
def first_name_form(word: str | None) -> str | None:
    """A first name as compared: folded, a nickname read as the full name."""
    folded = letters(word)
    return NICKNAMES.get(folded, folded) if folded else None


@lru_cache(maxsize=65536)
def phonetic(word: str | None) -> str | None:
    """A sound-alike code of one name word (accents folded first)."""
    folded = letters(word)
    if not folded:
        return None
    return jellyfish.metaphone(folded)[:8] or None


def _name_words(lead: Mapping[str, Any]) -> tuple[str | None, str | None]:
    first, last = lead.get("first_name"), lead.get("last_name")
    if not first and not last and lead.get("full_name"):
        first, last = norm.split_name(lead["full_name"])
    return first, last


def name_key(first: str | None, last: str | None) -> str | None:
    """Both names' codes, sorted: "Smith John" and "Jon Smyth" share it, and
    so do "Bob Smith" and "Robert Smith" (a nickname is coded as its name)."""
    codes = sorted(code for code in (phonetic(first_name_form(first)), phonetic(last)) if code)
    return " ".join(codes)[:_KEY_MAX] or None


def _postcode(postal_code: str) -> str:
    return _SPACE.sub("", postal_code).upper()


def address_key(postal_code: str | None, street: str | None, city: str | None = None) -> str | None:
    """Postcode and house number: one door. Without a postcode, the city
    and the house number. The characters of each are sorted, so two
    swapped digits ("2061" typed "2016", "47" typed "74") keep the key."""
    number = _DIGITS.search(street or "")
    door = "".join(sorted(number.group(0))) if number else ""
    if postal_code:
        return f"{''.join(sorted(_postcode(postal_code)))} {door}".strip()[:_KEY_MAX]
    place = norm.sort_key(city)
    if place and door:
        return f"{place} {door}"[:_KEY_MAX]
    return None


def _place(lead: Mapping[str, Any], domain: str | None) -> str | None:
    """Where a person is, for the second name key: their employer (domain,
    else company name key), else their city, else their postcode. Not the
    postcode first: the address key has it already, and a mistyped postcode
    would then hide a duplicate from both keys."""
    return (
        domain
        or norm.company_name_key(lead.get("company_name"))
        or norm.sort_key(lead.get("city"))
        or (_postcode(lead["postal_code"]) if lead.get("postal_code") else None)
    )


def match_keys(lead: Mapping[str, Any]) -> dict[str, str | None]:
    """Every ``key_*`` column's value for one lead's (normalised) fields."""
    first, last = _name_words(lead)
    last_code = phonetic(last)
    domain = company_domain_key(lead.get("company_domain"), lead.get("email"))
    place = _place(lead, domain)
    return {
        "key_email": canonical_email(lead.get("email")),
        "key_domain": domain,
        "key_name": name_key(first, last),
        # The surname's sound and where the person is (employer, else city,
        # else postcode): finds a typo in the first name.
        "key_name_alt": f"{last_code} {place}"[:_KEY_MAX] if last_code and place else None,
        "key_company": norm.company_name_key(lead.get("company_name")),
        "key_address": address_key(lead.get("postal_code"), lead.get("street"), lead.get("city")),
    }
