"""The matcher (a write's fuzzy lookup) and the whole-database scan, on each database."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leadbase.client import LeadDatabase
from leadbase.dedupe.batch import FeatureColumns
from leadbase.dedupe.keys import match_keys
from leadbase.dedupe.matcher import Matcher
from leadbase.dedupe.repository import add_dismissals
from leadbase.dedupe.rules import Rules
from leadbase.dedupe.scan import Link, ScanStats, build_clusters, scan
from leadbase.dedupe.score import FEATURE_FIELDS, Verdict, features_of, initials_of
from leadbase.leads.service import clean_input

RULES = Rules()


def incoming(data: dict[str, Any]) -> dict[str, Any]:
    """A row as the write path hands it to the matcher: normalised, keys set."""
    row = clean_input(data)
    return {**row, **match_keys(row)}


def test_matcher_finds_stored_and_batch_candidates(leads: LeadDatabase) -> None:
    bob, colleague, other = leads.add_leads(
        [
            {"full_name": "Robert Miller", "company_name": "Acme Inc.", "email": "bob@acme.com"},
            {"full_name": "Mary Jones", "company_name": "Acme Inc."},
            {"full_name": "Robert Miller", "company_name": "Globex"},
        ],
        on_duplicate="allow",
    )
    leads.delete_lead(other)
    rows = [
        incoming({"full_name": "Bob Miller", "company_name": "ACME"}),
        incoming({"full_name": "Mary Jones", "company_name": "Acme GmbH"}),
        incoming({"full_name": "Marie Jones", "company_name": "Acme"}),
    ]
    with leads.db.read_session() as session:
        matcher = Matcher(session, RULES)
        matcher.prefetch(rows)
        first = matcher.best(rows[0])
        assert first is not None and first.lead_id == bob
        assert first.verdict.action == "merge"
        assert [c.lead_id for c in matcher.all(rows[0])] == [bob]  # the deleted one is no match
        assert matcher.best(rows[0], exclude_id=bob) is None
        second = matcher.best(rows[1])
        assert second is not None and second.lead_id == colleague
        # A row of the batch becomes a candidate for the rows after it.
        matcher.add("batch-row-1", rows[1])
        found = matcher.all(rows[2])
        assert {c.lead_id for c in found} == {colleague, "batch-row-1"}
        assert found[0].verdict.score >= found[-1].verdict.score


def test_matcher_skips_dismissed_pairs(leads: LeadDatabase) -> None:
    a, b = leads.add_leads(
        [
            {"full_name": "Ann Lee", "company_name": "Acme", "phone": "+14155550100"},
            {"full_name": "Anne Lee", "company_name": "Acme", "phone": "+14155550100"},
        ],
        on_duplicate="allow",
    )
    with leads.db.unit_of_work() as uow:
        add_dismissals(uow.session, [a, b], actor="test")
    with leads.db.read_session() as session:
        row = {"id": a, **incoming({"full_name": "Ann Lee", "company_name": "Acme"})}
        matcher = Matcher(session, RULES)
        matcher.prefetch([row])
        assert matcher.best(row, exclude_id=a) is None
        found = matcher.best(row)
        assert found is not None and found.lead_id in (a, b)


# --- the scan ---------------------------------------------------------------------


def test_scan_clusters_the_whole_database(leads: LeadDatabase) -> None:
    ids = leads.add_leads(
        [
            {"full_name": "Jonathan Smith", "company_name": "Acme", "postal_code": "10115"},
            {"full_name": "Smith Jonathan", "company_name": "ACME Inc.", "postal_code": "10115"},
            {"full_name": "Jonathon Smith", "company_name": "Acme GmbH", "postal_code": "10115"},
            {"full_name": "Ana Pérez", "email": "ana@example.com"},
            {"full_name": "A. Perez", "email": "Ana@Example.com"},
            {"full_name": "Grace Hopper", "company_name": "Navy"},
            {"full_name": "Grace Hopper", "company_name": "Navy"},
        ],
        on_duplicate="allow",
    )
    leads.delete_lead(ids[6])  # a deleted lead is in no cluster
    seen: list[tuple[int, int]] = []
    stats = ScanStats()
    with leads.db.read_session() as session:
        clusters = scan(session, RULES, lambda done, total: seen.append((done, total)), stats)
    by_ids = {c.lead_ids: c for c in clusters}
    smiths, anas = tuple(sorted(ids[:3])), tuple(sorted(ids[3:5]))
    assert set(by_ids) == {smiths, anas}
    assert by_ids[anas].reasons == ("same email",) and by_ids[anas].score == 1.0
    assert by_ids[smiths].action == "merge"
    assert stats.leads == 6 and stats.compared >= 3
    assert seen[-1][0] == seen[-1][1] > 0


def test_scan_never_joins_a_dismissed_pair(leads: LeadDatabase) -> None:
    a, b, c = leads.add_leads(
        [
            {"full_name": "Ann Lee", "company_name": "Acme", "phone": "+14155550100"},
            {"full_name": "Anne Lee", "company_name": "Acme", "phone": "+14155550100"},
            {"full_name": "Ann Lee", "company_name": "Acme Inc", "phone": "+14155550100"},
        ],
        on_duplicate="allow",
    )
    with leads.db.read_session() as session:
        assert [cl.lead_ids for cl in scan(session, RULES)] == [tuple(sorted((a, b, c)))]
    with leads.db.unit_of_work() as uow:
        add_dismissals(uow.session, [a, c], actor="test")
    with leads.db.read_session() as session:
        clusters = scan(session, RULES)
    assert len(clusters) == 1
    assert not {a, c} <= set(clusters[0].lead_ids)  # not even through b
    assert b in clusters[0].lead_ids


def test_large_blocks_are_compared_by_a_sorted_window(leads: LeadDatabase) -> None:
    # Ten Smiths at one company share key_name_alt (surname and employer).
    firsts = ["Ada", "Alan", "Edsger", "Barbara", "Ken", "Donald", "Grace", "Linus"]
    people = [{"full_name": f"{first} Smith", "company_name": "Acme"} for first in firsts]
    people += [
        {"full_name": "Margaret Smith", "company_name": "Acme"},
        {"full_name": "Margret Smith", "company_name": "Acme"},
    ]
    ids = leads.add_leads(people, on_duplicate="allow")
    small = Rules(max_block=3, window=1)
    stats = ScanStats()
    with leads.db.read_session() as session:
        clusters = scan(session, small, stats=stats)
    assert [c.lead_ids for c in clusters if c.action == "merge"] == [tuple(sorted(ids[-2:]))]
    assert stats.compared < 10 * 9 // 2  # not every pair of the block


def verdict(score: float, action: str = "merge") -> Verdict:
    return Verdict(score, (f"name {score:.2f}",), action)  # type: ignore[arg-type]


def test_cluster_score_is_its_weakest_link_and_review_links_stay_out_of_merges() -> None:
    links = [
        Link("a", "b", verdict(0.97)),
        Link("b", "c", verdict(0.92)),
        Link("a", "c", verdict(0.91)),  # not needed to hold the cluster together
        Link("c", "d", verdict(0.8, "review")),  # left for after the merge
        Link("x", "y", verdict(0.75, "review")),
        Link("y", "z", verdict(0.6, "review")),
    ]
    clusters = build_clusters(links, set())
    assert [(c.lead_ids, c.score, c.action) for c in clusters] == [
        (("a", "b", "c"), 0.92, "merge"),
        (("x", "y", "z"), 0.6, "review"),
    ]
    assert clusters[0].reasons == ("name 0.92",)


def test_matcher_prefetches_a_large_batch_in_chunks(leads: LeadDatabase) -> None:
    stored = leads.add_leads(
        [{"full_name": f"Person{n} Example{n}", "postal_code": f"{n:05d}"} for n in range(3)],
        on_duplicate="allow",
    )
    # 300 rows, three keys each: more values than one statement takes.
    rows = [
        incoming({"full_name": f"Person{n} Example{n}", "postal_code": f"{n:05d}"})
        for n in range(300)
    ]
    with leads.db.read_session() as session:
        matcher = Matcher(session, RULES)
        matcher.prefetch(rows)
        found = [matcher.best(row) for row in rows[:3]]
    assert [c.lead_id if c else None for c in found] == stored


# --- the scan's features, a column at a time (dedupe.batch) --------------------------

_TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.text(alphabet="abcXYZ éÉłØ-.'&@+ 0123\n", max_size=12),
    st.sampled_from(
        ["Anne-Marie", "O'Brien", "Łukasz", "José", "12 Main St", "Acme Inc.", "a@b.com"]
    ),
    st.sampled_from(["3b Wattle Cres", "Unit 4, 12a Pde", "St Kilda Rd", "12 main st\nrear"]),
)
_ROW = st.lists(_TEXT, min_size=len(FEATURE_FIELDS), max_size=len(FEATURE_FIELDS))
_LAYOUT = {name: at for at, name in enumerate(FEATURE_FIELDS)}


@settings(max_examples=300, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=8))
def test_scan_features_are_score_features(rows: list[list[str | None]]) -> None:
    """Features worked out a column at a time (ASCII in bulk, the rest one
    by one) are score.features_of's, lead by lead."""
    columns = FeatureColumns.of_rows(rows, _LAYOUT)
    initials = columns.initials()
    for at, values in enumerate(rows):
        assert columns.features(at) == features_of(*values)
        assert initials[at] == initials_of(features_of(*values))


def test_scan_features_of_typical_leads() -> None:
    leads = [
        {"first_name": "Jane", "last_name": "Doe", "street": "12 Main St", "city": "Sydney"},
        {"full_name": "Dr. Jane van der Berg Jr.", "email": "J.Doe+x@GoogleMail.com"},
        {"full_name": "Ana Pérez", "company_name": "ACME GmbH", "company_domain": "acme.de"},
        {"first_name": "Émile", "postal_code": "10 115", "state": "NSW", "country": "AU"},
        {
            "email": "ceo@acme.com",
            "linkedin_url": "https://linkedin.com/in/x",
            "phone": "+14155550100",
        },
        {"provider_name": "p", "external_id": "7", "address_line2": "Unit 3"},
        {"first_name": "Bob", "street": "3b Wattle Cres", "address_line2": "Flat 2, Rear Bldg"},
    ]
    rows = []
    for lead in leads:
        row = incoming(lead)
        rows.append([row.get(field) for field in FEATURE_FIELDS])
    columns = FeatureColumns.of_rows(rows, _LAYOUT)
    for at, values in enumerate(rows):
        assert columns.features(at) == features_of(*values)
    assert columns.features(6).street == "b wattle crescent"  # as score._street has it
    assert columns.features(6).house == "3b"


def test_small_and_large_database_scans_agree(leads: LeadDatabase, monkeypatch: Any) -> None:
    """Up to IN_MEMORY_LIMIT leads the scan blocks in memory; above, it
    streams one query per pass: the same pairs, the same clusters."""
    people = [
        {"full_name": "Jonathan Smith", "company_name": "Acme", "postal_code": "10115"},
        {"full_name": "Smith Jonathan", "company_name": "ACME Inc.", "postal_code": "10115"},
        {"full_name": "Jonathon Smith", "company_name": "Acme GmbH", "city": "Berlin"},
        {"full_name": "Jonathan Smyth", "street": "12 Main St", "city": "Berlin"},
        {"full_name": "Ana Pérez", "email": "ana@example.com", "phone": "+14155550100"},
        {"full_name": "A. Perez", "email": "Ana@Example.com"},
        {"full_name": "Bob Stone", "phone": "+14155550100"},
        {"first_name": "Grace", "last_name": "Hopper", "street": "1 Navy Rd", "city": "Reno"},
        {
            "first_name": "Hopper",
            "last_name": "Grace",
            "street": "1 Navy Road",
            "city": "Arlington",
        },
        {"first_name": "Grace", "last_name": "Hoper", "street": "9 Other St", "city": "Reno"},
    ]
    ids = leads.add_leads(people, on_duplicate="allow")
    with leads.db.unit_of_work() as uow:
        add_dismissals(uow.session, [ids[7], ids[9]], actor="test")
    runs = []
    for limit in (10_000, 0):
        monkeypatch.setattr("leadbase.dedupe.scan.IN_MEMORY_LIMIT", limit)
        stats = ScanStats()
        with leads.db.read_session() as session:
            runs.append((scan(session, RULES, stats=stats), stats))
    (small, small_stats), (large, large_stats) = runs
    assert small == large and len(small) >= 3
    assert small_stats.leads == large_stats.leads == len(people)
    assert small_stats.links == large_stats.links


def test_scans_agree_when_no_lead_has_an_email_phone_or_company(
    leads: LeadDatabase, monkeypatch: Any
) -> None:
    """The in-memory read leaves out the columns no lead has (FEBRL's
    leads: names and addresses only); the streaming scan reads them all."""
    people = [
        {"first_name": "Jane", "last_name": "Doe", "street": "12 Main St", "city": "Reno"},
        {"first_name": "Jane", "last_name": "Do", "street": "12 Main Street", "city": "Reno"},
        {"first_name": "Doe", "last_name": "Jane", "street": "12 Main St", "postal_code": "89501"},
        {"first_name": "John", "last_name": "Smith", "address_line2": "Unit 3", "state": "NV"},
        {"first_name": "Jon", "last_name": "Smith", "street": "Unit 3", "state": "NV"},
    ]
    leads.add_leads(people, on_duplicate="allow")
    runs = []
    for limit in (10_000, 0):
        monkeypatch.setattr("leadbase.dedupe.scan.IN_MEMORY_LIMIT", limit)
        with leads.db.read_session() as session:
            runs.append(scan(session, RULES))
    assert runs[0] == runs[1] and runs[0]


def test_scans_agree_on_leads_with_a_full_name_only(leads: LeadDatabase, monkeypatch: Any) -> None:
    """A lead without a first or last name is compared by its full name,
    split (the in-memory read on SQLite reads the full name for it alone)."""
    from sqlalchemy import update

    from leadbase.models import SalesLead

    people = [
        {"first_name": "Jane", "last_name": "Doe", "street": "12 Main St", "city": "Reno"},
        {"first_name": "Jane", "last_name": "Doe", "street": "12 Main St", "city": "Reno"},
        {"first_name": "Bob", "last_name": "Stone", "street": "9 Elm Rd", "city": "Reno"},
    ]
    ids = leads.add_leads(people, on_duplicate="allow")
    with leads.db.unit_of_work() as uow:
        uow.session.execute(
            update(SalesLead)
            .where(SalesLead.id == ids[1])
            .values(first_name=None, last_name=None, full_name="Jane Doe")
        )
    runs = []
    for limit in (10_000, 0):
        monkeypatch.setattr("leadbase.dedupe.scan.IN_MEMORY_LIMIT", limit)
        with leads.db.read_session() as session:
            runs.append(scan(session, RULES))
    assert runs[0] == runs[1]
    assert [sorted(c.lead_ids) for c in runs[0]] == [sorted(ids[:2])]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "", "Jane", "john", "J", "Émile", "O'Neil", "-"]),
            st.sampled_from([None, "", "Doe", "jones", "Ørsted", "D", "12"]),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_in_memory_initials_meet_as_score_has_it(names: list[tuple[Any, Any]]) -> None:
    """The key passes' initials test, worked out for all pairs at once."""
    import numpy as np

    from leadbase.dedupe.scan import _ALL_COLUMNS, _FULL_LAYOUT, _Memory
    from leadbase.dedupe.score import initials_meet

    rows = []
    for at, (first, last) in enumerate(names):
        row: list[Any] = [None] * len(_ALL_COLUMNS)
        row[0], row[_FULL_LAYOUT["first_name"]], row[_FULL_LAYOUT["last_name"]] = at, first, last
        row[_FULL_LAYOUT["is_deleted"]] = False
        rows.append(tuple(row))
    memory = _Memory(rows, RULES, set(), ScanStats())
    pairs = [(i, j) for i in range(len(rows)) for j in range(len(rows))]
    a, b = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
    features = [memory.columns.features(at) for at in range(len(rows))]
    want = [initials_meet(initials_of(features[i]), initials_of(features[j])) for i, j in pairs]
    assert memory.initials_meet(a, b).tolist() == want


def test_large_address_blocks_agree_in_memory_and_streamed(
    leads: LeadDatabase, monkeypatch: Any
) -> None:
    """A large block of an address key (housemates, not name-alikes) is
    windowed, its pairs compared only when the names share an initial: the
    in-memory scan and the streaming one compare the same pairs."""
    firsts = ["Ada", "Alan", "Edsger", "Barbara", "Ken", "Donald", "Grace", "Linus", "Ada"]
    lasts = ["Byron", "Turing", "Dijkstra", "Liskov", "Thompson", "Knuth", "Hopper", "T", "Byron"]
    people = [
        {"first_name": f, "last_name": n, "street": "12 Main St", "postal_code": "10115"}
        for f, n in zip(firsts, lasts, strict=True)
    ]
    ids = leads.add_leads(people, on_duplicate="allow")
    small = Rules(max_block=3, window=3)
    runs = []
    for limit in (10_000, 0):
        monkeypatch.setattr("leadbase.dedupe.scan.IN_MEMORY_LIMIT", limit)
        stats = ScanStats()
        with leads.db.read_session() as session:
            runs.append((scan(session, small, stats=stats), stats))
    (memory, memory_stats), (streamed, streamed_stats) = runs
    assert memory == streamed
    assert memory_stats.compared == streamed_stats.compared
    assert [c.lead_ids for c in memory if c.action == "merge"] == [tuple(sorted([ids[0], ids[8]]))]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "", "Ann", "Anna", "ann", "Ann\x00b", "Zoë", "Å"]),
            st.sampled_from([None, "", "Lee", "Le", "lee", "Ørsted", "Lee\x00"]),
        ),
        min_size=1,
        max_size=10,
    ),
    st.booleans(),
)
def test_in_memory_neighbour_order_is_the_databases(
    names: list[tuple[Any, Any]], plain: bool
) -> None:
    """The name neighbourhood's order in memory: NULL first, then by code
    point, ties in the order read (the joined-strings sort and the one sort
    a column give it alike)."""
    from leadbase.dedupe.scan import _ALL_COLUMNS, _FULL_LAYOUT, _Memory

    if plain:  # no "" and no NUL: the joined-strings sort
        names = [
            tuple(v.replace("\x00", "") or None if v is not None else None for v in n)
            for n in names
        ]
    rows = []
    for at, (first, last) in enumerate(names):
        row: list[Any] = [None] * len(_ALL_COLUMNS)
        row[0] = f"id{at:02d}"
        row[_FULL_LAYOUT["first_name"]], row[_FULL_LAYOUT["last_name"]] = first, last
        row[_FULL_LAYOUT["sort_name"]] = first
        rows.append(tuple(row))
    memory = _Memory(rows, RULES, set(), ScanStats())

    def key(value: Any) -> tuple[bool, str]:
        return (value is not None, value or "")

    by_last = sorted(range(len(rows)), key=lambda at: (key(names[at][1]), key(names[at][0])))
    by_sort = sorted(range(len(rows)), key=lambda at: (key(names[at][0]), rows[at][0]))
    assert memory.ranked(("last_name", "first_name")) == by_last
    assert memory.ranked(("sort_name", "id")) == by_sort
