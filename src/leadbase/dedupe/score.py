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


def _casefold(text: str) -> str:
    """``normalise.sort_key`` without its cost for plain ASCII, most text."""
    if text.isascii():
        return text.lower()
    return norm.sort_key(text) or ""


@lru_cache(maxsize=65536)
def _fold(text: str | None) -> str | None:
    """Accents, case and punctuation gone; words kept apart by one space."""
    if not text:
        return None
    return " ".join(_WORDS.findall(_casefold(text))) or None


def _street(text: str | None) -> tuple[str | None, str | None]:
    """(street words with abbreviations spelled out, house number). Not
    memoised: nearly every lead's street is its own."""
    if not text:
        return None, None
    folded = _casefold(text)
    number = _DIGITS.search(folded)
    words = [_STREET_WORDS.get(word, word) for word in _WORDS.findall(folded)]
    return " ".join(words) or None, number.group(0) if number else None


def _postcode(text: str | None) -> str | None:
    return "".join(text.split()).upper() if text else None


# What features() reads, in this order: the compared fields, then two keys.
FEATURE_FIELDS = (*COMPARED_FIELDS, "key_email", "key_domain")


def features(row: Mapping[str, Any]) -> Features:
    return features_of(*(row.get(field) for field in FEATURE_FIELDS))


def features_of(
    first_name: str | None,
    last_name: str | None,
    full_name: str | None,
    email: str | None,
    linkedin_url: str | None,
    provider_name: str | None,
    external_id: str | None,
    phone: str | None,
    company_name: str | None,
    company_domain: str | None,
    street: str | None,
    address_line2: str | None,
    city: str | None,
    state: str | None,
    postal_code: str | None,
    country: str | None,
    key_email: str | None,
    key_domain: str | None,
) -> Features:
    """A lead's features from its FEATURE_FIELDS values, in order (the scan
    passes a row's values as they come)."""
    if not first_name and not last_name and full_name:
        first_name, last_name = norm.split_name(full_name)
    street_words, house = _street(street)
    return Features(
        email=key_email or keys.canonical_email(email),
        linkedin=linkedin_url,
        provider_record=(provider_name, external_id) if provider_name and external_id else None,
        first=keys.letters(first_name),
        last=keys.letters(last_name),
        phone=phone,
        company=norm.company_name_key(company_name),
        domain=key_domain or keys.company_domain_key(company_domain, email),
        street=street_words,
        house=house,
        line2=_fold(address_line2),
        city=_fold(city),
        postcode=_postcode(postal_code),
        state=_fold(state),
        country=_fold(country),
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
    """First names are short: unrelated ones ("Jane", "John") still agree
    to 0.7 by Jaro-Winkler, so 0.7 is read as 0 and a typo ("Jonh")
    stays near 1: a different first name is most often a different person."""
    if a == b or keys.NICKNAMES.get(a, a) == keys.NICKNAMES.get(b, b):
        return 1.0
    if len(a) == 1 or len(b) == 1:  # an initial: "J" for "John"
        return 0.8 if a[0] == b[0] else 0.0
    sim: float = JaroWinkler.similarity(a, b)
    return max(0.0, (sim - 0.7) / 0.3)


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
    if straight >= 0.9:  # swapping cannot beat a name this close by much
        return straight
    return max(straight, _name_pair(a.first, a.last, b.last, b.first))


def _text_sim(a: str, b: str) -> float:
    return 1.0 if a == b else fuzz.token_sort_ratio(a, b) / 100


def _street_sim(a: Features, b: Features) -> float:
    words = _text_sim(a.street, b.street) if a.street and b.street else None
    if a.house and b.house:
        house = 1.0 if a.house == b.house else 0.0
        return house if words is None else 0.4 * house + 0.6 * words
    return words if words is not None else 0.0


def _swapped_lines(a: Features, b: Features) -> float:
    """Street and second address line written the other way round."""
    best = 0.0
    if a.street and b.line2:
        best = _text_sim(a.street, b.line2)
    if a.line2 and b.street:
        best = max(best, _text_sim(a.line2, b.street))
    return best


def _postcode_sim(a: str, b: str) -> float:
    """1 the same; 0.7 two neighbouring digits swapped, 0.5 one digit off
    (typos, or the next district); else 0."""
    if a == b:
        return 1.0
    if len(a) != len(b):
        return 0.0
    first = -1
    for at, (x, y) in enumerate(zip(a, b, strict=True)):
        if x == y:
            continue
        if first < 0:
            first = at
        elif at == first + 1 and a[first] == y and b[first] == x and a[at + 1 :] == b[at + 1 :]:
            return 0.7
        else:
            return 0.0
    return 0.5


def _similarities(a: Features, b: Features) -> list[tuple[str, float]]:
    """(field, similarity) for each field both leads have."""
    found: list[tuple[str, float]] = []
    name = name_similarity(a, b)
    if name is not None:
        found.append(("name", name))
    if a.company and b.company:
        found.append(("company", _text_sim(a.company, b.company)))
    if a.domain and b.domain:
        found.append(("domain", 1.0 if a.domain == b.domain else 0.0))
    swapped = _swapped_lines(a, b) if (a.line2 or b.line2) else 0.0
    # A house number alone against a street name alone says nothing.
    if (a.street and b.street) or (a.house and b.house):
        found.append(("street", max(_street_sim(a, b), swapped)))
    if a.line2 and b.line2:
        found.append(("address_line2", max(_text_sim(a.line2, b.line2), swapped)))
    if a.city and b.city:
        found.append(("city", _jw(a.city, b.city)))
    if a.postcode and b.postcode:
        found.append(("postal_code", _postcode_sim(a.postcode, b.postcode)))
    if a.state and b.state:
        found.append(("state", 1.0 if a.state == b.state else 0.0))
    if a.country and b.country:
        found.append(("country", 1.0 if a.country == b.country else 0.0))
    if a.phone and b.phone:
        found.append(("phone", 1.0 if a.phone == b.phone else 0.0))
    return found


_LABELS = {"address_line2": "address line 2", "postal_code": "postcode"}
_EXACT_FIELDS = frozenset({"domain", "state", "country", "phone"})


def _reason(field: str, similarity: float) -> str:
    label, exact = _LABELS.get(field, field), field in _EXACT_FIELDS
    if similarity >= 1.0:
        return f"same {label}"
    if exact or similarity <= 0.0:
        return f"different {label}"
    return f"{label} {similarity:.2f}"


# Each exact rule (rules.EXACT_KEYS) and the one reason its verdict gives.
EXACT_REASONS = {
    "email": "same email",
    "linkedin_url": "same LinkedIn URL",
    "provider_record": "same provider record",
    "phone": "same phone",
}


def _exact(a: Features, b: Features, keys: tuple[str, ...]) -> str | None:
    if a.email and a.email == b.email and "email" in keys:
        return EXACT_REASONS["email"]
    if a.linkedin and a.linkedin == b.linkedin and "linkedin_url" in keys:
        return EXACT_REASONS["linkedin_url"]
    if a.provider_record and a.provider_record == b.provider_record and "provider_record" in keys:
        return EXACT_REASONS["provider_record"]
    if (
        a.phone
        and a.phone == b.phone
        and "phone" in keys
        and not _identities_differ(a, b)
        and initials_meet(initials_of(a), initials_of(b))
    ):
        return EXACT_REASONS["phone"]
    return None


def _identities_differ(a: Features, b: Features) -> str | None:
    if a.email and b.email and a.email != b.email:
        return "different emails"
    if a.linkedin and b.linkedin and a.linkedin != b.linkedin:
        return "different LinkedIn URLs"
    return None


def compare_features(a: Features, b: Features, rules: Rules) -> Verdict | None:
    exact = _exact(a, b, rules.exact)
    if exact:
        return Verdict(1.0, (exact,), "merge")
    weights = rules.weights
    total = weighed = 0.0
    counted = []
    employer: tuple[float, float] | None = None  # (weight, similarity) counted
    for field, similarity in _similarities(a, b):
        weight = weights.get(field, 0.0)
        if not weight:
            continue
        counted.append((field, similarity))
        if field in _EMPLOYER:
            # Company name and domain both say who employs the lead: the
            # better of the two counts, once.
            if employer is not None:
                total -= employer[0] * employer[1]
                weighed -= employer[0]
                weight, similarity = max(employer, (weight, similarity), key=lambda e: e[1])
            employer = (weight, similarity)
        total += weight * similarity
        weighed += weight
    score = round(total / max(weighed, rules.min_weight), 4)
    if score < rules.low:
        return None
    differ = _identities_differ(a, b)
    if differ and _other_people(counted, employer):
        return None
    reasons = [_reason(field, similarity) for field, similarity in counted]
    if differ is None and score >= rules.high and employer and _first_names_differ(a, b):
        differ = "different first names"
    if differ:
        reasons.append(differ)
    action: Action = "merge" if score >= rules.high and not differ else "review"
    return Verdict(score, tuple(reasons), action)


_EMPLOYER = frozenset({"company", "domain"})
# Two leads whose emails (or LinkedIn URLs) both differ are two people unless
# their names agree this closely ...
NAME_FOR_DIFFERING = 0.85
# ... and their employers, when both have one, at least this well (a
# namesake at "Acme Labs" is not one at acme-group.com: "company 0.50").
EMPLOYER_FOR_DIFFERING = 0.8


def _other_people(counted: list[tuple[str, float]], employer: tuple[float, float] | None) -> bool:
    """Whether leads with different emails or LinkedIn URLs are plainly
    other people, not even a pair to review: a colleague with a like name
    ("name 0.50, same company"), or a namesake at another company ("same
    name, company 0.50, different domain"). A person who changed jobs keeps being two leads
    until someone merges them; flagging every namesake would bury the
    review queue (a 100k-lead import queued 80k such pairs)."""
    name = next((similarity for field, similarity in counted if field == "name"), 0.0)
    if name < NAME_FOR_DIFFERING:
        return True
    return employer is not None and employer[1] < EMPLOYER_FOR_DIFFERING


def _first_names_differ(a: Features, b: Features) -> bool:
    """Both leads have a first and a last name and the first names are
    unalike, swapped or not. With an employer in common ("Jane Smith" and
    "John Smith" at Acme) they may well be colleagues: only a person
    decides. (Without one, as in FEBRL, a first name replaced by another
    with the rest of the record the same is most often a typing error.)"""
    if not (a.first and a.last and b.first and b.last):
        return False
    return _first_sim(a.first, b.first) == 0.0 and _first_sim(a.first, b.last) == 0.0


Initials = tuple[str, str]  # (first name's, last name's); "" for none


def initials_of(features: Features) -> Initials:
    return (features.first[0] if features.first else "", features.last[0] if features.last else "")


def name_initials(first_name: str | None, last_name: str | None, full_name: str | None) -> Initials:
    """A lead's initials from its stored name fields, without its features."""
    if not first_name and not last_name and full_name:
        first_name, last_name = norm.split_name(full_name)
    first, last = keys.letters(first_name), keys.letters(last_name)
    return (first[0] if first else "", last[0] if last else "")


def initials_meet(a: Initials, b: Initials) -> bool:
    """Whether two names share an initial, either way round (or one lead has
    no name): a cheap test that spares the full comparison of most
    colleagues, housemates and switchboard sharers, who share a phone, an
    address or an employer but not a name. A duplicate with both initials
    mistyped is rare."""
    if a == ("", "") or b == ("", ""):
        return True
    return bool(b[0] and b[0] in a) or bool(b[1] and b[1] in a)


def compare(a: Mapping[str, Any], b: Mapping[str, Any], rules: Rules) -> Verdict | None:
    """The verdict on two leads (normalised field dicts); None below ``rules.low``."""
    return compare_features(features(a), features(b), rules)


# --- the scan's comparer: compare_features, faster ----------------------------------


def scorer(rules: Rules) -> Callable[[Features, Features], Verdict | None]:
    """``compare_features`` with these rules, built for the scan's thousands
    of pairs: the same verdicts (a test holds the two to it), the same float
    operations in the same order, without what costs there per pair (the
    list of similarities, a dict look-up per weight, a field without weight
    worked out anyway, keyword arguments)."""
    weights = rules.weights
    w_name, w_company, w_domain, w_street, w_line2 = (
        weights.get(f, 0.0) for f in ("name", "company", "domain", "street", "address_line2")
    )
    w_city, w_postcode, w_state, w_country, w_phone = (
        weights.get(f, 0.0) for f in ("city", "postal_code", "state", "country", "phone")
    )
    exact_email, exact_linkedin, exact_record, exact_phone = (
        key in rules.exact for key in ("email", "linkedin_url", "provider_record", "phone")
    )
    low, high, min_weight = rules.low, rules.high, rules.min_weight
    exact_verdicts = {reason: Verdict(1.0, (reason,), "merge") for reason in EXACT_REASONS.values()}
    name_pair, text_sim, jw, postcode_sim = _name_pair, _text_sim, _jw, _postcode_sim
    first_sim, jaro_winkler, sort_ratio = _first_sim, JaroWinkler.similarity, fuzz.token_sort_ratio
    # Each (field, similarity)'s reason, written once: most similarities are
    # 1 or 0, and formatting one costs more than scoring it.
    written: dict[tuple[str, float], str] = {}

    def reason(counted: tuple[str, float]) -> str:
        if len(written) > 100_000:
            written.clear()
        found = written[counted] = _reason(*counted)
        return found

    known = written.get

    def compare(a: Features, b: Features) -> Verdict | None:
        (a_email, a_linkedin, a_record, a_first, a_last, a_phone, a_company, a_domain) = a[:8]
        (b_email, b_linkedin, b_record, b_first, b_last, b_phone, b_company, b_domain) = b[:8]
        if a_email and a_email == b_email and exact_email:
            return exact_verdicts[EXACT_REASONS["email"]]
        if a_linkedin and a_linkedin == b_linkedin and exact_linkedin:
            return exact_verdicts[EXACT_REASONS["linkedin_url"]]
        if a_record and a_record == b_record and exact_record:
            return exact_verdicts[EXACT_REASONS["provider_record"]]
        if a_phone and a_phone == b_phone and exact_phone:
            exact = _exact(a, b, ("phone",))
            if exact:
                return exact_verdicts[exact]
        a_street, a_house, a_line2, a_city, a_postcode, a_state, a_country = a[8:]
        b_street, b_house, b_line2, b_city, b_postcode, b_state, b_country = b[8:]
        total = weighed = 0.0
        counted: list[tuple[str, float]] = []
        employer: tuple[float, float] | None = None
        if w_name and (a_first or a_last) and (b_first or b_last):
            # _name_pair(a_first, a_last, b_first, b_last), inlined
            if a_last and b_last:
                if a_last == b_last:
                    last = 1.0
                else:
                    last = jaro_winkler(a_last, b_last)
                    last = last * last
                if a_first and b_first:
                    first = 1.0 if a_first == b_first else first_sim(a_first, b_first)
                    similarity = (first + last) / 2
                else:
                    similarity = 0.9 * last
            elif a_first and b_first:
                similarity = 0.8 * (1.0 if a_first == b_first else first_sim(a_first, b_first))
            else:
                similarity = 0.0
            if similarity < 0.9:
                similarity = max(similarity, name_pair(a_first, a_last, b_last, b_first))
            counted.append(("name", similarity))
            total += w_name * similarity
            weighed += w_name
        if w_company and a_company and b_company:
            similarity = text_sim(a_company, b_company)
            counted.append(("company", similarity))
            employer = (w_company, similarity)
            total += w_company * similarity
            weighed += w_company
        if w_domain and a_domain and b_domain:
            similarity = 1.0 if a_domain == b_domain else 0.0
            counted.append(("domain", similarity))
            weight = w_domain
            if employer is not None:
                total -= employer[0] * employer[1]
                weighed -= employer[0]
                weight, similarity = max(employer, (weight, similarity), key=_second)
            employer = (weight, similarity)
            total += weight * similarity
            weighed += weight
        # The street and second line each count as the better of themselves
        # and the two written the other way round: worked out only when
        # one of them is short of 1 and a second line is there to swap.
        street = line2 = None
        if w_street and ((a_street and b_street) or (a_house and b_house)):
            words = None
            if a_street and b_street:  # text_sim, inlined
                words = 1.0 if a_street == b_street else sort_ratio(a_street, b_street) / 100
            if a_house and b_house:
                house = 1.0 if a_house == b_house else 0.0
                street = house if words is None else 0.4 * house + 0.6 * words
            else:
                street = words if words is not None else 0.0
        if w_line2 and a_line2 and b_line2:
            line2 = 1.0 if a_line2 == b_line2 else sort_ratio(a_line2, b_line2) / 100
        if (a_line2 or b_line2) and (
            (street is not None and street < 1.0) or (line2 is not None and line2 < 1.0)
        ):
            swapped = _swapped_lines(a, b)
            if street is not None and swapped > street:
                street = swapped
            if line2 is not None and swapped > line2:
                line2 = swapped
        if street is not None:
            counted.append(("street", street))
            total += w_street * street
            weighed += w_street
        if line2 is not None:
            counted.append(("address_line2", line2))
            total += w_line2 * line2
            weighed += w_line2
        if w_city and a_city and b_city:
            similarity = 1.0 if a_city == b_city else jw(a_city, b_city)
            counted.append(("city", similarity))
            total += w_city * similarity
            weighed += w_city
        if w_postcode and a_postcode and b_postcode:
            similarity = 1.0 if a_postcode == b_postcode else postcode_sim(a_postcode, b_postcode)
            counted.append(("postal_code", similarity))
            total += w_postcode * similarity
            weighed += w_postcode
        if w_state and a_state and b_state:
            similarity = 1.0 if a_state == b_state else 0.0
            counted.append(("state", similarity))
            total += w_state * similarity
            weighed += w_state
        if w_country and a_country and b_country:
            similarity = 1.0 if a_country == b_country else 0.0
            counted.append(("country", similarity))
            total += w_country * similarity
            weighed += w_country
        if w_phone and a_phone and b_phone:
            similarity = 1.0 if a_phone == b_phone else 0.0
            counted.append(("phone", similarity))
            total += w_phone * similarity
            weighed += w_phone
        score = round(total / (weighed if weighed > min_weight else min_weight), 4)
        if score < low:
            return None
        differ = _identities_differ(a, b)
        if differ and _other_people(counted, employer):
            return None
        reasons = [known(field) or reason(field) for field in counted]
        if differ is None and score >= high and employer and _first_names_differ(a, b):
            differ = "different first names"
        if differ:
            reasons.append(differ)
        action: Action = "merge" if score >= high and not differ else "review"
        return Verdict(score, tuple(reasons), action)

    return compare


def _second(pair: tuple[float, float]) -> float:
    return pair[1]
