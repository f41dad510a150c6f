"""Match keys: exact keys say "same person", blocking keys "worth comparing"."""

from __future__ import annotations

from typing import Any

import pytest

from leadbase.dedupe import keys
from leadbase.dedupe.keys import match_keys
from leadbase.models.lead import MATCH_KEY_COLUMNS


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("J.Doe+news@GoogleMail.com", "jdoe@gmail.com"),
        ("j.doe@gmail.com", "jdoe@gmail.com"),
        ("J.Doe+x@Acme.com", "j.doe@acme.com"),  # dots matter outside Gmail
        ("+tag@acme.com", "+tag@acme.com"),
        ("no-at-sign", None),
        (None, None),
    ],
)
def test_canonical_email(raw: str | None, canonical: str | None) -> None:
    assert keys.canonical_email(raw) == canonical


def test_company_domain_from_domain_or_work_email_only() -> None:
    assert keys.company_domain_key("shop.acme.co.uk", None) == "acme.co.uk"
    assert keys.company_domain_key(None, "ada@eu.acme.com") == "acme.com"
    assert keys.company_domain_key(None, "ada@gmail.com") is None


def key(name: str, **fields: Any) -> dict[str, str | None]:
    return match_keys({"full_name": name, **fields})


def test_every_key_column_is_filled() -> None:
    found = key(
        "Ada Lovelace",
        email="Ada@Acme.com",
        company_name="Acme, Inc.",
        postal_code="sw1a 1aa",
        street="12 Downing Street",
    )
    assert set(found) == set(MATCH_KEY_COLUMNS)
    assert found["key_email"] == "ada@acme.com"
    assert found["key_domain"] == "acme.com"
    assert found["key_company"] == "acme"
    assert found["key_address"] == "11AAASW 12"  # the characters sorted
    assert found["key_name"] == " ".join(sorted([keys.phonetic("ada"), keys.phonetic("lovelace")]))
    assert found["key_name_alt"] == f"{keys.phonetic('lovelace')} acme.com"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("John Smith", "Smith John"),  # swapped
        ("John Smith", "Jon Smyth"),  # sound-alike
        ("Bob Smith", "Robert Smith"),  # nickname
        ("Bill Gates", "William Gates"),
        ("Liz Taylor", "Elizabeth Taylor"),
        ("José Müller", "Jose Muller"),  # accents
    ],
)
def test_name_key_is_shared_by_variants(a: str, b: str) -> None:
    assert key(a)["key_name"] == key(b)["key_name"] is not None


def test_name_key_tells_different_people_apart() -> None:
    assert key("John Smith")["key_name"] != key("Mary Jones")["key_name"]


def test_second_name_key_is_surname_and_place() -> None:
    # A typo in the first name changes its sound; the surname and postcode still meet.
    assert (
        key("Jonathan Smith", postal_code="10115")["key_name_alt"]
        == (key("Jnoathan Smith", postal_code="10 115")["key_name_alt"])
    )
    # Without a postcode, the employer stands for the place.
    assert (
        key("Ann Lee", company_name="Acme GmbH")["key_name_alt"]
        == (key("Anne Lee", company_name="ACME")["key_name_alt"])
    )
    assert key("Ann Lee", email="ann@acme.com")["key_name_alt"] == (
        f"{keys.phonetic('lee')} acme.com"
    )
    assert key("Ann Lee")["key_name_alt"] is None


def test_company_key_drops_legal_suffixes() -> None:
    assert key("A B", company_name="Acme Inc.")["key_company"] == "acme"
    assert key("A B", company_name="ACME GmbH")["key_company"] == "acme"


def test_address_key_is_postcode_and_house_number_else_city() -> None:
    assert key("A B", postal_code="10115", street="Hauptstr. 21")["key_address"] == "01115 12"
    assert key("A B", postal_code="10115")["key_address"] == "01115"
    assert key("A B", city="Zürich", street="Bahnhofstrasse 7")["key_address"] == "zurich 7"
    # Two digits swapped keep the key.
    assert (
        key("A B", postal_code="2061", street="47 Main St")["key_address"]
        == (key("A B", postal_code="2016", street="74 Main St")["key_address"])
    )
    assert key("A B", city="Zürich")["key_address"] is None
