"""normalise.is_valid_number (the fast phone check) answers as phonenumbers does.

Thousands of seeded random numbers, national and international, valid and
not, go through both the fast path and the plain phonenumbers calls; every
answer (E.164 text, None for invalid, or the parse error) must be the same.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from leadbase.dedupe import normalise as norm
from leadbase.errors import ValidationError

REGIONS = ("US", "CA", "GB", "FR", "DE", "IN", "BR", "AU")
TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
IDD = {"US": "011", "CA": "011", "AU": "0011", "BR": "0021", "IN": "00"}


def plain(value: str, region: str) -> str | None:
    """What normalise_phone did before the fast path."""
    number = phonenumbers.parse(value, region)
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def answer(fn, value: str, region: str) -> str | None:
    try:
        return fn(value, region)
    except phonenumbers.NumberParseException as exc:
        return f"error: {exc}"


def _mutate(text: str, rng: random.Random) -> str:
    """Change some digits of ``text`` (keeping its spaces and punctuation),
    sometimes dropping or adding one: too short, too long, other ranges."""
    chars = list(text)
    digits = [i for i, ch in enumerate(chars) if ch.isdigit()]
    for i in rng.sample(digits, k=rng.randint(0, min(len(digits), 5))):
        chars[i] = str(rng.randint(0, 9))
    roll = rng.random()
    if roll < 0.1 and digits:
        del chars[rng.choice(digits)]
    elif roll < 0.2:
        chars.insert(rng.randint(0, len(chars)), str(rng.randint(0, 9)))
    return "".join(chars)


@functools.cache
def _templates(region: str) -> list[phonenumbers.PhoneNumber]:
    found = [phonenumbers.example_number_for_type(region, kind) for kind in TYPES]
    return [number for number in found if number is not None]


def _forms(number: phonenumbers.PhoneNumber, region: str, rng: random.Random) -> list[str]:
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    idd = IDD.get(region, "00")
    return [
        national,
        re.sub(r"\D", "", national),
        international,
        e164,
        idd + " " + international[1:],
        f"{number.country_code}{phonenumbers.national_significant_number(number)}",
    ]


def generated(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    cases: list[tuple[str, str]] = []
    while len(cases) < count:
        home = rng.choice(REGIONS)
        template = rng.choice(_templates(home))
        # Read in its own region mostly, sometimes in another (an
        # international number in a US file; a national one misread).
        region = home if rng.random() < 0.7 else rng.choice(REGIONS)
        for form in _forms(template, home, rng):
            cases.append((_mutate(form, rng) if rng.random() < 0.8 else form, region))
    return cases


def nanp_555(seed: int, count: int) -> list[tuple[str, str]]:
    """US and Canadian numbers, 555 exchanges included, in every common spelling."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        area = rng.choice(["212", "415", "416", "604", "800", "888", "900", "555", "011", "242"])
        exchange = rng.choice(["555", "555", f"{rng.randint(200, 999)}", "012"])
        line = rng.choice(["0100", "0199", "1234", f"{rng.randint(0, 9999):04d}"])
        spelling = rng.choice(
            [
                f"({area}) {exchange}-{line}",
                f"{area}-{exchange}-{line}",
                f"{area}.{exchange}.{line}",
                f"+1 {area} {exchange} {line}",
                f"1{area}{exchange}{line}",
                f"{area}{exchange}{line}",
            ]
        )
        cases.append((spelling, rng.choice(["US", "CA"])))
    return cases


def every_calling_code(seed: int, count: int) -> list[tuple[str, str]]:
    """Random digits behind every calling code, those shared by many
    regions (+1, +7, +44, +47, +61, +262, +590, +599...) included."""
    rng = random.Random(seed)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    return [
        (
            f"+{rng.choice(codes)}{rng.randint(0, 10 ** rng.randint(4, 13))}",
            rng.choice(REGIONS),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    "cases",
    [
        pytest.param(lambda: generated(1, 3000), id="eight-regions"),
        pytest.param(lambda: nanp_555(2, 1000), id="nanp-555"),
        pytest.param(lambda: every_calling_code(3, 2000), id="every-calling-code"),
    ],
)
def test_fast_path_answers_as_phonenumbers(cases: Callable[[], list[tuple[str, str]]]) -> None:
    norm._phone.cache_clear()
    tried = [
        (value, region, answer(norm._phone, value, region), answer(plain, value, region))
        for value, region in cases()
    ]
    assert [t for t in tried if t[2] != t[3]] == []
    # Numbers of every kind were tried: valid, invalid and unreadable.
    answers = [t[3] for t in tried]
    assert any(a and a.startswith("+") for a in answers)
    assert None in answers
    assert any(a and a.startswith("error") for a in answers)


def test_valid_and_invalid_examples_of_every_region_agree() -> None:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            for number in (
                phonenumbers.example_number_for_type(region, kind),
                phonenumbers.invalid_example_number(region),
            ):
                if number is not None:
                    assert norm.is_valid_number(number) == phonenumbers.is_valid_number(number), (
                        region,
                        kind,
                        number,
                    )


def test_a_number_is_stored_in_e164_and_a_bad_one_refused() -> None:
    assert norm.normalise_phone("(212) 580-8387", "US") == "+12125808387"
    assert norm.normalise_phone("089 4673294", "DE") == "+49894673294"
    assert norm.normalise_phone("+1 416 555 0199", "GB") == "+14165550199"  # Canadian
    assert norm.normalise_phone("02 9876 5432", "AU") == "+61298765432"
    with pytest.raises(ValidationError, match="not a valid phone number"):
        norm.normalise_phone("(123) 456-7890", "US")  # no area code 123
    with pytest.raises(ValidationError, match="not a phone number"):
        norm.normalise_phone("call me", "US")
