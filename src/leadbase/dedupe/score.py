"""How alike two leads are: a score from 0 to 1, its reasons, and what to do.

``compare`` first looks for an exact key (same canonical email, LinkedIn URL
or provider record): that is the same person, score 1. Otherwise it scores
the fields both leads have, each a similarity from 0 to 1 weighted by the
rules (``dedupe.rules``)::

    score = sum(weight * similarity) / max(sum(weight), rules.min_weight)

over the fields present on both sides: a field one lead lacks neither helps
nor hurts, and a pair that agrees on too little (a name alone) cannot reach
a full score. Names are compared both ways round (swapped first and last
names), with accents and case folded and nicknames read as the full name.

Two leads whose emails (or LinkedIn URLs) are both present and differ are
never merged on this weaker evidence: a shared phone may be a switchboard,
a similar name at the same company a colleague. Their action is at most
"review", and the reasons say why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from leadbase.dedupe import keys
from leadbase.dedupe import normalise as norm
from leadbase.dedupe.rules import Rules

# The lead columns compare() reads: the matcher and the scan select these,
# the id and the key_* columns.
COMPARED_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "linkedin_url",
    "provider_name",
    "external_id",
    "phone",
    "company_name",
    "company_domain",
    "street",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
)

Action = Literal["merge", "review"]


@dataclass(frozen=True)
class Verdict:
    score: float  # 0..1
    reasons: tuple[str, ...]
    action: Action


class Features(NamedTuple):
    """One lead's fields in the form they are compared in, computed once."""

    email: str | None
    linkedin: str | None
    provider_record: tuple[str, str] | None
    first: str | None  # folded; nicknames are read as the full name when compared
    last: str | None
    phone: str | None
    company: str | None
    domain: str | None
    street: str | None
    house: str | None
    line2: str | None
    city: str | None
    postcode: str | None
    state: str | None
    country: str | None


_DIGITS = re.compile(r"\d+[a-z]?")
_WORDS = re.compile(r"[^\W\d_]+")
# Street words written short and long: "12 Main St" is "12 Main Street".
_STREET_WORDS = {
    "st": "street",
    "str": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "dr": "drive",
    "ln": "lane",
    "ct": "court",
    "pl": "place",
    "cres": "crescent",
    "cr": "crescent",
    "blvd": "boulevard",
    "hwy": "highway",
    "pde": "parade",
    "tce": "terrace",
    "cct": "circuit",
    "cl": "close",
    "sq": "square",
}


@lru_cache(maxsize=65536)
def _fold(text: str | None) -> str | None:
    """Accents, case and punctuation gone; words kept apart by one space."""
    folded = norm.sort_key(text)
    if not folded:
        return None
    return " ".join(_WORDS.findall(folded)) or None


@lru_cache(maxsize=65536)
def _street(text: str | None) -> tuple[str | None, str | None]:
    """(street words with abbreviations spelled out, house number)."""
    folded = norm.sort_key(text)
    if not folded:
        return None, None
    number = _DIGITS.search(folded)
    words = [_STREET_WORDS.get(word, word) for word in _WORDS.findall(folded)]
    return " ".join(words) or None, number.group(0) if number else None


def _postcode(text: str | None) -> str | None:
    return "".join(text.split()).upper() if text else None


def features(row: Mapping[str, Any]) -> Features:
    first, last = row.get("first_name"), row.get("last_name")
    if not first and not last and row.get("full_name"):
        first, last = norm.split_name(row["full_name"])
    provider, external = row.get("provider_name"), row.get("external_id")
    street, house = _street(row.get("street"))
    email = row.get("key_email") or keys.canonical_email(row.get("email"))
    domain = row.get("key_domain") or keys.company_domain_key(
        row.get("company_domain"), row.get("email")
    )
    return Features(
        email=email,
        linkedin=row.get("linkedin_url"),
        provider_record=(provider, external) if provider and external else None,
        first=keys.letters(first),
        last=keys.letters(last),
        phone=row.get("phone"),
        company=norm.company_name_key(row.get("company_name")),
        domain=domain,
        street=street,
        house=house,
        line2=_fold(row.get("address_line2")),
        city=_fold(row.get("city")),
        postcode=_postcode(row.get("postal_code")),
        state=_fold(row.get("state")),
        country=_fold(row.get("country")),
    )


# --- field similarities ------------------------------------------------------------


def _jw(a: str, b: str) -> float:
    """Jaro-Winkler, squared: it rates unrelated short names 0.5-0.7, and
    a match score wants those near the bottom, typos near the top."""
    if a == b:
        return 1.0
    sim: float = JaroWinkler.similarity(a, b)
    return sim * sim


def _first_sim(a: str, b: str) -> float:
    if a == b or keys.NICKNAMES.get(a, a) == keys.NICKNAMES.get(b, b):
        return 1.0
    if len(a) == 1 or len(b) == 1:  # an initial: "J" for "John"
        return 0.8 if a[0] == b[0] else 0.0
    return _jw(a, b)


def _name_pair(
    first_a: str | None, last_a: str | None, first_b: str | None, last_b: str | None
) -> float:
    """Similarity of (first, last) against (first, last); a half one side
    lacks costs a little, as that half cannot be checked."""
    if last_a and last_b:
        last = _jw(last_a, last_b)
        if first_a and first_b:
            return (_first_sim(first_a, first_b) + last) / 2
        return 0.9 * last
    if first_a and first_b:
        return 0.8 * _first_sim(first_a, first_b)
    return 0.0


def name_similarity(a: Features, b: Features) -> float | None:
    """None when either lead has no name; else the better of the names as
    written and with one lead's first and last name swapped."""
    if not (a.first or a.last) or not (b.first or b.last):
        return None
    straight = _name_pair(a.first, a.last, b.first, b.last)
    if straight == 1.0:
        return 1.0
    return max(straight, _name_pair(a.first, a.last, b.last, b.first))


def _text_sim(a: str, b: str) -> float:
    return 1.0 if a == b else fuzz.token_sort_ratio(a, b) / 100


def _street_sim(a: Features, b: Features) -> float:
    words = _text_sim(a.street, b.street) if a.street and b.street else None
    if a.house and b.house:
        house = 1.0 if a.house == b.house else 0.0
        return house if words is None else 0.4 * house + 0.6 * words
    return words if words is not None else 0.0


def _postcode_sim(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1:
        return 0.5  # one digit off: a typo, or the next district
    return 0.0


def _same(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


# weight name -> (how to read it from a pair, label in the reasons, exact?)
_Similarity = Callable[[Features, Features], float | None]


def _both(attr: str, sim: Callable[[Any, Any], float]) -> _Similarity:
    def similarity(a: Features, b: Features) -> float | None:
        x, y = getattr(a, attr), getattr(b, attr)
        return sim(x, y) if x and y else None

    return similarity


def _street_field(a: Features, b: Features) -> float | None:
    if (a.street or a.house) and (b.street or b.house):
        return _street_sim(a, b)
    return None


_FIELDS: tuple[tuple[str, str, bool, _Similarity], ...] = (
    ("name", "name", False, name_similarity),
    ("company", "company", False, _both("company", _text_sim)),
    ("domain", "domain", True, _both("domain", _same)),
    ("street", "street", False, _street_field),
    ("address_line2", "address line 2", False, _both("line2", _text_sim)),
    ("city", "city", False, _both("city", _jw)),
    ("postal_code", "postcode", False, _both("postcode", _postcode_sim)),
    ("state", "state", True, _both("state", _same)),
    ("country", "country", True, _both("country", _same)),
    ("phone", "phone", True, _both("phone", _same)),
)


def _reason(label: str, exact: bool, similarity: float) -> str:
    if similarity >= 1.0:
        return f"same {label}"
    if exact or similarity <= 0.0:
        return f"different {label}"
    return f"{label} {similarity:.2f}"


def _exact(a: Features, b: Features) -> str | None:
    if a.email and a.email == b.email:
        return "same email"
    if a.linkedin and a.linkedin == b.linkedin:
        return "same LinkedIn URL"
    if a.provider_record and a.provider_record == b.provider_record:
        return "same provider record"
    return None


def _identities_differ(a: Features, b: Features) -> str | None:
    if a.email and b.email and a.email != b.email:
        return "different emails"
    if a.linkedin and b.linkedin and a.linkedin != b.linkedin:
        return "different LinkedIn URLs"
    return None


def compare_features(a: Features, b: Features, rules: Rules) -> Verdict | None:
    exact = _exact(a, b)
    if exact:
        return Verdict(1.0, (exact,), "merge")
    weights = rules.weights
    total = weighed = 0.0
    reasons: list[str] = []
    for name, label, exact_field, similarity_of in _FIELDS:
        weight = weights.get(name, 0.0)
        if not weight:
            continue
        similarity = similarity_of(a, b)
        if similarity is None:
            continue
        total += weight * similarity
        weighed += weight
        reasons.append(_reason(label, exact_field, similarity))
    score = round(total / max(weighed, rules.min_weight), 4)
    if score < rules.low:
        return None
    differ = _identities_differ(a, b)
    if differ:
        reasons.append(differ)
    action: Action = "merge" if score >= rules.high and not differ else "review"
    return Verdict(score, tuple(reasons), action)


def compare(a: Mapping[str, Any], b: Mapping[str, Any], rules: Rules) -> Verdict | None:
    """The verdict on two leads (normalised field dicts); None below ``rules.low``."""
    return compare_features(features(a), features(b), rules)
