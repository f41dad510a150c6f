"""The in-memory scan's batch comparer (dedupe.batch) gives score's verdicts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadbase.dedupe.batch import (
    BatchScorer,
    FeatureColumns,
    fold_names,
    houses,
    place_codes,
    place_houses,
)
from leadbase.dedupe.rules import DEFAULT_WEIGHTS, Rules
from leadbase.dedupe.score import Features, Verdict, compare_features

RULES = Rules()

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
# Names and addresses only, as FEBRL's leads: the batch's quick path.
_PLAIN = st.builds(
    Features,
    email=st.none(),
    linkedin=st.none(),
    provider_record=st.none(),
    first=_SOME,
    last=_SOME,
    phone=st.none(),
    company=st.none(),
    domain=st.none(),
    street=_SOME,
    house=st.one_of(st.none(), st.sampled_from(["1", "12", "12a"])),
    line2=_SOME,
    city=_SOME,
    postcode=st.one_of(st.none(), st.sampled_from(["2000", "2001", "2010", "200"])),
    state=st.one_of(st.none(), st.sampled_from(["nsw", "vic"])),
    country=st.one_of(st.none(), st.just("au")),
)
_RULES = st.sampled_from(
    [
        RULES,
        Rules(exact=("email",)),
        Rules(weights={**DEFAULT_WEIGHTS, "company": 0.0, "street": 0.0, "city": 0.0}),
        Rules(weights={**DEFAULT_WEIGHTS, "domain": 0.0, "address_line2": 0.0}, low=0.3),
        Rules(weights={**DEFAULT_WEIGHTS, "name": 0.0}, low=0.3),
        Rules(high=0.6, low=0.4, min_weight=3.0),
    ]
)


def _check(leads: list[Features], rules: Rules) -> None:
    columns = FeatureColumns.of_features(leads)
    pairs = [(i, j) for i in range(len(leads)) for j in range(len(leads)) if i != j]
    found = BatchScorer(rules)(columns, [i for i, _ in pairs], [j for _, j in pairs])
    assert found == [compare_features(leads[i], leads[j], rules) for i, j in pairs]


@settings(max_examples=300, deadline=None)
@given(st.lists(_FEATURES, min_size=2, max_size=6), _RULES)
def test_batch_verdicts_are_compare_features(leads: list[Features], rules: Rules) -> None:
    """Every pair's verdict, to the last bit, whatever fields the leads have."""
    _check(leads, rules)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PLAIN, min_size=2, max_size=6), _RULES)
def test_batch_verdicts_of_names_and_addresses(leads: list[Features], rules: Rules) -> None:
    _check(leads, rules)


def test_batch_verdicts_of_typical_pairs() -> None:
    jane = Features(
        *(None, None, None, "jane", "doe", None, None, None),
        *("main street", "12", "unit 3", "sydney", "2000", "nsw", "au"),
    )
    typo = jane._replace(last="deo", postcode="2001")
    swapped = jane._replace(first="doe", last="jane", street="unit", line2="main street")
    initial = jane._replace(first="j", house="12a")
    other = jane._replace(first="mary", last="smith", street="other road", city="perth")
    colleague = jane._replace(email="a@x.com", company="acme", domain="acme.com")
    namesake = jane._replace(email="b@x.com", company="acme", domain="acme.com", first="jon")
    at_acme = jane._replace(company="acme", domain="acme.com")
    mary_at_acme = at_acme._replace(first="mary")
    leads = [jane, typo, swapped, initial, other, colleague, namesake, at_acme, mary_at_acme]
    _check(leads, RULES)
    same_employer = BatchScorer(RULES)(FeatureColumns.of_features(leads), [7], [8])[0]
    assert same_employer is not None and same_employer.action == "review"
    assert same_employer.reasons[-1] == "different first names"
    columns = FeatureColumns.of_features(leads)
    verdicts = BatchScorer(RULES)(columns, [0, 0, 0, 0, 5], [1, 2, 3, 4, 6])
    assert [v.action if isinstance(v, Verdict) else None for v in verdicts] == [
        "merge",
        "merge",
        "merge",
        None,
        None,
    ]
    assert BatchScorer(RULES)(columns, [], []) == []


def test_place_helpers() -> None:
    assert fold_names(["Émile", None, "", "SYDNEY"]) == ["emile", "", "", "sydney"]
    assert houses(["12 Main St", None, "Unit 3b, 14 Rd", "Wattle", "١٢ Rd"]) == [
        "12",
        None,
        "3",
        None,
        "١٢",
    ]
    codes = place_codes(["a", None, "a", "", "b"]).tolist()
    assert codes[0] == codes[2] and codes[0] >= 0 and codes[4] >= 0 and codes[4] != codes[0]
    assert codes[1] < 0 and codes[3] < 0 and codes[1] != codes[3]
    nowhere = place_codes([None, "", None]).tolist()  # no lead has the place
    assert len(set(nowhere)) == 3 and max(nowhere) < 0


def test_place_houses_from_the_features_house_numbers() -> None:
    streets = ["12a Main St", None, "Unit 3b, 14 Rd", "Wattle"]
    assert place_houses(streets, ["12a", None, "3b", None]) == ["12", None, "3", None]
    # A street not plain ASCII: every house number read from the streets.
    assert place_houses(["١٢ Rd", "7 Ave"], [None, None]) == ["١٢", "7"]
